"""The labeling lifecycle: inputs, task assignments, task annotations, reviews, counts, metrics.

One :class:`Lifecycle` holds, per app, the seeded inputs, each task's assignments (worker x
input) and the annotations, behind one lock; every public method is atomic and all or nothing.
The servicer checks auth and that the task exists, then calls it; ``FakeV2Servicer.simulate``
drives the same methods. Stored messages are replaced, never mutated, so they may be copied
outside the lock.

State machine (documented unless marked; see also :mod:`fake_servicer.distribution`):

- FULL and PARTITIONED tasks get their assignments, PENDING, when created; DYNAMIC tasks get up
  to 10 on LABEL_START. LABEL_START returns the caller's PENDING assignments (at most 10, in
  input order; work sent back by request-changes comes last) if it has any, else (DYNAMIC)
  up to 10 new ones, else an empty list [inf].
- LABEL_SUBMIT moves the caller's PENDING assignments, and their annotations, to SUCCESS (review
  NONE or unset), AWAITING_REVIEW (MANUAL) or AWAITING_CONSENSUS_REVIEW (CONSENSUS).
  Submitting an already submitted assignment changes nothing.
- CONSENSUS [inf]: once ``approval_threshold_labelers`` labelers of an input agree (see
  :func:`fake_servicer.annotations.concept_key`), their assignments and annotations become
  SUCCESS, and any later labeler of that input who agrees too; a labeler who disagrees goes to
  AWAITING_REVIEW. When every labeler of an input has submitted without agreement, they all go
  to AWAITING_REVIEW.
- REVIEW_START hands the caller up to 10 AWAITING_REVIEW assignments (its unfinished batch
  first, optionally only from ``workers``). With ``approval_threshold_reviewers`` 1 (or 0, which
  means 1) each assignment goes to one reviewer; with -1 every reviewer reviews it and it needs
  every reviewer's approval; a value above 1 needs that many approvals [inf].
- REVIEW_APPROVE -> SUCCESS once enough reviewers approved; REVIEW_REQUEST_CHANGES -> PENDING
  (the work restarts, earlier approvals are forgotten); REVIEW_REJECT -> REJECTED, final.
  Annotations follow: SUCCESS, PENDING, REVIEW_DENIED. Repeating a decision already applied
  changes nothing (so a retried request succeeds).

Choices where the docs are silent (also stated in docs/testing.md):

- The actor is the PAT's user (``FakeV2Servicer(users={pat: user_id})``); a PAT without a user
  acts as the app owner (``user_app_id.user_id``). Labeling (LABEL_START, LABEL_SUBMIT, task
  annotations) needs the actor to be a user worker of the task; reviewing needs it to be a
  listed reviewer or the app owner. Otherwise: TASK_PERMISSION_DENIED.
- The app owner's approval counts as one reviewer's approval.
- A task annotation needs the actor's PENDING assignment on that input (TASK_PERMISSION_DENIED
  otherwise), an existing input (INPUT_DOES_NOT_EXIST) and an existing task (the servicer's
  ``not_found_code``); it starts ANNOTATION_PENDING. An annotation without a task is
  ANNOTATION_SUCCESS. A repeated annotation id is refused with ANNOTATION_INVALID_ARGUMENT.
- Bulk review by ``workers`` applies to every AWAITING_REVIEW assignment of those workers that
  the caller may decide (in its batch, or not held by another reviewer).
- LABEL_START and REVIEW_START on a task whose status is set to anything but
  TASK_IN_PROGRESS (DONE, WONT_DO, ...) return an empty list; submits and decisions on work
  already handed out still apply. A task seeded by ``put_tasks`` without a status counts as in
  progress.
- Metrics: ``input_source`` counts the inputs selected at creation; an input is worked on when
  one of its assignments is submitted (not PENDING), and reviewed when all its assignments are
  SUCCESS or REJECTED (and, for DYNAMIC, it has had all the labelers it needs). Percentages are
  floored, so 100 means all. Per reviewer: inputs it decided on; reviewable estimate = all
  inputs when every reviewer reviews everything, else an even share; zero under review NONE.
- Counts: every user worker of the task is listed (zeros included), then any other user with
  work; model and workflow filters match nobody. REJECTED is counted as ``review_denied``.
- Deleting a task drops its assignments and review state; its annotations stay in the app
  (annotations belong to inputs) and keep their ``task_id``, but a new task with the same id
  does not adopt them. Overwriting a task keeps its
  assignments and input snapshot; later actions read the new worker and review settings.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2

from fake_servicer.additional_fields import review_user_ids, worker_user_ids
from fake_servicer.annotations import (
    AnnotationFilter,
    bound_task_id,
    concept_key,
    is_empty,
    patched,
)
from fake_servicer.distribution import (
    BATCH_SIZE,
    initial_assignments,
    is_dynamic,
    labelers_per_input,
)
from fake_servicer.inputs import AppInputs, Input
from fake_servicer.protos import assign, copy_message
from fake_servicer.status import ApiError, invalid_request, shorten
from fake_servicer.validation import check_task_id

Annotation = resources_pb2.Annotation
TaskAssignment = resources_pb2.TaskAssignment
Task = resources_pb2.Task
AppKey = tuple[str, str]

SC = status_code_pb2
PENDING = SC.TASK_ASSIGNMENT_PENDING
AWAITING_REVIEW = SC.TASK_ASSIGNMENT_AWAITING_REVIEW
AWAITING_CONSENSUS = SC.TASK_ASSIGNMENT_AWAITING_CONSENSUS_REVIEW
SUCCESS = SC.TASK_ASSIGNMENT_SUCCESS
REJECTED = SC.TASK_ASSIGNMENT_REJECTED
FINAL = frozenset({SUCCESS, REJECTED})

ANNOTATION_STATUS: dict[int, int] = {
    PENDING: SC.ANNOTATION_PENDING,
    AWAITING_REVIEW: SC.ANNOTATION_AWAITING_REVIEW,
    AWAITING_CONSENSUS: SC.ANNOTATION_AWAITING_CONSENSUS_REVIEW,
    SUCCESS: SC.ANNOTATION_SUCCESS,
    REJECTED: SC.ANNOTATION_REVIEW_DENIED,
}
"""The annotation status that mirrors each assignment status."""

APPROVE, REQUEST_CHANGES, REJECT = "approve", "request_changes", "reject"
_DECISION_STATUS = {APPROVE: SUCCESS, REQUEST_CHANGES: PENDING, REJECT: REJECTED}

_Review = resources_pb2.TaskReview


@functools.cache
def describe(code: int) -> str:
    """A short description for a status code: ``TASK_ASSIGNMENT_PENDING`` -> "Task assignment
    pending"."""
    return code_name(code).replace("_", " ").capitalize()


