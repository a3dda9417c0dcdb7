"""The labeling lifecycle's operations: sans-I/O generators, and the builders both clients call.

Labelers and reviewers act through PutTaskAssignments; annotations are created
with PostAnnotations (settled like task creates: ids before the first attempt,
an unknown outcome settled by a ListAnnotations lookup, never a duplicate);
counts, the annotation pager and :class:`Progress` are reads. Every ``op_*``
function validates its input and builds its request at the call, so bad input
raises :class:`~taskgrpc.errors.ValidationError` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2

from . import _lifecycle_requests as lrq
from ._core import ClientCore, RetryArg
from ._methods import (
    GET_TASK_INPUT_COUNT,
    LIST_ANNOTATIONS,
    POST_ANNOTATIONS,
    PUT_TASK_ASSIGNMENTS,
    Method,
)
from ._ops import (
    Budget,
    Op,
    Reconciling,
    get,
    incomplete,
    reconcile,
    rpc,
    taken,
    unknown_outcome,
)
from ._paging import Pages
from ._validate import require_id as _require_id
from .errors import (
    ApiError,
    AuthError,
    ConflictError,
    TaskgrpcError,
    ThrottledError,
    code_name,
)
from .requests import MAX_PER_PAGE, get_task
from .retry import Transience, classify

__all__ = ["Progress", "worker_id"]

Core = ClientCore[Any]
#: What the verbs return (aliases: inside the client classes ``list`` is a method).
Assignments = list[r.TaskAssignment]
Annotations = list[r.Annotation]

#: The metrics :class:`Progress` asks GetTask for (``additional_fields``).
PROGRESS_FIELDS = (
    "metrics.input_source.inputs_count_estimated",
    "metrics.work.inputs_count_estimated",
    "metrics.work.inputs_percent_estimated",
    "metrics.review.inputs_count_estimated",
    "metrics.review.inputs_percent_estimated",
)


def worker_id(worker: r.Worker) -> str:
    """The id of a worker: its user, model or workflow id."""
    kind = worker.WhichOneof("worker")
    return getattr(worker, kind).id if kind else ""


# --- operations ----------------------------------------------------------------------------


def assignments(request: s.PutTaskAssignmentsRequest, budget: Budget) -> Op[list[r.TaskAssignment]]:
    response = yield from rpc(PUT_TASK_ASSIGNMENTS.name, request, budget)
    return list(response.task_assignments)


def counts(
    method: Method, request: s.GetTaskCountRequest, budget: Budget
) -> Op[dict[str, r.TaskStatusCountPerUser]]:
    """Worker id -> its counts (the deprecated ``user_id`` when no ``worker`` is set)."""
    response = yield from rpc(method.name, request, budget)
    return {worker_id(c.worker) or c.user_id: c for c in response.counts}


def annotation_page(
    request: s.ListAnnotationsRequest, budget: Budget
) -> Op[Sequence[r.Annotation]]:
    """One page's annotations: the response's own repeated field, not a copy."""
    response = yield from rpc(LIST_ANNOTATIONS.name, request, budget)
    return response.annotations  # type: ignore[no-any-return]


def existing_annotations(ids: Sequence[str], budget: Budget) -> Op[dict[str, r.Annotation]]:
    """The annotations among ``ids`` that exist, trusted or not (ListAnnotations ``ids``)."""
    found: dict[str, r.Annotation] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), MAX_PER_PAGE):
        chunk = unique[start : start + MAX_PER_PAGE]
        request = lrq.list_annotations(budget.uaid, ids=chunk, per_page=MAX_PER_PAGE)
        for annotation in (yield from annotation_page(request, budget)):
            found[annotation.id] = annotation
    return found


def _ours(sent: r.Annotation, stored: r.Annotation) -> bool:
    """A stored annotation under our id is ours when it is on the same input in the same
    task (the service fills in other fields, e.g. concept names, user and status)."""
    return sent.input_id == stored.input_id and sent.task_id == stored.task_id


def _settles(err: TaskgrpcError) -> bool:
    """A refusal that a lookup may settle: one whose cause could be our own earlier write
    under the same ids (the code for a taken annotation id is not documented)."""
    return isinstance(err, ApiError) and not isinstance(err, (AuthError, ThrottledError))


def create_annotations(request: s.PostAnnotationsRequest, budget: Budget) -> Op[list[r.Annotation]]:
    """Post annotations that all carry ids, without ever duplicating one.

    * A refusal that says nothing was done (throttled, queue full) is retried.
    * After an unknown outcome (UNAVAILABLE, a deadline, a transient server
      code) the annotations that now exist are looked up by id first, and only
      the missing ones are posted again.
    * A refusal (e.g. an id already taken) is settled by the same lookup once:
      annotations stored under our ids on the same input and task are ours (an
      earlier attempt or run) and are returned; one on another input or task is
      someone else's (ConflictError); if none is ours, the refusal stands.
    * Running out of attempts or time before a lookup settles it raises
      :class:`~taskgrpc.OutcomeUnknownError`.

    Returns the stored annotations in input order.
    """
    sent = list(request.annotations)

    def foreign(annotation: r.Annotation, stored: r.Annotation) -> TaskgrpcError | None:
        return None if _ours(annotation, stored) else _foreign(annotation.id)

    def on_error(err: TaskgrpcError, state: Reconciling[r.Annotation]) -> bool:
        kind = classify(err)
        if kind is Transience.PERMANENT:
            if state.looked or not _settles(err):
                raise err
            state.settle, state.refusal = True, err
            return True  # costs no attempt
        state.settle = kind is Transience.OUTCOME_UNKNOWN or state.settle
        return False

    def answer(state: Reconciling[r.Annotation], response: Any) -> list[r.Annotation]:
        pending = state.pending
        by_id = {a.id: a for a in response.annotations}
        if len(by_id) != len(pending) or any(a.id not in by_id for a in pending):
            raise unknown_outcome(
                pending,
                incomplete(
                    POST_ANNOTATIONS.name, "annotation", len(pending), len(response.annotations)
                ),
            )
        state.done.update(by_id)
        return [state.done[a.id] for a in sent]

    return (
        yield from reconcile(
            POST_ANNOTATIONS.name,
            sent,
            request,
            budget,
            lookup=existing_annotations,
            foreign=foreign,
            rebuild=POST_ANNOTATIONS.build,
            on_error=on_error,
            answer=answer,
            keep_settling=False,
        )
    )


def _foreign(annotation_id: str) -> ConflictError:
    whose = "an annotation on another input or task"
    return taken(POST_ANNOTATIONS.name, "annotation", annotation_id, whose, status_code_pb2.FAILURE)


# --- progress ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """One task's progress, from its documented ``metrics`` and the per-worker input counts.

    ``inputs`` are the inputs in the source, ``labeled`` those workers have
    worked on, ``reviewed`` those fully reviewed (under no review: once
    labeled). ``workers`` maps each worker id to its input (assignment) counts
    by status. ``task`` is the task as GetTask returned it, with its metrics.
    """

    task_id: str
    inputs: int
    labeled: int
    reviewed: int
    reviewed_percent: int
    workers: dict[str, r.TaskStatusCountPerUser] = field(repr=False)
    task: r.Task = field(repr=False)

    @property
    def open_assignments(self) -> int:
        """Assignments still pending or awaiting (consensus) review, over all workers."""
        return sum(
            c.pending + c.awaiting_review + c.awaiting_consensus_review
            for c in self.workers.values()
        )

    @property
    def finished(self) -> bool:
        """True when every input in the source is fully reviewed and no assignment is open."""
        return self.inputs > 0 and self.reviewed >= self.inputs and self.open_assignments == 0

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data (for JSON): numbers, and counts per worker and status."""
        return {
            "task_id": self.task_id,
            "status": code_name(self.task.status.code) if self.task.status.code else "",
            "inputs": self.inputs,
            "labeled": self.labeled,
            "reviewed": self.reviewed,
            "reviewed_percent": self.reviewed_percent,
            "finished": self.finished,
            "workers": {
                worker: {name: getattr(c, name) for name in COUNT_FIELDS}
                for worker, c in sorted(self.workers.items())
            },
        }


