"""The one validation module: input checks shared by the builders, the request builders and
the command line, the rules of a task (:func:`check_task`) and :func:`lint`.

Each check raises :class:`~taskgrpc.errors.ValidationError` with a message that
says what was expected and, for names, which ones are valid. Written once here:
the not-a-single-string check, integer ranges, ids and text, enum names, task
status codes, the fold of the deprecated worker fields and the weight-share rule.

The client is never stricter than the service: :func:`check_task` refuses only
what a proto comment or a Clarifai docs page rules out, citing it beside the
rule. A legal but odd task is never refused: :func:`lint` reports it on request.
The public names are re-exported by :mod:`taskgrpc.builders` and ``taskgrpc``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf.message import Message

from .errors import ValidationError

__all__ = [
    "ANNOTATION_DATA_TYPES",
    "MAX_INT32",
    "MAX_UINT32",
    "REVIEWERS_THRESHOLDS",
    "TASK_STATUS_CODES",
    "check_task",
    "check_weight_shares",
    "clone",
    "enum_number",
    "id_list",
    "int_in_range",
    "is_auto_annotation",
    "lint",
    "not_a_string",
    "number",
    "require_id",
    "reviewers_threshold",
    "task_status",
    "text",
    "unknown_name",
    "worker_user_ids",
]

MAX_UINT32 = 2**32 - 1
MAX_INT32 = 2**31 - 1

M = TypeVar("M", bound=Message)


def clone(message: M) -> M:
    """A deep copy of a protobuf message."""
    copy = type(message)()
    cast(Any, copy).CopyFrom(message)
    return copy


_TW = r.TaskWorker
_PARTITIONED, _FULL, _DYNAMIC = _TW.PARTITIONED, _TW.FULL, _TW.DYNAMIC
_PSI = r.TaskWorkerPartitionedStrategyInfo
_EVENLY, _WEIGHTED = _PSI.EVENLY, _PSI.WEIGHTED
_SRC = r.TaskInputSource
_REV = r.TaskReview
_TYPE_NOT_SET = r.Task.TYPE_NOT_SET
_NUMBER_VALUE = "number_value"

#: resources.proto ``AnnotationDataType``: the bits of ``annotation_data_types``.
ANNOTATION_DATA_TYPES: dict[str, int] = {
    name: int(r.AnnotationDataType.Value(name))
    for name in r.AnnotationDataType.keys()
    if name != "ANNOTATION_DATA_TYPE_NOT_SET"
}
ALL_DATA_TYPE_BITS = sum(ANNOTATION_DATA_TYPES.values())


#: resources.proto TaskReviewConsensusStrategyInfo.approval_threshold_reviewers:
#: "Currently, the only allowed values are: 0 (when not set, it defaults to 1),
#: 1 (only a single reviewer needs to approve), -1 (all reviewers approve)".
REVIEWERS_THRESHOLDS = (0, 1, -1)

#: The status codes a task can have. tasks-api.md / status_code.proto: the task
#: statuses are the TASK_* codes 54001 IN_PROGRESS, 54002 DONE, 54003 WONT_DO,
#: 54005 FAILED, 54006 IDLE (the other TASK_* codes are errors or assignment states).
TASK_STATUS_CODES: dict[str, int] = {
    name: int(status_code_pb2.StatusCode.Value(name))
    for name in ("TASK_IN_PROGRESS", "TASK_DONE", "TASK_WONT_DO", "TASK_FAILED", "TASK_IDLE")
}
_TASK_STATUS_NUMBERS = frozenset(TASK_STATUS_CODES.values())


def unknown_name(
    kind: str, given: object, valid: Iterable[str], *, label: str = "valid"
) -> ValidationError:
    """A ValidationError for an unknown ``kind`` name: a "did you mean" hint and the valid
    names (headed ``label``)."""
    names = list(valid)
    text = f"unknown {kind} {given!r}"
    if isinstance(given, str):
        close = difflib.get_close_matches(given.upper(), names, n=1, cutoff=0.6)
        if close:
            text += f"; did you mean {close[0]!r}?"
    return ValidationError(f"{text} ({label}: {', '.join(names)})")


def enum_number(enum: Any, value: int | str, kind: str, *, skip: Iterable[str] = ()) -> int:
    """The number of ``value`` (a name, any case, or a number) in protobuf enum wrapper
    ``enum``; names in ``skip`` (e.g. a ``*_NOT_SET`` zero) count as unknown."""
    excluded = set(skip)
    names = [n for n in enum.keys() if n not in excluded]
    if isinstance(value, str):
        if value.upper() in names:
            return int(enum.Value(value.upper()))
        raise unknown_name(kind, value, names)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{kind} must be a name or a number, got {value!r}")
    if value not in {int(enum.Value(n)) for n in names}:
        raise unknown_name(kind, value, names)
    return value


def task_status(code: int | str) -> int:
    """The number of a task status (``TASK_DONE`` or 54002, ...); anything else is refused.

    Source: tasks-api.md, PatchTasks ``merge`` "only supports updating task status", and
    task statuses are the TASK_* codes listed in :data:`TASK_STATUS_CODES`.
    """
    if isinstance(code, str):
        number = TASK_STATUS_CODES.get(code.upper())
        if number is None:
            raise unknown_name("task status", code, TASK_STATUS_CODES)
        return number
    if isinstance(code, bool) or not isinstance(code, int) or code not in _TASK_STATUS_NUMBERS:
        raise unknown_name("task status", code, TASK_STATUS_CODES)
    return code


def not_a_string(
    values: Iterable[Any] | None, field: str, *, none_is_empty: bool = True
) -> list[Any]:
    """``values`` as a list; a single string (a common slip for a list of one) is refused,
    and ``None`` means an empty list (no filter) unless ``none_is_empty`` is false."""
    if values is None:
        if none_is_empty:
            return []
        raise ValidationError(f"{field} must be a list, got None")
    if isinstance(values, str | bytes):
        raise ValidationError(f"{field} must be a list, not a single string {values!r}")
    try:
        return list(values)
    except TypeError:
        raise ValidationError(f"{field} must be a list, got {values!r}") from None


def text(value: object, field: str) -> str:
    """``value`` if it is a string that can be sent (UTF-8: no lone surrogates)."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {value!r}")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValidationError(
                f"{field} contains a lone surrogate, which is not valid UTF-8: {value!r}"
            ) from None
    return value