def code_name(code: int) -> str:
    """The status code's name, e.g. ``TASK_ASSIGNMENT_PENDING``."""
    return SC.StatusCode.Name(SC.StatusCode.ValueType(code))


def resource_status(code: int) -> status_pb2.Status:
    """A resource status (code and description, no ``req_id``): shared, copy it to use it."""
    return _RESOURCE_STATUS.get(code) or _RESOURCE_STATUS.setdefault(
        code, status_pb2.Status(code=code, description=describe(code))
    )


_RESOURCE_STATUS: dict[int, status_pb2.Status] = {}


def in_progress(task: Task) -> bool:
    """True unless the task's status is set to something other than TASK_IN_PROGRESS."""
    return task.status.code in (0, SC.TASK_IN_PROGRESS)


def approvals_needed(task: Task) -> int:
    """Reviewer approvals an assignment needs (threshold 0 -> 1, -1 -> every reviewer)."""
    threshold = task.review.consensus_strategy_info.approval_threshold_reviewers
    reviewers = max(1, len(review_user_ids(task)))
    if threshold < 0:
        return reviewers
    return min(max(1, threshold), reviewers)


def shared_review(task: Task) -> bool:
    """True when several reviewers review each assignment (threshold -1 or above 1)."""
    return task.review.consensus_strategy_info.approval_threshold_reviewers not in (0, 1)


def submitted_status(task: Task) -> int:
    """The assignment status LABEL_SUBMIT moves to under the task's review strategy."""
    if task.review.strategy == _Review.MANUAL:
        return AWAITING_REVIEW
    if task.review.strategy == _Review.CONSENSUS:
        return AWAITING_CONSENSUS
    return SUCCESS


@dataclass
class _Assignment:
    id: str
    worker: str
    input_id: str
    status: int
    created: int
    modified: int
    holders: set[str] = field(default_factory=set)
    """Reviewers holding it in their current REVIEW_START batch."""
    approvals: set[str] = field(default_factory=set)