#: The status fields of ``TaskStatusCountPerUser``, in lifecycle order.
COUNT_FIELDS = (
    "pending",
    "awaiting_consensus_review",
    "awaiting_review",
    "success",
    "review_denied",
)


def progress(
    task_request: s.GetTaskRequest, count_request: s.GetTaskCountRequest, budget: Budget
) -> Op[Progress]:
    task = yield from get(task_request, budget)
    workers = yield from counts(GET_TASK_INPUT_COUNT, count_request, budget)
    metrics = task.metrics
    return Progress(
        task_id=task_request.task_id,
        inputs=int(metrics.input_source.inputs_count_estimated),
        labeled=int(metrics.work.inputs_count_estimated),
        reviewed=int(metrics.review.inputs_count_estimated),
        reviewed_percent=int(metrics.review.inputs_percent_estimated),
        workers=workers,
        task=task,
    )


# --- what the verbs build (shared by TaskClient and AsyncTaskClient) ---------------------------


def op_put(
    core: Core,
    task_id: str,
    action: str,
    timeout: float | None,
    retry: RetryArg,
    workers: Iterable[str] = (),
) -> Op[list[r.TaskAssignment]]:
    """LABEL_START (no workers) or REVIEW_START (optional worker user ids)."""
    request = lrq.put_task_assignments(core._config.uaid, task_id, action, workers=workers)
    return assignments(request, core._budget(timeout, retry))