def require_id(value: object, field: str) -> str:
    """``value`` if it is a non-empty, non-blank string that can be sent."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string, got {value!r}")
    return text(value, field)


def id_list(
    values: Iterable[str] | None, field: str, *, min_len: int = 0, unique: bool = False
) -> list[str]:
    """A list of ids: not a single string, each non-empty; ``None`` is an empty list.

    ``unique`` refuses a repeated id (no service rule does: ``lint`` warns instead).
    """
    ids = [require_id(v, f"{field}[{i}]") for i, v in enumerate(not_a_string(values, field))]
    if len(ids) < min_len:
        raise ValidationError(f"{field} must have at least {min_len} id(s)")
    if unique and len(set(ids)) != len(ids):
        dup = next(v for i, v in enumerate(ids) if v in ids[:i])
        raise ValidationError(f"{field} has the duplicate id {dup!r}")
    return ids


def int_in_range(value: object, field: str, low: int, high: int) -> int:
    """``value`` if it is an int (not a bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValidationError(f"{field} must be between {low} and {high}, got {value}")
    return value


def number(value: object, field: str) -> float:
    """``value`` as a float if it is a finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{field} must be a number, got {value!r}")
    try:
        result = float(value)
    except OverflowError:
        raise ValidationError(f"{field} is too large to send, got {value!r}") from None
    if not math.isfinite(result):
        raise ValidationError(f"{field} must be a finite number, got {value!r}")
    return result


def worker_user_ids(worker: r.TaskWorker) -> list[str]:
    """The human worker ids of ``worker``, from the current ``workers[].user`` and the
    deprecated ``user_ids`` and ``users`` alike (the one place that folds them)."""
    workers = worker.workers
    ids = [w.user.id for w in workers if w.WhichOneof("worker") == "user"] if workers else []
    if worker.user_ids:
        ids += worker.user_ids
    if worker.users:
        ids += [u.id for u in worker.users]
    return ids


def check_weight_shares(weights: Mapping[str, float], workers_per_input: int, field: str) -> None:
    """Refuse weights whose largest share exceeds ``1/workers_per_input``.

    Source: resources.proto ``TaskWorkerPartitionedStrategyInfo.weights``: "no worker should be
    assigned a weight percentage greater than 1/workers_per_input. It is mathematically
    impossible to partition the work in such a case." Weights are finite and non-negative,
    with a positive sum (they are percentages of the work). Scaling by the largest weight
    first keeps huge weights (1e308) from overflowing the sum.
    """
    if not weights:
        return
    top_id = max(weights, key=weights.__getitem__)
    top = weights[top_id]
    if top <= 0:
        raise ValidationError(f"{field}: at least one weight must be positive")
    total = math.fsum(w / top for w in weights.values())  # the top share is 1 / total
    if workers_per_input > total * (1 + 1e-9):
        raise ValidationError(
            f"{field}[{top_id!r}]: a share of {1 / total:.4g} exceeds 1/workers_per_input = "
            f"1/{workers_per_input}, which makes the partition impossible"
        )


def reviewers_threshold(value: object, field: str) -> int:
    if type(value) is not int or value not in REVIEWERS_THRESHOLDS:
        raise ValidationError(
            f"{field} must be 0 (the default: 1), 1 or -1 (all reviewers), got {value!r}: "
            "resources.proto allows only these values"
        )
    return value


# --- check_task ---------------------------------------------------------------


def is_auto_annotation(task: r.Task) -> bool:
    """Whether the task's worker is a model or a workflow."""
    return any(w.HasField("model") or w.HasField("workflow") for w in task.worker.workers)


_Task = r.Task
_NEEDS_SOURCE_ID = frozenset((_SRC.SAVED_SEARCH, _SRC.DATASET))
_CONSENSUS = _REV.CONSENSUS
_require_id = require_id  # check_task's keyword of the same name hides the function

#: Serialized valid workers -> whether each is an auto-annotation worker. Bulk creates send
#: many tasks with the same worker, so its checks (weights included) run once per shape.
_WORKER_CACHE: dict[bytes, bool] = {}
_WORKER_CACHE_SIZE = 4096


def check_task(task: r.Task, *, require_id: bool = False) -> None:
    """Refuse a task the service documents as invalid, naming the field and the source.

    Accepts current and deprecated fields alike. ``require_id`` (for updates)
    also requires the id and checks a status that is sent. A lone surrogate in
    a text field needs no check here: protobuf refuses it in any message, so a
    ``Task`` cannot hold one (the builders check their text arguments first).
    """
    if task.__class__ is not _Task and not isinstance(task, _Task):
        raise ValidationError(f"expected a clarifai Task message, got {type(task).__name__}")
    if require_id:
        _require_id(task.id, "task.id")
        code = task.status.code
        # tasks-api.md: the statuses of a task are the TASK_* codes.
        if code and code not in _TASK_STATUS_NUMBERS:
            raise unknown_name("task.status.code (a task status)", code, TASK_STATUS_CODES)

    worker = task.worker
    key = worker.SerializeToString()
    auto = _WORKER_CACHE.get(key)
    if auto is None:
        auto = _check_worker(worker)
        if len(_WORKER_CACHE) >= _WORKER_CACHE_SIZE:
            _WORKER_CACHE.clear()
        _WORKER_CACHE[key] = auto

    for i, c in enumerate(task.concepts):
        cpt = c.concept
        # resources.proto TaskConcept.concept: "For auto annotation, id/name ... must be
        # specified. For other tasks, only the id field is required."
        if not cpt.id.strip() and not (auto and cpt.name.strip()):
            raise ValidationError(f"task.concepts[{i}].concept.id must be a non-empty string")
        if auto:
            bits = c.auto_annotation_config.annotation_data_types
            # resources.proto annotation_data_types: "a bit-mask field that holds multiple
            # AnnotationDataType values".
            if bits & ~ALL_DATA_TYPE_BITS:
                raise ValidationError(
                    f"task.concepts[{i}].auto_annotation_config.annotation_data_types: {bits} "
                    "has bits that are no AnnotationDataType (resources.proto)"
                )
    concept_ids = task.concept_ids
    if concept_ids:
        for i, cid in enumerate(concept_ids):
            # resources.proto Task.concept_ids: "List of concept ids" (deprecated).
            if not cid.strip():
                raise ValidationError(f"task.concept_ids[{i}] must be a non-empty string")

    src = task.input_source
    src_type = src.type
    if src_type in _NEEDS_SOURCE_ID and not src.id.strip():
        # resources.proto TaskInputSource.id: "If type is SAVED_SEARCH, then this is the saved
        # search id"; the docs' DATASET examples name the dataset the same way.
        kind = _SRC.TaskInputSourceType.Name(src_type)
        raise ValidationError(f"task.input_source.id is required for {kind}")

    if task.HasField("metadata"):
        check_nesting(task.metadata, "task.metadata")

    review = task.review
    if review.strategy == _CONSENSUS:
        reviewers = review.consensus_strategy_info.approval_threshold_reviewers
        if reviewers:
            reviewers_threshold(
                reviewers, "task.review.consensus_strategy_info.approval_threshold_reviewers"
            )


#: protobuf's decoders (upb's default ``MaxDepth``, as gRPC servers parse) take at most 100
#: nested messages below a request's top level. A task sits 1 level below PostTasksRequest and
#: PatchTasksRequest, so its Struct may span 99 levels (each nested object costs 3: map entry,
#: Value, Struct; each nested array 2: Value, ListValue).
MAX_STRUCT_LEVELS = 99


def check_nesting(struct: Any, name: str) -> None:
    """Refuse a ``google.protobuf.Struct`` nested too deeply to be sent in a request.

    Not a service rule but a wire limit: such a message cannot even be put into a
    request (protobuf raises DecodeError), so it is refused here with its depth.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(struct, 1)]
    while stack:
        message, level = stack.pop()  # a Struct or a ListValue at ``level``
        if hasattr(message, "fields"):
            values, value_level = message.fields.values(), level + 2  # map entry, Value
        else:
            values, value_level = message.values, level + 1
        deepest = max(deepest, level)
        for value in values:
            kind = value.WhichOneof("kind")
            if kind == "struct_value":
                stack.append((value.struct_value, value_level + 1))
            elif kind == "list_value":
                stack.append((value.list_value, value_level + 1))
            else:
                deepest = max(deepest, value_level)
        if deepest > MAX_STRUCT_LEVELS:
            raise ValidationError(
                f"{name} is nested too deeply to be sent: protobuf decodes at most 100 nested "
                f"messages in a request, and this {name} alone spans more than "
                f"{MAX_STRUCT_LEVELS} (about 32 nested objects or 48 nested arrays)"
            )


def _check_worker(worker: r.TaskWorker) -> bool:
    """Check a worker (see :func:`check_task`); whether it is an auto-annotation worker."""
    workers = worker.workers
    auto = False
    if workers:
        kinds = [w.WhichOneof("worker") for w in workers]
        auto = "model" in kinds or "workflow" in kinds
        # resources.proto TaskWorker.workers: "For Auto Annotation Tasks: the worker can be
        # either a model or a workflow; currently only supports 1 worker. For manual labeling
        # Tasks: the workers can only be users".
        if auto and (len(workers) > 1 or worker.user_ids or worker.users):
            raise ValidationError(
                "task.worker.workers: an auto-annotation task has exactly one worker, a model "
                "or a workflow (resources.proto TaskWorker.workers)"
            )
    worker_type = worker.type
    # resources.proto TaskWorker.type: "If set, worker must have be set accordingly to either
    # human worker or model/workflow worker" (WORKER_AUTO: "Task must set worker as model or
    # workflow"; WORKER_HUMAN: "only human workers").
    if worker_type == _TW.WORKER_AUTO and not auto:
        raise ValidationError(
            "task.worker.type is WORKER_AUTO, so its worker must be a model or a workflow"
        )
    if worker_type == _TW.WORKER_HUMAN and auto:
        raise ValidationError("task.worker.type is WORKER_HUMAN, so its workers must be users")
    if worker.strategy == _PARTITIONED and worker.HasField("partitioned_strategy_info"):
        _check_partition(worker.partitioned_strategy_info, worker_user_ids(worker))
    return auto


def _check_partition(info: r.TaskWorkerPartitionedStrategyInfo, user_ids: list[str]) -> None:
    wpi = info.workers_per_input
    if info.type == _WEIGHTED:
        field = "task.worker.partitioned_strategy_info.weights"
        fields = info.weights.fields
        weights: dict[str, float] = {}
        for uid in fields:
            # resources.proto weights: "map user ids to weights. Each labeler will be assigned
            # work proportional to its own weight": the keys are the task's labelers, the values
            # finite numbers, not negative.
            if uid not in user_ids:
                raise ValidationError(f"{field} names {uid!r}, who is not a worker of the task")
            value = fields[uid]
            weight = value.number_value
            if weight == 0 and value.WhichOneof("kind") != _NUMBER_VALUE:
                raise ValidationError(f"{field}[{uid!r}] must be a number")
            if not weight >= 0 or weight == math.inf:
                raise ValidationError(
                    f"{field}[{uid!r}] must be a finite number, not negative, got {weight}"
                )
            weights[uid] = weight
        if wpi > 0:
            check_weight_shares(weights, wpi, field)
    elif info.type == _EVENLY and wpi > 0 and user_ids:
        check_weight_shares(dict.fromkeys(user_ids, 1.0), wpi, "task.worker (EVENLY)")


# --- lint ---------------------------------------------------------------------


def lint(task: r.Task) -> list[str]:
    """Warnings about a legal but odd task: likely mistakes the service accepts.

    Never raises for such a task (it still raises what :func:`check_task` raises);
    an empty list means nothing looks odd. The fake service refuses some of these
    where the docs are silent (see ``fake_servicer.validation``).
    """
    check_task(task)
    out: list[str] = []
    worker, review = task.worker, task.review
    auto = is_auto_annotation(task)
    user_ids = worker_user_ids(worker)
    if task.type == _TYPE_NOT_SET and not auto:
        out.append("type is TYPE_NOT_SET, which the docs use only for auto-annotation tasks")
    concept_ids = [c.concept.id for c in task.concepts] + list(task.concept_ids)
    if not concept_ids:
        out.append("the task names no concept")
    for what, ids in (("concept", concept_ids), ("worker", user_ids)):
        dups = sorted({i for i in ids if ids.count(i) > 1})
        if dups:
            out.append(f"duplicate {what} id(s): {', '.join(dups)}")
    reviewers = [u.id for u in review.users] + list(review.user_ids)
    if len(set(reviewers)) != len(reviewers):
        out.append("duplicate reviewer id(s)")
    strategy = worker.strategy
    if strategy in (_DYNAMIC, _PARTITIONED) and not user_ids and not auto:
        out.append(f"{_TW.TaskWorkerStrategy.Name(strategy)} strategy without workers")
    if strategy == _PARTITIONED:
        out += _lint_partition(worker, user_ids)
    if review.strategy in (_REV.MANUAL, _REV.CONSENSUS) and not reviewers:
        out.append(f"{_REV.TaskReviewStrategy.Name(review.strategy)} review without reviewers")
    if review.strategy == _REV.CONSENSUS:
        out += _lint_consensus(task, user_ids)
    deprecated = [
        name
        for name, used in (
            ("concept_ids (use concepts)", task.concept_ids),
            ("worker.user_ids (use worker.workers)", worker.user_ids),
            ("worker.users (use worker.workers)", worker.users),
            ("review.user_ids (use review.users)", review.user_ids),
            (
                "consensus_strategy_info.approval_threshold (use approval_threshold_labelers)",
                review.consensus_strategy_info.approval_threshold,
            ),
        )
        if used
    ]
    if deprecated:
        out.append("deprecated fields: " + "; ".join(deprecated))
    for i, c in enumerate(task.concepts):
        rng = c.auto_annotation_config.threshold_range
        if c.auto_annotation_config.HasField("threshold_range") and not (
            0 <= rng.lower <= rng.upper <= 1
        ):
            out.append(f"concepts[{i}]: threshold range is not within 0..1 (concept values)")
    return out


def _lint_partition(worker: r.TaskWorker, user_ids: list[str]) -> list[str]:
    out = []
    if not worker.partitioned_strategy_info.type:
        out.append("PARTITIONED strategy without partitioned_strategy_info.type (EVENLY/WEIGHTED)")
        return out
    info = worker.partitioned_strategy_info
    if info.workers_per_input < 1:
        out.append("partitioned_strategy_info.workers_per_input is not set (or below 1)")
    if info.type == _WEIGHTED:
        weights = info.weights.fields
        missing = [u for u in user_ids if u not in weights]
        if missing:
            out.append(f"worker(s) without a weight: {', '.join(missing)}")
        zero = [u for u, w in weights.items() if w.number_value == 0]
        if zero:
            out.append(f"worker(s) with weight 0 get no inputs: {', '.join(sorted(zero))}")
    return out


def _lint_consensus(task: r.Task, user_ids: list[str]) -> list[str]:
    info = task.review.consensus_strategy_info
    threshold = info.approval_threshold_labelers or info.approval_threshold
    if threshold == 0:
        return ["CONSENSUS review with approval threshold 0: labeler consensus is disabled"]
    worker = task.worker
    if worker.strategy == _PARTITIONED:
        limit, what = worker.partitioned_strategy_info.workers_per_input, "workers_per_input"
    elif worker.strategy == _FULL and user_ids:
        limit, what = len(user_ids), "the number of FULL workers"
    else:
        return []
    if 0 < limit < threshold:
        return [
            f"consensus approval threshold ({threshold}) exceeds {what} ({limit}): no input "
            "can reach consensus, so every input goes to the reviewers"
        ]
    return []
