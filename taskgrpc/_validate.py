"""Input checks shared by the builders, the request builders and the command line.

Each check raises :class:`~taskgrpc.errors.ValidationError` with a message that
says what was expected and, for names, which ones are valid.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from .errors import ValidationError

__all__ = ["enum_number", "unknown_name"]


def unknown_name(kind: str, given: object, valid: Iterable[str]) -> ValidationError:
    """A ValidationError for an unknown ``kind`` name: a "did you mean" hint and the valid names."""
    names = list(valid)
    text = f"unknown {kind} {given!r}"
    if isinstance(given, str):
        close = difflib.get_close_matches(given.upper(), names, n=1, cutoff=0.6)
        if close:
            text += f"; did you mean {close[0]!r}?"
    return ValidationError(f"{text} (valid: {', '.join(names)})")


def enum_number(enum: Any, value: int | str, kind: str, *, skip: Iterable[str] = ()) -> int:
    """The number of ``value`` (a name, any case, or a number) in protobuf enum wrapper
    ``enum``; names in ``skip`` (e.g. a ``*_NOT_SET`` zero) count as unknown."""
    excluded = set(skip)
    names = [n for n in enum.keys() if n not in excluded]
    if isinstance(value, str):
        if value.upper() in names:
            return int(enum.Value(value.upper()))
        raise unknown_name(kind, value, names)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{kind} must be a name or a number, got {value!r}")
    if value not in {int(enum.Value(n)) for n in names}:
        raise unknown_name(kind, value, names)
    return value
