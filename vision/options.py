"""Settings as small values, validated once where they are made: `Options`, a frozen pydantic model whose errors
name the setting, and the strict numbers those values are made of (`Count`, `CountOrZero`, `Share`). For a number
that belongs to no such value (a parsed JSON field, a lone argument), `is_int`, `is_number` and `whole_number` are
the one place that says what a number is.

Why strict: Python's ``True`` is an ``int``, so ``cpu_replicas=True`` or a JSON ``"seq": true`` would pass a plain
``int`` check as 1. A count here is an ``int`` (or a numpy integer for `whole_number`) and never a ``bool``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypeGuard

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from vision.errors import InputError

# A whole number >= 1 (a bool is not one).
Count = Annotated[int, Strict(), Field(ge=1)]
# A whole number >= 0 (a bool is not one).
CountOrZero = Annotated[int, Strict(), Field(ge=0)]
# A number in [0, 1] (an int is one; a bool or a numeric string is not).
Share = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]


class Options(BaseModel):
    """Base of the option values: frozen, unknown names refused, and a bad value raises `error` (`InputError`, or a
    package's own `QCError` subclass) that names the setting and the value given (``max_det: input should be
    greater than or equal to 1, got 0``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    error: ClassVar[type[Exception]] = InputError

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise type(self).error(setting_error(type(self).__name__, exc)) from exc


def setting_error(owner: str, exc: ValidationError) -> str:
    """One line for the first error of ``exc``: the setting's name, what is wrong, the value given."""
    first = exc.errors(include_url=False)[0]
    name = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{owner} has no setting {name!r}"
    message = str(first["msg"])
    message = message[:1].lower() + message[1:]
    if "input" in first and first["type"] not in ("value_error", "assertion_error"):
        return f"{name or owner}: {message}, got {first['input']!r}"
    return f"{name or owner}: {message.removeprefix('value error, ')}"


def is_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a Python int and not a bool: the check of a parsed or passed whole number whose range
    and error message are its owner's."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """Whether ``value`` is a Python int or float and not a bool (a JSON ``true`` is no coordinate or timestamp)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def whole_number(
    name: str, value: object, *, minimum: int = 1, maximum: int | None = None,
    error: Callable[[str], Exception] = InputError,
) -> int:
    """``value`` as an int when it is a whole number (int or numpy integer, never a bool) in [minimum, maximum];
    else ``error(message)`` naming ``name``. For a lone argument that belongs to no option value."""
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not whole or value < minimum or (maximum is not None and value > maximum):  # type: ignore[operator]
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise error(f"{name} must be an int {bound}, got {value!r}")
    return int(value)  # type: ignore[arg-type]
