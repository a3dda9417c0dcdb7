"""Request validation: ids, ``user_app_id``, invalid tasks, statuses and ``additional_fields``.

All checks raise :class:`~fake_servicer.status.ApiError` (CONN_INVALID_REQUEST, naming the
offending field) and never modify their input.

**Documented rules** (the same the client enforces, each from a proto comment):

- ``review.consensus_strategy_info.approval_threshold_reviewers`` is 0, 1 or -1 ("the only
  allowed values", resources.proto);
- ``worker.partitioned_strategy_info.weights`` map the task's labelers to weights: every key
  is a worker of the task, every value a finite number, not negative, with a positive sum, and
  no share above ``1/workers_per_input`` ("mathematically impossible", resources.proto);
- an auto-annotation task has exactly one worker, a model or a workflow, and ``worker.type``
  WORKER_AUTO / WORKER_HUMAN must match the workers (resources.proto ``TaskWorker``);
- a status sent to PatchTasks is a task status, one of the TASK_* codes IN_PROGRESS, DONE,
  WONT_DO, FAILED, IDLE (``merge`` "only supports updating task status").

**Stricter than the service, where the docs are silent** (a client may send these; the real
service's answer is undocumented, and the fake chooses to refuse):

- Task ids must match ``^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`` (1 to 128 characters, starting
  with a letter or digit), so a client that passes here produces plausible Clarifai ids.
- ``type`` TYPE_NOT_SET is refused unless it is an auto-annotation task (a ``model`` or
  ``workflow`` in ``worker.workers``): the docs use it only for those.
- ``worker.strategy`` PARTITIONED needs ``partitioned_strategy_info`` with its type set.
- ``input_source.type`` SAVED_SEARCH or DATASET needs ``input_source.id``.

A CONSENSUS review with threshold 0 is accepted: resources.proto documents that 0 disables
labeler consensus.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from fake_servicer.status import invalid_request, shorten

TASK_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""Accepted task ids (matched in full)."""

