"""What the sync and async clients share: config, validation and building each verb's operation.

Every ``_op_*`` method validates its input and builds the request(s) eagerly,
so bad input raises :class:`~taskgrpc.errors.ValidationError` at the call,
before anything is sent, and returns a sans-I/O operation (``_ops``) that the
sync or async driver runs.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence, Sized
from typing import Any, Generic, TypeVar

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s

from . import _ops
from . import requests as rq
from ._config import DEFAULT_TARGET, DEFAULT_TIMEOUT, ClientConfig, check_timeout, from_env
from ._stub import TaskStub
from ._validate import not_a_string
from .builders import _require_id, check_task, clone
from .errors import BulkError, TaskgrpcError, ValidationError
from .retry import DEFAULT, Default, RetryPolicy, TokenBucket

RetryArg = RetryPolicy | Default | None


def new_task_ids(count: int) -> list[str]:
    """``count`` fresh random 32-hex task ids (128 bits each), the shape the service gives."""
    hexed = os.urandom(16 * count).hex()
    return [hexed[k : k + 32] for k in range(0, len(hexed), 32)]


def create_request(
    uaid: r.UserAppIDSet, tasks: list[r.Task], assign_ids: bool
) -> s.PostTasksRequest:
    """The PostTasks request for checked ``tasks``; with ``assign_ids``, each task without
    an id gets a fresh one in the request (the caller's messages are not changed)."""
    request = rq.post_tasks(uaid, tasks, check=False)
    if assign_ids:
        missing = [task for task in request.tasks if not task.id]
        for task, task_id in zip(missing, new_task_ids(len(missing)), strict=True):
            task.id = task_id
    return request


def check_tasks(
    tasks: Iterable[r.Task], *, require_id: bool = False, unique: bool = True
) -> list[r.Task]:
    """``tasks`` as a list, each checked (naming its index), and with ``unique`` no id
    given twice."""
    items = not_a_string(tasks, "tasks", none_is_empty=False)
    seen: set[str] = set()
    for i, task in enumerate(items):
        try:
            check_task(task, require_id=require_id)
        except ValidationError as err:
            raise ValidationError(f"tasks[{i}]: {err}") from None
        if unique and task.id:
            if task.id in seen:
                raise ValidationError(f"tasks[{i}]: the id {task.id!r} is given twice")
            seen.add(task.id)
    return items


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be an integer >= 1, got {value!r}")
    return value


ProgressCallback = Callable[[int, int], None]


class Bulk:
    """One bulk call: its items in chunks, each chunk's operation, results put back in order.

    ``make_op(i, chunk)`` builds chunk ``i``'s operation when the chunk starts
    (so building requests overlaps with batches in flight); it may replace the
    chunk's items in place, e.g. with the copies it sends. The drivers run
    ``op(i)`` for every chunk ``i``, up to ``concurrency`` at once, hand each
    outcome (the chunk's results, or its TaskgrpcError) to :meth:`done`, and
    finally call :meth:`result`.
    """

    def __init__(
        self,
        operation: str,
        items: list[Any],
        batch_size: int,
        concurrency: int,
        make_op: Callable[[int, list[Any]], _ops.Op[list[Any]]],
        progress: ProgressCallback | None,
    ) -> None:
        size = _positive_int(batch_size, "batch_size")
        self.concurrency = _positive_int(concurrency, "concurrency")
        if progress is not None and not callable(progress):
            raise ValidationError("progress must be a callable taking (done, total)")
        self.operation = operation
        self.total = len(items)
        self.chunks = [items[i : i + size] for i in range(0, len(items), size)]
        self._make_op = make_op
        self._progress = progress
        self._outcomes: list[list[Any] | TaskgrpcError | None] = [None] * len(self.chunks)
        self._finished = 0

    def op(self, index: int) -> _ops.Op[list[Any]]:
        return self._make_op(index, self.chunks[index])

    def done(self, index: int, outcome: list[Any] | BaseException) -> None:
        """Record chunk ``index``'s outcome and report progress.

        An outcome that is not a TaskgrpcError (a bug, a closed client) becomes one,
        so every chunk still ends in the result. A progress callback that raises is
        logged and not called again: it never costs the results.
        """
        if isinstance(outcome, BaseException) and not isinstance(outcome, TaskgrpcError):
            wrapped = TaskgrpcError(f"batch failed: {type(outcome).__name__}: {outcome}")
            wrapped.__cause__ = outcome
            outcome = wrapped
        self._outcomes[index] = outcome
        self._finished += len(self.chunks[index])
        if self._progress is not None:
            try:
                self._progress(self._finished, self.total)
            except Exception:
                _ops.logger.warning(
                    "%s: the progress callback failed", self.operation, exc_info=True
                )
                self._progress = None

    def result(self) -> list[Any]:
        """Every result in input order, or BulkError naming each failed item."""
        results: list[Any] = []
        errors: dict[int, TaskgrpcError] = {}
        for chunk, outcome in zip(self.chunks, self._outcomes, strict=True):
            if isinstance(outcome, list):
                results += outcome
                continue
            error = outcome or TaskgrpcError("not attempted")
            errors.update((len(results) + k, error) for k in range(len(chunk)))
            results += [None] * len(chunk)
        if errors:
            items = [item for chunk in self.chunks for item in chunk]
            raise BulkError(self.operation, items, results, errors)
        return results


ChannelT = TypeVar("ChannelT")

#: Every live client, so that a forked child can give each fresh locks at once.
_CLIENTS: weakref.WeakSet[ClientCore[Any]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Only the forking thread survives a fork; a lock another thread held stays held.
    for client in list(_CLIENTS):
        client._lock = threading.Lock()
        if client._limiter is not None:
            client._limiter.reset_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

C = TypeVar("C", bound="ClientCore[Any]")


class ClientCore(Generic[ChannelT]):
    """Settings, connection state and operation builders behind both clients.

    ``ChannelT`` is ``grpc.Channel`` for ``TaskClient`` and ``grpc.aio.Channel``
    for ``AsyncTaskClient``; each subclass opens, closes and drives its own.
    """

    def __init__(
        self,
        *,
        pat: str,
        user_id: str,
        app_id: str,
        target: str = DEFAULT_TARGET,
        secure: bool = True,
        channel: ChannelT | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: RetryArg = DEFAULT,
        max_rps: float | None = None,
        allow_insecure: bool = False,
    ) -> None:
        self._config = ClientConfig(
            pat=pat,
            user_id=user_id,
            app_id=app_id,
            target=target,
            secure=secure,
            timeout=timeout,
            retry=retry,
            max_rps=max_rps,
            allow_insecure=allow_insecure,
            has_channel=channel is not None,
        )
        self._limiter = TokenBucket(max_rps) if max_rps is not None else None
        self._given_channel = channel
        self._channel: ChannelT | None = channel
        self._methods: dict[str, Any] | None = (
            TaskStub(channel).methods if channel is not None else None
        )
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False
        _CLIENTS.add(self)

    @classmethod
    def from_env(cls: type[C], **overrides: Any) -> C:
        """A client from ``CLARIFAI_PAT``, ``CLARIFAI_USER_ID``, ``CLARIFAI_APP_ID`` and
        ``CLARIFAI_GRPC_BASE`` (host or host:port); keyword ``overrides`` win, and a
        missing variable raises ValidationError naming it."""
        return cls(**from_env(overrides))

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the settings only, never a channel: the copy reconnects lazily."""
        if self._given_channel is not None:
            raise TypeError(
                f"a {type(self).__name__} built on a caller's channel cannot be pickled; "
                "pickle one that opens its own channel (target=...)"
            )
        return self._config.settings()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    # --- properties -------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self._config.user_id

    @property
    def app_id(self) -> str:
        return self._config.app_id

    @property
    def target(self) -> str:
        return self._config.target

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._config!r})"

    # --- building operations ------------------------------------------------------------

    def _budget(self, timeout: float | None, retry: RetryArg) -> _ops.Budget:
        check_timeout(timeout)
        config = self._config
        if retry is DEFAULT:
            policy = config.retry
        elif retry is None or isinstance(retry, RetryPolicy):
            policy = retry
        else:
            raise ValidationError(f"retry must be a RetryPolicy or None, got {retry!r}")
        return _ops.Budget(
            uaid=config.uaid,
            timeout=config.timeout if timeout is None else timeout,
            policy=policy,
            limiter=self._limiter,
            secret=config.pat,
        )

    def _op_create(
        self, task: r.Task, assign_id: bool, timeout: float | None, retry: RetryArg
    ) -> _ops.Op[list[r.Task]]:
        check_tasks([task])
        request = create_request(self._config.uaid, [task], assign_id)
        return _ops.create(request, self._budget(timeout, retry))

    def _bulk_create(
        self,
        tasks: Iterable[r.Task],
        batch_size: int,
        concurrency: int,
        assign_ids: bool,
        progress: ProgressCallback | None,
        timeout: float | None,
        retry: RetryArg,
    ) -> Bulk:
        """Check every task before anything is sent; each batch's request (with its ids) is
        built when the batch starts, and its tasks replaced by the copies sent."""
        items = check_tasks(tasks)
        self._budget(timeout, retry)
        uaid = self._config.uaid

        def op(_: int, chunk: list[r.Task]) -> _ops.Op[list[r.Task]]:
            request = create_request(uaid, chunk, assign_ids)
            chunk[:] = request.tasks  # the sent copies, with their ids, for BulkError
            return _ops.create(request, self._budget(timeout, retry))

        return Bulk("create_many", items, batch_size, concurrency, op, progress)

    def _bulk_update(
        self,
        tasks: Iterable[r.Task],
        batch_size: int,
        concurrency: int,
        progress: ProgressCallback | None,
        timeout: float | None,
        retry: RetryArg,
    ) -> Bulk:
        items = check_tasks(tasks, require_id=True, unique=False)
        self._budget(timeout, retry)
        uaid = self._config.uaid

        def op(_: int, chunk: list[r.Task]) -> _ops.Op[list[r.Task]]:
            request = rq.patch_tasks(uaid, chunk, "overwrite", check=False)
            return _ops.patch(request, self._budget(timeout, retry))

        return Bulk("update_many", items, batch_size, concurrency, op, progress)

    def _bulk_delete(
        self,
        task_ids: Iterable[str],
        batch_size: int,
        concurrency: int,
        progress: ProgressCallback | None,
        timeout: float | None,
        retry: RetryArg,
    ) -> Bulk:
        items = not_a_string(task_ids, "task_ids", none_is_empty=False)
        if items:
            rq.delete_tasks(self._config.uaid, items)  # validates every id
        self._budget(timeout, retry)
        uaid = self._config.uaid

        def op(_: int, chunk: list[str]) -> _ops.Op[list[str]]:
            return _ops.delete(rq.delete_tasks(uaid, chunk), self._budget(timeout, retry))

        return Bulk("delete_many", items, batch_size, concurrency, op, progress)

    def _op_get(
        self,
        task_id: str,
        additional_fields: Iterable[str],
        timeout: float | None,
        retry: RetryArg,
    ) -> _ops.Op[r.Task]:
        request = rq.get_task(self._config.uaid, task_id, additional_fields)
        return _ops.get(request, self._budget(timeout, retry))

    def _op_existing(
        self, task_ids: Iterable[str], timeout: float | None, retry: RetryArg
    ) -> _ops.Op[dict[str, r.Task]]:
        ids = [
            _require_id(t, f"task_ids[{i}]")
            for i, t in enumerate(not_a_string(task_ids, "task_ids", none_is_empty=False))
        ]
        return _ops.existing(ids, self._budget(timeout, retry))

    def _op_update(
        self, task: r.Task, timeout: float | None, retry: RetryArg
    ) -> _ops.Op[list[r.Task]]:
        request = rq.patch_tasks(self._config.uaid, [task], "overwrite")
        return _ops.patch(request, self._budget(timeout, retry))

    def _op_set_status(
        self, task_id: str, code: int | str, timeout: float | None, retry: RetryArg
    ) -> _ops.Op[list[r.Task]]:
        request = rq.patch_tasks(self._config.uaid, [rq.status_patch(task_id, code)], "merge")
        return _ops.patch(request, self._budget(timeout, retry))

    def _op_delete(
        self, task_ids: tuple[str, ...], timeout: float | None, retry: RetryArg
    ) -> _ops.Op[list[str]]:
        request = rq.delete_tasks(self._config.uaid, list(task_ids))
        return _ops.delete(request, self._budget(timeout, retry))

    def _list_pages(
        self,
        *,
        worker_user_ids: Iterable[str] | None,
        review_user_ids: Iterable[str] | None,
        ids: Iterable[str] | None,
        input_source_type: int | str | None,
        input_source_ids: Iterable[str] | None,
        additional_fields: Iterable[str] | None,
        label_order_ids: Iterable[str] | None,
        including_label_order_tasks: bool,
        worker_model_ids: Iterable[str] | None,
        worker_workflow_ids: Iterable[str] | None,
        per_page: int,
        timeout: float | None,
        retry: RetryArg,
    ) -> PageSource:
        first = rq.list_tasks(
            self._config.uaid,
            page=1,
            per_page=per_page,
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
        )
        self._budget(timeout, retry)  # validate timeout and retry now
        return PageSource(first, lambda: self._budget(timeout, retry))


class PageSource:
    """Builds the operation that fetches page ``n`` of one listing; each page has its own budget."""

    __slots__ = ("_budget", "first", "per_page")

    def __init__(self, first: s.ListTasksRequest, budget: Callable[[], _ops.Budget]) -> None:
        self.first = first
        self.per_page = first.per_page
        self._budget = budget

    def op(self, page: int) -> _ops.Op[Sequence[r.Task]]:
        if page == 1:
            request = self.first
        else:
            request = clone(self.first)
            request.page = page
        return _ops.list_page(request, self._budget())

    def is_last(self, tasks: Sized) -> bool:
        """A short (or empty) page ends the listing: the API has no total or token."""
        return len(tasks) < self.per_page
