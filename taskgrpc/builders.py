"""Pure builders of ``Task`` protos, with validation.

Every function returns a plain ``clarifai_grpc`` message and raises
:class:`~taskgrpc.errors.ValidationError` (naming the field and the rule) on
input the service could never accept. They emit the current fields only:
``concepts``, ``worker.workers``, ``review.users``,
``consensus_strategy_info.approval_threshold_labelers``.

:func:`check_task` validates any ``Task`` (including hand-built ones using the
deprecated fields) before it is sent to PostTasks or PatchTasks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf.message import Message

from .errors import ValidationError

__all__ = [
    "all_inputs",
    "auto_annotation",
    "build_task",
    "check_task",
    "consensus",
    "dataset",
    "dynamic",
    "full",
    "manual_review",
    "no_review",
    "partitioned",
    "partitioned_evenly",
    "saved_search",
]

M = TypeVar("M", bound=Message)


def clone(message: M) -> M:
    """A deep copy of a protobuf message."""
    copy = type(message)()
    cast(Any, copy).CopyFrom(message)
    return copy


TaskType = r.Task.TaskType
_TASK_TYPES = frozenset(TaskType.values())
_TYPE_NOT_SET = r.Task.TYPE_NOT_SET
_MAX_UINT32 = 2**32 - 1


# --- small checks -------------------------------------------------------------


def _require_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string, got {value!r}")
    return value


def _id_list(values: Iterable[str], field: str, *, min_len: int = 0) -> list[str]:
    if isinstance(values, str):
        raise ValidationError(f"{field} must be a list of ids, not a single string {values!r}")
    ids = [_require_id(v, f"{field}[{i}]") for i, v in enumerate(values)]
    if len(ids) < min_len:
        raise ValidationError(f"{field} must have at least {min_len} id(s)")
    seen: set[str] = set()
    for v in ids:
        if v in seen:
            raise ValidationError(f"{field} has the duplicate id {v!r}")
        seen.add(v)
    return ids


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValidationError(f"{field} must be between {low} and {high}, got {value}")
    return value


def task_type(value: int | str) -> int:
    """The ``Task.TaskType`` number of a value or a name; ValidationError if unknown."""
    if isinstance(value, str):
        try:
            return int(TaskType.Value(value.upper()))
        except ValueError:
            names = ", ".join(n for n in TaskType.keys() if n != "TYPE_NOT_SET")
            raise ValidationError(
                f"type: unknown task type {value!r}; expected one of {names} "
                "(or TYPE_NOT_SET for auto-annotation)"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int) or value not in TaskType.values():
        raise ValidationError(f"type: unknown task type {value!r}")
    return value


def _user_workers(user_ids: Iterable[str]) -> list[r.Worker]:
    return [r.Worker(user=r.User(id=u)) for u in user_ids]


def _check_workers_per_input(workers_per_input: object, n_workers: int) -> int:
    wpi = _int(workers_per_input, "workers_per_input", 1, _MAX_UINT32)
    if wpi > n_workers:
        raise ValidationError(
            f"workers_per_input ({wpi}) must not exceed the number of workers ({n_workers})"
        )
    return wpi


# --- workers ------------------------------------------------------------------


def full(user_ids: Iterable[str] = ()) -> r.TaskWorker:
    """FULL strategy: every worker labels every input. No ids: a non-assigned task."""
    ids = _id_list(user_ids, "worker.user_ids")
    return r.TaskWorker(strategy=r.TaskWorker.FULL, workers=_user_workers(ids))


def dynamic(user_ids: Iterable[str]) -> r.TaskWorker:
    """DYNAMIC strategy: each worker fetches 10 inputs at a time. Needs one worker or more."""
    ids = _id_list(user_ids, "worker.user_ids", min_len=1)
    return r.TaskWorker(strategy=r.TaskWorker.DYNAMIC, workers=_user_workers(ids))


def partitioned(weights: Mapping[str, float], *, workers_per_input: int = 1) -> r.TaskWorker:
    """PARTITIONED, WEIGHTED: ``weights`` maps user id to a positive weight.

    Weights are relative (``{a: 9, b: 1}`` equals ``{a: 90, b: 10}``). No
    worker's share may exceed ``1/workers_per_input``: such a partition is
    impossible, since one input never goes to the same worker twice.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise ValidationError("worker.weights must be a non-empty mapping of user id to weight")
    ids = _id_list(list(weights), "worker.weights")
    values: list[float] = []
    for uid in ids:
        w = weights[uid]
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
            raise ValidationError(f"worker.weights[{uid!r}] must be a finite number, got {w!r}")
        if w <= 0:
            raise ValidationError(f"worker.weights[{uid!r}] must be positive, got {w!r}")
        values.append(float(w))
    wpi = _check_workers_per_input(workers_per_input, len(ids))
    total = math.fsum(values)
    for uid, w in zip(ids, values, strict=True):
        if w * wpi > total * (1 + 1e-9):
            raise ValidationError(
                f"worker.weights[{uid!r}]: a share of {w / total:.4g} exceeds "
                f"1/workers_per_input = 1/{wpi}, which makes the partition impossible"
            )
    info = r.TaskWorkerPartitionedStrategyInfo(
        type=r.TaskWorkerPartitionedStrategyInfo.WEIGHTED, workers_per_input=wpi
    )
    info.weights.update(dict(zip(ids, values, strict=True)))
    return r.TaskWorker(
        strategy=r.TaskWorker.PARTITIONED,
        workers=_user_workers(ids),
        partitioned_strategy_info=info,
    )


