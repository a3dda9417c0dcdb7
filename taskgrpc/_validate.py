"""Input checks shared by the builders, the request builders and the command line.

Each check raises :class:`~taskgrpc.errors.ValidationError` with a message that
says what was expected and, for names, which ones are valid. The rules about
tasks themselves (which cite the proto comment or docs page they come from)
are in :mod:`taskgrpc.builders` (``check_task``); the pieces they share live
here, written once: the not-a-single-string check, integer ranges, ids and
text, enum names, task status codes, the deprecated worker fields and the
weight-share rule.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2

from .errors import ValidationError

__all__ = [
    "MAX_INT32",
    "MAX_UINT32",
    "TASK_STATUS_CODES",
    "check_weight_shares",
    "enum_number",
    "id_list",
    "int_in_range",
    "not_a_string",
    "require_id",
    "task_status",
    "text",
    "unknown_name",
    "worker_user_ids",
]

MAX_UINT32 = 2**32 - 1
MAX_INT32 = 2**31 - 1

#: The status codes a task can have. tasks-api.md / status_code.proto: the task
#: statuses are the TASK_* codes 54001 IN_PROGRESS, 54002 DONE, 54003 WONT_DO,
#: 54005 FAILED, 54006 IDLE (the other TASK_* codes are errors or assignment states).
TASK_STATUS_CODES: dict[str, int] = {
    name: int(status_code_pb2.StatusCode.Value(name))
    for name in ("TASK_IN_PROGRESS", "TASK_DONE", "TASK_WONT_DO", "TASK_FAILED", "TASK_IDLE")
}
_TASK_STATUS_NUMBERS = frozenset(TASK_STATUS_CODES.values())


def unknown_name(kind: str, given: object, valid: Iterable[str]) -> ValidationError:
    """A ValidationError for an unknown ``kind`` name: a "did you mean" hint and the valid names."""
    names = list(valid)
    text = f"unknown {kind} {given!r}"
    if isinstance(given, str):
        close = difflib.get_close_matches(given.upper(), names, n=1, cutoff=0.6)
        if close:
            text += f"; did you mean {close[0]!r}?"
    return ValidationError(f"{text} (valid: {', '.join(names)})")


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


def not_a_string(values: Iterable[Any] | None, field: str) -> list[Any]:
    """``values`` as a list; a single string (a common slip for a list of one) is refused,
    and ``None`` means an empty list (no filter)."""
    if values is None:
        return []
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
