"""Per-method call counters and a bounded log of recent requests, for tests to inspect."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

from google.protobuf.message import Message

from fake_servicer.protos import copy_message

Metadata = tuple[tuple[str, "str | bytes"], ...]
"""Invocation metadata as plain ``(key, value)`` pairs."""

DEFAULT_MAX_RECORDS = 1000


@dataclass(frozen=True)
class CallRecord:
    """One call that reached the servicer.

    ``request`` is a private copy; ``metadata`` is as received (it includes the
    ``authorization`` pair, so do not print records in shared logs); ``time`` is
    ``time.monotonic()`` at arrival.
    """

    method: str
    request: Message
    metadata: Metadata
    time: float


class CallLog:
    """Thread-safe counters of every call by method, plus the last ``max_records`` calls."""

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._records: deque[CallRecord] = deque(maxlen=max_records)

    def record(self, method: str, request: Message, metadata: Metadata) -> None:
        """Count a call of ``method`` and keep a copy of its request."""
        entry = CallRecord(method, copy_message(request), metadata, time.monotonic())
        with self._lock:
            self._calls[method] += 1
            self._records.append(entry)

    def calls(self) -> Counter[str]:
        """A snapshot of call counts by method name (missing names count 0)."""
        with self._lock:
            return Counter(self._calls)

    def records(self) -> tuple[CallRecord, ...]:
        """A snapshot of the recent calls, oldest first."""
        with self._lock:
            return tuple(self._records)

    def clear(self) -> None:
        """Forget all counts and records."""
        with self._lock:
            self._calls.clear()
            self._records.clear()
