"""What the sync and async clients share: settings, connection state, and building each
verb's operation.

Every ``_op_*`` method validates its input and builds the request(s) eagerly,
so bad input raises :class:`~taskgrpc.errors.ValidationError` at the call,
before anything is sent, and returns a sans-I/O operation (``_ops``) that the
sync or async driver runs.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from clarifai_grpc.grpc.api import resources_pb2 as r

from . import _ops
from . import requests as rq
from ._bulk import Bulk, ProgressCallback
from ._config import (
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    check_timeout,
)
from ._content import ContentIds, is_content_id
from ._intake import Creates, check_tasks, creates
from ._options import (
    BulkOptions,
    ClientConfig,
    ClientOptions,
    RetryArg,
    check_retry,
    env_settings,
)
from ._paging import Pages
from ._stub import TaskStub
from ._validate import not_a_string
from ._validate import require_id as _require_id
from .errors import ValidationError
from .retry import DEFAULT, TokenBucket

__all__ = ["Bulk", "ClientCore", "ProgressCallback", "RetryArg"]


ChannelT = TypeVar("ChannelT")

#: Every live client, so that a forked child can give each fresh locks at once.
_CLIENTS: weakref.WeakSet[ClientCore[Any]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Only the forking thread survives a fork; a lock another thread held stays held.
    for client in list(_CLIENTS):
        client._lock = threading.RLock()
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
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        options = ClientOptions(
            pat=pat,
            user_id=user_id,
            app_id=app_id,
            target=target,
            secure=secure,
            timeout=timeout,
            retry=retry,  # type: ignore[arg-type]  # DEFAULT: RetryPolicy()
            max_rps=max_rps,
            allow_insecure=allow_insecure,
            max_request_bytes=max_request_bytes,
        )
        self._setup(options, channel)

    def _setup(self, options: ClientOptions, channel: ChannelT | None) -> None:
        self._config = ClientConfig.of(options, channel is not None)
        max_rps = options.max_rps
        self._limiter = TokenBucket(max_rps) if max_rps is not None else None
        self._given_channel = channel
        self._channel: ChannelT | None = channel
        self._methods: dict[str, Any] | None = (
            TaskStub(channel).methods if channel is not None else None
        )
        self._pid = os.getpid()
        self._lock = threading.RLock()  # re-entrant: close() may run in a signal handler
        self._closed = False
        _CLIENTS.add(self)

    @classmethod
    def from_options(cls: type[C], options: ClientOptions, *, channel: Any = None) -> C:
        """A client with these :class:`~taskgrpc.ClientOptions` (and a ``channel`` of
        the caller's, if given)."""
        if not isinstance(options, ClientOptions):
            raise ValidationError(f"options must be a ClientOptions, got {options!r}")
        client = cls.__new__(cls)
        client._setup(options, channel)
        return client

    @classmethod
    def from_env(cls: type[C], **overrides: Any) -> C:
        """A client from ``CLARIFAI_PAT``, ``CLARIFAI_USER_ID``, ``CLARIFAI_APP_ID`` and
        ``CLARIFAI_GRPC_BASE`` (host or host:port); keyword ``overrides`` win, and a
        missing variable raises ValidationError naming it."""
        channel = overrides.pop("channel", None)
        return cls.from_options(ClientOptions(**env_settings(overrides)), channel=channel)

    @property
    def options(self) -> ClientOptions:
        """The client's settings, as given (checked and normalized)."""
        return self._config.options

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the settings only, never a channel: the copy reconnects lazily."""
        if self._given_channel is not None:
            raise TypeError(
                f"a {type(self).__name__} built on a caller's channel cannot be pickled; "
                "pickle one that opens its own channel (target=...)"
            )
        return {"options": self._config.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["options"], None)

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
        policy = config.retry if check_retry(retry) is DEFAULT else retry
        return _ops.Budget(
            uaid=config.uaid,
            timeout=config.timeout if timeout is None else timeout,
            policy=policy,  # type: ignore[arg-type]  # not DEFAULT here
            limiter=self._limiter,
            secret=config.pat,
        )

    def _creates(
        self, tasks: Iterable[r.Task], assign: bool, salt: str, batch_size: int
    ) -> tuple[Creates, Callable[[r.Task], bool] | None]:
        """``tasks`` checked, given content ids with ``assign``, sized and put into
        requests (:func:`~taskgrpc._intake.creates`); and the test of an id derived
        from content, under which a task found exists (None without ``assign``): an id
        given here, or a caller's id that is the task's content id (first or a repeat)."""
        uaid = self._config.uaid
        if not assign:
            return creates(tasks, None, uaid, batch_size), None
        ids = ContentIds(salt)
        made = creates(tasks, ids, uaid, batch_size)
        derived = ids.derived
        given = made.own_ids > 0
        repeats = min(len(made.items), 1000)

        def ours(task: r.Task) -> bool:
            return task.id in derived or (given and is_content_id(task, salt, repeats))

        return made, ours

    def _op_create(
        self,
        task: r.Task,
        assign_id: bool,
        id_salt: str,
        timeout: float | None,
        retry: RetryArg,
    ) -> _ops.Op[list[r.Task]]:
        made, ours = self._creates([task], assign_id, id_salt, 1)
        return _ops.create(made.request([0]), self._budget(timeout, retry), ours)

    def _max_bytes(self, bulk: BulkOptions) -> int:
        if bulk.max_request_bytes is None:
            return self._config.max_request_bytes
        return bulk.max_request_bytes

    def _bulk_create(
        self,
        tasks: Iterable[r.Task],
        bulk: BulkOptions,
        assign_ids: bool,
        id_salt: str,
        progress: ProgressCallback | None,
        timeout: float | None,
        retry: RetryArg,
    ) -> Bulk:
        """Check every task and give it its content id before anything is sent; batches
        split by count and bytes, and a refused batch narrowed down to its bad items."""
        made, ours = self._creates(tasks, assign_ids, id_salt, bulk.batch_size)
        max_bytes = self._max_bytes(bulk)
        self._budget(timeout, retry)

        def op(indices: list[int]) -> _ops.Op[list[r.Task]]:
            return _ops.create(made.request(indices), self._budget(timeout, retry), ours)

        return Bulk(
            "create_many",
            made.items,
            bulk.batch_size,
            bulk.concurrency,
            op,
            progress,
            sizes=made.sizes,
            max_bytes=max_bytes,
            header=rq.post_tasks(self._config.uaid, [], check=False).ByteSize(),
            narrow=True,
            creates=True,
        )

    def _bulk_update(
        self,
        tasks: Iterable[r.Task],
        bulk: BulkOptions,
        progress: ProgressCallback | None,
        timeout: float | None,
        retry: RetryArg,
    ) -> Bulk:
        items = check_tasks(tasks, require_id=True, unique=False)
        max_bytes = self._max_bytes(bulk)
        self._budget(timeout, retry)
        uaid = self._config.uaid

        def op(indices: list[int]) -> _ops.Op[list[r.Task]]:
            chunk = [items[i] for i in indices]
            request = rq.patch_tasks(uaid, chunk, "overwrite", check=False)
            return _ops.patch(request, self._budget(timeout, retry))

        return Bulk(
            "update_many",
            items,
            bulk.batch_size,
            bulk.concurrency,
            op,
            progress,
            sizes=[t.ByteSize() for t in items],
            max_bytes=max_bytes,
            header=rq.patch_tasks(uaid, [], "overwrite", check=False).ByteSize(),
            narrow=True,
        )

    def _bulk_delete(
        self,
        task_ids: Iterable[str],
        bulk: BulkOptions,
        progress: ProgressCallback | None,
        timeout: float | None,
        retry: RetryArg,
    ) -> Bulk:
        items = not_a_string(task_ids, "task_ids", none_is_empty=False)
        if items:
            rq.delete_tasks(self._config.uaid, items)  # validates every id
        self._budget(timeout, retry)
        uaid = self._config.uaid

        def op(indices: list[int]) -> _ops.Op[list[str]]:
            chunk = [items[i] for i in indices]
            return _ops.delete(rq.delete_tasks(uaid, chunk), self._budget(timeout, retry))

        return Bulk("delete_many", items, bulk.batch_size, bulk.concurrency, op, progress)

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

    def _pages(
        self,
        first: Any,
        fetch: Callable[[Any, _ops.Budget], _ops.Op[Any]],
        timeout: float | None,
        retry: RetryArg,
    ) -> Pages[Any]:
        """The pages of a listing from the request of its page 1, each fetched with
        ``fetch(request, budget)`` under its own budget."""
        self._budget(timeout, retry)  # validate timeout and retry now
        return Pages(first, fetch, lambda: self._budget(timeout, retry))