def partitioned_evenly(user_ids: Iterable[str], *, workers_per_input: int = 1) -> r.TaskWorker:
    """PARTITIONED, EVENLY: inputs split evenly, each going to ``workers_per_input`` workers."""
    ids = _id_list(user_ids, "worker.user_ids", min_len=1)
    wpi = _check_workers_per_input(workers_per_input, len(ids))
    info = r.TaskWorkerPartitionedStrategyInfo(
        type=r.TaskWorkerPartitionedStrategyInfo.EVENLY, workers_per_input=wpi
    )
    return r.TaskWorker(
        strategy=r.TaskWorker.PARTITIONED,
        workers=_user_workers(ids),
        partitioned_strategy_info=info,
    )


def auto_annotation(
    *,
    model_id: str | None = None,
    model_version_id: str | None = None,
    workflow_id: str | None = None,
) -> r.TaskWorker:
    """One model or workflow worker (FULL) for an auto-annotation task.

    Give exactly one of ``model_id`` or ``workflow_id``; ``model_version_id``
    only with ``model_id``. Pair it with ``build_task("TYPE_NOT_SET", ...)``.
    """
    if (model_id is None) == (workflow_id is None):
        raise ValidationError("auto_annotation needs exactly one of model_id or workflow_id")
    if workflow_id is not None:
        if model_version_id is not None:
            raise ValidationError("model_version_id goes with model_id, not workflow_id")
        worker = r.Worker(workflow=r.Workflow(id=_require_id(workflow_id, "workflow_id")))
    else:
        model = r.Model(id=_require_id(model_id, "model_id"))
        if model_version_id is not None:
            model.model_version.id = _require_id(model_version_id, "model_version_id")
        worker = r.Worker(model=model)
    return r.TaskWorker(strategy=r.TaskWorker.FULL, type=r.TaskWorker.WORKER_AUTO, workers=[worker])


# --- input source -------------------------------------------------------------


def all_inputs() -> r.TaskInputSource:
    """Every input of the app."""
    return r.TaskInputSource(type=r.TaskInputSource.ALL_INPUTS)


def saved_search(search_id: str) -> r.TaskInputSource:
    """The inputs of a saved search."""
    return r.TaskInputSource(
        type=r.TaskInputSource.SAVED_SEARCH, id=_require_id(search_id, "input_source.id")
    )


