"""``FakeV2Servicer``: an in-memory, thread-safe Clarifai V2 servicer for the Tasks API and the
labeling lifecycle.

Implements PostTasks, GetTask, ListTasks, PatchTasks and DeleteTasks, and the lifecycle methods
PutTaskAssignments, PostAnnotations, ListAnnotations, PatchAnnotations, DeleteAnnotations,
GetTaskInputCount, GetTaskAnnotationCount and the deprecated ListNextTaskAssignments (see
:mod:`fake_servicer.lifecycle` and :mod:`fake_servicer.lifecycle_rpcs`); every other V2 method
is inherited from ``V2Servicer`` and answers gRPC UNIMPLEMENTED.

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
- Creating a task (PostTasks, ``put_tasks``) resolves its input source and makes its
  creation-time assignments; deleting it drops them (annotations stay). PatchTasks keeps them.
- Task status TASK_DONE is set by the owner (PatchTasks). With ``auto_done=True`` (off by
  default) a task also becomes TASK_DONE once every input of its source is reviewed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

import grpc
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from fake_servicer.additional_fields import apply_additional_fields, wants_metrics
from fake_servicer.annotations import AnnotationFilter
from fake_servicer.auth import PatChecker
from fake_servicer.faults import FaultInjector, Faults
from fake_servicer.filters import TaskFilter
from fake_servicer.inputs import Input
from fake_servicer.lifecycle import Lifecycle, in_progress
from fake_servicer.lifecycle_rpcs import LifecycleRpcs
from fake_servicer.protos import assign, copy_message
from fake_servicer.recording import DEFAULT_MAX_RECORDS, CallLog, CallRecord, Metadata
from fake_servicer.simulate import DEFAULT_CONCEPTS, SimulationResult
from fake_servicer.simulate import simulate as run_simulation
from fake_servicer.status import (
    KEY_INVALID_DESCRIPTION,
    THROTTLED_DESCRIPTION,
    ApiError,
    invalid_request,
    make_status,
    page_window,
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
    ``users``: PAT -> user id, the actor of lifecycle calls made with that PAT (always
    accepted); other PATs act as the app owner. ``faults``: initial :class:`Faults` (none by
    default). ``not_found_code``: body code for a missing task. ``clock``: returns seconds since
    the epoch for timestamps (``time.time``). ``auto_done``: set TASK_DONE once all is reviewed.
    """

    def __init__(
        self,
        *,
        pats: Iterable[str] | None = None,
        users: Mapping[str, str] | None = None,
        faults: Faults | None = None,
        not_found_code: int = status_code_pb2.TASK_MISSING,
        clock: Callable[[], float] | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
        auto_done: bool = False,
    ) -> None:
        self.not_found_code = not_found_code
        self.auto_done = auto_done
        self._pats = PatChecker(pats, users)
        self._injector = FaultInjector(faults)
        self._clock = clock or time.time
        self._store = TaskStore()
        self._log = CallLog(max_records)
        self._lifecycle = Lifecycle(self._now)
        self._lc = LifecycleRpcs(self._lifecycle, self._store, self._not_found)

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
        for task in stored:
            self._lifecycle.task_created((user_id, app_id), task)
        return [task.id for task in stored]

    def reset(self) -> None:
        """Forget all tasks, inputs, annotations, counters, records and fault counts; restart
        the fault stream."""
        self._store.clear()
        self._lifecycle.clear()
        self._log.clear()
        self._injector.reset()

    def add_users(self, users: Mapping[str, str]) -> None:
        """Map more PATs to user ids (the actor of calls made with them); they are accepted."""
        self._pats.add_users(users)

    def put_inputs(
        self,
        user_id: str,
        app_id: str,
        inputs: Iterable[Input | str] | int,
        *,
        dataset_id: str | None = None,
    ) -> list[str]:
        """Seed inputs into an app (optionally into ``dataset_id``); return their ids.

        ``inputs`` is Input messages, input ids, or a count of inputs to generate (ids
        ``input-000001``, ...). Seed before creating the tasks that should see them: a task's
        input source is resolved when the task is created.
        """
        return self._lifecycle.put_inputs((user_id, app_id), inputs, dataset_id)

    def inputs(self, user_id: str, app_id: str) -> list[Input]:
        """Copies of the app's seeded inputs, in seeding order."""
        return self._lifecycle.inputs((user_id, app_id))

    def assignments(
        self, user_id: str, app_id: str, task_id: str
    ) -> list[resources_pb2.TaskAssignment]:
        """Every assignment of a stored task, in creation order (KeyError if no such task)."""
        key = (user_id, app_id)
        return self._lifecycle.assignments(key, self._stored_task(key, task_id))

    def annotations(self, user_id: str, app_id: str) -> list[resources_pb2.Annotation]:
        """Copies of every annotation of the app, oldest first."""
        found = self._lifecycle.list_annotations(
            (user_id, app_id), AnnotationFilter(), 0, sys.maxsize
        )
        return [_copy_annotation(a) for a in found]

    def simulate(
        self,
        task_id: str,
        *,
        approve: float = 0.8,
        request_changes: float = 0.0,
        agree: float = 1.0,
        concepts: Sequence[str] | None = None,
        seed: int | None = None,
        user_id: str | None = None,
        app_id: str | None = None,
    ) -> SimulationResult:
        """Play the task's labelers and reviewers until no work is left; see
        :mod:`fake_servicer.simulate`.

        Decisions: approve with probability ``approve``, request changes with
        ``request_changes``, reject otherwise; labelers choose the input's true concept with
        probability ``agree``. ``concepts`` defaults to the task's concepts (else "positive" and
        "negative"). ``user_id``/``app_id`` are needed only when several apps have a task with
        this id. Raises KeyError for an unknown task, ValueError for bad probabilities.
        """
        key = self._app_of(task_id, user_id, app_id)
        task = self._stored_task(key, task_id)
        if concepts is None:
            concepts = _task_concepts(task) or DEFAULT_CONCEPTS
        result = run_simulation(
            self._lifecycle,
            key,
            task,
            approve=approve,
            request_changes=request_changes,
            agree=agree,
            concepts=concepts,
            seed=seed,
        )
        self._after_lifecycle_change(key, task_id)
        return result

    def _app_of(self, task_id: str, user_id: str | None, app_id: str | None) -> AppKey:
        if user_id is not None and app_id is not None:
            return user_id, app_id
        keys = [
            key
            for key in self._lifecycle.apps_with_task(task_id)
            if user_id in (None, key[0]) and app_id in (None, key[1])
        ]
        if not keys:
            raise KeyError(f"no task {task_id!r}")
        if len(keys) > 1:
            raise KeyError(f"several apps have a task {task_id!r}: pass user_id and app_id")
        return keys[0]

    def put_annotations(
        self, user_id: str, app_id: str, annotations: Iterable[resources_pb2.Annotation]
    ) -> list[str]:
        """Store copies of annotations directly (no RPC, no checks); return their ids.

        For tests and benchmarks of readers such as exports. Sets a fresh id where missing,
        ``task_id`` from the deprecated ``annotation_info.task_id``, status
        ANNOTATION_SUCCESS and timestamps where unset. An existing id is replaced.
        """
        return self._lifecycle.put_annotations((user_id, app_id), annotations)

    def _stored_task(self, key: AppKey, task_id: str) -> Task:
        task = self._store.get(key, task_id)
        if task is None:
            raise KeyError(f"no task {task_id!r} in app {key[0]}/{key[1]}")
        return task

    def _after_lifecycle_change(self, key: AppKey, task_id: str) -> None:
        """Apply ``auto_done`` to the task once everything in it is reviewed."""
        if not self.auto_done:
            return
        task = self._store.get(key, task_id)
        if task is None or not in_progress(task):
            return
        if self._lifecycle.all_reviewed(key, task):
            done = status_pb2.Status(code=status_code_pb2.TASK_DONE, description="Task done")
            with contextlib.suppress(MissingTaskError):  # deleted meanwhile
                self._store.update(key, [(task_id, _status_merger(done, self._now()))])

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

    def PutTaskAssignments(
        self, request: service_pb2.PutTaskAssignmentsRequest, context: grpc.ServicerContext
    ) -> service_pb2.MultiTaskAssignmentResponse:
        """Labeler and reviewer actions on a task's assignments (the actor is the PAT's user)."""
        response = self._handle(
            "PutTaskAssignments",
            request,
            context,
            service_pb2.MultiTaskAssignmentResponse,
            self._lc.put_task_assignments,
        )
        if response.status.code == status_code_pb2.SUCCESS:
            self._after_lifecycle_change(_key_of(request), request.task_id)
        return response

    def ListNextTaskAssignments(
        self, request: service_pb2.ListNextTaskAssignmentsRequest, context: grpc.ServicerContext
    ) -> service_pb2.MultiInputResponse:
        """Deprecated: LABEL_START, answered with the batch's inputs."""
        return self._handle(
            "ListNextTaskAssignments",
            request,
            context,
            service_pb2.MultiInputResponse,
            self._lc.list_next_task_assignments,
        )

    def PostAnnotations(
        self, request: service_pb2.PostAnnotationsRequest, context: grpc.ServicerContext
    ) -> service_pb2.MultiAnnotationResponse:
        """Create annotations, all or nothing; bound to a task by ``task_id``."""
        return self._handle(
            "PostAnnotations",
            request,
            context,
            service_pb2.MultiAnnotationResponse,
            self._lc.post_annotations,
        )

    def ListAnnotations(
        self, request: service_pb2.ListAnnotationsRequest, context: grpc.ServicerContext
    ) -> service_pb2.MultiAnnotationResponse:
        """One page of matching annotations, oldest first."""
        return self._handle(
            "ListAnnotations",
            request,
            context,
            service_pb2.MultiAnnotationResponse,
            self._lc.list_annotations,
        )

    def PatchAnnotations(
        self, request: service_pb2.PatchAnnotationsRequest, context: grpc.ServicerContext
    ) -> service_pb2.MultiAnnotationResponse:
        """Merge, overwrite or remove annotation data by id, all or nothing."""
        return self._handle(
            "PatchAnnotations",
            request,
            context,
            service_pb2.MultiAnnotationResponse,
            self._lc.patch_annotations,
        )

    def DeleteAnnotations(
        self, request: service_pb2.DeleteAnnotationsRequest, context: grpc.ServicerContext
    ) -> status_pb2.BaseResponse:
        """Delete annotations by id and/or input id, ignoring unknown ones."""
        return self._handle(
            "DeleteAnnotations",
            request,
            context,
            status_pb2.BaseResponse,
            self._lc.delete_annotations,
        )

    def GetTaskInputCount(
        self, request: service_pb2.GetTaskCountRequest, context: grpc.ServicerContext
    ) -> service_pb2.SingleTaskCountResponse:
        """Assignments per worker and status."""
        return self._handle(
            "GetTaskInputCount",
            request,
            context,
            service_pb2.SingleTaskCountResponse,
            self._lc.task_input_count,
        )

    def GetTaskAnnotationCount(
        self, request: service_pb2.GetTaskCountRequest, context: grpc.ServicerContext
    ) -> service_pb2.SingleTaskCountResponse:
        """The task's annotations per author and status."""
        return self._handle(
            "GetTaskAnnotationCount",
            request,
            context,
            service_pb2.SingleTaskCountResponse,
            self._lc.task_annotation_count,
        )

    # ----- dispatch -----------------------------------------------------------------------

    def _handle(
        self,
        method: str,
        request: _Req,
        context: grpc.ServicerContext,
        response_type: Callable[[], _Resp],
        work: Callable[[_Req, AppKey, str], _Resp],
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
        work: Callable[[_Req, AppKey, str], _Resp],
    ) -> _Resp:
        try:
            refusal = self._pats.check(metadata)
            if refusal is not None:
                raise ApiError(status_code_pb2.CONN_KEY_INVALID, KEY_INVALID_DESCRIPTION, refusal)
            user_app_id: resources_pb2.UserAppIDSet = getattr(request, "user_app_id")  # noqa: B009
            key = check_user_app_id(user_app_id)
            actor = self._pats.user_of(metadata) or key[0]
            response = work(request, key, actor)
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
        self, request: service_pb2.PostTasksRequest, key: AppKey, actor: str
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
        for task in new_tasks:
            self._lifecycle.task_created(key, task)
        response = service_pb2.MultiTaskResponse()
        response.tasks.extend(new_tasks)
        return response

    def _get_task(
        self, request: service_pb2.GetTaskRequest, key: AppKey, actor: str
    ) -> service_pb2.SingleTaskResponse:
        fields = check_additional_fields(request.additional_fields)
        if not request.task_id:
            raise invalid_request("task_id", "is required")
        stored = self._store.get(key, request.task_id)
        if stored is None:
            raise self._not_found(request.task_id)
        response = service_pb2.SingleTaskResponse()
        assign(response.task, stored)
        apply_additional_fields(response.task, fields, self._metrics(key, stored, fields))
        return response

    def _list_tasks(
        self, request: service_pb2.ListTasksRequest, key: AppKey, actor: str
    ) -> service_pb2.MultiTaskResponse:
        offset, limit = page_window(request.page, request.per_page, DEFAULT_PER_PAGE)
        fields = check_additional_fields(request.additional_fields)
        flt = TaskFilter.from_request(request)
        found = self._store.page(key, flt, offset, limit)
        response = service_pb2.MultiTaskResponse()
        response.tasks.extend(found)
        if fields:
            for task in response.tasks:
                apply_additional_fields(task, fields, self._metrics(key, task, fields))
        return response

    def _metrics(
        self, key: AppKey, task: Task, fields: frozenset[str]
    ) -> resources_pb2.TaskMetrics | None:
        return self._lifecycle.metrics(key, task) if wants_metrics(fields) else None

    def _patch_tasks(
        self, request: service_pb2.PatchTasksRequest, key: AppKey, actor: str
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
        self, request: service_pb2.DeleteTasksRequest, key: AppKey, actor: str
    ) -> status_pb2.BaseResponse:
        if not request.ids:
            raise invalid_request("ids", "must contain at least one task id")
        self._store.delete(key, request.ids)
        self._lifecycle.tasks_deleted(key, request.ids)
        return status_pb2.BaseResponse()


def _copy(task: Task) -> Task:
    return copy_message(task)


def _copy_annotation(annotation: resources_pb2.Annotation) -> resources_pb2.Annotation:
    return copy_message(annotation)


def _task_concepts(task: Task) -> list[str]:
    ids = [c.concept.id for c in task.concepts if c.concept.id]
    return list(dict.fromkeys([*ids, *task.concept_ids]))


def _key_of(request: service_pb2.PutTaskAssignmentsRequest) -> AppKey:
    return request.user_app_id.user_id, request.user_app_id.app_id


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
