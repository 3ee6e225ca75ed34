"""MkDocs hook: links in the notebooks' markdown cells, written for Jupyter and GitHub
(``../guide/sweeps.md``, ``../notebooks/05_regimes.ipynb#x``), point at the built pages.

mkdocs-jupyter renders notebooks with nbconvert, past MkDocs' own link handling, so a link
to a documentation file would stay a link to the source file. This hook rewrites each
relative ``href`` of a notebook page that names a documentation file into that page's URL,
and warns (an error under ``mkdocs build --strict``) when the file does not exist.
"""

from __future__ import annotations

import logging
import posixpath
import re
from typing import Any

log = logging.getLogger("mkdocs.hooks.notebook_links")

_HREF = re.compile(r'href="(?![a-z][a-z0-9+.-]*:|#|/)([^"#]+\.(?:md|ipynb))(#[^"]*)?"')


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Rewrite the documentation links of a notebook page (other pages are left as they are:
    MkDocs handles their links)."""
    source = page.file.src_uri
    if not source.endswith(".ipynb"):
        return html
    here = posixpath.dirname(source)

    def fix(match: re.Match[str]) -> str:
        target = posixpath.normpath(posixpath.join(here, match.group(1)))
        found = files.get_file_from_path(target)
        if found is None:
            log.warning(
                "Notebook '%s' links to '%s', which is not a documentation file",
                source,
                match.group(1),
            )
            return match.group(0)
        return f'href="{found.url_relative_to(page.file)}{match.group(2) or ""}"'

    return _HREF.sub(fix, html)