@dataclass
class _TaskState:
    source: list[str]
    assignments: dict[str, _Assignment] = field(default_factory=dict)
    by_input: dict[str, list[_Assignment]] = field(default_factory=dict)
    agreed: dict[str, frozenset[str]] = field(default_factory=dict)
    decided: dict[str, set[str]] = field(default_factory=dict)
    """Reviewer -> inputs it approved, rejected or sent back."""

    pending: dict[str, dict[str, _Assignment]] = field(default_factory=dict)
    """Worker -> its PENDING assignments, in the order they became pending."""
    awaiting: dict[str, _Assignment] = field(default_factory=dict)
    """The AWAITING_REVIEW assignments, in the order they got there."""
    holdings: dict[str, dict[str, _Assignment]] = field(default_factory=dict)
    """Reviewer -> the assignments in its current REVIEW_START batch."""
    cursor: int = 0
    """DYNAMIC: inputs before this index of ``source`` have all the labelers they need."""

    def add(self, worker: str, input_id: str, now: int) -> _Assignment:
        assignment = _Assignment(os.urandom(16).hex(), worker, input_id, PENDING, now, now)
        self.assignments[assignment.id] = assignment
        self.by_input.setdefault(input_id, []).append(assignment)
        self.pending.setdefault(worker, {})[assignment.id] = assignment
        return assignment

    def set_status(self, assignment: _Assignment, status: int) -> None:
        """Change an assignment's status, keeping the indexes right."""
        if assignment.status == PENDING:
            self.pending.get(assignment.worker, {}).pop(assignment.id, None)
        elif assignment.status == AWAITING_REVIEW:
            self.awaiting.pop(assignment.id, None)
        assignment.status = status
        if status == PENDING:
            self.pending.setdefault(assignment.worker, {})[assignment.id] = assignment
        elif status == AWAITING_REVIEW:
            self.awaiting[assignment.id] = assignment

    def hold(self, assignment: _Assignment, reviewer: str) -> None:
        assignment.holders.add(reviewer)
        self.holdings.setdefault(reviewer, {})[assignment.id] = assignment

    def release(self, assignment: _Assignment, reviewer: str) -> None:
        assignment.holders.discard(reviewer)
        self.holdings.get(reviewer, {}).pop(assignment.id, None)

    def pending_of(self, worker: str, limit: int) -> list[_Assignment]:
        return list(itertools.islice(self.pending.get(worker, {}).values(), limit))


@dataclass
class _App:
    inputs: AppInputs = field(default_factory=AppInputs)
    tasks: dict[str, _TaskState] = field(default_factory=dict)
    annotations: dict[str, Annotation] = field(default_factory=dict)
    work: dict[tuple[str, str, str], dict[str, None]] = field(default_factory=dict)
    """(task_id, user_id, input_id) -> ids of that labeler's annotations on that input."""
    version: int = 0
    listings: dict[AnnotationFilter, tuple[int, list[Annotation]]] = field(default_factory=dict)
    """Recent ListAnnotations results by filter, with the ``version`` they were made at, so
    paging through a listing costs one pass, not one per page."""

    def store(self, annotation: Annotation) -> None:
        """Store a new annotation or a new version of one (the index is set when new)."""
        is_new = annotation.id not in self.annotations
        self.annotations[annotation.id] = annotation
        if is_new and annotation.task_id:
            key = (annotation.task_id, annotation.user_id, annotation.input_id)
            self.work.setdefault(key, {})[annotation.id] = None
        self.version += 1

    def remove(self, annotation_id: str) -> None:
        annotation = self.annotations.pop(annotation_id, None)
        if annotation is None:
            return
        key = (annotation.task_id, annotation.user_id, annotation.input_id)
        self.work.get(key, {}).pop(annotation_id, None)
        self.version += 1

    def work_of(self, task_id: str, assignment: _Assignment) -> list[Annotation]:
        ids = self.work.get((task_id, assignment.worker, assignment.input_id), {})
        return [self.annotations[i] for i in ids]


