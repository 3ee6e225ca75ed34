"""Checking where output will go before a long run starts, not after it.

A run folder is written when the run has finished; a wrong ``--out`` (an existing file, a
folder of someone's own data, a read-only mount, a full disk, the current directory) would
otherwise be found only then, with the simulated hours lost. :func:`prepare_target` makes
the same checks up front: the target may be replaced (see
:func:`sim.analysis.results.check_target`), its parent folder can be created, a hidden
sibling folder with a file in it can be written and removed there (the way the run folder
is built), and the file system has room for the estimated folder. Every message names the
path as the user gave it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sim.analysis.folder_io import write_temporary
from sim.analysis.results import check_target
from sim.errors import RunError

__all__ = ["prepare_folder", "prepare_target"]

_PROBE = b"vtasim: checking that a run folder can be written here\n"


def _size(n: int) -> str:
    for step, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} B"


def prepare_folder(folder: Path, shown: str) -> None:
    """Create ``folder`` (and its parents) and check a file can be written in it; a
    ``RunError`` naming ``shown`` otherwise."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # created exclusively under a new name (O_EXCL): a link planted at a guessable
        # name is never followed, so nothing else is written
        os.unlink(write_temporary(folder, f"vtasim-probe-{os.getpid()}", _PROBE))
    except OSError as exc:
        raise RunError(f"cannot write to {shown}: {exc.strerror or exc}") from None


def prepare_target(out_dir: Path | str, need_bytes: int = 0) -> Path:
    """Check, before a run, that its folder can be written at ``out_dir`` and that about
    ``need_bytes`` fit there; create missing parent folders. Returns the absolute target.
    Raises ``RunError`` naming ``out_dir`` as given."""
    shown = str(out_dir)
    target = Path(os.path.abspath(out_dir))
    if not target.name:
        raise RunError(f"{shown} cannot be a run folder")
    check_target(target, True, shown)
    parent = target.parent
    blocker = next((p for p in (parent, *parent.parents) if os.path.lexists(p)), None)
    if blocker is not None and not blocker.is_dir():
        raise RunError(f"cannot write the run folder {shown}: {blocker} is not a folder")
    prepare_folder(parent, shown)
    free = shutil.disk_usage(parent).free
    if need_bytes > free:
        raise RunError(
            f"not enough room for the run folder {shown}: it needs about {_size(need_bytes)}, "
            f"its file system has {_size(free)} free"
        )
    return target