def op_submit(
    core: Core,
    task_id: str,
    items: lrq.AssignmentsArg,
    timeout: float | None,
    retry: RetryArg,
) -> Op[list[r.TaskAssignment]]:
    """LABEL_SUBMIT; no assignments at all is a no-op that sends nothing."""
    ids = lrq.assignment_ids(items)
    budget = core._budget(timeout, retry)
    if not ids:
        return _nothing()
    request = lrq.put_task_assignments(core._config.uaid, task_id, "LABEL_SUBMIT", assignments=ids)
    return assignments(request, budget)


def _nothing() -> Op[list[r.TaskAssignment]]:
    return []
    yield  # a generator that sends nothing


def op_review(
    core: Core,
    task_id: str,
    action: str,
    items: lrq.AssignmentsArg | None,
    workers: Iterable[str] | None,
    timeout: float | None,
    retry: RetryArg,
) -> Op[list[r.TaskAssignment]]:
    request = lrq.review_action(core._config.uaid, task_id, action, items, workers)
    return assignments(request, core._budget(timeout, retry))


def op_annotate(
    core: Core,
    task_id: str,
    items: Iterable[r.Annotation],
    timeout: float | None,
    retry: RetryArg,
) -> Op[list[r.Annotation]]:
    """Copies bound to the task, each without an id given its content id before the first try."""
    bound = lrq.task_annotations(task_id, items)
    lrq.give_annotation_ids(bound, core._config.pat)
    request = POST_ANNOTATIONS.build(core._config.uaid, bound)
    return create_annotations(request, core._budget(timeout, retry))


def op_counts(
    core: Core,
    method: Method,
    task_id: str,
    user_ids: Iterable[str],
    timeout: float | None,
    retry: RetryArg,
) -> Op[dict[str, r.TaskStatusCountPerUser]]:
    request = method.build(core._config.uaid, task_id, user_ids=user_ids)
    return counts(method, request, core._budget(timeout, retry))


def op_progress(core: Core, task_id: str, timeout: float | None, retry: RetryArg) -> Op[Progress]:
    uaid = core._config.uaid
    return progress(
        get_task(uaid, task_id, PROGRESS_FIELDS),
        lrq.task_count(uaid, task_id),
        core._budget(timeout, retry),
    )


def annotation_pages(
    core: Core,
    task_id: str,
    statuses: Iterable[int | str],
    user_ids: Iterable[str],
    input_ids: Iterable[str],
    per_page: int,
    timeout: float | None,
    retry: RetryArg,
) -> Pages[r.Annotation]:
    first = lrq.list_annotations(
        core._config.uaid,
        task_id=_require_id(task_id, "task_id"),
        statuses=statuses,
        user_ids=user_ids,
        input_ids=input_ids,
        per_page=per_page,
    )
    return core._pages(first, annotation_page, timeout, retry)
