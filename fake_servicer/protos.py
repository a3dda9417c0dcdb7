"""Typed helpers for protobuf ``Message`` methods that the installed stubs leave untyped.

Under ``follow_untyped_imports`` mypy may read protobuf's runtime modules instead of
types-protobuf, where ``CopyFrom`` and ``SetInParent`` are untyped; these wrappers keep callers
strictly typed either way.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from google.protobuf.message import Message

_M = TypeVar("_M", bound=Message)


def copy_message(message: _M) -> _M:
    """Return an independent deep copy of ``message``."""
    new = type(message)()
    cast(Any, new).CopyFrom(message)
    return new


def assign(target: Message, source: Message) -> None:
    """Replace ``target``'s contents with a copy of ``source`` (``CopyFrom``)."""
    cast(Any, target).CopyFrom(source)


def mark_present(message: Message) -> None:
    """Mark a (possibly empty) sub-message as set (``SetInParent``)."""
    cast(Any, message).SetInParent()
