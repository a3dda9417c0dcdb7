"""Pure builders of the five Tasks API request messages.

Each function validates its input (raising
:class:`~taskgrpc.errors.ValidationError`) and returns a plain ``service_pb2``
request. No I/O happens here; the clients send what these build.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2

from .builders import _id_list, _require_id, check_task
from .errors import ValidationError

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


def _fields(additional_fields: Iterable[str]) -> list[str]:
    fields = list(additional_fields) if not isinstance(additional_fields, str) else None
    if fields is None:
        raise ValidationError("additional_fields must be a list of names, not a single string")
    for f in fields:
        if f not in ADDITIONAL_FIELDS:
            raise ValidationError(
                f"additional_fields: unknown field {f!r}; expected some of "
                + ", ".join(sorted(ADDITIONAL_FIELDS))
            )
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
    worker_user_ids: Iterable[str] = (),
    review_user_ids: Iterable[str] = (),
    ids: Iterable[str] = (),
    input_source_type: int | str | None = None,
    input_source_ids: Iterable[str] = (),
    additional_fields: Iterable[str] = (),
) -> s.ListTasksRequest:
    """One page of ListTasks. ``page`` is 1-based; ``per_page`` is 1..1000.

    Workers are filtered through the current ``worker_ids`` field (a
    ``WorkerIDSet`` per user), not the deprecated ``worker_user_ids``.
    """
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValidationError(f"page must be an integer >= 1, got {page!r}")
    if isinstance(per_page, bool) or not isinstance(per_page, int):
        raise ValidationError(f"per_page must be an integer, got {per_page!r}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
    request = s.ListTasksRequest(
        user_app_id=uaid,
        page=page,
        per_page=per_page,
        review_user_ids=_id_list(review_user_ids, "review_user_ids"),
        ids=_id_list(ids, "ids"),
        input_source_ids=_id_list(input_source_ids, "input_source_ids"),
        additional_fields=_fields(additional_fields),
        worker_ids=[r.WorkerIDSet(user_id=u) for u in _id_list(worker_user_ids, "worker_user_ids")],
    )
    if input_source_type is not None:
        request.input_source_type = _source_type(input_source_type)
    return request


def _source_type(value: int | str) -> int:
    enum = r.TaskInputSource.TaskInputSourceType
    try:
        number = int(enum.Value(value.upper())) if isinstance(value, str) else int(value)
    except ValueError:
        number = -1
    if isinstance(value, bool) or number not in enum.values() or number == 0:
        names = ", ".join(n for n in enum.keys() if n != "INPUT_SOURCE_TYPE_NOT_SET")
        raise ValidationError(f"input_source_type: unknown type {value!r}; expected one of {names}")
    return number


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
            if not t.HasField("status") or t.status.code == 0:
                raise ValidationError(f"task {t.id!r}: merge needs a status code to set")
    else:
        raise ValidationError(f"action must be 'overwrite' or 'merge', got {action!r}")
    return s.PatchTasksRequest(user_app_id=uaid, tasks=checked, action=action)


def status_patch(task_id: str, code: int | str) -> r.Task:
    """The minimal task a ``merge`` sends: its id and a status code (number or name)."""
    enum = status_code_pb2.StatusCode
    try:
        number = int(enum.Value(code)) if isinstance(code, str) else code
    except ValueError:
        number = -1
    if (
        isinstance(number, bool)
        or not isinstance(number, int)
        or number not in enum.values()
        or not number
    ):
        raise ValidationError(f"status code {code!r} is not a known StatusCode")
    return r.Task(id=_require_id(task_id, "task_id"), status=status_pb2.Status(code=number))


def delete_tasks(uaid: r.UserAppIDSet, ids: Sequence[str]) -> s.DeleteTasksRequest:
    """DeleteTasks for one id or more (repeats are allowed, as the docs show)."""
    if isinstance(ids, str):
        raise ValidationError("ids must be a list of task ids, not a single string")
    if not ids:
        raise ValidationError("delete needs at least one task id")
    return s.DeleteTasksRequest(
        user_app_id=uaid, ids=[_require_id(t, f"ids[{i}]") for i, t in enumerate(ids)]
    )
