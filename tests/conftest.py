"""Shared pytest fixtures and the policy for tests that need Debian's TPM tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def require_tools(*names: str) -> None:
    """Skip (or fail, when VTASIM_REQUIRE_TPM_TOOLS=1) unless every named tool is on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    msg = f"needs {', '.join(missing)} (Debian packages tpm2-tools, swtpm, swtpm-tools)"
    if os.environ.get("VTASIM_REQUIRE_TPM_TOOLS") == "1":
        pytest.fail(msg + " but VTASIM_REQUIRE_TPM_TOOLS=1", pytrace=False)
    pytest.skip(msg)


ROOT = Path(__file__).resolve().parent.parent
"""The repository's root folder (scenarios/, notebooks/, README.md)."""
