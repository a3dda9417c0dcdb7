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
from typing import Any, Generic, TypeVar

from clarifai_grpc.grpc.api import resources_pb2 as r

from . import _lifecycle as lc
from . import requests as rq
from ._bulk import Bulk, ProgressCallback
from ._core import ClientCore, RetryArg
from ._lifecycle_requests import AssignmentsArg
from ._methods import GET_TASK_ANNOTATION_COUNT, GET_TASK_INPUT_COUNT
from ._ops import Op, list_page
from ._options import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, DEFAULT_PER_PAGE, BulkOptions
from ._paging import Pages
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

#: The bulk verbs (each returns its :class:`Batches`) and the listings (a :class:`Listing`).
BULK_NAMES = ("create_many", "update_many", "delete_many")
LISTING_NAMES = ("list_tasks", "list_annotations")
#: The client method of each verb named otherwise here.
METHOD_NAMES = {"list_tasks": "list", "list_annotations": "annotations"}
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _first(op: Op[list[T]]) -> Op[T]:
    return (yield from op)[0]


def _discard(op: Op[Any]) -> Op[None]:
    yield from op


def signed(verb: F, op: Callable[..., Any], returns: str | None = None) -> F:
    """``verb`` named and documented as ``op`` (renamed by :data:`METHOD_NAMES`), shown by
    ``help()`` with ``op``'s parameters and ``returns``, by default its result type
    (``X`` of ``Op[X]``)."""
    functools.update_wrapper(verb, op)
    del verb.__wrapped__  # type: ignore[attr-defined]
    if op.__name__ in METHOD_NAMES:
        verb.__name__ = METHOD_NAMES[op.__name__]
        verb.__qualname__ = verb.__qualname__.replace(op.__name__, verb.__name__)
    signature = inspect.signature(op)
    this, *rest = signature.parameters.values()
    if returns is None:
        returns = str(signature.return_annotation)
        for wrapper in ("Op[", "Batches["):
            if returns.startswith(wrapper):
                returns = returns[len(wrapper) : -1]
    verb.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[this.replace(annotation=inspect.Parameter.empty), *rest],
        return_annotation=returns,
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
    return lc.op_counts(self, GET_TASK_INPUT_COUNT, task_id, user_ids, timeout, retry)


