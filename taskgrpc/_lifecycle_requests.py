"""Pure builders of the labeling-lifecycle request messages (no I/O).

PutTaskAssignments (start, submit, review), PostAnnotations, ListAnnotations and
the two task counts. Each function validates its input, raising
:class:`~taskgrpc.errors.ValidationError` before anything is sent, and returns a
plain ``service_pb2`` request. Facts cited are from clarifai-grpc's
``service_pb2.pyi`` and ``resources_pb2.pyi``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2

from ._validate import clone, enum_number, unknown_name
from ._validate import id_list as _id_list
from ._validate import int_in_range as _int
from ._validate import require_id as _require_id
from .errors import ValidationError
from .requests import MAX_PER_PAGE

__all__ = [
    "ACTIONS",
    "AssignmentsArg",
    "annotation",
    "assignment_ids",
    "give_annotation_ids",
    "list_annotations",
    "post_annotations",
    "put_task_assignments",
    "review_action",
    "status_codes",
    "task_annotations",
    "task_count",
]

Action = s.PutTaskAssignmentsRequestAction
_NOT_SET = "PUT_TASK_ASSIGNMENTS_REQUEST_ACTION_NOT_SET"

#: Every PutTaskAssignments action, by name.
ACTIONS: dict[str, int] = {n: int(Action.Value(n)) for n in Action.keys() if n != _NOT_SET}
_ACTION_NAMES = {v: k for k, v in ACTIONS.items()}
LABEL_START = ACTIONS["LABEL_START"]
LABEL_SUBMIT = ACTIONS["LABEL_SUBMIT"]
REVIEW_START = ACTIONS["REVIEW_START"]
REVIEW_APPROVE = ACTIONS["REVIEW_APPROVE"]
REVIEW_REQUEST_CHANGES = ACTIONS["REVIEW_REQUEST_CHANGES"]
REVIEW_REJECT = ACTIONS["REVIEW_REJECT"]

#: Assignments given as TaskAssignment messages or as their ids.
AssignmentsArg = Iterable[r.TaskAssignment | str]


def assignment_ids(assignments: AssignmentsArg, field: str = "assignments") -> list[str]:
    """The ids of ``assignments`` (messages or ids), each non-empty, none twice."""
    if isinstance(assignments, (str, r.TaskAssignment)):
        raise ValidationError(f"{field} must be a list of assignments or ids, not a single one")
    ids: list[str] = []
    for i, item in enumerate(assignments):
        if isinstance(item, r.TaskAssignment):
            item = item.id
        ids.append(_require_id(item, f"{field}[{i}] id"))
    return _id_list(ids, field)


def _workers(user_ids: Iterable[str], field: str) -> list[r.Worker]:
    return [r.Worker(user=r.User(id=u)) for u in _id_list(user_ids, field)]


def _refs(ids: list[str]) -> list[r.TaskAssignment]:
    return [r.TaskAssignment(id=i) for i in ids]


def put_task_assignments(
    uaid: r.UserAppIDSet,
    task_id: str,
    action: int | str,
    *,
    assignments: AssignmentsArg = (),
    workers: Iterable[str] = (),
) -> s.PutTaskAssignmentsRequest:
    """PutTaskAssignments for one ``action`` (a name or a number).

    * LABEL_START takes neither assignments nor workers ("no config for label
      start action").
    * LABEL_SUBMIT takes the assignments (``LabelSubmitConfig.task_assignments``).
    * REVIEW_START takes optional worker user ids ("If empty, review the work for
      all workers").
    * REVIEW_APPROVE / REQUEST_CHANGES / REJECT take the assignments ("Batch …:
      a list of task assignment IDs") or the worker user ids ("Bulk …: all task
      assignments from a list of workers"): exactly one of the two.
    """
    number = enum_number(Action, action, "PutTaskAssignments action", skip=(_NOT_SET,))
    request = s.PutTaskAssignmentsRequest(user_app_id=uaid, task_id=_require_id(task_id, "task_id"))
    request.action = number  # type: ignore[assignment]
    ids = assignment_ids(assignments)
    users = _workers(workers, "workers")
    if number == LABEL_START:
        if ids or users:
            raise ValidationError("LABEL_START takes no assignments and no workers")
    elif number == LABEL_SUBMIT:
        if users:
            raise ValidationError("LABEL_SUBMIT takes assignments, not workers")
        if not ids:
            raise ValidationError("LABEL_SUBMIT needs at least one assignment")
        request.label_submit_config.task_assignments.extend(_refs(ids))
    elif number == REVIEW_START:
        if ids:
            raise ValidationError("REVIEW_START takes workers (or none for all), not assignments")
        if users:  # no config: review the work of all workers
            request.review_start_config.workers.extend(users)
    else:
        if bool(ids) == bool(users):
            raise ValidationError(
                f"{_ACTION_NAMES[number]} takes either assignments or workers, exactly one"
            )
        name = {
            REVIEW_APPROVE: "review_approve_config",
            REVIEW_REQUEST_CHANGES: "review_request_changes_config",
            REVIEW_REJECT: "review_reject_config",
        }[number]
        config = getattr(request, name)
        config.task_assignments.extend(_refs(ids))
        config.workers.extend(users)
    return request


def review_action(
    uaid: r.UserAppIDSet,
    task_id: str,
    action: int | str,
    assignments: AssignmentsArg | None,
    workers: Iterable[str] | None,
) -> s.PutTaskAssignmentsRequest:
    """A review decision on ``assignments`` or, in bulk, on ``workers``' work: exactly one."""
    if (assignments is None) == (workers is None):
        raise ValidationError("give either assignments or workers=, exactly one of the two")
    return put_task_assignments(
        uaid, task_id, action, assignments=assignments or (), workers=workers or ()
    )


# --- annotations ---------------------------------------------------------------------------


def annotation(
    input_id: str,
    concepts: Mapping[str, float] | Iterable[str],
    *,
    annotation_id: str = "",
) -> r.Annotation:
    """An input-level annotation of ``input_id`` with concept values.

    ``concepts`` maps concept ids to values (1.0 present, 0.0 absent), or lists
    concept ids, each present. The task id is set by ``annotate``.
    """
    if isinstance(concepts, str):
        raise ValidationError("concepts must be a list or a mapping of concept ids, not a string")
    values = dict(concepts) if isinstance(concepts, Mapping) else dict.fromkeys(concepts, 1.0)
    for concept_id, value in values.items():
        _require_id(concept_id, "concept id")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"concept {concept_id!r}: value must be a number, got {value!r}")
    return r.Annotation(
        id=annotation_id,
        input_id=_require_id(input_id, "input_id"),
        data=r.Data(concepts=[r.Concept(id=c, value=float(v)) for c, v in values.items()]),
    )


def task_annotations(task_id: str, annotations: Iterable[r.Annotation]) -> list[r.Annotation]:
    """Copies of ``annotations`` bound to ``task_id`` through ``Annotation.task_id`` (the
    deprecated ``annotation_info.task_id`` is left as given), no id given twice."""
    _require_id(task_id, "task_id")
    if isinstance(annotations, (str, r.Annotation)):
        raise ValidationError("annotations must be a list of Annotation messages")
    out: list[r.Annotation] = []
    seen: set[str] = set()
    for i, given in enumerate(annotations):
        if not isinstance(given, r.Annotation):
            raise ValidationError(f"annotations[{i}] must be an Annotation, got {given!r}")
        if given.task_id and given.task_id != task_id:
            raise ValidationError(
                f"annotations[{i}] belongs to task {given.task_id!r}, not {task_id!r}"
            )
        if given.id:
            if given.id in seen:
                raise ValidationError(f"annotations[{i}]: the id {given.id!r} is given twice")
            seen.add(given.id)
        copy = clone(given)
        copy.task_id = task_id
        out.append(copy)
    if not out:
        raise ValidationError("annotations must not be empty")
    return out


def give_annotation_ids(annotations: list[r.Annotation], key: str) -> None:
    """Give each annotation without an id (in place) one derived from its content and ``key``.

    The id is an HMAC-SHA256 keyed with ``key`` (the client's PAT) over the annotation's
    deterministic bytes, cut to 32 hex digits: the same person annotating the same input the
    same way in the same task gets the same id on every run, so a re-run is settled rather
    than duplicated, while two people (two PATs) never share ids. The ``k``-th repeat of the
    same content in one list (``k >= 1``) is salted with ``#k``, so repeats stay distinct.
    """
    secret = key.encode()
    seen: Counter[bytes] = Counter()
    for annotation in annotations:
        if annotation.id:
            continue
        body = annotation.SerializeToString(deterministic=True)
        repeat = seen[body]
        seen[body] += 1
        salt = f"#{repeat}".encode() if repeat else b""
        digest = hmac.new(secret, b"taskgrpc-annotation\0" + salt + b"\0" + body, hashlib.sha256)
        annotation.id = digest.hexdigest()[:32]


def post_annotations(
    uaid: r.UserAppIDSet, annotations: Iterable[r.Annotation]
) -> s.PostAnnotationsRequest:
    """PostAnnotations for the ``annotations`` as given."""
    return s.PostAnnotationsRequest(user_app_id=uaid, annotations=list(annotations))


def status_codes(statuses: Iterable[int | str], field: str = "statuses") -> list[int]:
    """Status codes given by name (any case) or number."""
    if isinstance(statuses, (str, int)):
        raise ValidationError(f"{field} must be a list of status names or codes, not one")
    return [_status_code(v) for v in statuses]


#: The annotation statuses, listed when a name is unknown (the whole StatusCode enum,
#: which is accepted, has hundreds of names that no annotation ever has).
_ANNOTATION_STATUSES = [
    name for name in status_code_pb2.StatusCode.keys() if name.startswith("ANNOTATION_")
]


def _status_code(value: int | str) -> int:
    try:
        return enum_number(status_code_pb2.StatusCode, value, "status", skip=("ZERO",))
    except ValidationError:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            raise unknown_name(
                "status", value, _ANNOTATION_STATUSES, label="annotation statuses"
            ) from None
        raise


def list_annotations(
    uaid: r.UserAppIDSet,
    *,
    task_id: str = "",
    ids: Iterable[str] = (),
    input_ids: Iterable[str] = (),
    user_ids: Iterable[str] = (),
    statuses: Iterable[int | str] = (),
    list_all_annotations: bool = True,
    page: int = 1,
    per_page: int = 128,
) -> s.ListAnnotationsRequest:
    """One page of ListAnnotations. ``page`` is 1-based; ``per_page`` is 1..1000.

    ``list_all_annotations`` (default on) lists trusted and not trusted
    annotations alike; otherwise the service lists "only trusted annotations".
    """
    request = s.ListAnnotationsRequest(
        user_app_id=uaid,
        ids=_id_list(ids, "ids"),
        input_ids=_id_list(input_ids, "input_ids"),
        user_ids=_id_list(user_ids, "user_ids"),
        statuses=[status_pb2.Status(code=c) for c in status_codes(statuses)],
        list_all_annotations=bool(list_all_annotations),
        page=_int(page, "page", 1, 2**32 - 1),
        per_page=_int(per_page, "per_page", 1, MAX_PER_PAGE),
    )
    if task_id:
        request.task_id = _require_id(task_id, "task_id")
    return request


def task_count(
    uaid: r.UserAppIDSet, task_id: str, *, user_ids: Iterable[str] = ()
) -> s.GetTaskCountRequest:
    """GetTaskInputCount / GetTaskAnnotationCount, optionally for some users (OR'd)."""
    return s.GetTaskCountRequest(
        user_app_id=uaid,
        task_id=_require_id(task_id, "task_id"),
        user_ids=_id_list(user_ids, "user_ids"),
    )
