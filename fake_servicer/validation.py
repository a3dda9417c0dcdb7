"""Request validation: ids, ``user_app_id``, impossible tasks and ``additional_fields``.

All checks raise :class:`~fake_servicer.status.ApiError` (CONN_INVALID_REQUEST, naming the
offending field) and never modify their input.

Task ids: the real API's id rules are undocumented. The fake is stricter than it may be and
accepts only ids matching ``^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`` (1 to 128 characters, starting
with a letter or digit), so a client that passes here produces plausible Clarifai ids.

A task is impossible (refused by PostTasks, and by PatchTasks ``overwrite``) when:

- ``type`` is TYPE_NOT_SET and it is not an auto-annotation task (no ``model`` or ``workflow``
  in ``worker.workers``);
- ``worker.strategy`` is PARTITIONED without ``partitioned_strategy_info`` or with its type unset;
- the partitioned type is WEIGHTED and ``weights`` is empty or has a value that is not a
  positive number;
- ``review.strategy`` is CONSENSUS and neither ``approval_threshold_labelers`` nor the
  deprecated ``approval_threshold`` is positive;
- ``input_source.type`` is SAVED_SEARCH or DATASET and ``input_source.id`` is empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from clarifai_grpc.grpc.api import resources_pb2

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
    if worker.strategy != _TaskWorker.PARTITIONED:
        return
    info_field = f"{field}.partitioned_strategy_info"
    if not worker.HasField("partitioned_strategy_info"):
        raise invalid_request(info_field, "is required for the PARTITIONED worker strategy")
    info = worker.partitioned_strategy_info
    if info.type == _Partitioned.PARTITIONED_WORKER_STRATEGY_NOT_SET:
        raise invalid_request(f"{info_field}.type", "must be EVENLY or WEIGHTED")
    if info.type == _Partitioned.WEIGHTED:
        _check_weights(info, f"{info_field}.weights")


def _check_weights(info: resources_pb2.TaskWorkerPartitionedStrategyInfo, field: str) -> None:
    weights = info.weights
    if not weights.fields:
        raise invalid_request(field, "must give a positive weight per worker for WEIGHTED")
    for user_id, value in weights.fields.items():
        if value.WhichOneof("kind") != "number_value" or not value.number_value > 0:
            raise invalid_request(field, f"weight of {shorten(user_id)} must be a positive number")


def _check_review(review: resources_pb2.TaskReview, field: str) -> None:
    if review.strategy != _TaskReview.CONSENSUS:
        return
    info = review.consensus_strategy_info
    if info.approval_threshold_labelers <= 0 and info.approval_threshold <= 0:
        raise invalid_request(
            f"{field}.consensus_strategy_info.approval_threshold_labelers",
            "must be positive for the CONSENSUS review strategy "
            "(or set the deprecated approval_threshold)",
        )


def _check_input_source(source: resources_pb2.TaskInputSource, field: str) -> None:
    if source.type in (_TaskInputSource.SAVED_SEARCH, _TaskInputSource.DATASET) and not source.id:
        kind = _TaskInputSource.TaskInputSourceType.Name(source.type)
        raise invalid_request(f"{field}.id", f"is required for input source type {kind}")
