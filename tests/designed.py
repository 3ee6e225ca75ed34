"""What the behaviour tests share to describe their designed estates.

Each behaviour test file keeps a base scenario (as a dict) whose figures can be derived by
hand, and varies it per test; :func:`merge` lays a test's changes over the base.
"""

from __future__ import annotations

import copy
from typing import Any


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid over it: nested mappings merge key by key, anything else
    (lists included) replaces; ``base`` itself is left unchanged."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if nested else value
    return out
