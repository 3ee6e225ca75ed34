"""Bounds and strictness for scenario fields, as pydantic annotations.

- :class:`Within` bounds a field whose value carries a unit (a duration, size, rate or
  bandwidth) after the unit is parsed; its message and the JSON Schema speak the field's
  units (``expected at most 16MiB``), and the schema's number branch gets ``minimum`` and
  ``maximum`` so editors and generated test data see the same bounds the model enforces.
- :func:`strict_scalars` makes every integer, float and boolean of a model strict, so YAML
  text such as ``"8"`` or ``true`` is refused where a count is expected instead of being
  read as 8 or 1 (an integer is still accepted where a float is expected).

Why bounds at all: a value that validates must run. A packet size of 0 loops forever, a
bandwidth of 0 divides by zero, a duration of ``1e300d`` or a log-normal ``mu`` of 800
overflows; each field's limits, chosen in :mod:`sim.scenario.limits`, keep every value that
validates finite and every loop advancing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

__all__ = ["StrictModel", "Within", "strict_scalars"]


@dataclass(frozen=True)
class Within:
    """Inclusive bounds of a unit-typed field, checked on the parsed SI value.

    ``low`` and ``high`` are in the field's unit form (``"1KiB"``, ``"1s"``); ``parse``
    and ``fmt`` convert between that form and SI numbers. With ``zero_ok`` the value may
    also be exactly 0 (a rate that switches a process off) even when ``low`` is above it.
    """

    parse: Callable[[Any], float]
    fmt: Callable[[Any], str]
    low: str | None = None
    high: str | None = None
    zero_ok: bool = False
    noun: str = "a value"
    _lo: float | None = field(init=False, repr=False, compare=False, default=None)
    _hi: float | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lo", None if self.low is None else self.parse(self.low))
        object.__setattr__(self, "_hi", None if self.high is None else self.parse(self.high))

    def check(self, value: Any) -> Any:
        """``value`` if it lies within the bounds, else a ValueError in the field's units."""
        number = float(value)
        if self.zero_ok and number == 0:
            return value
        if self._lo is not None and number < self._lo:
            zero = "0 or " if self.zero_ok else ""
            raise ValueError(f"expected {zero}{self.noun} of at least {self.low}")
        if self._hi is not None and number > self._hi:
            raise ValueError(f"expected {self.noun} of at most {self.high}")
        return value

    def describe(self) -> str:
        """The bounds in words, for the JSON Schema's description."""
        zero = "0, or " if self.zero_ok else ""
        if self.low is not None and self.high is not None:
            return f"{zero}{self.low} to {self.high}"
        if self.low is not None:
            return f"{zero}at least {self.low}"
        return f"at most {self.high}"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        js = dict(handler(schema))
        branches = []
        for branch in js.get("anyOf", []):
            if branch.get("type") in ("number", "integer"):
                branch = dict(branch)
                if self._lo is not None:
                    branch.pop("exclusiveMinimum", None)
                    branch["minimum"] = self._lo
                if self._hi is not None:
                    branch["maximum"] = self._hi
                if self.zero_ok and self._lo:
                    branches.append({"type": branch["type"], "const": 0})
            branches.append(branch)
        if branches:
            js["anyOf"] = branches
        text = str(js.get("description", "")).split(" Range: ")[0]  # an inner bound's range
        js["description"] = f"{text} Range: {self.describe()}.".strip()
        return js


_STRICT_TYPES = frozenset(("int", "float", "bool"))


def strict_scalars(schema: Any) -> Any:
    """Mark every int, float and bool validator in a pydantic core schema strict (in
    place) and return the schema. Unit-typed fields are unaffected: their own parser runs
    first and hands a number on."""
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if node.get("type") in _STRICT_TYPES:
                node["strict"] = True
            todo.extend(node.values())
        elif isinstance(node, list | tuple):
            todo.extend(node)
    return schema


class StrictModel(BaseModel):
    """A pydantic model whose integers, floats and booleans are strict (see
    :func:`strict_scalars`) and whose floats must be finite."""

    model_config = ConfigDict(allow_inf_nan=False)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return strict_scalars(handler(source))  # type: ignore[no-any-return]