ADDITIONAL_FIELDS: frozenset[str] = frozenset(
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
"""The ``additional_fields`` values GetTask and ListTasks accept (from the proto comments)."""

TASK_STATUS_CODES: frozenset[int] = frozenset(
    status_code_pb2.StatusCode.Value(name)
    for name in ("TASK_IN_PROGRESS", "TASK_DONE", "TASK_WONT_DO", "TASK_FAILED", "TASK_IDLE")
)
"""The status codes of a task."""

_Task = resources_pb2.Task
_TaskWorker = resources_pb2.TaskWorker
_TaskReview = resources_pb2.TaskReview
_TaskInputSource = resources_pb2.TaskInputSource
_Partitioned = resources_pb2.TaskWorkerPartitionedStrategyInfo


def check_user_app_id(user_app_id: resources_pb2.UserAppIDSet) -> tuple[str, str]:
    """Return ``(user_id, app_id)``; refuse a ``user_app_id`` missing either id."""
    if not user_app_id.user_id or not user_app_id.app_id:
        raise invalid_request("user_app_id", "must set both user_id and app_id")
    return user_app_id.user_id, user_app_id.app_id


def check_task_id(task_id: str, field: str) -> None:
    """Refuse ``task_id`` unless it matches :data:`TASK_ID_PATTERN` in full."""
    if TASK_ID_PATTERN.fullmatch(task_id) is None:
        raise invalid_request(
            field,
            f"{shorten(task_id)} is not a valid id: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
        )


def check_additional_fields(fields: Iterable[str]) -> frozenset[str]:
    """Return the requested fields as a set; refuse any value not in :data:`ADDITIONAL_FIELDS`."""
    requested = frozenset(fields)
    for name in sorted(requested):
        if name not in ADDITIONAL_FIELDS:
            raise invalid_request(
                "additional_fields", f"contains unsupported value {shorten(name)}"
            )
    return requested


def is_auto_annotation(task: resources_pb2.Task) -> bool:
    """True when a worker of ``task`` is a model or a workflow."""
    return any(w.WhichOneof("worker") in ("model", "workflow") for w in task.worker.workers)


def check_task_possible(task: resources_pb2.Task, field: str) -> None:
    """Refuse an impossible task (see the module docstring); ``field`` prefixes messages."""
    if task.type == _Task.TYPE_NOT_SET and not is_auto_annotation(task):
        raise invalid_request(
            f"{field}.type", "must be set (only an auto-annotation task may omit it)"
        )
    _check_worker(task.worker, f"{field}.worker")
    _check_review(task.review, f"{field}.review")
    _check_input_source(task.input_source, f"{field}.input_source")


def _check_worker(worker: resources_pb2.TaskWorker, field: str) -> None:
    kinds = [w.WhichOneof("worker") for w in worker.workers]
    auto = "model" in kinds or "workflow" in kinds
    if auto and (len(kinds) > 1 or worker.user_ids or worker.users):
        raise invalid_request(
            f"{field}.workers", "an auto-annotation task has exactly one model or workflow worker"
        )
    if worker.type == _TaskWorker.WORKER_AUTO and not auto:
        raise invalid_request(f"{field}.type", "WORKER_AUTO needs a model or workflow worker")
    if worker.type == _TaskWorker.WORKER_HUMAN and auto:
        raise invalid_request(f"{field}.type", "WORKER_HUMAN allows only user workers")
    if worker.strategy != _TaskWorker.PARTITIONED:
        return
    info_field = f"{field}.partitioned_strategy_info"
    if not worker.HasField("partitioned_strategy_info"):
        raise invalid_request(info_field, "is required for the PARTITIONED worker strategy")
    info = worker.partitioned_strategy_info
    if info.type == _Partitioned.PARTITIONED_WORKER_STRATEGY_NOT_SET:
        raise invalid_request(f"{info_field}.type", "must be EVENLY or WEIGHTED")
    if info.type == _Partitioned.WEIGHTED:
        _check_weights(info, _user_ids(worker), f"{info_field}.weights")


def _user_ids(worker: resources_pb2.TaskWorker) -> set[str]:
    ids = {w.user.id for w in worker.workers if w.WhichOneof("worker") == "user"}
    return ids | set(worker.user_ids) | {u.id for u in worker.users}


def _check_weights(
    info: resources_pb2.TaskWorkerPartitionedStrategyInfo, workers: set[str], field: str
) -> None:
    weights = info.weights
    if not weights.fields:
        raise invalid_request(field, "must give a weight per worker for WEIGHTED")
    values: dict[str, float] = {}
    for user_id, value in weights.fields.items():
        if user_id not in workers:
            raise invalid_request(field, f"names {shorten(user_id)}, who is not a worker")
        number = value.number_value
        if value.WhichOneof("kind") != "number_value" or not 0 <= number < math.inf:
            raise invalid_request(
                field, f"weight of {shorten(user_id)} must be a finite number, not negative"
            )
        values[user_id] = number
    top = max(values.values())
    if top <= 0:
        raise invalid_request(field, "must have a positive weight")
    total = math.fsum(w / top for w in values.values())
    if info.workers_per_input > total * (1 + 1e-9):
        raise invalid_request(
            field, "gives a worker a share above 1/workers_per_input, an impossible partition"
        )


def _check_review(review: resources_pb2.TaskReview, field: str) -> None:
    reviewers = review.consensus_strategy_info.approval_threshold_reviewers
    if reviewers not in (0, 1, -1):
        raise invalid_request(
            f"{field}.consensus_strategy_info.approval_threshold_reviewers",
            "must be 0 (default: 1), 1 or -1 (all reviewers)",
        )


def check_status(task: resources_pb2.Task, field: str, *, required: bool) -> None:
    """Refuse a status that is not a task status; with ``required``, a missing one too."""
    if not task.HasField("status") or not task.status.code:
        if required:
            raise invalid_request(
                f"{field}.status", "is required: merge only updates the task status"
            )
        return
    if task.status.code not in TASK_STATUS_CODES:
        raise invalid_request(
            f"{field}.status.code",
            f"{task.status.code} is not a task status (TASK_IN_PROGRESS, TASK_DONE, "
            "TASK_WONT_DO, TASK_FAILED or TASK_IDLE)",
        )


def _check_input_source(source: resources_pb2.TaskInputSource, field: str) -> None:
    if source.type in (_TaskInputSource.SAVED_SEARCH, _TaskInputSource.DATASET) and not source.id:
        kind = _TaskInputSource.TaskInputSourceType.Name(source.type)
        raise invalid_request(f"{field}.id", f"is required for input source type {kind}")
