"""``TaskClient``: the synchronous client, a thin driver of the shared operations."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import chain
from types import TracebackType
from typing import Any, TypeVar, cast

import grpc
from clarifai_grpc.grpc.api import resources_pb2 as r

from . import _lifecycle as lc
from . import _ops
from ._base import Bulk, ClientCore, PageSource, ProgressCallback, RetryArg
from ._config import CLIENT_ARGUMENTS_DOC, open_channel
from ._lifecycle import AnnotationPages, Progress
from ._lifecycle_requests import AssignmentsArg
from ._stub import TaskStub
from .errors import NotSentError, transport_error
from .retry import DEFAULT

__all__ = ["AnnotationPager", "TaskClient", "TaskPager"]

T = TypeVar("T")

#: Threads of a client's bulk pool at most; each bulk call uses up to its ``concurrency``.
BULK_WORKERS = 64


class TaskClient(ClientCore[grpc.Channel]):
    __doc__ = """A thread-safe client for Clarifai tasks over gRPC.

Share one per process. It opens its channel lazily, on first use, and again
in a child process after ``fork``. With ``channel=`` it uses the caller's
channel and never closes it. Every call accepts ``timeout=`` (the total
budget of the call, retries included) and ``retry=`` (a
:class:`~taskgrpc.RetryPolicy`, or ``None`` for no retries).
""" + CLIENT_ARGUMENTS_DOC.replace("CHANNEL", "``grpc.Channel``")

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

    # --- verbs ------------------------------------------------------------------------

    def create(
        self,
        task: r.Task,
        *,
        assign_id: bool = True,
        id_salt: str = "",
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> r.Task:
        """Create one task and return it as stored.

        With ``assign_id`` (the default) a task without an id is sent with its
        content id, ``content_id(task, id_salt)`` (the caller's message is not
        changed). Creating the same content again returns the existing task,
        even if it was edited since; another ``id_salt`` makes a deliberate copy.
        """
        return self._run(self._op_create(task, assign_id, id_salt, timeout, retry))[0]

    def create_many(
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
        """Create tasks in PostTasks batches, up to ``concurrency`` batches at once.

        Every task is validated before anything is sent. With ``assign_ids``
        (the default) each task without an id gets its content id before its
        batch is sent (the ids of :func:`~taskgrpc.with_content_ids` over the
        whole list with ``id_salt``), so
        creating the same content again returns the existing tasks and creates
        only the missing ones. Batches hold at most ``batch_size`` tasks and
        ``max_request_bytes`` bytes (None: the client's); a task too big alone
        fails with a ValidationError, the others are still sent. A batch the
        service refuses for what may be one task's fault is split until only
        the bad tasks fail. Results come back in input order; if some fail,
        :class:`~taskgrpc.BulkError` carries the created tasks and each failed
        task's error (``failed_items`` carry their ids: safe to create again).
        ``progress(done, total)`` is called after each batch; ``timeout``
        applies to each batch.
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
        return self._run_bulk(bulk)

    def update_many(
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
        """Overwrite many tasks (each needs its id) in batches; like :meth:`create_many`
        (byte budget, narrowing of a refused batch, BulkError)."""
        return self._run_bulk(
            self._bulk_update(
                tasks, batch_size, concurrency, max_request_bytes, progress, timeout, retry
            )
        )

    def delete_many(
        self,
        task_ids: Iterable[str],
        *,
        batch_size: int = 128,
        concurrency: int = 8,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> None:
        """Delete many tasks in batches; BulkError lists the ids whose batch failed."""
        self._run_bulk(
            self._bulk_delete(task_ids, batch_size, concurrency, progress, timeout, retry)
        )

    def existing(
        self, task_ids: Iterable[str], *, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> dict[str, r.Task]:
        """The tasks among ``task_ids`` that exist, by id (ListTasks by ids, 1000 at a time).

        Tasks of a label order are included. ``timeout`` covers every lookup.
        """
        return self._run(self._op_existing(task_ids, timeout, retry))

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

    def get(
        self,
        task_id: str,
        *,
        additional_fields: Iterable[str] = (),
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> r.Task:
        """The task with ``task_id``; NotFoundError if there is none."""
        return self._run(self._op_get(task_id, additional_fields, timeout, retry))

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
    ) -> TaskPager:
        """A lazy pager over every matching task, newest first.

        Every filter may be ``None`` or empty (no filter); filters combine with
        AND, and the ids within one filter with OR. Workers are matched by user
        (``worker_user_ids``), model (``worker_model_ids``) or workflow
        (``worker_workflow_ids``), all sent as ListTasks ``worker_ids``. Tasks
        of a label order are listed only with ``including_label_order_tasks``
        or ``label_order_ids``.

        Nothing is sent until it is iterated; a short page ends it.
        ``prefetch`` fetches the next page while the current one is consumed.
        ``timeout`` applies to each page.
        """
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
        return TaskPager(self, source, prefetch)

    def update(
        self, task: r.Task, *, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> r.Task:
        """Overwrite the whole task with ``task`` (which needs its id); the stored task."""
        return self._run(self._op_update(task, timeout, retry))[0]

    def set_status(
        self,
        task_id: str,
        code: int | str,
        *,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> r.Task:
        """Set only the task's status code (PatchTasks ``merge``); the stored task."""
        return self._run(self._op_set_status(task_id, code, timeout, retry))[0]

    def delete(
        self, *task_ids: str, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> None:
        """Delete the tasks with these ids (one request); unknown ids are ignored."""
        self._run(self._op_delete(task_ids, timeout, retry))

    # --- the labeling lifecycle (see docs/lifecycle.md) ------------------------------

    def start_labeling(
        self, task_id: str, *, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> lc.Assignments:
        """PutTaskAssignments LABEL_START, as the PAT's user: the caller's unsubmitted batch
        if there is one, else the next batch (up to 10 inputs); ``[]`` when none is left."""
        return self._run(lc.op_put(self, task_id, "LABEL_START", timeout, retry))

    def annotate(
        self,
        task_id: str,
        annotations: Iterable[r.Annotation],
        *,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> lc.Annotations:
        """PostAnnotations: copies of ``annotations`` with ``task_id`` set; the stored ones.

        Each annotation without an id gets one before the first attempt, derived
        from its content and keyed with the PAT, so an unknown outcome is settled
        by a lookup and running the same work again returns what exists: never a
        duplicate annotation. See :func:`taskgrpc.annotation`.
        """
        return self._run(lc.op_annotate(self, task_id, annotations, timeout, retry))

    def submit(
        self,
        task_id: str,
        assignments: AssignmentsArg,
        *,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> lc.Assignments:
        """LABEL_SUBMIT the assignments (messages or ids); an empty list sends nothing."""
        return self._run(lc.op_submit(self, task_id, assignments, timeout, retry))

    def start_review(
        self,
        task_id: str,
        *,
        workers: Iterable[str] | None = None,
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> lc.Assignments:
        """REVIEW_START: up to 10 assignments to review, of ``workers`` (user ids) or of all."""
        return self._run(lc.op_put(self, task_id, "REVIEW_START", timeout, retry, workers or ()))

    def approve(
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
        return self._run(op)

    def request_changes(
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
        return self._run(op)

    def reject(
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
        return self._run(op)

    def input_counts(
        self,
        task_id: str,
        *,
        user_ids: Iterable[str] = (),
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> dict[str, r.TaskStatusCountPerUser]:
        """GetTaskInputCount: worker id (user, model or workflow) -> assignment counts."""
        op = lc.op_counts(self, lc.INPUT_COUNT, task_id, user_ids, timeout, retry)
        return self._run(op)

    def annotation_counts(
        self,
        task_id: str,
        *,
        user_ids: Iterable[str] = (),
        timeout: float | None = None,
        retry: RetryArg = DEFAULT,
    ) -> dict[str, r.TaskStatusCountPerUser]:
        """GetTaskAnnotationCount: worker id (user, model or workflow) -> annotation counts."""
        op = lc.op_counts(self, lc.ANNOTATION_COUNT, task_id, user_ids, timeout, retry)
        return self._run(op)

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
    ) -> AnnotationPager:
        """A lazy pager over the task's annotations (ListAnnotations ``task_id``), trusted
        or not, filtered by statuses (names or codes), users and inputs; like :meth:`list`."""
        source = lc.annotation_pages(
            self, task_id, statuses, user_ids, input_ids, per_page, timeout, retry
        )
        return AnnotationPager(self, source, prefetch)

    def progress(
        self, task_id: str, *, timeout: float | None = None, retry: RetryArg = DEFAULT
    ) -> Progress:
        """One summary to poll: the task's metrics, per-worker input counts, ``finished``."""
        return self._run(lc.op_progress(self, task_id, timeout, retry))


class TaskPager:
    """Iterates every task of a listing, one page at a time, lazily.

    It holds one page, plus the next one while it is being fetched when
    ``prefetch`` is on. Iterating again lists again from page 1.
    """

    def __init__(self, client: TaskClient, source: PageSource, prefetch: bool = False) -> None:
        self._client = client
        self._source = source
        self._prefetch = prefetch

    def pages(self) -> Iterator[list[r.Task]]:
        """Each non-empty page's tasks, as a list."""
        for tasks in self._raw_pages():
            yield list(tasks)

    def _raw_pages(self) -> Iterator[Sequence[r.Task]]:
        run, source = self._client._run, self._source
        if not self._prefetch:
            page = 1
            while True:
                tasks = run(source.op(page))
                if tasks:
                    yield tasks
                if source.is_last(tasks):
                    return
                page += 1
        with ThreadPoolExecutor(1, thread_name_prefix="taskgrpc-prefetch") as pool:
            page = 1
            pending: Future[Sequence[r.Task]] = pool.submit(run, source.op(page))
            try:
                while True:
                    tasks = pending.result()
                    if source.is_last(tasks):
                        if tasks:
                            yield tasks
                        return
                    page += 1
                    pending = pool.submit(run, source.op(page))
                    yield tasks
            finally:
                pending.cancel()

    def __iter__(self) -> Iterator[r.Task]:
        # chain, not a generator: no Python frame runs per task
        return chain.from_iterable(self._raw_pages())


class AnnotationPager(TaskPager):
    """Iterates every annotation of a task's listing, one page at a time, lazily."""

    def __init__(self, client: TaskClient, source: AnnotationPages, prefetch: bool = False) -> None:
        super().__init__(client, cast(PageSource, source), prefetch)

    def pages(self) -> Iterator[list[r.Annotation]]:  # type: ignore[override]
        """Each non-empty page's annotations, as a list."""
        return cast(Iterator[list[r.Annotation]], super().pages())

    def __iter__(self) -> Iterator[r.Annotation]:  # type: ignore[override]
        return cast(Iterator[r.Annotation], super().__iter__())
