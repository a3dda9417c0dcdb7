"""Pure builders of the five Tasks API request messages.

Each function validates its input (raising
:class:`~taskgrpc.errors.ValidationError`) and returns a plain ``service_pb2``
request. No I/O happens here; the clients send what these build.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_pb2

from . import _validate as v
from .builders import check_task
from .errors import ValidationError

_require_id = v.require_id

__all__ = [
    "ADDITIONAL_FIELDS",
    "MAX_PER_PAGE",
    "delete_tasks",
    "get_task",
    "list_tasks",
    "patch_tasks",
    "post_tasks",
    "user_app_id",
]

MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 128

#: The ``additional_fields`` that GetTask and ListTasks document.
ADDITIONAL_FIELDS = frozenset(
    {
        "all",
        "worker.users",
        "review.users",
        "metrics.input_source.inputs_count_estimated",
        "metrics.work.inputs_count_estimated",
        "metrics.work.inputs_percent_estimated",
        "metrics.review.inputs_count_estimated",
        "metrics.review.inputs_count_estimated_per_reviewer",
        "metrics.review.inputs_percent_estimated",
        "metrics.review.inputs_percent_estimated_per_reviewer",
        "metrics.review.inputs_reviewable_count_estimated_per_reviewer",
    }
)


def user_app_id(user_id: str, app_id: str) -> r.UserAppIDSet:
    """The ``UserAppIDSet`` every request carries (a PAT is user-scoped)."""
    return r.UserAppIDSet(
        user_id=_require_id(user_id, "user_id"), app_id=_require_id(app_id, "app_id")
    )


def _fields(additional_fields: Iterable[str] | None) -> list[str]:
    # service.proto GetTaskRequest / ListTasksRequest.additional_fields: the documented values.
    fields = v.not_a_string(additional_fields, "additional_fields")
    for f in fields:
        if f not in ADDITIONAL_FIELDS:
            raise v.unknown_name("additional field", f, sorted(ADDITIONAL_FIELDS))
    return fields


def _tasks(tasks: Iterable[r.Task], *, require_id: bool) -> list[r.Task]:
    out = list(tasks)
    if not out:
        raise ValidationError("tasks must not be empty")
    for t in out:
        check_task(t, require_id=require_id)
    return out


def post_tasks(
    uaid: r.UserAppIDSet, tasks: Iterable[r.Task], *, check: bool = True
) -> s.PostTasksRequest:
    """PostTasks for one task or more, each checked with ``check_task``.

    ``check=False`` skips the per-task checks, for tasks already checked.
    """
    batch = _tasks(tasks, require_id=False) if check else list(tasks)
    return s.PostTasksRequest(user_app_id=uaid, tasks=batch)


def get_task(
    uaid: r.UserAppIDSet, task_id: str, additional_fields: Iterable[str] = ()
) -> s.GetTaskRequest:
    """GetTask for one id."""
    return s.GetTaskRequest(
        user_app_id=uaid,
        task_id=_require_id(task_id, "task_id"),
        additional_fields=_fields(additional_fields),
    )


def list_tasks(
    uaid: r.UserAppIDSet,
    *,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
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
) -> s.ListTasksRequest:
    """One page of ListTasks. ``page`` is 1-based; ``per_page`` is 1..1000.

    Every filter may be ``None`` or empty (no filter). Workers are filtered
    through the current ``worker_ids`` field (one ``WorkerIDSet`` per user,
    model or workflow id), not the deprecated ``worker_user_ids``; a task
    matches when it has any of them. Tasks of a label order are listed only
    with ``including_label_order_tasks`` or ``label_order_ids`` (service.proto).
    """
    v.int_in_range(page, "page", 1, v.MAX_UINT32)  # service.proto: page is a uint32, 1-based
    # The docs give 1000 as the largest page.
    v.int_in_range(per_page, "per_page", 1, MAX_PER_PAGE)
    worker_ids = [r.WorkerIDSet(user_id=u) for u in v.id_list(worker_user_ids, "worker_user_ids")]
    worker_ids += [
        r.WorkerIDSet(model_id=m) for m in v.id_list(worker_model_ids, "worker_model_ids")
    ]
    worker_ids += [
        r.WorkerIDSet(workflow_id=w) for w in v.id_list(worker_workflow_ids, "worker_workflow_ids")
    ]
    request = s.ListTasksRequest(
        user_app_id=uaid,
        page=page,
        per_page=per_page,
        review_user_ids=v.id_list(review_user_ids, "review_user_ids"),
        ids=v.id_list(ids, "ids"),
        input_source_ids=v.id_list(input_source_ids, "input_source_ids"),
        additional_fields=_fields(additional_fields),
        label_order_ids=v.id_list(label_order_ids, "label_order_ids"),
        including_label_order_tasks=bool(including_label_order_tasks),
        worker_ids=worker_ids,
    )
    if input_source_type is not None:
        request.input_source_type = v.enum_number(
            r.TaskInputSource.TaskInputSourceType,
            input_source_type,
            "input_source_type",
            skip=["INPUT_SOURCE_TYPE_NOT_SET"],
        )
    return request


def patch_tasks(
    uaid: r.UserAppIDSet, tasks: Iterable[r.Task], action: str, *, check: bool = True
) -> s.PatchTasksRequest:
    """PatchTasks: ``overwrite`` sends whole tasks; ``merge`` only id and status.

    ``check=False`` skips the per-task checks of ``overwrite``, for tasks
    already checked.
    """
    if action == "overwrite":
        checked = _tasks(tasks, require_id=True) if check else list(tasks)
    elif action == "merge":
        checked = list(tasks)
        if not checked:
            raise ValidationError("tasks must not be empty")
        for t in checked:
            _require_id(t.id, "task.id")
            # service.proto PatchTasksRequest: merge "only supports updating task status".
            if not t.HasField("status") or t.status.code == 0:
                raise ValidationError(f"task {t.id!r}: merge needs a status code to set")
            v.task_status(t.status.code)
    else:
        raise ValidationError(f"action must be 'overwrite' or 'merge', got {action!r}")
    return s.PatchTasksRequest(user_app_id=uaid, tasks=checked, action=action)


def status_patch(task_id: str, code: int | str) -> r.Task:
    """The minimal task a ``merge`` sends: its id and a task status (``TASK_DONE`` or 54002).

    Only the TASK_* task statuses are accepted (see ``_validate.task_status``).
    """
    return r.Task(
        id=_require_id(task_id, "task_id"), status=status_pb2.Status(code=v.task_status(code))
    )


def delete_tasks(uaid: r.UserAppIDSet, ids: Sequence[str]) -> s.DeleteTasksRequest:
    """DeleteTasks for one id or more (repeats are allowed, as the docs show)."""
    ids = v.not_a_string(ids, "ids")
    if not ids:
        raise ValidationError("delete needs at least one task id")
    return s.DeleteTasksRequest(
        user_app_id=uaid, ids=[_require_id(t, f"ids[{i}]") for i, t in enumerate(ids)]
    )