def dataset(dataset_id: str) -> r.TaskInputSource:
    """The inputs of a dataset."""
    return r.TaskInputSource(
        type=r.TaskInputSource.DATASET, id=_require_id(dataset_id, "input_source.id")
    )


# --- review -------------------------------------------------------------------


def no_review() -> r.TaskReview:
    """No review: labels are accepted as they are."""
    return r.TaskReview(strategy=r.TaskReview.NONE)


def manual_review(reviewer_ids: Iterable[str]) -> r.TaskReview:
    """MANUAL review by one reviewer or more."""
    ids = _id_list(reviewer_ids, "review.user_ids", min_len=1)
    return r.TaskReview(strategy=r.TaskReview.MANUAL, users=[r.User(id=u) for u in ids])


def consensus(
    reviewer_ids: Iterable[str],
    *,
    approval_threshold: int,
    reviewers_threshold: int | None = None,
) -> r.TaskReview:
    """CONSENSUS review: an input is approved when ``approval_threshold`` labelers agree.

    ``reviewers_threshold`` is how many reviewers must approve a disputed
    input: ``None`` leaves the service default (1), ``-1`` means all reviewers.
    """
    ids = _id_list(reviewer_ids, "review.user_ids", min_len=1)
    threshold = _int(approval_threshold, "approval_threshold", 1, _MAX_UINT32)
    info = r.TaskReviewConsensusStrategyInfo(approval_threshold_labelers=threshold)
    if reviewers_threshold is not None:
        if reviewers_threshold != -1:
            _int(reviewers_threshold, "reviewers_threshold", 1, len(ids))
        info.approval_threshold_reviewers = reviewers_threshold
    return r.TaskReview(
        strategy=r.TaskReview.CONSENSUS,
        users=[r.User(id=u) for u in ids],
        consensus_strategy_info=info,
    )


# --- task ---------------------------------------------------------------------


def build_task(
    type: int | str,
    *,
    concepts: Iterable[str],
    name: str = "",
    description: str = "",
    workers: r.TaskWorker | None = None,
    source: r.TaskInputSource | None = None,
    review: r.TaskReview | None = None,
    sample_ms: int = 0,
) -> r.Task:
    """A complete ``Task``, checked with :func:`check_task`.

    ``workers=None`` makes a non-assigned FULL task, ``source=None`` takes all
    inputs, ``review=None`` means no review. ``type`` may be ``TYPE_NOT_SET``
    only with an :func:`auto_annotation` worker.
    """
    if not isinstance(name, str) or not isinstance(description, str):
        raise ValidationError("name and description must be strings")
    concept_ids = _id_list(concepts, "concepts", min_len=1)
    task = r.Task(
        type=task_type(type),  # type: ignore[arg-type]
        name=name,
        description=description,
        worker=workers if workers is not None else full(),
        input_source=source if source is not None else all_inputs(),
        review=review if review is not None else no_review(),
        sample_ms=_int(sample_ms, "sample_ms", 0, _MAX_UINT32),
        concepts=[r.TaskConcept(concept=r.Concept(id=c)) for c in concept_ids],
    )
    check_task(task)
    return task


def _worker_ids(worker: r.TaskWorker) -> list[str]:
    """Human worker ids from current and deprecated fields."""
    ids = [w.user.id for w in worker.workers if w.HasField("user")] if worker.workers else []
    if worker.user_ids:
        ids += worker.user_ids
    if worker.users:
        ids += [u.id for u in worker.users]
    return ids


def is_auto_annotation(task: r.Task) -> bool:
    """Whether the task's worker is a model or a workflow."""
    return any(w.HasField("model") or w.HasField("workflow") for w in task.worker.workers)


