"""``AsyncTaskClient``: the asyncio client on ``grpc.aio``, a driver of the shared operations.

Same constructor, verbs, validation, errors, retries and deadlines as
:class:`~taskgrpc.TaskClient`; every verb is a coroutine and ``list`` is an
async iterator. A ``grpc.aio`` channel belongs to one event loop, so the
client opens its channel lazily inside the running loop, and opens a new one
if it is later used from another loop or in a forked child.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast

import grpc
import grpc.aio
from clarifai_grpc.grpc.api import resources_pb2 as r

from . import _ops, _verbs
from ._config import open_channel
from ._core import Bulk, ClientCore
from ._options import (
    arguments_doc,
)
from ._paging import Pages
from ._stub import TaskStub
from .errors import NotSentError, TransportError, transport_error

__all__ = ["AsyncAnnotationPager", "AsyncTaskClient", "AsyncTaskPager"]

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")
Item = TypeVar("Item")


def _task_cancelling() -> bool:
    """Whether the current task is being cancelled. Before Python 3.11 it cannot tell, and
    says no: a call cancelled while the client is closed is then taken for the close."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is not None and bool(cancelling())


def _closed_in_flight(method: str) -> TransportError:
    return TransportError(grpc.StatusCode.CANCELLED, "the client was closed", method, sent=True)


