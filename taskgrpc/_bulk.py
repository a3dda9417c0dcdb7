"""One bulk call: its items planned into batches by count and bytes, each batch's
operation (narrowed on refusal), and every item's outcome put back in input order.

The drivers (``client.py``, ``aio.py``) run :meth:`Bulk.op` for every batch, up to
``concurrency`` at once, hand each outcome to :meth:`Bulk.done`, mark the batches
they interrupted with :meth:`Bulk.interrupted`, and finally call :meth:`Bulk.result`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import grpc

from . import _ops
from ._config import check_count
from .errors import (
    BulkError,
    NotSentError,
    OutcomeUnknownError,
    TaskgrpcError,
    TransportError,
    ValidationError,
)

ProgressCallback = Callable[[int, int], None]


def framed(size: int) -> int:
    """Bytes that an embedded message of ``size`` bytes takes in a repeated field:
    one tag byte, its length as a varint, and the message."""
    return 1 + max(1, (size.bit_length() + 6) // 7) + size


def plan(
    sizes: Sequence[int] | None, count: int, batch_size: int, max_bytes: int, header: int
) -> tuple[list[list[int]], list[int]]:
    """Batches of item indices, in order, each of at most ``batch_size`` items and (with
    ``sizes``, each item's serialized size) at most ``max_bytes`` bytes including the
    request's own ``header`` bytes; and the indices of items too big to send alone.

    Greedy: each batch takes items until the next one would not fit."""
    if sizes is None or not count or header + batch_size * framed(max(sizes)) <= max_bytes:
        # no batch of ``batch_size`` items can exceed ``max_bytes``: by count alone
        return [list(range(i, min(i + batch_size, count))) for i in range(0, count, batch_size)], []
    return by_bytes(sizes, batch_size, max_bytes, header)


def by_bytes(
    sizes: Sequence[int], batch_size: int, max_bytes: int, header: int
) -> tuple[list[list[int]], list[int]]:
    """:func:`plan` with ``sizes``, item by item."""
    batches: list[list[int]] = []
    too_big: list[int] = []
    batch: list[int] = []
    used = header
    for index, size in enumerate(sizes):
        cost = framed(size)
        if header + cost > max_bytes:
            too_big.append(index)
            continue
        if batch and (len(batch) >= batch_size or used + cost > max_bytes):
            batches.append(batch)
            batch, used = [], header
        batch.append(index)
        used += cost
    if batch:
        batches.append(batch)
    return batches, too_big


class Bulk:
    """One bulk call. ``make_op(indices)`` builds the operation on the items at
    ``indices`` (increasing): a batch, or a part of one when a refused batch is
    narrowed. It is called when the batch starts (a create's requests are built
    before, by :mod:`taskgrpc._intake`; others are built then, overlapping with the
    batches in flight).

    ``sizes`` (each item's serialized size) enables the byte budget
    ``max_bytes``: an item that cannot fit a request alone fails with a
    ValidationError naming its size and is never sent; the others are sent.
    ``narrow`` splits a refused batch (see :func:`taskgrpc._ops.narrowed`).
    ``creates`` makes an interrupted batch that was sent an OutcomeUnknownError.
    """

    def __init__(
        self,
        operation: str,
        items: list[Any],
        batch_size: int,
        concurrency: int,
        make_op: Callable[[list[int]], _ops.Op[list[Any]]],
        progress: ProgressCallback | None,
        *,
        sizes: Sequence[int] | None = None,
        max_bytes: int = 0,
        header: int = 0,
        narrow: bool = False,
        creates: bool = False,
    ) -> None:
        size = check_count(batch_size, "batch_size")
        self.concurrency = check_count(concurrency, "concurrency")
        if progress is not None and not callable(progress):
            raise ValidationError("progress must be a callable taking (done, total)")
        self.operation = operation
        self.items = items
        self.total = len(items)
        self.chunks, too_big = plan(sizes, len(items), size, max_bytes, header)
        self._outcomes: list[Any] = [None] * len(items)
        self._failed: dict[int, TaskgrpcError] = {}
        for index in too_big:
            assert sizes is not None
            self._failed[index] = ValidationError(
                f"tasks[{index}]: the task is {sizes[index]} bytes serialized, too big for a "
                f"request of at most max_request_bytes={max_bytes} bytes; it was not sent"
            )
        self.sent = [False] * len(self.chunks)
        self._ended = [False] * len(self.chunks)
        self._make_op = make_op
        self._too_big = too_big
        self._narrow = narrow
        self._creates = creates
        self._progress = progress
        self._finished = len(too_big)

    def op(self, index: int) -> _ops.Op[list[Any]]:
        """Batch ``index``'s operation: one outcome per item (a result or its error)."""
        indices = self.chunks[index]
        if self._narrow:
            return _ops.narrowed(self._make_op, indices)
        return self._whole(indices)

    def _whole(self, indices: list[int]) -> _ops.Op[list[Any]]:
        try:
            return list((yield from self._make_op(indices)))
        except TaskgrpcError as err:
            return [err] * len(indices)

    def mark_sent(self, index: int) -> Callable[[], None]:
        """A callback for the driver: batch ``index`` has put a call on the wire."""

        def mark() -> None:
            self.sent[index] = True

        return mark

    def done(self, index: int, outcome: list[Any] | BaseException) -> None:
        """Record batch ``index``'s outcome and report progress.

        An outcome that is not a TaskgrpcError (a bug) becomes one, so every
        item still ends in the result. A progress callback that raises is
        logged and not called again: it never costs the results.
        """
        chunk = self.chunks[index]
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, TaskgrpcError):
                wrapped = TaskgrpcError(f"batch failed: {type(outcome).__name__}: {outcome}")
                wrapped.__cause__ = outcome
                outcome = wrapped
            outcome = [outcome] * len(chunk)
        elif len(outcome) != len(chunk):
            mismatch = TaskgrpcError(
                f"{self.operation}: the answer had {len(outcome)} result(s) "
                f"for {len(chunk)} item(s)"
            )
            outcome = [mismatch] * len(chunk)
        for i, got in zip(chunk, outcome, strict=True):
            if isinstance(got, TaskgrpcError):
                self._failed[i] = got
            else:
                self._outcomes[i] = got
        self._ended[index] = True
        self._finished += len(chunk)
        if self._progress is not None:
            try:
                self._progress(self._finished, self.total)
            except Exception:
                _ops.logger.warning(
                    "%s: the progress callback failed", self.operation, exc_info=True
                )
                self._progress = None

    def interrupted(self, why: str) -> None:
        """Give every batch without an outcome one: NotSentError if it never sent a
        call; else, for creates, OutcomeUnknownError (its tasks carry their ids), and
        for other verbs a CANCELLED TransportError."""
        for index, chunk in enumerate(self.chunks):
            if self._ended[index]:
                continue
            error: TaskgrpcError
            if not self.sent[index]:
                error = NotSentError(f"{self.operation}: not sent: {why}")
            else:
                cause = TransportError(grpc.StatusCode.CANCELLED, why, self._method(), sent=True)
                if self._creates:
                    error = OutcomeUnknownError([self.items[i] for i in chunk], cause)
                else:
                    error = cause
            self._failed.update((i, error) for i in chunk)
            self._ended[index] = True

    def reraise(self, exc: BaseException, why: str) -> NoReturn:
        """Re-raise ``exc`` (a cancel, an interrupt) once every unfinished batch is marked
        :meth:`interrupted`, with the BulkError of every failed item as its ``__cause__``."""
        self.interrupted(why)
        try:
            self.result()
        except BulkError as report:
            raise exc from report
        raise exc

    def _method(self) -> str:
        return {"create_many": "PostTasks", "update_many": "PatchTasks"}.get(
            self.operation, "DeleteTasks"
        )

    def result(self) -> list[Any]:
        """Every result in input order, or BulkError naming each failed item."""
        for index, chunk in enumerate(self.chunks):
            if not self._ended[index]:
                self._failed.update((i, NotSentError("not attempted")) for i in chunk)
        if not self._failed:
            return self._outcomes
        raise BulkError(self.operation, self.items, self._outcomes, self._failed)