class Lifecycle:
    """All lifecycle state of a fake; see the module docstring. ``now`` returns nanoseconds."""

    def __init__(self, now: Callable[[], int]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._apps: dict[AppKey, _App] = {}

    def _app(self, key: AppKey) -> _App:
        app = self._apps.get(key)
        if app is None:
            app = self._apps[key] = _App()
        return app

    def clear(self) -> None:
        """Forget every input, assignment and annotation."""
        with self._lock:
            self._apps.clear()

    # ----- inputs and task hooks ---------------------------------------------------------

    def put_inputs(
        self, key: AppKey, inputs: Iterable[Input | str] | int, dataset_id: str | None
    ) -> list[str]:
        """Seed inputs (see :meth:`fake_servicer.inputs.AppInputs.put`)."""
        with self._lock:
            return self._app(key).inputs.put(inputs, dataset_id)

    def inputs(self, key: AppKey) -> list[Input]:
        """Copies of the app's inputs, in seeding order."""
        with self._lock:
            stored = self._app(key).inputs.all()
        return [copy_message(i) for i in stored]

    def task_created(self, key: AppKey, task: Task) -> None:
        """Snapshot the task's input source and make its creation-time assignments, unless
        the task already has a state (``put_tasks`` over an existing id keeps it)."""
        with self._lock:
            self._state(self._app(key), task)

    def apps_with_task(self, task_id: str) -> list[AppKey]:
        """The apps that hold a task with this id."""
        with self._lock:
            return [key for key, app in self._apps.items() if task_id in app.tasks]

    def tasks_deleted(self, key: AppKey, task_ids: Iterable[str]) -> None:
        """Drop the assignments and review state of these tasks (annotations stay)."""
        with self._lock:
            app = self._apps.get(key)
            if app is None:
                return
            gone = set(task_ids)
            for task_id in gone:
                app.tasks.pop(task_id, None)
            for work_key in [k for k in app.work if k[0] in gone]:
                del app.work[work_key]

    def _new_state(self, app: _App, task: Task) -> _TaskState:
        state = _TaskState(source=app.inputs.select(task.input_source))
        now = self._now()
        for worker, input_id in initial_assignments(task, worker_user_ids(task), state.source):
            state.add(worker, input_id, now)
        return state

    def _state(self, app: _App, task: Task) -> _TaskState:
        state = app.tasks.get(task.id)
        if state is None:  # a task stored before this lifecycle knew it
            state = app.tasks[task.id] = self._new_state(app, task)
        return state

    # ----- labeling ----------------------------------------------------------------------

    def label_start(self, key: AppKey, task: Task, actor: str) -> list[TaskAssignment]:
        """LABEL_START for ``actor``: its PENDING batch, else new DYNAMIC work, else []."""
        _check_labeler(task, actor)
        with self._lock:
            app = self._app(key)
            state = self._state(app, task)
            if not in_progress(task):
                return []
            batch = state.pending_of(actor, BATCH_SIZE)
            if not batch and is_dynamic(task):
                batch = self._hand_out(state, task, actor)
            return [self._proto(app, a) for a in batch]

    def _hand_out(self, state: _TaskState, task: Task, actor: str) -> list[_Assignment]:
        needed = labelers_per_input(task)
        now = self._now()
        batch: list[_Assignment] = []
        source = state.source
        while state.cursor < len(source) and (
            len(state.by_input.get(source[state.cursor], ())) >= needed
        ):
            state.cursor += 1
        for index in range(state.cursor, len(source)):  # islice would walk from 0
            if len(batch) == BATCH_SIZE:
                break
            input_id = source[index]
            group = state.by_input.get(input_id, [])
            if len(group) < needed and all(a.worker != actor for a in group):
                batch.append(state.add(actor, input_id, now))
        return batch

    def label_submit(
        self, key: AppKey, task: Task, actor: str, ids: Sequence[str], input_id: str = ""
    ) -> list[TaskAssignment]:
        """LABEL_SUBMIT of the actor's assignments (by id, or its one for ``input_id``)."""
        _check_labeler(task, actor)
        with self._lock:
            app = self._app(key)
            state = self._state(app, task)
            chosen: list[_Assignment] = []
            if input_id:
                mine = [a for a in state.by_input.get(input_id, []) if a.worker == actor]
                if not mine:
                    raise invalid_request(
                        "input_id", f"{shorten(input_id)} has no assignment of yours in this task"
                    )
                chosen = mine
            for index, assignment_id in enumerate(ids):
                field_name = f"label_submit_config.task_assignments[{index}].id"
                assignment = _find(state, assignment_id, field_name)
                if assignment.worker != actor:
                    raise _denied(f"task assignment {shorten(assignment_id)} is not yours")
                chosen.append(assignment)
            if not chosen:
                raise invalid_request(
                    "label_submit_config.task_assignments", "must name at least one assignment"
                )
            now = self._now()
            target = submitted_status(task)
            touched: set[str] = set()
            for assignment in chosen:
                if assignment.status == PENDING:
                    self._move(app, state, task.id, assignment, target, now)
                    touched.add(assignment.input_id)
            for touched_input in touched:
                self._settle_consensus(app, state, task, touched_input, now)
            return [self._proto(app, a) for a in _unique(chosen)]

    def _settle_consensus(
        self, app: _App, state: _TaskState, task: Task, input_id: str, now: int
    ) -> None:
        if task.review.strategy != _Review.CONSENSUS:
            return
        group = state.by_input.get(input_id, [])
        waiting = [a for a in group if a.status == AWAITING_CONSENSUS]
        if not waiting:
            return
        keys = {a.id: concept_key(app.work_of(task.id, a)) for a in waiting}
        agreed = state.agreed.get(input_id)
        if agreed is None:
            threshold = labelers_per_input(task)
            tally: dict[frozenset[str], int] = {}
            for assignment in waiting:
                tally[keys[assignment.id]] = tally.get(keys[assignment.id], 0) + 1
            agreed = next((k for k, n in tally.items() if n >= threshold), None)
            if agreed is not None:
                state.agreed[input_id] = agreed
        if agreed is not None:
            for assignment in waiting:
                status = SUCCESS if keys[assignment.id] == agreed else AWAITING_REVIEW
                self._move(app, state, task.id, assignment, status, now)
            return
        expected = labelers_per_input(task) if is_dynamic(task) else len(group)
        if len(group) >= expected and all(a.status != PENDING for a in group):
            for assignment in waiting:
                self._move(app, state, task.id, assignment, AWAITING_REVIEW, now)

    def _move(
        self,
        app: _App,
        state: _TaskState,
        task_id: str,
        assignment: _Assignment,
        status: int,
        now: int,
    ) -> None:
        """Set an assignment's status and mirror it onto its annotations."""
        state.set_status(assignment, status)
        assignment.modified = now
        if status != AWAITING_REVIEW:
            for reviewer in list(assignment.holders):
                state.release(assignment, reviewer)
        if status == PENDING:
            assignment.approvals.clear()
        code = ANNOTATION_STATUS[status]
        for annotation in app.work_of(task_id, assignment):
            if annotation.status.code != code:
                new = copy_message(annotation)
                assign(new.status, resource_status(code))
                new.modified_at.FromNanoseconds(now)
                app.store(new)

    # ----- review ------------------------------------------------------------------------

    def review_start(
        self, key: AppKey, task: Task, actor: str, workers: Sequence[str]
    ) -> list[TaskAssignment]:
        """REVIEW_START for ``actor``: its unfinished batch, else up to 10 new ones."""
        _check_reviewer(key, task, actor)
        with self._lock:
            app = self._app(key)
            state = self._state(app, task)
            if not in_progress(task):
                return []
            wanted = set(workers)
            held = state.holdings.get(actor, {}).values()
            batch = [a for a in held if not wanted or a.worker in wanted][:BATCH_SIZE]
            if not batch:
                shared = shared_review(task)
                fresh = (
                    a
                    for a in state.awaiting.values()
                    if actor not in a.approvals
                    and (shared or not a.holders)
                    and (not wanted or a.worker in wanted)
                )
                batch = list(itertools.islice(fresh, BATCH_SIZE))
                for assignment in batch:
                    state.hold(assignment, actor)
            return [self._proto(app, a) for a in batch]

    def review(
        self,
        key: AppKey,
        task: Task,
        actor: str,
        decision: str,
        ids: Sequence[str],
        workers: Sequence[str],
        config_field: str,
    ) -> list[TaskAssignment]:
        """Apply ``decision`` (approve, request_changes, reject) to assignments or workers."""
        _check_reviewer(key, task, actor)
        if not ids and not workers:
            raise invalid_request(config_field, "must name task_assignments or workers")
        with self._lock:
            app = self._app(key)
            state = self._state(app, task)
            shared = shared_review(task)
            chosen: list[_Assignment] = []
            for index, assignment_id in enumerate(ids):
                field_name = f"{config_field}.task_assignments[{index}].id"
                assignment = _find(state, assignment_id, field_name)
                _check_decidable(assignment, actor, decision, shared)
                chosen.append(assignment)
            wanted = set(workers)
            for assignment in list(state.awaiting.values()) if wanted else ():
                if (
                    assignment.worker in wanted
                    and assignment.status == AWAITING_REVIEW
                    and actor not in assignment.approvals
                    and (shared or not assignment.holders or actor in assignment.holders)
                ):
                    chosen.append(assignment)
            chosen = _unique(chosen)
            now = self._now()
            needed = approvals_needed(task)
            for assignment in chosen:
                repeated = decision == APPROVE and actor in assignment.approvals
                if assignment.status != AWAITING_REVIEW or repeated:
                    continue  # already decided: a repeated request changes nothing
                state.decided.setdefault(actor, set()).add(assignment.input_id)
                if decision == APPROVE:
                    assignment.approvals.add(actor)
                    state.release(assignment, actor)
                    assignment.modified = now
                    if len(assignment.approvals) < needed:
                        continue
                self._move(app, state, task.id, assignment, _DECISION_STATUS[decision], now)
            return [self._proto(app, a) for a in chosen]

    # ----- annotations -------------------------------------------------------------------

    def post_annotations(
        self,
        key: AppKey,
        actor: str,
        annotations: Sequence[Annotation],
        tasks: dict[str, Task],
    ) -> list[Annotation]:
        """Store new annotations, all or nothing. ``tasks`` holds every task they name."""
        with self._lock:
            app = self._app(key)
            now = self._now()
            seen: set[str] = set()
            new: list[Annotation] = []
            for index, sent in enumerate(annotations):
                field_name = f"annotations[{index}]"
                annotation = copy_message(sent)
                if annotation.id:
                    check_task_id(annotation.id, f"{field_name}.id")
                else:
                    annotation.id = os.urandom(16).hex()
                if annotation.id in seen or annotation.id in app.annotations:
                    raise ApiError(
                        SC.ANNOTATION_INVALID_ARGUMENT,
                        f"Annotation id {shorten(annotation.id)} already exists",
                        "annotation ids must be unique within an app",
                    )
                seen.add(annotation.id)
                if not annotation.input_id:
                    raise invalid_request(f"{field_name}.input_id", "is required")
                if app.inputs.get(annotation.input_id) is None:
                    raise ApiError(
                        SC.INPUT_DOES_NOT_EXIST,
                        f"Input {shorten(annotation.input_id)} does not exist",
                        f"{field_name}.input_id names no input of this app",
                    )
                annotation.task_id = bound_task_id(annotation)
                annotation.user_id = actor
                annotation.worker.Clear()
                annotation.worker.user.id = actor
                code = SC.ANNOTATION_SUCCESS
                if annotation.task_id:
                    task = tasks[annotation.task_id]
                    _check_labeler(task, actor)
                    state = self._state(app, task)
                    mine = [
                        a
                        for a in state.by_input.get(annotation.input_id, [])
                        if a.worker == actor and a.status == PENDING
                    ]
                    if not mine:
                        raise _denied(
                            f"{field_name}: you have no pending assignment on input "
                            f"{shorten(annotation.input_id)} in task {shorten(annotation.task_id)}"
                        )
                    code = SC.ANNOTATION_PENDING
                assign(annotation.status, resource_status(code))
                annotation.created_at.FromNanoseconds(now)
                annotation.modified_at.FromNanoseconds(now)
                new.append(annotation)
            for annotation in new:
                app.store(annotation)
            return [copy_message(a) for a in new]

    def put_annotations(self, key: AppKey, annotations: Iterable[Annotation]) -> list[str]:
        """Store copies directly (seeding: no checks); return their ids.

        Sets a fresh id where missing, ``task_id`` from the deprecated
        ``annotation_info.task_id``, status ANNOTATION_SUCCESS and timestamps where unset, and
        ``worker`` from ``user_id``. An existing id is replaced.
        """
        now = self._now()
        with self._lock:
            app = self._app(key)
            ids: list[str] = []
            for sent in annotations:
                annotation = copy_message(sent)
                annotation.id = annotation.id or os.urandom(16).hex()
                annotation.task_id = bound_task_id(annotation)
                if not annotation.status.code:
                    assign(annotation.status, resource_status(SC.ANNOTATION_SUCCESS))
                if annotation.user_id and not annotation.HasField("worker"):
                    annotation.worker.user.id = annotation.user_id
                for stamp in (annotation.created_at, annotation.modified_at):
                    if not stamp.seconds and not stamp.nanos:
                        stamp.FromNanoseconds(now)
                app.remove(annotation.id)
                app.store(annotation)
                ids.append(annotation.id)
            return ids

    def work_annotations(
        self, key: AppKey, task_id: str, user_id: str, input_id: str
    ) -> list[Annotation]:
        """A labeler's annotations on one input of a task (stored objects: copy before use)."""
        with self._lock:
            app = self._app(key)
            ids = app.work.get((task_id, user_id, input_id), {})
            return [app.annotations[i] for i in ids]

    def list_annotations(
        self, key: AppKey, flt: AnnotationFilter, offset: int, limit: int
    ) -> list[Annotation]:
        """One page of matching annotations, oldest first (stored objects: copy before use)."""
        with self._lock:
            app = self._app(key)
            cached = app.listings.get(flt)
            if cached is not None and cached[0] == app.version:
                matching = cached[1]
            else:
                matching = [a for a in app.annotations.values() if flt.matches(a)]
                if len(app.listings) >= _LISTINGS_KEPT:
                    app.listings.pop(next(iter(app.listings)))
                app.listings[flt] = (app.version, matching)
            return matching[offset : offset + limit]

    def patch_annotations(
        self,
        key: AppKey,
        action: str,
        annotations: Sequence[Annotation],
        delete_if_empty: bool,
    ) -> list[Annotation]:
        """Patch annotations by id, all or nothing; return the patched (or deleted) ones."""
        with self._lock:
            app = self._app(key)
            now = self._now()
            staged: dict[str, Annotation] = {}
            for index, sent in enumerate(annotations):
                if not sent.id:
                    raise invalid_request(f"annotations[{index}].id", "is required")
                old = staged.get(sent.id) or app.annotations.get(sent.id)
                if old is None:
                    raise ApiError(
                        SC.CONN_DOES_NOT_EXIST,
                        f"Annotation {shorten(sent.id)} does not exist",
                        f"annotations[{index}].id names no annotation of this app",
                    )
                new = patched(old, sent, action)
                new.modified_at.FromNanoseconds(now)
                staged[sent.id] = new
            for annotation in staged.values():
                if action == "remove" and delete_if_empty and is_empty(annotation.data):
                    app.remove(annotation.id)
                else:
                    app.store(annotation)
            return [copy_message(a) for a in staged.values()]

    def delete_annotations(self, key: AppKey, ids: Iterable[str], input_ids: Iterable[str]) -> int:
        """Delete annotations by id and every annotation on ``input_ids``; unknown ids are
        ignored. Return how many were deleted."""
        with self._lock:
            app = self._app(key)
            doomed = set(ids) & app.annotations.keys()
            on_inputs = set(input_ids)
            if on_inputs:
                doomed.update(a.id for a in app.annotations.values() if a.input_id in on_inputs)
            for annotation_id in doomed:
                app.remove(annotation_id)
            return len(doomed)

    # ----- counts and metrics ------------------------------------------------------------

    def input_counts(
        self, key: AppKey, task: Task, user_ids: Sequence[str], others: bool
    ) -> list[resources_pb2.TaskStatusCountPerUser]:
        """GetTaskInputCount: assignments per worker and status."""
        with self._lock:
            state = self._state(self._app(key), task)
            tallies = _tallies(task, user_ids, others)
            for assignment in state.assignments.values():
                _tally(tallies, assignment.worker, assignment.status, user_ids, others)
            return list(tallies.values())

    def annotation_counts(
        self, key: AppKey, task: Task, user_ids: Sequence[str], others: bool
    ) -> list[resources_pb2.TaskStatusCountPerUser]:
        """GetTaskAnnotationCount: the task's annotations per author and status."""
        with self._lock:
            app = self._app(key)
            tallies = _tallies(task, user_ids, others)
            for (task_id, user_id, _), ids in app.work.items():
                if task_id != task.id:
                    continue
                for annotation_id in ids:
                    code = app.annotations[annotation_id].status.code
                    _tally(tallies, user_id, code, user_ids, others)
            return list(tallies.values())

    def metrics(self, key: AppKey, task: Task) -> resources_pb2.TaskMetrics:
        """The task's metrics, derived from its assignments (see the module docstring)."""
        with self._lock:
            state = self._state(self._app(key), task)
            metrics = resources_pb2.TaskMetrics()
            total = len(state.source)
            worked = reviewed = 0
            needed = labelers_per_input(task) if is_dynamic(task) else 1
            for input_id in state.source:
                group = state.by_input.get(input_id, [])
                if any(a.status != PENDING for a in group):
                    worked += 1
                if len(group) >= needed and all(a.status in FINAL for a in group):
                    reviewed += 1
            metrics.input_source.inputs_count_estimated = total
            metrics.work.inputs_count_estimated = worked
            metrics.work.inputs_percent_estimated = _percent(worked, total)
            review = metrics.review
            review.inputs_count_estimated = reviewed
            review.inputs_percent_estimated = _percent(reviewed, total)
            reviewers = review_user_ids(task)
            for index, reviewer in enumerate(reviewers):
                done = len(state.decided.get(reviewer, ()))
                reviewable = _reviewable(task, total, index, len(reviewers))
                review.inputs_count_estimated_per_reviewer.append(done)
                review.inputs_reviewable_count_estimated_per_reviewer.append(reviewable)
                review.inputs_percent_estimated_per_reviewer.append(_percent(done, reviewable))
            return metrics

    def all_reviewed(self, key: AppKey, task: Task) -> bool:
        """True when the task has inputs and every one of them is reviewed."""
        metrics = self.metrics(key, task)
        total = metrics.input_source.inputs_count_estimated
        return total > 0 and metrics.review.inputs_count_estimated == total

    def assignments(self, key: AppKey, task: Task) -> list[TaskAssignment]:
        """Every assignment of the task, in creation order (for tests and ``simulate``)."""
        with self._lock:
            app = self._app(key)
            state = self._state(app, task)
            return [self._proto(app, a) for a in state.assignments.values()]

    # ----- building messages -------------------------------------------------------------

    def _proto(self, app: _App, assignment: _Assignment) -> TaskAssignment:
        message = TaskAssignment(id=assignment.id)
        message.created_at.FromNanoseconds(assignment.created)
        message.modified_at.FromNanoseconds(assignment.modified)
        message.worker.user.id = assignment.worker
        stored = app.inputs.get(assignment.input_id)
        if stored is not None:
            assign(message.input, stored)
        else:
            message.input.id = assignment.input_id
        assign(message.status, resource_status(assignment.status))
        return message


_LISTINGS_KEPT = 8
"""How many ListAnnotations filters an app keeps results for."""

_COUNT_FIELDS: dict[int, str] = {
    PENDING: "pending",
    AWAITING_REVIEW: "awaiting_review",
    AWAITING_CONSENSUS: "awaiting_consensus_review",
    SUCCESS: "success",
    REJECTED: "review_denied",
    SC.ANNOTATION_PENDING: "pending",
    SC.ANNOTATION_AWAITING_REVIEW: "awaiting_review",
    SC.ANNOTATION_AWAITING_CONSENSUS_REVIEW: "awaiting_consensus_review",
    SC.ANNOTATION_SUCCESS: "success",
    SC.ANNOTATION_REVIEW_DENIED: "review_denied",
}


def _tallies(
    task: Task, user_ids: Sequence[str], others: bool
) -> dict[str, resources_pb2.TaskStatusCountPerUser]:
    tallies: dict[str, resources_pb2.TaskStatusCountPerUser] = {}
    for worker in worker_user_ids(task):
        _entry(tallies, worker, user_ids, others)
    return tallies


def _entry(
    tallies: dict[str, resources_pb2.TaskStatusCountPerUser],
    user_id: str,
    user_ids: Sequence[str],
    others: bool,
) -> resources_pb2.TaskStatusCountPerUser | None:
    if (user_ids or others) and user_id not in user_ids:
        return None
    entry = tallies.get(user_id)
    if entry is None:
        entry = tallies[user_id] = resources_pb2.TaskStatusCountPerUser(user_id=user_id)
        entry.worker.user.id = user_id
    return entry


def _tally(
    tallies: dict[str, resources_pb2.TaskStatusCountPerUser],
    user_id: str,
    code: int,
    user_ids: Sequence[str],
    others: bool,
) -> None:
    entry = _entry(tallies, user_id, user_ids, others)
    name = _COUNT_FIELDS.get(code)
    if entry is not None and name is not None:
        setattr(entry, name, getattr(entry, name) + 1)


def _percent(part: int, whole: int) -> int:
    return min(100, part * 100 // whole) if whole else 0


def _reviewable(task: Task, total: int, index: int, reviewers: int) -> int:
    if task.review.strategy not in (_Review.MANUAL, _Review.CONSENSUS):
        return 0
    if shared_review(task):
        return total
    return total // reviewers + (1 if index < total % reviewers else 0)


def _check_labeler(task: Task, actor: str) -> None:
    if actor not in worker_user_ids(task):
        raise _denied(f"user {shorten(actor)} is not a labeler of task {shorten(task.id)}")


def _check_reviewer(key: AppKey, task: Task, actor: str) -> None:
    if actor != key[0] and actor not in review_user_ids(task):
        raise _denied(f"user {shorten(actor)} is not a reviewer of task {shorten(task.id)}")


def _check_decidable(assignment: _Assignment, actor: str, decision: str, shared: bool) -> None:
    status = assignment.status
    repeated = decision == APPROVE and actor in assignment.approvals
    if status == _DECISION_STATUS[decision] or repeated:
        return  # already applied: the retry changes nothing
    if status != AWAITING_REVIEW:
        raise invalid_request(
            "task_assignments",
            f"{shorten(assignment.id)} is {code_name(status)}, not awaiting review",
        )
    if not shared and assignment.holders and actor not in assignment.holders:
        raise _denied(f"task assignment {shorten(assignment.id)} is held by another reviewer")


def _find(state: _TaskState, assignment_id: str, field_name: str) -> _Assignment:
    assignment = state.assignments.get(assignment_id)
    if assignment is None:
        raise invalid_request(field_name, f"{shorten(assignment_id)} is no assignment of this task")
    return assignment


def _denied(details: str) -> ApiError:
    return ApiError(SC.TASK_PERMISSION_DENIED, "Permission denied for this task", details)


def _unique(assignments: Iterable[_Assignment]) -> list[_Assignment]:
    return list({a.id: a for a in assignments}.values())