def async_verb(
    op: Callable[Concatenate[ClientCore[Any], P], _ops.Op[T]],
) -> Callable[Concatenate[AsyncTaskClient, P], Coroutine[Any, Any, T]]:
    """The ``AsyncTaskClient`` method of a verb of ``_verbs``: build its operation (bad
    input raises at the await), await it."""

    async def verb(self: AsyncTaskClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(op(self, *args, **kwargs))

    return _verbs.signed(verb, op)


def async_bulk(
    op: Callable[Concatenate[ClientCore[Any], P], _verbs.Batches[T]],
) -> Callable[Concatenate[AsyncTaskClient, P], Coroutine[Any, Any, T]]:
    """The ``AsyncTaskClient`` method of a bulk verb of ``_verbs``: its batches, run as
    tasks."""

    async def verb(self: AsyncTaskClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        batches = op(self, *args, **kwargs)
        return batches.finish(await self._run_bulk(batches.bulk))

    return _verbs.signed(verb, op)


def async_listing(
    op: Callable[Concatenate[ClientCore[Any], P], _verbs.Listing[Item]],
    pager: Callable[[AsyncTaskClient, Pages[Item], bool], R],
) -> Callable[Concatenate[AsyncTaskClient, P], R]:
    """The ``AsyncTaskClient`` method of a listing verb of ``_verbs``: its pages in a
    ``pager`` (a pager class, whose name ``help()`` shows as the result; a plain method:
    ``async for`` the pager it returns)."""

    def verb(self: AsyncTaskClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        listing = op(self, *args, **kwargs)
        return pager(self, listing.pages, listing.prefetch)

    return _verbs.signed(verb, op, pager.__name__)


class AsyncPager(Generic[Item]):
    """``async for item in pager``: every item of a listing, one page at a time."""

    def __init__(self, client: AsyncTaskClient, source: Pages[Item], prefetch: bool) -> None:
        self._client = client
        self._source = source
        self._prefetch = prefetch

    async def pages(self) -> AsyncIterator[list[Item]]:
        """Each non-empty page's items, as a list."""
        async for items in self._raw_pages():
            yield list(items)

    async def _raw_pages(self) -> AsyncIterator[Sequence[Item]]:
        run, source = self._client._run, self._source
        page = 1
        if not self._prefetch:
            while True:
                items = await run(source.op(page))
                if items:
                    yield items
                if source.is_last(items):
                    return
                page += 1
        pending = asyncio.ensure_future(run(source.op(page)))
        try:
            while True:
                items = await pending
                if source.is_last(items):
                    if items:
                        yield items
                    return
                page += 1
                pending = asyncio.ensure_future(run(source.op(page)))
                yield items
        finally:
            pending.cancel()

    async def __aiter__(self) -> AsyncIterator[Item]:
        async for items in self._raw_pages():
            for item in items:
                yield item


class AsyncTaskPager(AsyncPager[r.Task]):
    """``async for task in pager``: every task of a listing, one page at a time."""


class AsyncAnnotationPager(AsyncPager[r.Annotation]):
    """``async for annotation in pager``: every annotation of a task, one page at a time."""


class AsyncTaskClient(ClientCore[grpc.aio.Channel]):
    __doc__ = """The asyncio twin of :class:`~taskgrpc.TaskClient`.

Use ``async with AsyncTaskClient(...) as client:`` or ``await client.close()``.
With ``channel=`` it uses the caller's ``grpc.aio.Channel`` and never closes it.
""" + arguments_doc("``grpc.aio.Channel``")

    _loop: asyncio.AbstractEventLoop | None = None  # the loop the own channel belongs to

    # --- connection -------------------------------------------------------------------

    def _connect(self) -> dict[str, Any]:
        if self._closed:
            raise NotSentError("the client is closed")
        if self._given_channel is not None:
            assert self._methods is not None
            return self._methods
        loop = asyncio.get_running_loop()
        if self._methods is None or self._loop is not loop or self._pid != os.getpid():
            # A channel of another loop (or of the parent process) is dropped, not closed:
            # closing it needs its own loop.
            channel: grpc.aio.Channel = open_channel(self._config, grpc.aio)
            self._channel, self._loop, self._pid = channel, loop, os.getpid()
            self._methods = TaskStub(channel).methods
        return self._methods

    async def close(self) -> None:
        """Close the channel if this client opened it. Idempotent.

        Calls in flight then end as with :meth:`taskgrpc.TaskClient.close`: a create
        with OutcomeUnknownError, others with a CANCELLED TransportError, and calls
        not yet sent with NotSentError.
        """
        self._closed = True
        channel, self._channel, self._methods = self._channel, None, None
        if channel is not None and self._given_channel is None:
            try:
                same_loop = self._loop is asyncio.get_running_loop()
            except RuntimeError:
                same_loop = False
            if same_loop:
                await channel.close(None)

    async def __aenter__(self) -> AsyncTaskClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- the driver -------------------------------------------------------------------

    async def _run(self, op: _ops.Op[T], on_send: Callable[[], None] | None = None) -> T:
        """Run a sans-I/O operation: await its calls and its sleeps.

        ``on_send`` is called before each call is put on the wire. Once the client
        is closed, a call is not sent: NotSentError is raised into the operation.
        """
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
                        response = await methods[action.method](
                            action.request, timeout=action.timeout, metadata=metadata
                        )
                    except grpc.aio.AioRpcError as exc:
                        action = op.throw(
                            transport_error(exc, action.method, secret, self._config.secure)
                        )
                    except asyncio.CancelledError:
                        # close() cancels the calls in flight locally: then the call, not
                        # this task, was cancelled, and the operation decides what it means.
                        if not self._closed or _task_cancelling():
                            raise
                        action = op.throw(_closed_in_flight(action.method))
                    except grpc.aio.UsageError:  # "Channel is closed."
                        if not self._closed:
                            raise
                        action = op.throw(NotSentError("the client is closed"))
                    else:
                        action = op.send(response)
                else:
                    await asyncio.sleep(action.seconds)
                    action = op.send(None)
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            op.close()

    async def _run_bulk(self, bulk: Bulk) -> list[Any]:
        """Run every batch, up to ``bulk.concurrency`` at once.

        Cancelling the call cancels the batches in flight and starts no more; the
        CancelledError is re-raised with the BulkError of every unfinished item
        as its ``__cause__`` (creates in flight: OutcomeUnknownError; batches
        never sent: NotSentError).
        """
        semaphore = asyncio.Semaphore(bulk.concurrency)

        async def run(index: int) -> None:
            try:
                async with semaphore:
                    outcome: list[Any] | Exception = await self._run(
                        bulk.op(index), bulk.mark_sent(index)
                    )
            except Exception as err:  # every batch ends in the result, even on a bug
                outcome = err
            bulk.done(index, outcome)

        tasks = [asyncio.ensure_future(run(i)) for i in range(len(bulk.chunks))]
        try:
            await asyncio.gather(*tasks)
        except BaseException as exc:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            bulk.reraise(exc, f"cancelled ({type(exc).__name__})")
        return bulk.result()

    # --- verbs (one definition each, in _verbs) ------------------------------------

    create = async_verb(_verbs.create)
    existing = async_verb(_verbs.existing)
    get = async_verb(_verbs.get)
    update = async_verb(_verbs.update)
    set_status = async_verb(_verbs.set_status)
    delete = async_verb(_verbs.delete)
    start_labeling = async_verb(_verbs.start_labeling)
    annotate = async_verb(_verbs.annotate)
    submit = async_verb(_verbs.submit)
    start_review = async_verb(_verbs.start_review)
    approve = async_verb(_verbs.approve)
    request_changes = async_verb(_verbs.request_changes)
    reject = async_verb(_verbs.reject)
    input_counts = async_verb(_verbs.input_counts)
    annotation_counts = async_verb(_verbs.annotation_counts)
    progress = async_verb(_verbs.progress)
    create_many = async_bulk(_verbs.create_many)
    update_many = async_bulk(_verbs.update_many)
    delete_many = async_bulk(_verbs.delete_many)
    list = async_listing(_verbs.list_tasks, AsyncTaskPager)
    annotations = async_listing(_verbs.list_annotations, AsyncAnnotationPager)
