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
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast

import grpc
import grpc.aio
from clarifai_grpc.grpc.api import resources_pb2 as r

from . import _lifecycle as lc
from . import _ops
from ._base import Bulk, ClientCore, PageSource, ProgressCallback, RetryArg
from ._config import CLIENT_ARGUMENTS_DOC, open_channel
from ._lifecycle import AnnotationPages, Progress
from ._lifecycle_requests import AssignmentsArg
from ._stub import TaskStub
from .errors import NotSentError, TransportError, transport_error
from .retry import DEFAULT

__all__ = ["AsyncAnnotationPager", "AsyncTaskClient", "AsyncTaskPager"]

T = TypeVar("T")


def _task_cancelling() -> bool:
    """Whether the current task is being cancelled. Before Python 3.11 it cannot tell, and
    says no: a call cancelled while the client is closed is then taken for the close."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is not None and bool(cancelling())


def _closed_in_flight(method: str) -> TransportError:
    return TransportError(grpc.StatusCode.CANCELLED, "the client was closed", method, sent=True)


class AsyncTaskClient(ClientCore[grpc.aio.Channel]):
    __doc__ = """The asyncio twin of :class:`~taskgrpc.TaskClient`.

Use ``async with AsyncTaskClient(...) as client:`` or ``await client.close()``.
With ``channel=`` it uses the caller's ``grpc.aio.Channel`` and never closes it.
""" + CLIENT_ARGUMENTS_DOC.replace("CHANNEL", "``grpc.aio.Channel``")

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

    # --- verbs ------------------------------------------------------------------------

    async def create(
        self,
        task: r.Task,
        *,
        assign_id: bool = True,
        id_salt: str = "",
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> r.Task:
        """Create one task; see :meth:`taskgrpc.TaskClient.create`."""
        op = self._op_create(task, assign_id, id_salt, timeout, retry)
        return (await self._run(op))[0]

    async def create_many(
        self,
        tasks: Iterable[r.Task],
        *,
        batch_size: int = 128,
        concurrency: int = 8,
        assign_ids: bool = True,
        id_salt: str = "",
        max_request_bytes: int | None = None,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> list[r.Task]:
        """Create tasks in concurrent batches; see :meth:`taskgrpc.TaskClient.create_many`.

        Cancelling the call cancels the batches still in flight and re-raises the
        CancelledError with a BulkError as its ``__cause__``: OutcomeUnknownError for
        the batches that were in flight, NotSentError for those never sent.
        """
        bulk = self._bulk_create(
            tasks,
            batch_size,
            concurrency,
            assign_ids,
            id_salt,
            max_request_bytes,
            progress,
            timeout,
            retry,
        )
        return await self._run_bulk(bulk)

    async def update_many(
        self,
        tasks: Iterable[r.Task],
        *,
        batch_size: int = 128,
        concurrency: int = 8,
        max_request_bytes: int | None = None,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> list[r.Task]:
        """Overwrite many tasks in concurrent batches; see :meth:`TaskClient.update_many`."""
        return await self._run_bulk(
            self._bulk_update(
                tasks, batch_size, concurrency, max_request_bytes, progress, timeout, retry
            )
        )

    async def delete_many(
        self,
        task_ids: Iterable[str],
        *,
        batch_size: int = 128,
        concurrency: int = 8,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> None:
        """Delete many tasks in concurrent batches."""
        await self._run_bulk(
            self._bulk_delete(task_ids, batch_size, concurrency, progress, timeout, retry)
        )

    async def existing(
        self, task_ids: Iterable[str], *, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> dict[str, r.Task]:
        """The tasks among ``task_ids`` that exist, by id; see :meth:`TaskClient.existing`."""
        return await self._run(self._op_existing(task_ids, timeout, retry))

    async def get(
        self,
        task_id: str,
        *,
        additional_fields: Iterable[str] = (),
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> r.Task:
        """The task with ``task_id``; NotFoundError if there is none."""
        return await self._run(self._op_get(task_id, additional_fields, timeout, retry))

    def list(
        self,
        *,
        worker_user_ids: Iterable[str] | None = (),
        review_user_ids: Iterable[str] | None = (),
        ids: Iterable[str] | None = (),
        input_source_type: int | str | None = None,
        input_source_ids: Iterable[str] | None = (),
        additional_fields: Iterable[str] | None = (),
        label_order_ids: Iterable[str] | None = (),
        including_label_order_tasks: bool = False,
        worker_model_ids: Iterable[str] | None = (),
        worker_workflow_ids: Iterable[str] | None = (),
        per_page: int = 128,
        prefetch: bool = False,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> AsyncTaskPager:
        """An async iterator over every matching task; see :meth:`taskgrpc.TaskClient.list`."""
        source = self._list_pages(
            worker_user_ids=worker_user_ids,
            review_user_ids=review_user_ids,
            ids=ids,
            input_source_type=input_source_type,
            input_source_ids=input_source_ids,
            additional_fields=additional_fields,
            label_order_ids=label_order_ids,
            including_label_order_tasks=including_label_order_tasks,
            worker_model_ids=worker_model_ids,
            worker_workflow_ids=worker_workflow_ids,
            per_page=per_page,
            timeout=timeout,
            retry=retry,
        )
        return AsyncTaskPager(self, source, prefetch)

    async def update(
        self, task: r.Task, *, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> r.Task:
        """Overwrite the whole task (which needs its id); the stored task."""
        return (await self._run(self._op_update(task, timeout, retry)))[0]

    async def set_status(
        self,
        task_id: str,
        code: int | str,
        *,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> r.Task:
        """Set only the task's status code (PatchTasks ``merge``); the stored task."""
        return (await self._run(self._op_set_status(task_id, code, timeout, retry)))[0]

    async def delete(
        self, *task_ids: str, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> None:
        """Delete the tasks with these ids (one request); unknown ids are ignored."""
        await self._run(self._op_delete(task_ids, timeout, retry))

    # --- the labeling lifecycle (see docs/lifecycle.md) ------------------------------

    async def start_labeling(
        self, task_id: str, *, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> lc.Assignments:
        """PutTaskAssignments LABEL_START, as the PAT's user: the caller's unsubmitted batch
        if there is one, else the next batch (up to 10 inputs); ``[]`` when none is left."""
        return await self._run(lc.op_put(self, task_id, "LABEL_START", timeout, retry))

    async def annotate(
        self,
        task_id: str,
        annotations: Iterable[r.Annotation],
        *,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> lc.Annotations:
        """PostAnnotations: copies of ``annotations`` with ``task_id`` set; the stored ones.

        Each annotation without an id gets one before the first attempt, so an
        unknown outcome is settled by a lookup and never duplicates one; running
        the same annotations again returns them. See :func:`taskgrpc.annotation`.
        """
        return await self._run(lc.op_annotate(self, task_id, annotations, timeout, retry))

    async def submit(
        self,
        task_id: str,
        assignments: AssignmentsArg,
        *,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> lc.Assignments:
        """LABEL_SUBMIT the assignments (messages or ids); an empty list sends nothing."""
        return await self._run(lc.op_submit(self, task_id, assignments, timeout, retry))

    async def start_review(
        self,
        task_id: str,
        *,
        workers: Iterable[str] | None = None,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> lc.Assignments:
        """REVIEW_START: up to 10 assignments to review, of ``workers`` (user ids) or of all."""
        return await self._run(
            lc.op_put(self, task_id, "REVIEW_START", timeout, retry, workers or ())
        )

    async def approve(
        self,
        task_id: str,
        assignments: AssignmentsArg | None = None,
        *,
        workers: Iterable[str] | None = None,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> lc.Assignments:
        """REVIEW_APPROVE the assignments (messages or ids) or, in bulk, all of ``workers``'
        work: exactly one of the two, else ValidationError and nothing is sent."""
        op = lc.op_review(self, task_id, "REVIEW_APPROVE", assignments, workers, timeout, retry)
        return await self._run(op)

    async def request_changes(
        self,
        task_id: str,
        assignments: AssignmentsArg | None = None,
        *,
        workers: Iterable[str] | None = None,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> lc.Assignments:
        """REVIEW_REQUEST_CHANGES: the work goes back to its labeler; like :meth:`approve`."""
        op = lc.op_review(
            self, task_id, "REVIEW_REQUEST_CHANGES", assignments, workers, timeout, retry
        )
        return await self._run(op)

    async def reject(
        self,
        task_id: str,
        assignments: AssignmentsArg | None = None,
        *,
        workers: Iterable[str] | None = None,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> lc.Assignments:
        """REVIEW_REJECT: final; like :meth:`approve`."""
        op = lc.op_review(self, task_id, "REVIEW_REJECT", assignments, workers, timeout, retry)
        return await self._run(op)

    async def input_counts(
        self,
        task_id: str,
        *,
        user_ids: Iterable[str] = (),
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> dict[str, r.TaskStatusCountPerUser]:
        """GetTaskInputCount: worker id (user, model or workflow) -> assignment counts."""
        op = lc.op_counts(self, lc.INPUT_COUNT, task_id, user_ids, timeout, retry)
        return await self._run(op)

    async def annotation_counts(
        self,
        task_id: str,
        *,
        user_ids: Iterable[str] = (),
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> dict[str, r.TaskStatusCountPerUser]:
        """GetTaskAnnotationCount: worker id (user, model or workflow) -> annotation counts."""
        op = lc.op_counts(self, lc.ANNOTATION_COUNT, task_id, user_ids, timeout, retry)
        return await self._run(op)

    def annotations(
        self,
        task_id: str,
        *,
        statuses: Iterable[int | str] = (),
        user_ids: Iterable[str] = (),
        input_ids: Iterable[str] = (),
        per_page: int = 128,
        prefetch: bool = False,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> AsyncAnnotationPager:
        """A lazy pager over the task's annotations (ListAnnotations ``task_id``), trusted
        or not, filtered by statuses (names or codes), users and inputs; an async iterator."""
        source = lc.annotation_pages(
            self, task_id, statuses, user_ids, input_ids, per_page, timeout, retry
        )
        return AsyncAnnotationPager(self, source, prefetch)

    async def progress(
        self, task_id: str, *, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> Progress:
        """One summary to poll: the task's metrics, per-worker input counts, ``finished``."""
        return await self._run(lc.op_progress(self, task_id, timeout, retry))


class AsyncTaskPager:
    """``async for task in pager``: every task of a listing, one page at a time."""

    def __init__(self, client: AsyncTaskClient, source: PageSource, prefetch: bool) -> None:
        self._client = client
        self._source = source
        self._prefetch = prefetch

    async def pages(self) -> AsyncIterator[list[r.Task]]:
        """Each non-empty page's tasks, as a list."""
        async for tasks in self._raw_pages():
            yield list(tasks)

    async def _raw_pages(self) -> AsyncIterator[Sequence[r.Task]]:
        run, source = self._client._run, self._source
        page = 1
        if not self._prefetch:
            while True:
                tasks = await run(source.op(page))
                if tasks:
                    yield tasks
                if source.is_last(tasks):
                    return
                page += 1
        pending = asyncio.ensure_future(run(source.op(page)))
        try:
            while True:
                tasks = await pending
                if source.is_last(tasks):
                    if tasks:
                        yield tasks
                    return
                page += 1
                pending = asyncio.ensure_future(run(source.op(page)))
                yield tasks
        finally:
            pending.cancel()

    async def __aiter__(self) -> AsyncIterator[r.Task]:
        async for tasks in self._raw_pages():
            for task in tasks:
                yield task


class AsyncAnnotationPager(AsyncTaskPager):
    """``async for annotation in pager``: every annotation of a task, one page at a time."""

    def __init__(self, client: AsyncTaskClient, source: AnnotationPages, prefetch: bool) -> None:
        super().__init__(client, cast(PageSource, source), prefetch)

    def pages(self) -> AsyncIterator[list[r.Annotation]]:  # type: ignore[override]
        """Each non-empty page's annotations, as a list."""
        return cast(AsyncIterator[list[r.Annotation]], super().pages())

    def __aiter__(self) -> AsyncIterator[r.Annotation]:  # type: ignore[override]
        return cast(AsyncIterator[r.Annotation], super().__aiter__())
