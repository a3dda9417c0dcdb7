"""Every verb that runs one operation, defined once: its signature, its docstring and the
operation it builds. ``TaskClient`` binds each with :func:`~taskgrpc.client.sync_verb`
(run to its result) and ``AsyncTaskClient`` with :func:`~taskgrpc.aio.async_verb`
(awaited), so the two clients cannot drift apart.

Each function takes the client as ``self`` and returns the sans-I/O operation
(``_ops.Op``) whose result is the verb's result; bad input raises ValidationError
here, before anything is sent. The bulk verbs and the pagers, which need their
driver's own machinery, are written in each client.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from clarifai_grpc.grpc.api import resources_pb2 as r

from . import _lifecycle as lc
from ._core import ClientCore, RetryArg
from ._lifecycle_requests import AssignmentsArg
from ._ops import Op
from .retry import DEFAULT

Core = ClientCore[Any]

#: The verbs below, in the order the clients list them.
NAMES = (
    "create",
    "existing",
    "get",
    "update",
    "set_status",
    "delete",
    "start_labeling",
    "annotate",
    "submit",
    "start_review",
    "approve",
    "request_changes",
    "reject",
    "input_counts",
    "annotation_counts",
    "progress",
)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _first(op: Op[list[T]]) -> Op[T]:
    return (yield from op)[0]


def _discard(op: Op[Any]) -> Op[None]:
    yield from op


def signed(verb: F, op: Callable[..., Any]) -> F:
    """``verb`` named and documented as ``op``, and shown by ``help()`` with ``op``'s
    parameters and its result type (``X`` of ``Op[X]``)."""
    functools.update_wrapper(verb, op)
    del verb.__wrapped__  # type: ignore[attr-defined]
    signature = inspect.signature(op)
    this, *rest = signature.parameters.values()
    returns = str(signature.return_annotation)
    verb.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[this.replace(annotation=inspect.Parameter.empty), *rest],
        return_annotation=returns[3:-1] if returns.startswith("Op[") else returns,
    )
    return verb


# --- tasks ----------------------------------------------------------------------------------


def create(
    self: Core,
    task: r.Task,
    *,
    assign_id: bool = True,
    id_salt: str = "",
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[r.Task]:
    """Create one task and return it as stored.

    With ``assign_id`` (the default) a task without an id is sent with its
    content id, ``content_id(task, id_salt)`` (the caller's message is not
    changed). Creating the same content again returns the existing task,
    even if it was edited since; another ``id_salt`` makes a deliberate copy.
    """
    return _first(self._op_create(task, assign_id, id_salt, timeout, retry))


def existing(
    self: Core, task_ids: Iterable[str], *, timeout: float | None = None, retry: RetryArg = DEFAULT
) -> Op[dict[str, r.Task]]:
    """The tasks among ``task_ids`` that exist, by id (ListTasks by ids, 1000 at a time).

    Tasks of a label order are included. ``timeout`` covers every lookup.
    """
    return self._op_existing(task_ids, timeout, retry)


def get(
    self: Core,
    task_id: str,
    *,
    additional_fields: Iterable[str] = (),
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[r.Task]:
    """The task with ``task_id``; NotFoundError if there is none."""
    return self._op_get(task_id, additional_fields, timeout, retry)


def update(
    self: Core, task: r.Task, *, timeout: float | None = None, retry: RetryArg = DEFAULT
) -> Op[r.Task]:
    """Overwrite the whole task with ``task`` (which needs its id); the stored task."""
    return _first(self._op_update(task, timeout, retry))


def set_status(
    self: Core,
    task_id: str,
    code: int | str,
    *,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[r.Task]:
    """Set only the task's status code (PatchTasks ``merge``); the stored task."""
    return _first(self._op_set_status(task_id, code, timeout, retry))


def delete(
    self: Core, *task_ids: str, timeout: float | None = None, retry: RetryArg = DEFAULT
) -> Op[None]:
    """Delete the tasks with these ids (one request); unknown ids are ignored."""
    return _discard(self._op_delete(task_ids, timeout, retry))


