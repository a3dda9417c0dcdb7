"""ListTasks filters: every given filter must match (AND); a repeated one matches any value (OR).

- ``ids``: the task id.
- ``worker_user_ids``: a user worker, via ``worker.workers[].user.id`` or the deprecated
  ``worker.user_ids`` / ``worker.users[].id``.
- ``worker_ids`` (WorkerIDSet): by ``model_id`` if set (and ``model_version_id`` if set), else by
  ``workflow_id`` (and ``workflow_version_id``), else by ``user_id`` as ``worker_user_ids``
  does. A WorkerIDSet with none of these ids matches nothing.
- ``review_user_ids``: via ``review.users[].id`` or the deprecated ``review.user_ids``.
- ``input_source_type`` (0 means no filter) and ``input_source_ids``.
- ``label_order_ids``: the task's ``label_order_id``. As the proto documents, tasks that belong
  to a label order are left out unless ``including_label_order_tasks`` is set or
  ``label_order_ids`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from fake_servicer.additional_fields import review_user_ids, worker_user_ids


@dataclass(frozen=True)
class _WorkerRef:
    kind: str  # "model", "workflow" or "user"
    id: str
    version_id: str = ""


@dataclass(frozen=True)
class TaskFilter:
    """A parsed ListTasks filter; ``None`` (or 0) fields do not filter."""

    ids: frozenset[str] | None = None
    worker_user_ids: frozenset[str] | None = None
    worker_refs: tuple[_WorkerRef, ...] | None = None
    review_user_ids: frozenset[str] | None = None
    input_source_type: int = 0
    input_source_ids: frozenset[str] | None = None
    label_order_ids: frozenset[str] | None = None
    include_label_order_tasks: bool = True

    @classmethod
    def from_request(cls, request: service_pb2.ListTasksRequest) -> TaskFilter:
        """Parse the filters of a ListTasksRequest."""

        def opt(values: list[str]) -> frozenset[str] | None:
            return frozenset(values) if values else None

        refs: tuple[_WorkerRef, ...] | None = None
        if request.worker_ids:
            refs = tuple(_worker_ref(w) for w in request.worker_ids)
        return cls(
            ids=opt(list(request.ids)),
            worker_user_ids=opt(list(request.worker_user_ids)),
            worker_refs=refs,
            review_user_ids=opt(list(request.review_user_ids)),
            input_source_type=int(request.input_source_type),
            input_source_ids=opt(list(request.input_source_ids)),
            label_order_ids=opt(list(request.label_order_ids)),
            include_label_order_tasks=bool(
                request.including_label_order_tasks or request.label_order_ids
            ),
        )

    def filters_beyond_ids(self) -> bool:
        """True if :meth:`matches` can refuse a task (ignoring ``ids`` and label orders)."""
        return any(
            (
                self.worker_user_ids is not None,
                self.worker_refs is not None,
                self.review_user_ids is not None,
                self.input_source_type != 0,
                self.input_source_ids is not None,
                self.label_order_ids is not None,
            )
        )

    def matches(self, task: resources_pb2.Task) -> bool:
        """True if ``task`` passes every filter except ``ids`` (the store applies that one)."""
        if not self.include_label_order_tasks and task.label_order_id:
            return False
        if self.label_order_ids is not None and task.label_order_id not in self.label_order_ids:
            return False
        if self.input_source_type and task.input_source.type != self.input_source_type:
            return False
        if self.input_source_ids is not None and task.input_source.id not in self.input_source_ids:
            return False
        if self.worker_user_ids is not None and self.worker_user_ids.isdisjoint(
            worker_user_ids(task)
        ):
            return False
        if self.review_user_ids is not None and self.review_user_ids.isdisjoint(
            review_user_ids(task)
        ):
            return False
        return self.worker_refs is None or any(_has_worker(task, ref) for ref in self.worker_refs)


def _worker_ref(ids: resources_pb2.WorkerIDSet) -> _WorkerRef:
    if ids.model_id:
        return _WorkerRef("model", ids.model_id, ids.model_version_id)
    if ids.workflow_id:
        return _WorkerRef("workflow", ids.workflow_id, ids.workflow_version_id)
    return _WorkerRef("user", ids.user_id)


def _has_worker(task: resources_pb2.Task, ref: _WorkerRef) -> bool:
    if not ref.id:
        return False
    if ref.kind == "user":
        return ref.id in worker_user_ids(task)
    for worker in task.worker.workers:
        kind = worker.WhichOneof("worker")
        if kind == "model" and ref.kind == "model":
            model = worker.model
            if model.id == ref.id and ref.version_id in ("", model.model_version.id):
                return True
        elif kind == "workflow" and ref.kind == "workflow":
            workflow = worker.workflow
            if workflow.id == ref.id and ref.version_id in ("", workflow.version.id):
                return True
    return False