def check_task(task: r.Task, *, require_id: bool = False) -> None:
    """Refuse a task the service could never accept, naming the field and the rule.

    Accepts current and deprecated fields alike.
    """
    if not isinstance(task, r.Task):
        raise ValidationError(f"expected a clarifai Task message, got {type(task).__name__}")
    if require_id:
        _require_id(task.id, "task.id")
    task_type_value = task.type
    if task_type_value not in _TASK_TYPES:
        raise ValidationError(f"task.type: unknown task type {task_type_value}")
    if task_type_value == _TYPE_NOT_SET and not is_auto_annotation(task):
        raise ValidationError(
            "task.type must be set (e.g. CONCEPTS_CLASSIFICATION); TYPE_NOT_SET is only "
            "for an auto-annotation task whose worker is a model or workflow"
        )
    concepts, concept_ids = task.concepts, task.concept_ids
    if not concepts and not concept_ids:
        raise ValidationError("task.concepts must name one concept or more")
    for i, c in enumerate(concepts):
        if not c.concept.id.strip():
            raise ValidationError(f"task.concepts[{i}].concept.id must be a non-empty string")
    for i, cid in enumerate(concept_ids):
        if not cid.strip():
            raise ValidationError(f"task.concept_ids[{i}] must be a non-empty string")

    worker = task.worker
    ids = _worker_ids(worker)
    if len(ids) > 1 and len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValidationError(f"task.worker has the duplicate worker id {dup!r}")
    if worker.strategy == r.TaskWorker.PARTITIONED:
        info = worker.partitioned_strategy_info
        if not worker.HasField("partitioned_strategy_info") or info.type == 0:
            raise ValidationError(
                "task.worker.partitioned_strategy_info (EVENLY or WEIGHTED) is required "
                "for the PARTITIONED strategy"
            )
        n = len(ids)
        if info.workers_per_input < 1 or info.workers_per_input > max(n, 1):
            raise ValidationError(
                f"task.worker.partitioned_strategy_info.workers_per_input must be between 1 "
                f"and the number of workers ({n}), got {info.workers_per_input}"
            )
        if info.type == r.TaskWorkerPartitionedStrategyInfo.WEIGHTED:
            weights = {k: v for k, v in info.weights.items() if isinstance(v, float) and v > 0}
            if not weights or len(weights) != len(info.weights):
                raise ValidationError(
                    "task.worker.partitioned_strategy_info.weights must give every worker "
                    "a positive weight"
                )
            total = math.fsum(weights.values())
            for uid, w in weights.items():
                if w * info.workers_per_input > total * (1 + 1e-9):
                    raise ValidationError(
                        f"task.worker.partitioned_strategy_info.weights[{uid!r}]: share "
                        f"exceeds 1/workers_per_input, which makes the partition impossible"
                    )

    src = task.input_source
    if src.type in (r.TaskInputSource.SAVED_SEARCH, r.TaskInputSource.DATASET):
        name = r.TaskInputSource.TaskInputSourceType.Name(src.type)
        _require_id(src.id, f"task.input_source.id (required for {name})")

    review = task.review
    if review.users or review.user_ids:
        reviewers = [u.id for u in review.users] + list(review.user_ids)
        if len(set(reviewers)) != len(reviewers):
            raise ValidationError("task.review has a duplicate reviewer id")
    if review.strategy == r.TaskReview.CONSENSUS:
        cinfo = review.consensus_strategy_info
        threshold = cinfo.approval_threshold_labelers or cinfo.approval_threshold
        if threshold < 1:
            raise ValidationError(
                "task.review.consensus_strategy_info.approval_threshold_labelers must be >= 1 "
                "for CONSENSUS review"
            )
        if worker.strategy == r.TaskWorker.PARTITIONED:
            limit = worker.partitioned_strategy_info.workers_per_input
            what = "workers_per_input"
        elif worker.strategy == r.TaskWorker.FULL and ids:
            limit, what = len(ids), "the number of FULL workers"
        else:
            limit, what = 0, ""
        if limit and threshold > limit:
            raise ValidationError(
                f"consensus approval_threshold ({threshold}) exceeds {what} ({limit}): "
                "no input could ever reach it"
            )
