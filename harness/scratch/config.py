"""Typed settings for the from-scratch model's config dataclasses (GPTConfig, TrainConfig).

YAML is loose about numbers: PyYAML reads `learning_rate: 6e-4` as the *string* '6e-4' (YAML 1.1
wants a dot in a float: 6.0e-4), and users write `6e-4`. So a float setting accepts a number or a
string that reads as a finite number; an integer setting accepts an integer or a whole number
(`steps: 1e4`); anything else is a one-line HarnessError naming the key.
"""

from __future__ import annotations

import math
import typing
from dataclasses import fields
from typing import Any

from harness.errors import HarnessError


def typed_settings(cls: type, raw: dict[str, Any], where: str) -> dict[str, Any]:
    """raw's keys checked against the dataclass `cls`'s fields, each value converted to its field's type."""
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: must be a mapping of settings, got {type(raw).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(str(k) for k in set(raw) - known)
    if unknown:
        raise HarnessError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    hints = typing.get_type_hints(cls)
    return {key: convert(hints[key], value, key, where) for key, value in raw.items()}


def convert(kind: Any, value: Any, key: str, where: str) -> Any:
    """`value` as the type `kind` (int, float, str, bool, or one of them | None)."""
    args = typing.get_args(kind)
    if type(None) in args:
        if value is None:
            return None
        (kind,) = [a for a in args if a is not type(None)]
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise HarnessError(f"{where}: {key} must be true or false, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise HarnessError(f"{where}: {key} must be a string, got {value!r}")
    number = _number(value)
    if kind is float:
        if number is None:
            raise HarnessError(f"{where}: {key} must be a number (like 0.1 or 6e-4), got {value!r}")
        return number
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if number is None or not number.is_integer():
            raise HarnessError(f"{where}: {key} must be a whole number, got {value!r}")
        return int(number)
    raise TypeError(f"no conversion to {kind!r}")  # a new field type: extend this function


def _number(value: Any) -> float | None:
    """A finite float from a YAML number or a string like '6e-4'; None if it is neither."""
    if isinstance(value, bool):
        return None  # `true` is not 1.0
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def settle_types(obj: Any, where: str) -> None:
    """In a frozen dataclass's __post_init__: every field converted to its type (or a HarnessError),
    so a config built in code gets the same checks as one read from YAML."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        object.__setattr__(obj, f.name, convert(hints[f.name], getattr(obj, f.name), f.name, where))
