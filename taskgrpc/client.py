"""``TaskClient``: the synchronous client, a thin driver of the shared operations."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import chain
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast

import grpc
from clarifai_grpc.grpc.api import resources_pb2 as r

from . import _ops, _verbs
from ._config import open_channel
from ._core import Bulk, ClientCore
from ._options import (
    arguments_doc,
)
from ._paging import Pages
from ._stub import TaskStub
from .errors import NotSentError, transport_error

__all__ = ["AnnotationPager", "TaskClient", "TaskPager"]

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")
Item = TypeVar("Item")

#: Threads of a client's bulk pool at most; each bulk call uses up to its ``concurrency``.
BULK_WORKERS = 64


def sync_verb(
    op: Callable[Concatenate[ClientCore[Any], P], _ops.Op[T]],
) -> Callable[Concatenate[TaskClient, P], T]:
    """The ``TaskClient`` method of a verb of ``_verbs``: build its operation, run it."""

    def verb(self: TaskClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(op(self, *args, **kwargs))

    return _verbs.signed(verb, op)


def sync_bulk(
    op: Callable[Concatenate[ClientCore[Any], P], _verbs.Batches[T]],
) -> Callable[Concatenate[TaskClient, P], T]:
    """The ``TaskClient`` method of a bulk verb of ``_verbs``: its batches, run on the
    client's pool of bulk workers."""

    def verb(self: TaskClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        batches = op(self, *args, **kwargs)
        return batches.finish(self._run_bulk(batches.bulk))

    return _verbs.signed(verb, op)


def sync_listing(
    op: Callable[Concatenate[ClientCore[Any], P], _verbs.Listing[Item]],
    pager: Callable[[TaskClient, Pages[Item], bool], R],
) -> Callable[Concatenate[TaskClient, P], R]:
    """The ``TaskClient`` method of a listing verb of ``_verbs``: its pages in a ``pager``
    (a pager class, whose name ``help()`` shows as the result)."""

    def verb(self: TaskClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        listing = op(self, *args, **kwargs)
        return pager(self, listing.pages, listing.prefetch)

    return _verbs.signed(verb, op, pager.__name__)


class Pager(Generic[Item]):
    """Iterates every item of a listing, one page at a time, lazily.

    It holds one page, plus the next one while it is being fetched when
    ``prefetch`` is on. Iterating again lists again from page 1.
    """

    def __init__(self, client: TaskClient, source: Pages[Item], prefetch: bool = False) -> None:
        self._client = client
        self._source = source
        self._prefetch = prefetch

    def pages(self) -> Iterator[list[Item]]:
        """Each non-empty page's items, as a list."""
        for items in self._raw_pages():
            yield list(items)

    def _raw_pages(self) -> Iterator[Sequence[Item]]:
        run, source = self._client._run, self._source
        if not self._prefetch:
            page = 1
            while True:
                items = run(source.op(page))
                if items:
                    yield items
                if source.is_last(items):
                    return
                page += 1
        with ThreadPoolExecutor(1, thread_name_prefix="taskgrpc-prefetch") as pool:
            page = 1
            pending: Future[Sequence[Item]] = pool.submit(run, source.op(page))
            try:
                while True:
                    items = pending.result()
                    if source.is_last(items):
                        if items:
                            yield items
                        return
                    page += 1
                    pending = pool.submit(run, source.op(page))
                    yield items
            finally:
                pending.cancel()

    def __iter__(self) -> Iterator[Item]:
        # chain, not a generator: no Python frame runs per item
        return chain.from_iterable(self._raw_pages())


class TaskPager(Pager[r.Task]):
    """Iterates every task of a listing, one page at a time, lazily.

    It holds one page, plus the next one while it is being fetched when
    ``prefetch`` is on. Iterating again lists again from page 1.
    """


class AnnotationPager(Pager[r.Annotation]):
    """Iterates every annotation of a task's listing, one page at a time, lazily."""


class TaskClient(ClientCore[grpc.Channel]):
    __doc__ = """A thread-safe client for Clarifai tasks over gRPC.

Share one per process. It opens its channel lazily, on first use, and again
in a child process after ``fork``. With ``channel=`` it uses the caller's
channel and never closes it. Every call accepts ``timeout=`` (the total
budget of the call, retries included) and ``retry=`` (a
:class:`~taskgrpc.RetryPolicy`, or ``None`` for no retries).
""" + arguments_doc("``grpc.Channel``")

    _pool: ThreadPoolExecutor | None = None  # the bulk workers, made on first use
    _pool_pid = 0

    # --- connection -------------------------------------------------------------------

    def _connect(self) -> dict[str, Any]:
        with self._lock:
            if self._closed:
                raise NotSentError("the client is closed")
            if self._given_channel is not None:
                assert self._methods is not None
                return self._methods
            if self._methods is None or self._pid != os.getpid():
                # In a forked child the parent's channel is left alone (not closed).
                channel: grpc.Channel = open_channel(self._config, grpc)
                self._channel = channel
                self._methods = TaskStub(channel).methods
                self._pid = os.getpid()
            return self._methods

    def close(self) -> None:
        """Close the channel if this client opened it. Idempotent.

        Safe to call from another thread while calls run: a create in flight then
        fails with OutcomeUnknownError (its ``.tasks`` carry their ids), other
        calls in flight with a CANCELLED TransportError, and calls not yet sent
        with NotSentError.
        """
        with self._lock:
            self._closed = True
            channel, self._channel, self._methods = self._channel, None, None
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.shutdown(wait=False)
        if channel is not None and self._given_channel is None:
            channel.close()

    def __enter__(self) -> TaskClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the driver -------------------------------------------------------------------

    def _run(self, op: _ops.Op[T], on_send: Callable[[], None] | None = None) -> T:
        """Run a sans-I/O operation: send its calls, sleep its sleeps.

        ``on_send`` is called before each call is put on the wire. Once the client
        is closed, a call is not sent: NotSentError is raised into the operation.
        """
        methods = self._methods
        if methods is None or self._pid != os.getpid() or self._closed:
            methods = self._connect()
        metadata = self._config.metadata
        secret = self._config.pat
        try:
            action = next(op)
            while True:
                if isinstance(action, _ops.Call):
                    if self._closed:
                        action = op.throw(NotSentError("the client is closed"))
                        continue
                    if on_send is not None:
                        on_send()
                    try:
                        response = methods[action.method](
                            action.request, timeout=action.timeout, metadata=metadata
                        )
                    except grpc.RpcError as exc:
                        action = op.throw(
                            transport_error(exc, action.method, secret, self._config.secure)
                        )
                    except ValueError:  # "Cannot invoke RPC on closed channel!"
                        if not self._closed:
                            raise
                        action = op.throw(NotSentError("the client is closed"))
                    else:
                        action = op.send(response)
                else:
                    time.sleep(action.seconds)
                    action = op.send(None)
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            op.close()

    def _bulk_pool(self) -> ThreadPoolExecutor:
        """The client's one pool of bulk workers, made on first use (and again in a forked
        child, where the parent's threads do not exist); ``close()`` shuts it down."""
        with self._lock:
            if self._closed:
                raise NotSentError("the client is closed")
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(BULK_WORKERS, thread_name_prefix="taskgrpc-bulk")
                self._pool_pid = os.getpid()
            return self._pool

    def _run_bulk(self, bulk: Bulk) -> list[Any]:
        """Run every batch, up to ``bulk.concurrency`` at once, on the client's pool.

        A batch starts only when a slot is free, so nothing is queued that a close or
        an interrupt would have to cancel. An interrupt (KeyboardInterrupt, SystemExit)
        stops starting batches, lets those in flight finish, and is re-raised with the
        BulkError of every unfinished item as its ``__cause__``. After ``close()`` no
        batch starts: those left are NotSentError.
        """

        def run(index: int) -> list[Any] | Exception:
            try:
                return self._run(bulk.op(index), bulk.mark_sent(index))
            except Exception as err:  # every batch ends in the result, even on a bug
                return err

        count = len(bulk.chunks)
        workers = min(bulk.concurrency, count)
        try:
            if workers <= 1:
                for index in range(count):
                    bulk.done(index, run(index))
            else:
                self._run_windowed(bulk, run, workers)
        except BaseException as exc:
            bulk.reraise(exc, f"interrupted by {type(exc).__name__}")
        bulk.interrupted("the client is closed")
        return bulk.result()

    def _run_windowed(
        self, bulk: Bulk, run: Callable[[int], list[Any] | Exception], workers: int
    ) -> None:
        count = len(bulk.chunks)
        try:
            pool: ThreadPoolExecutor | None = self._bulk_pool()
        except NotSentError:
            return  # closed: every batch is reported not sent
        pending: dict[Future[list[Any] | Exception], int] = {}
        started = 0
        try:
            while True:
                while pool is not None and started < count and len(pending) < workers:
                    if self._closed:
                        pool = None
                        break
                    try:
                        pending[pool.submit(run, started)] = started
                    except RuntimeError:  # shut down by close()
                        pool = None
                        break
                    started += 1
                if not pending:
                    return
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    bulk.done(pending.pop(future), future.result())
        except BaseException:
            wait(pending)  # the batches in flight finish
            for future, index in pending.items():
                bulk.done(index, future.result())
            raise

    # --- verbs (one definition each, in _verbs) ------------------------------------

    create = sync_verb(_verbs.create)
    existing = sync_verb(_verbs.existing)
    get = sync_verb(_verbs.get)
    update = sync_verb(_verbs.update)
    set_status = sync_verb(_verbs.set_status)
    delete = sync_verb(_verbs.delete)
    start_labeling = sync_verb(_verbs.start_labeling)
    annotate = sync_verb(_verbs.annotate)
    submit = sync_verb(_verbs.submit)
    start_review = sync_verb(_verbs.start_review)
    approve = sync_verb(_verbs.approve)
    request_changes = sync_verb(_verbs.request_changes)
    reject = sync_verb(_verbs.reject)
    input_counts = sync_verb(_verbs.input_counts)
    annotation_counts = sync_verb(_verbs.annotation_counts)
    progress = sync_verb(_verbs.progress)
    create_many = sync_bulk(_verbs.create_many)
    update_many = sync_bulk(_verbs.update_many)
    delete_many = sync_bulk(_verbs.delete_many)
    list = sync_listing(_verbs.list_tasks, TaskPager)
    annotations = sync_listing(_verbs.list_annotations, AnnotationPager)
