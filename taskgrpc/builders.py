"""Pure builders of ``Task`` protos; re-exports :func:`check_task` and :func:`lint`.

Every builder returns a plain ``clarifai_grpc`` message. They emit the current
fields only (``concepts``, ``worker.workers``, ``review.users``,
``consensus_strategy_info.approval_threshold_labelers``) and can express every
task body of Clarifai's Tasks docs.

The client is never stricter than the service: :func:`check_task` (run on
every task before PostTasks and PatchTasks ``overwrite``) and the builders
refuse, with a :class:`~taskgrpc.errors.ValidationError`, only what a proto
comment or a Clarifai docs page rules out; each rule cites its source beside
it. A legal but odd task (a consensus threshold above ``workers_per_input``, a
review strategy without reviewers, ...) is never refused: :func:`lint` reports
it as a warning, on request. The rules themselves live in ``taskgrpc._validate``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2

from . import _validate as v
from ._validate import (  # and the enum aliases both modules read
    _DYNAMIC,
    _EVENLY,
    _FULL,
    _PARTITIONED,
    _REV,
    _SRC,
    _TW,
    _WEIGHTED,
    ANNOTATION_DATA_TYPES,
    REVIEWERS_THRESHOLDS,
    check_task,
    clone,
    is_auto_annotation,
    lint,
)
from .errors import ValidationError

__all__ = [
    "ANNOTATION_DATA_TYPES",
    "REVIEWERS_THRESHOLDS",
    "ai_assist_params",
    "all_inputs",
    "auto_annotation",
    "build_task",
    "check_task",
    "clone",
    "concept",
    "consensus",
    "dataset",
    "dynamic",
    "full",
    "is_auto_annotation",
    "lint",
    "manual_review",
    "no_review",
    "partitioned",
    "partitioned_evenly",
    "saved_search",
    "single_input",
]

TaskType = r.Task.TaskType
_MAX_UINT32 = v.MAX_UINT32


def task_type(value: int | str) -> int:
    """The ``Task.TaskType`` number of a value or a name; ValidationError if unknown."""
    return v.enum_number(TaskType, value, "task type")


def _user_workers(user_ids: Iterable[str]) -> list[r.Worker]:
    return [r.Worker(user=r.User(id=u)) for u in user_ids]


def _workers_per_input(value: object) -> int:
    # resources.proto TaskWorkerPartitionedStrategyInfo.workers_per_input is an int32:
    # "How many workers will label each input" (so at least one).
    return v.int_in_range(value, "workers_per_input", 1, v.MAX_INT32)


# --- workers ------------------------------------------------------------------


def full(user_ids: Iterable[str] | None = ()) -> r.TaskWorker:
    """FULL strategy: every worker labels every input. No ids: a non-assigned task."""
    ids = v.id_list(user_ids, "worker.user_ids")
    return r.TaskWorker(strategy=_FULL, workers=_user_workers(ids))


def dynamic(user_ids: Iterable[str] | None = ()) -> r.TaskWorker:
    """DYNAMIC strategy: each worker fetches 10 inputs at a time."""
    ids = v.id_list(user_ids, "worker.user_ids")
    return r.TaskWorker(strategy=_DYNAMIC, workers=_user_workers(ids))


def partitioned(weights: Mapping[str, float], *, workers_per_input: int = 1) -> r.TaskWorker:
    """PARTITIONED, WEIGHTED: ``weights`` maps user id to a weight.

    Weights are relative (``{a: 9, b: 1}`` equals ``{a: 90, b: 10}``), finite
    and not negative, with a positive sum. No worker's share may exceed
    ``1/workers_per_input`` (the proto explains why such a partition is
    impossible).
    """
    if not isinstance(weights, Mapping) or not weights:
        raise ValidationError("worker.weights must be a non-empty mapping of user id to weight")
    ids = v.id_list(list(weights), "worker.weights")
    values = {uid: _weight(weights[uid], f"worker.weights[{uid!r}]") for uid in ids}
    wpi = _workers_per_input(workers_per_input)
    v.check_weight_shares(values, wpi, "worker.weights")
    info = r.TaskWorkerPartitionedStrategyInfo(type=_WEIGHTED, workers_per_input=wpi)
    info.weights.update(values)
    return r.TaskWorker(
        strategy=_PARTITIONED, workers=_user_workers(ids), partitioned_strategy_info=info
    )


def _weight(value: object, field: str) -> float:
    # resources.proto TaskWorkerPartitionedStrategyInfo.weights: "Each labeler will be assigned
    # work proportional to its own weight", a "weight percentage": a finite number, not negative.
    weight = v.number(value, field)
    if weight < 0:
        raise ValidationError(f"{field} must not be negative, got {value!r}")
    return weight


def partitioned_evenly(
    user_ids: Iterable[str] | None, *, workers_per_input: int = 1
) -> r.TaskWorker:
    """PARTITIONED, EVENLY: inputs split evenly, each going to ``workers_per_input`` workers."""
    ids = v.id_list(user_ids, "worker.user_ids")
    wpi = _workers_per_input(workers_per_input)
    v.check_weight_shares(dict.fromkeys(ids, 1.0), wpi, "worker.user_ids")
    info = r.TaskWorkerPartitionedStrategyInfo(type=_EVENLY, workers_per_input=wpi)
    return r.TaskWorker(
        strategy=_PARTITIONED, workers=_user_workers(ids), partitioned_strategy_info=info
    )


def auto_annotation(
    *,
    model_id: str | None = None,
    model_version_id: str | None = None,
    workflow_id: str | None = None,
    workflow_version_id: str | None = None,
) -> r.TaskWorker:
    """One model or workflow worker (FULL, ``WORKER_AUTO``) for an auto-annotation task.

    Give exactly one of ``model_id`` or ``workflow_id``, each with an optional
    version. resources.proto ``TaskWorker.workers``: "For Auto Annotation Tasks:
    the worker can be either a model or a workflow; currently only supports 1
    worker."
    """
    if (model_id is None) == (workflow_id is None):
        raise ValidationError("auto_annotation needs exactly one of model_id or workflow_id")
    if workflow_id is not None:
        if model_version_id is not None:
            raise ValidationError("model_version_id goes with model_id, not workflow_id")
        workflow = r.Workflow(id=v.require_id(workflow_id, "workflow_id"))
        if workflow_version_id is not None:
            workflow.version.id = v.require_id(workflow_version_id, "workflow_version_id")
        worker = r.Worker(workflow=workflow)
    else:
        if workflow_version_id is not None:
            raise ValidationError("workflow_version_id goes with workflow_id, not model_id")
        model = r.Model(id=v.require_id(model_id, "model_id"))
        if model_version_id is not None:
            model.model_version.id = v.require_id(model_version_id, "model_version_id")
        worker = r.Worker(model=model)
    return r.TaskWorker(strategy=_FULL, type=_TW.WORKER_AUTO, workers=[worker])


# --- concepts -----------------------------------------------------------------


def concept(
    concept_id: str,
    *,
    data_types: int | Iterable[str | int] | None = None,
    threshold: tuple[float, float] | None = None,
    inclusive: tuple[bool, bool] = (True, True),
    status: int | str | None = None,
) -> r.TaskConcept:
    """A task concept, with an optional auto-annotation config.

    ``data_types`` is the ``annotation_data_types`` bit-mask, as a number or as
    names (``["TAG", "BOUNDING_BOX"]``); ``threshold`` the ``(lower, upper)``
    concept-value range, ``inclusive`` whether each end is included; ``status``
    the status code (name or number, e.g. ``"ANNOTATION_SUCCESS"``) of the
    annotations created. With none of them, no config is set.
    """
    task_concept = r.TaskConcept(concept=r.Concept(id=v.require_id(concept_id, "concept.id")))
    if data_types is None and threshold is None and status is None:
        return task_concept
    config = task_concept.auto_annotation_config
    if data_types is not None:
        config.annotation_data_types = _data_types(data_types)
    if threshold is not None:
        config.threshold_range.CopyFrom(_threshold_range(threshold, inclusive))
    if status is not None:
        config.status_code = v.enum_number(
            status_code_pb2.StatusCode, status, "auto_annotation_config.status_code"
        )
    return task_concept


def _data_types(value: int | Iterable[str | int]) -> int:
    # resources.proto TaskConceptAutoAnnotationConfig.annotation_data_types: "a bit-mask field
    # that holds multiple AnnotationDataType values that are combined in an OR fashion".
    field = "auto_annotation_config.annotation_data_types"
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value & ~v.ALL_DATA_TYPE_BITS:
            raise ValidationError(
                f"{field}: {value} has bits that are no AnnotationDataType "
                f"(valid bits: {ANNOTATION_DATA_TYPES})"
            )
        return value
    mask = 0
    for item in v.not_a_string(cast(Iterable[Any], value), field):
        mask |= v.enum_number(
            r.AnnotationDataType,
            item,
            "annotation data type",
            skip=["ANNOTATION_DATA_TYPE_NOT_SET"],
        )
    return mask


def _threshold_range(bounds: tuple[float, float], inclusive: tuple[bool, bool]) -> r.ThresholdRange:
    # resources.proto ThresholdRange: "The range used to filter over concept values", given by
    # lower and upper (floats); an upper end below the lower one is no range.
    try:
        lower_value, upper_value = bounds
        lower_inclusive, upper_inclusive = inclusive
    except (TypeError, ValueError):
        raise ValidationError(
            "threshold must be a (lower, upper) pair and inclusive a (bool, bool) pair"
        ) from None
    lower = v.number(lower_value, "threshold_range.lower")
    upper = v.number(upper_value, "threshold_range.upper")
    if lower > upper:
        raise ValidationError(f"threshold_range: lower ({lower}) is above upper ({upper})")
    return r.ThresholdRange(
        lower=lower,
        upper=upper,
        is_lower_inclusive=bool(lower_inclusive),
        is_upper_inclusive=bool(upper_inclusive),
    )


def _concepts(values: Iterable[str | r.TaskConcept] | None) -> list[r.TaskConcept]:
    out = []
    for i, item in enumerate(v.not_a_string(values, "concepts")):
        if isinstance(item, r.TaskConcept):
            out.append(item)
        else:
            out.append(r.TaskConcept(concept=r.Concept(id=v.require_id(item, f"concepts[{i}]"))))
    return out


# --- input source -------------------------------------------------------------


def all_inputs() -> r.TaskInputSource:
    """Every input of the app."""
    return r.TaskInputSource(type=_SRC.ALL_INPUTS)


def saved_search(search_id: str) -> r.TaskInputSource:
    """The inputs of a saved search."""
    return r.TaskInputSource(type=_SRC.SAVED_SEARCH, id=v.require_id(search_id, "input_source.id"))


def dataset(dataset_id: str) -> r.TaskInputSource:
    """The inputs of a dataset."""
    return r.TaskInputSource(type=_SRC.DATASET, id=v.require_id(dataset_id, "input_source.id"))


def single_input(input_id: str) -> r.TaskInputSource:
    """One input (resources.proto INPUT: "Single input (e.g. video livestream input)")."""
    return r.TaskInputSource(type=_SRC.INPUT, id=v.require_id(input_id, "input_source.id"))


# --- review -------------------------------------------------------------------


def no_review() -> r.TaskReview:
    """No review: labels are accepted as they are."""
    return r.TaskReview(strategy=_REV.NONE)


def manual_review(
    reviewer_ids: Iterable[str] | None = (), *, sample_percentage: float | None = None
) -> r.TaskReview:
    """MANUAL review by the reviewers.

    ``sample_percentage`` (deprecated in the proto, but sent by the docs) is
    resources.proto's "percentage of inputs that will be reviewed by
    reviewers. It is a value between 0 and 1."
    """
    ids = v.id_list(reviewer_ids, "review.user_ids")
    review = r.TaskReview(strategy=_REV.MANUAL, users=[r.User(id=u) for u in ids])
    if sample_percentage is not None:
        share = v.number(sample_percentage, "review.manual_strategy_info.sample_percentage")
        if not 0 <= share <= 1:
            raise ValidationError(
                "review.manual_strategy_info.sample_percentage must be between 0 and 1, "
                f"got {sample_percentage!r}"
            )
        review.manual_strategy_info.sample_percentage = share
    return review


def consensus(
    reviewer_ids: Iterable[str] | None = (),
    *,
    approval_threshold: int,
    reviewers_threshold: int | None = None,
) -> r.TaskReview:
    """CONSENSUS review: an input is approved when ``approval_threshold`` labelers agree.

    resources.proto ``approval_threshold_labelers``: 0 disables labeler consensus;
    when fewer labelers agree than the threshold, the input goes to the
    reviewers. ``reviewers_threshold`` is how many reviewers must approve:
    ``None`` or 0 (the service default, 1), 1, or -1 (all reviewers).
    """
    ids = v.id_list(reviewer_ids, "review.user_ids")
    threshold = v.int_in_range(approval_threshold, "approval_threshold", 0, _MAX_UINT32)
    info = r.TaskReviewConsensusStrategyInfo(approval_threshold_labelers=threshold)
    if reviewers_threshold is not None:
        info.approval_threshold_reviewers = v.reviewers_threshold(
            reviewers_threshold, "reviewers_threshold"
        )
    return r.TaskReview(
        strategy=_REV.CONSENSUS, users=[r.User(id=u) for u in ids], consensus_strategy_info=info
    )


def ai_assist_params(
    *,
    min_threshold: float | None = None,
    max_threshold: float | None = None,
    concept_relation_ids: Iterable[str] | None = (),
) -> r.AiAssistParameters:
    """The AI-assist thresholds (resources.proto ``AiAssistParameters``: "Min and max threshold
    values for approving annotations by default based on prediction score")."""
    params = r.AiAssistParameters(
        concept_relation_ids=v.id_list(concept_relation_ids, "concept_relation_ids")
    )
    if min_threshold is not None:
        params.min_threshold = v.number(min_threshold, "ai_assist_params.min_threshold")
    if max_threshold is not None:
        params.max_threshold = v.number(max_threshold, "ai_assist_params.max_threshold")
    return params


# --- task ---------------------------------------------------------------------


def build_task(
    type: int | str,
    *,
    concepts: Iterable[str | r.TaskConcept] | None,
    name: str = "",
    description: str = "",
    workers: r.TaskWorker | None = None,
    source: r.TaskInputSource | None = None,
    review: r.TaskReview | None = None,
    sample_ms: int = 0,
    id: str | None = None,
    priority: int | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    ai_assistant: str | None = None,
    ai_assist: r.AiAssistParameters | None = None,
    delete_previous_annotations: bool = False,
    status: int | str | None = None,
) -> r.Task:
    """A complete ``Task``, checked with :func:`check_task`.

    ``concepts`` are concept ids or :func:`concept` objects. ``workers=None``
    makes a non-assigned FULL task, ``source=None`` takes all inputs,
    ``review=None`` means no review. ``type`` is ``TYPE_NOT_SET`` for an
    :func:`auto_annotation` task. ``priority`` is LOW, MEDIUM or HIGH;
    ``metadata`` a JSON-like mapping; ``ai_assistant`` the workflow id that
    assists the labelers; ``status`` a task status (``TASK_DONE``, ...) for an
    update.
    """
    for value, cls, field in (
        (workers, r.TaskWorker, "workers"),
        (source, r.TaskInputSource, "source"),
        (review, r.TaskReview, "review"),
        (ai_assist, r.AiAssistParameters, "ai_assist"),
    ):
        if value is not None and not isinstance(value, cls):
            raise ValidationError(
                f"{field} must be a {cls.__name__} (from the builders), got {value!r}"
            )
    task = r.Task(
        type=task_type(type),  # type: ignore[arg-type]
        name=v.text(name, "name"),
        description=v.text(description, "description"),
        worker=workers if workers is not None else full(),
        input_source=source if source is not None else all_inputs(),
        review=review if review is not None else no_review(),
        sample_ms=v.int_in_range(sample_ms, "sample_ms", 0, _MAX_UINT32),
        concepts=_concepts(concepts),
        delete_previous_annotations=bool(delete_previous_annotations),
    )
    if id is not None:
        task.id = v.require_id(id, "id")
    if priority is not None:
        task.priority = v.enum_number(  # type: ignore[assignment]
            r.Task.TaskPriority, priority, "priority", skip=["TASK_PRIORITY_NOT_SET"]
        )
    if metadata is not None:
        task.metadata.CopyFrom(_struct(metadata))
    if ai_assistant is not None:
        task.ai_assistant.workflow_id = v.require_id(ai_assistant, "ai_assistant")
    if ai_assist is not None:
        task.ai_assist_params.CopyFrom(ai_assist)
    if status is not None:
        task.status.code = v.task_status(status)
    check_task(task, require_id=id is not None)
    return task


def _struct(metadata: Mapping[str, Any]) -> struct_pb2.Struct:
    if not isinstance(metadata, Mapping):
        raise ValidationError(f"metadata must be a mapping, got {metadata!r}")
    struct = struct_pb2.Struct()
    try:
        struct.update(metadata)
    except (ValueError, TypeError) as error:
        raise ValidationError(f"metadata must be JSON-like: {error}") from None
    return struct