def annotation_counts(
    self: Core,
    task_id: str,
    *,
    user_ids: Iterable[str] = (),
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Op[dict[str, r.TaskStatusCountPerUser]]:
    """GetTaskAnnotationCount: worker id (user, model or workflow) -> annotation counts."""
    return lc.op_counts(self, GET_TASK_ANNOTATION_COUNT, task_id, user_ids, timeout, retry)


def progress(
    self: Core, task_id: str, *, timeout: float | None = None, retry: RetryArg = DEFAULT
) -> Op[lc.Progress]:
    """One summary to poll: the task's metrics, per-worker input counts, ``finished``."""
    return lc.op_progress(self, task_id, timeout, retry)


# --- bulk verbs: each client runs the batches its own way ----------------------------------


class Batches(Generic[T]):
    """A bulk verb's batches (``bulk``), and ``finish``, which turns the outcome of every
    item in input order into the verb's result."""

    __slots__ = ("bulk", "finish")

    def __init__(self, bulk: Bulk, finish: Callable[[list[Any]], T]) -> None:
        self.bulk = bulk
        self.finish = finish


def _as_list(results: list[Any]) -> list[Any]:
    return results


def _nothing(results: list[Any]) -> None:
    return None


def create_many(
    self: Core,
    tasks: Iterable[r.Task],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    assign_ids: bool = True,
    id_salt: str = "",
    max_request_bytes: int | None = None,
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Batches[list[r.Task]]:
    """Create tasks in PostTasks batches, up to ``concurrency`` batches at once.

    Every task is validated before anything is sent. With ``assign_ids``
    (the default) each task without an id gets its content id, also before
    anything is sent (the ids of :func:`~taskgrpc.with_content_ids` over the
    whole list with ``id_salt``), so
    creating the same content again returns the existing tasks and creates
    only the missing ones. Batches hold at most ``batch_size`` tasks and
    ``max_request_bytes`` bytes (None: the client's); a task too big alone
    fails with a ValidationError, the others are still sent. A batch the
    service refuses for what may be one task's fault is split until only
    the bad tasks fail. Results come back in input order; if some fail,
    :class:`~taskgrpc.BulkError` carries the created tasks and each failed
    task's error (``failed_items`` carry their ids: safe to create again).
    ``progress(done, total)`` is called after each batch; ``timeout``
    applies to each batch.
    """
    options = BulkOptions(batch_size, concurrency, max_request_bytes)
    bulk = self._bulk_create(tasks, options, assign_ids, id_salt, progress, timeout, retry)
    return Batches(bulk, _as_list)


def update_many(
    self: Core,
    tasks: Iterable[r.Task],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_request_bytes: int | None = None,
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Batches[list[r.Task]]:
    """Overwrite many tasks (each needs its id) in batches; like :meth:`create_many`
    (byte budget, narrowing of a refused batch, BulkError)."""
    options = BulkOptions(batch_size, concurrency, max_request_bytes)
    return Batches(self._bulk_update(tasks, options, progress, timeout, retry), _as_list)


def delete_many(
    self: Core,
    task_ids: Iterable[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Batches[None]:
    """Delete many tasks in batches; BulkError lists the ids whose batch failed."""
    options = BulkOptions(batch_size, concurrency)
    return Batches(self._bulk_delete(task_ids, options, progress, timeout, retry), _nothing)


# --- listings: each client wraps the pages in its own pager ---------------------------------


class Listing(Generic[T]):
    """A listing verb's pages, and whether to fetch the next page ahead (``prefetch``)."""

    __slots__ = ("pages", "prefetch")

    def __init__(self, pages: Pages[T], prefetch: bool) -> None:
        self.pages = pages
        self.prefetch = prefetch


def list_tasks(
    self: Core,
    *,
    worker_user_ids: Iterable[str] | None = (),
    review_user_ids: Iterable[str] | None = (),
    ids: Iterable[str] | None = (),
    input_source_type: int | str | None = None,
    input_source_ids: Iterable[str] | None = (),
    additional_fields: Iterable[str] | None = (),
    label_order_ids: Iterable[str] | None = (),
    including_label_order_tasks: bool = False,
    worker_model_ids: Iterable[str] | None = (),
    worker_workflow_ids: Iterable[str] | None = (),
    per_page: int = DEFAULT_PER_PAGE,
    prefetch: bool = False,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Listing[r.Task]:
    """A lazy pager over every matching task, newest first.

    Every filter may be ``None`` or empty (no filter); filters combine with
    AND, and the ids within one filter with OR. Workers are matched by user
    (``worker_user_ids``), model (``worker_model_ids``) or workflow
    (``worker_workflow_ids``), all sent as ListTasks ``worker_ids``. Tasks
    of a label order are listed only with ``including_label_order_tasks``
    or ``label_order_ids``.

    Nothing is sent until it is iterated; a short page ends it.
    ``prefetch`` fetches the next page while the current one is consumed.
    ``timeout`` applies to each page.
    """
    first = rq.list_tasks(
        self._config.uaid,
        page=1,
        per_page=per_page,
        worker_user_ids=worker_user_ids,
        review_user_ids=review_user_ids,
        ids=ids,
        input_source_type=input_source_type,
        input_source_ids=input_source_ids,
        additional_fields=additional_fields,
        label_order_ids=label_order_ids,
        including_label_order_tasks=including_label_order_tasks,
        worker_model_ids=worker_model_ids,
        worker_workflow_ids=worker_workflow_ids,
    )
    return Listing(self._pages(first, list_page, timeout, retry), prefetch)


def list_annotations(
    self: Core,
    task_id: str,
    *,
    statuses: Iterable[int | str] = (),
    user_ids: Iterable[str] = (),
    input_ids: Iterable[str] = (),
    per_page: int = DEFAULT_PER_PAGE,
    prefetch: bool = False,
    timeout: float | None = None,
    retry: RetryArg = DEFAULT,
) -> Listing[r.Annotation]:
    """A lazy pager over the task's annotations (ListAnnotations ``task_id``), trusted
    or not, filtered by statuses (names or codes), users and inputs; like :meth:`list`."""
    pages = lc.annotation_pages(
        self, task_id, statuses, user_ids, input_ids, per_page, timeout, retry
    )
    return Listing(pages, prefetch)
