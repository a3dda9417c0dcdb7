"""``FakeV2Servicer``: an in-memory, thread-safe Clarifai V2 servicer for the Tasks API.

Implements PostTasks, GetTask, ListTasks, PatchTasks and DeleteTasks; every other V2 method is
inherited from ``V2Servicer`` and answers gRPC UNIMPLEMENTED.

Each call, in order: is counted and recorded; sleeps and draws a fault (see
:mod:`fake_servicer.faults`); checks the PAT (CONN_KEY_INVALID); checks ``user_app_id``
(CONN_INVALID_REQUEST); validates everything; then applies all of it or nothing. Refusals are
body statuses with gRPC status OK.

Choices where the real API is undocumented:

- Missing task: ``not_found_code`` (TASK_MISSING by default, CONN_DOES_NOT_EXIST possible).
- GetTask with an empty ``task_id``: CONN_INVALID_REQUEST naming ``task_id``.
- PostTasks sets ``status`` to TASK_IN_PROGRESS, replacing any status sent.
- PatchTasks ``overwrite`` replaces the whole task but keeps ``id``, ``created_at``,
  ``user_id`` and ``app_id``; it keeps the old ``status`` only when the sent task has none.
  ``merge`` replaces only ``status`` and refuses a task without one (CONN_INVALID_REQUEST).
  Both bump ``modified_at``. The same id twice in one request applies both, in order.
- DeleteTasks ignores unknown and repeated ids.
- ListTasks ``per_page`` above 1000 is refused; ``page`` 0 means 1, ``per_page`` 0 means 128.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

import grpc
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from fake_servicer.additional_fields import apply_additional_fields
from fake_servicer.auth import PatChecker
from fake_servicer.faults import FaultInjector, Faults
from fake_servicer.filters import TaskFilter
from fake_servicer.protos import assign, copy_message
from fake_servicer.recording import DEFAULT_MAX_RECORDS, CallLog, CallRecord, Metadata
from fake_servicer.status import (
    KEY_INVALID_DESCRIPTION,
    THROTTLED_DESCRIPTION,
    ApiError,
    invalid_request,
    make_status,
    shorten,
    success_status,
)
from fake_servicer.store import AppKey, ConflictError, MissingTaskError, TaskStore
from fake_servicer.validation import (
    check_additional_fields,
    check_status,
    check_task_id,
    check_task_possible,
    check_user_app_id,
)

Task = resources_pb2.Task

DEFAULT_PER_PAGE = 128
MAX_PER_PAGE = 1000
PATCH_ACTIONS = ("overwrite", "merge")
IN_PROGRESS_DESCRIPTION = "Task in progress"


class _Response(Protocol):
    @property
    def status(self) -> status_pb2.Status: ...


_Resp = TypeVar("_Resp", bound=_Response)
_Req = TypeVar("_Req", bound=Message)


class FakeV2Servicer(service_pb2_grpc.V2Servicer):
    """In-memory Tasks API; see the module docstring for behaviour.

    ``pats``: accepted PATs; None accepts any non-empty key (an empty iterable accepts none).
    ``faults``: initial :class:`Faults` (none by default). ``not_found_code``: body code for a
    missing task. ``clock``: returns seconds since the epoch for timestamps (``time.time``).
    """

    def __init__(
        self,
        *,
        pats: Iterable[str] | None = None,
        faults: Faults | None = None,
        not_found_code: int = status_code_pb2.TASK_MISSING,
        clock: Callable[[], float] | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        self.not_found_code = not_found_code
        self._pats = PatChecker(pats)
        self._injector = FaultInjector(faults)
        self._clock = clock or time.time
        self._store = TaskStore()
        self._log = CallLog(max_records)

    # ----- observability and seeding -------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """Snapshot of calls by method name (every call that reached the servicer)."""
        return self._log.calls()

    @property
    def requests(self) -> tuple[CallRecord, ...]:
        """Snapshot of the most recent calls (bounded), oldest first."""
        return self._log.records()

    @property
    def faults(self) -> Faults:
        """The current fault configuration."""
        return self._injector.faults

    @property
    def faults_injected(self) -> Counter[str]:
        """Snapshot of injected faults by kind (``unavailable``, ``throttled``, ...)."""
        return self._injector.injected()

    def set_faults(self, faults: Faults | None) -> None:
        """Replace the fault configuration (None = no faults); restarts the seeded stream."""
        self._injector.set(faults or Faults())

    def tasks(self, user_id: str, app_id: str) -> list[Task]:
        """Copies of the app's stored tasks, newest first."""
        return [_copy(task) for task in self._store.snapshot((user_id, app_id))]

    def put_tasks(self, user_id: str, app_id: str, tasks: Iterable[Task]) -> list[str]:
        """Store copies of ``tasks`` directly (no RPC, no validation); return their ids.

        Sets ``user_id``/``app_id``, a fresh id where missing and ``created_at``/``modified_at``
        where unset; an existing id is overwritten in place.
        """
        now = self._now()
        stored: list[Task] = []
        for task in tasks:
            copy = _copy(task)
            if not copy.id:
                copy.id = os.urandom(16).hex()
            copy.user_id, copy.app_id = user_id, app_id
            if not copy.HasField("created_at"):
                copy.created_at.FromNanoseconds(now)
            if not copy.HasField("modified_at"):
                copy.modified_at.FromNanoseconds(now)
            stored.append(copy)
        self._store.put((user_id, app_id), stored)
        return [task.id for task in stored]

    def reset(self) -> None:
        """Forget all tasks, counters, records and fault counts; restart the fault stream."""
        self._store.clear()
        self._log.clear()
        self._injector.reset()

    # ----- RPCs ---------------------------------------------------------------------------

    def PostTasks(
        self, request: service_pb2.PostTasksRequest, context: grpc.ServicerContext
    ) -> service_pb2.MultiTaskResponse:
        """Create tasks, all or nothing."""
        return self._handle(
            "PostTasks", request, context, service_pb2.MultiTaskResponse, self._post_tasks
        )

    def GetTask(
        self, request: service_pb2.GetTaskRequest, context: grpc.ServicerContext
    ) -> service_pb2.SingleTaskResponse:
        """Return one task."""
        return self._handle(
            "GetTask", request, context, service_pb2.SingleTaskResponse, self._get_task
        )

    def ListTasks(
        self, request: service_pb2.ListTasksRequest, context: grpc.ServicerContext
    ) -> service_pb2.MultiTaskResponse:
        """Return one page of matching tasks, newest first."""
        return self._handle(
            "ListTasks", request, context, service_pb2.MultiTaskResponse, self._list_tasks
        )

    def PatchTasks(
        self, request: service_pb2.PatchTasksRequest, context: grpc.ServicerContext
    ) -> service_pb2.MultiTaskResponse:
        """Overwrite tasks or merge their status, all or nothing."""
        return self._handle(
            "PatchTasks", request, context, service_pb2.MultiTaskResponse, self._patch_tasks
        )

    def DeleteTasks(
        self, request: service_pb2.DeleteTasksRequest, context: grpc.ServicerContext
    ) -> status_pb2.BaseResponse:
        """Delete tasks by id, ignoring unknown ones."""
        return self._handle(
            "DeleteTasks", request, context, status_pb2.BaseResponse, self._delete_tasks
        )

    # ----- dispatch -----------------------------------------------------------------------

    def _handle(
        self,
        method: str,
        request: _Req,
        context: grpc.ServicerContext,
        response_type: Callable[[], _Resp],
        work: Callable[[_Req, AppKey], _Resp],
    ) -> _Resp:
        metadata: Metadata = tuple((key, value) for key, value in context.invocation_metadata())
        self._log.record(method, request, metadata)
        delay = self._injector.latency_s(method)
        if delay > 0:
            time.sleep(delay)
        fault = self._injector.draw(method)
        if fault == "unavailable":
            context.abort(grpc.StatusCode.UNAVAILABLE, "fake_servicer: injected unavailable")
        if fault == "throttled":
            throttled = response_type()
            assign(
                throttled.status, make_status(status_code_pb2.CONN_THROTTLED, THROTTLED_DESCRIPTION)
            )
            return throttled
        response = self._respond(request, metadata, response_type, work)
        if fault == "commit_unavailable":
            context.abort(
                grpc.StatusCode.UNAVAILABLE, "fake_servicer: injected unavailable after commit"
            )
        return response

    def _respond(
        self,
        request: _Req,
        metadata: Metadata,
        response_type: Callable[[], _Resp],
        work: Callable[[_Req, AppKey], _Resp],
    ) -> _Resp:
        try:
            refusal = self._pats.check(metadata)
            if refusal is not None:
                raise ApiError(status_code_pb2.CONN_KEY_INVALID, KEY_INVALID_DESCRIPTION, refusal)
            user_app_id: resources_pb2.UserAppIDSet = getattr(request, "user_app_id")  # noqa: B009
            response = work(request, check_user_app_id(user_app_id))
            assign(response.status, success_status())
            return response
        except ApiError as error:
            refused = response_type()
            assign(refused.status, error.to_status())
            return refused

    def _now(self) -> int:
        """Now, in nanoseconds since the epoch."""
        return int(self._clock() * 1e9)

    def _not_found(self, task_id: str) -> ApiError:
        return ApiError(
            self.not_found_code,
            f"Task {shorten(task_id)} not found",
            f"no task with id {shorten(task_id)} in this app",
        )

    # ----- handlers ----------------------------------------------------------------------

    def _post_tasks(
        self, request: service_pb2.PostTasksRequest, key: AppKey
    ) -> service_pb2.MultiTaskResponse:
        if not request.tasks:
            raise invalid_request("tasks", "must contain at least one task")
        now = Timestamp()
        now.FromNanoseconds(self._now())
        seen: set[str] = set()
        new_tasks: list[Task] = []
        for index, sent in enumerate(request.tasks):
            task = _copy(sent)
            field = f"tasks[{index}]"
            if task.id:
                check_task_id(task.id, f"{field}.id")
            else:
                task.id = os.urandom(16).hex()
            if task.id in seen:
                raise _conflict(task.id, "appears more than once in this request")
            seen.add(task.id)
            check_task_possible(task, field)
            task.user_id, task.app_id = key
            assign(task.created_at, now)
            assign(task.modified_at, now)
            task.status.Clear()
            task.status.code = status_code_pb2.TASK_IN_PROGRESS
            task.status.description = IN_PROGRESS_DESCRIPTION
            new_tasks.append(task)
        try:
            self._store.insert_new(key, new_tasks)
        except ConflictError as error:
            raise _conflict(error.task_id, "already exists") from None
        response = service_pb2.MultiTaskResponse()
        response.tasks.extend(new_tasks)
        return response

    def _get_task(
        self, request: service_pb2.GetTaskRequest, key: AppKey
    ) -> service_pb2.SingleTaskResponse:
        fields = check_additional_fields(request.additional_fields)
        if not request.task_id:
            raise invalid_request("task_id", "is required")
        stored = self._store.get(key, request.task_id)
        if stored is None:
            raise self._not_found(request.task_id)
        response = service_pb2.SingleTaskResponse()
        assign(response.task, stored)
        apply_additional_fields(response.task, fields)
        return response

    def _list_tasks(
        self, request: service_pb2.ListTasksRequest, key: AppKey
    ) -> service_pb2.MultiTaskResponse:
        if request.per_page > MAX_PER_PAGE:
            raise invalid_request("per_page", f"must be at most {MAX_PER_PAGE}")
        fields = check_additional_fields(request.additional_fields)
        per_page = request.per_page or DEFAULT_PER_PAGE
        page = request.page or 1
        flt = TaskFilter.from_request(request)
        found = self._store.page(key, flt, (page - 1) * per_page, per_page)
        response = service_pb2.MultiTaskResponse()
        response.tasks.extend(found)
        if fields:
            for task in response.tasks:
                apply_additional_fields(task, fields)
        return response

    def _patch_tasks(
        self, request: service_pb2.PatchTasksRequest, key: AppKey
    ) -> service_pb2.MultiTaskResponse:
        if request.action not in PATCH_ACTIONS:
            raise invalid_request(
                "action", f"{shorten(request.action)} is not supported: use overwrite or merge"
            )
        if not request.tasks:
            raise invalid_request("tasks", "must contain at least one task")
        now = self._now()
        changes: list[tuple[str, Callable[[Task], Task]]] = []
        for index, sent in enumerate(request.tasks):
            field = f"tasks[{index}]"
            if not sent.id:
                raise invalid_request(f"{field}.id", "is required")
            check_status(sent, field, required=request.action == "merge")
            if request.action == "overwrite":
                check_task_possible(sent, field)
                changes.append((sent.id, _overwriter(sent, now)))
            else:
                changes.append((sent.id, _status_merger(sent.status, now)))
        try:
            updated = self._store.update(key, changes)
        except MissingTaskError as error:
            raise self._not_found(error.task_id) from None
        response = service_pb2.MultiTaskResponse()
        response.tasks.extend(updated)
        return response

    def _delete_tasks(
        self, request: service_pb2.DeleteTasksRequest, key: AppKey
    ) -> status_pb2.BaseResponse:
        if not request.ids:
            raise invalid_request("ids", "must contain at least one task id")
        self._store.delete(key, request.ids)
        return status_pb2.BaseResponse()


def _copy(task: Task) -> Task:
    return copy_message(task)


def _conflict(task_id: str, problem: str) -> ApiError:
    return ApiError(
        status_code_pb2.TASK_CONFLICT,
        f"Task id {shorten(task_id)} {problem}",
        "task ids must be unique within an app",
    )


def _overwriter(sent: Task, now: int) -> Callable[[Task], Task]:
    def build(old: Task) -> Task:
        new = _copy(sent)
        new.id = old.id
        new.user_id, new.app_id = old.user_id, old.app_id
        assign(new.created_at, old.created_at)
        new.modified_at.FromNanoseconds(now)
        if not sent.HasField("status"):
            assign(new.status, old.status)
        return new

    return build


def _status_merger(status: status_pb2.Status, now: int) -> Callable[[Task], Task]:
    def build(old: Task) -> Task:
        new = _copy(old)
        assign(new.status, status)
        new.modified_at.FromNanoseconds(now)
        return new

    return build