# --- the labeling lifecycle (see docs/lifecycle.md) ----------------------------------------


def start_labeling(
    self: Core, task_id: str, *, timeout: float | None = None, retry: RetryArg = DEFAULT
) -> Op[lc.Assignments]:
    """PutTaskAssignments LABEL_START, as the PAT's user: the caller's unsubmitted batch
    if there is one, else the next batch (up to 10 inputs); ``[]`` when none is left."""
    return lc.op_put(self, task_id, "LABEL_START", timeout, retry)


def annotate(
    self: Core,
    task_id: str,
    annotations: Iterable[r.Annotation],
    *,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[lc.Annotations]:
    """PostAnnotations: copies of ``annotations`` with ``task_id`` set; the stored ones.

    Each annotation without an id gets one before the first attempt, derived
    from its content and keyed with the PAT, so an unknown outcome is settled
    by a lookup and running the same work again returns what exists: never a
    duplicate annotation. See :func:`taskgrpc.annotation`.
    """
    return lc.op_annotate(self, task_id, annotations, timeout, retry)


def submit(
    self: Core,
    task_id: str,
    assignments: AssignmentsArg,
    *,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[lc.Assignments]:
    """LABEL_SUBMIT the assignments (messages or ids); an empty list sends nothing."""
    return lc.op_submit(self, task_id, assignments, timeout, retry)


def start_review(
    self: Core,
    task_id: str,
    *,
    workers: Iterable[str] | None = None,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[lc.Assignments]:
    """REVIEW_START: up to 10 assignments to review, of ``workers`` (user ids) or of all."""
    return lc.op_put(self, task_id, "REVIEW_START", timeout, retry, workers or ())


def approve(
    self: Core,
    task_id: str,
    assignments: AssignmentsArg | None = None,
    *,
    workers: Iterable[str] | None = None,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[lc.Assignments]:
    """REVIEW_APPROVE the assignments (messages or ids) or, in bulk, all of ``workers``'
    work: exactly one of the two, else ValidationError and nothing is sent."""
    return lc.op_review(self, task_id, "REVIEW_APPROVE", assignments, workers, timeout, retry)


def request_changes(
    self: Core,
    task_id: str,
    assignments: AssignmentsArg | None = None,
    *,
    workers: Iterable[str] | None = None,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[lc.Assignments]:
    """REVIEW_REQUEST_CHANGES: the work goes back to its labeler; like :meth:`approve`."""
    return lc.op_review(
        self, task_id, "REVIEW_REQUEST_CHANGES", assignments, workers, timeout, retry
    )


def reject(
    self: Core,
    task_id: str,
    assignments: AssignmentsArg | None = None,
    *,
    workers: Iterable[str] | None = None,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[lc.Assignments]:
    """REVIEW_REJECT: final; like :meth:`approve`."""
    return lc.op_review(self, task_id, "REVIEW_REJECT", assignments, workers, timeout, retry)


def input_counts(
    self: Core,
    task_id: str,
    *,
    user_ids: Iterable[str] = (),
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[dict[str, r.TaskStatusCountPerUser]]:
    """GetTaskInputCount: worker id (user, model or workflow) -> assignment counts."""
    return lc.op_counts(self, lc.INPUT_COUNT, task_id, user_ids, timeout, retry)


def annotation_counts(
    self: Core,
    task_id: str,
    *,
    user_ids: Iterable[str] = (),
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[dict[str, r.TaskStatusCountPerUser]]:
    """GetTaskAnnotationCount: worker id (user, model or workflow) -> annotation counts."""
    return lc.op_counts(self, lc.ANNOTATION_COUNT, task_id, user_ids, timeout, retry)


def progress(
    self: Core, task_id: str, *, timeout: float | None = None, retry: RetryArg = DEFAULT
) -> Op[lc.Progress]:
    """One summary to poll: the task's metrics, per-worker input counts, ``finished``."""
    return lc.op_progress(self, task_id, timeout, retry)
