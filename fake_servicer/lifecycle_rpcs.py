"""Request handling for the lifecycle RPCs: read and check each request, then call
:class:`fake_servicer.lifecycle.Lifecycle`.

Each handler takes ``(request, key, actor)`` (``actor`` is the PAT's user, see
:mod:`fake_servicer.auth`), raises :class:`~fake_servicer.status.ApiError` to refuse, and
returns the response without its status (the servicer sets it).

Choices where the docs are silent:

- PutTaskAssignments refuses an unset action (without the deprecated ``input_id``), a config
  that does not belong to the action, LABEL_START with a config, and a review decision without
  its config. ``input_id`` alone means LABEL_SUBMIT of the caller's assignment on that input.
  A review config naming both ``task_assignments`` and ``workers`` applies to both.
- ListAnnotations: ``per_page`` 0 means 20, the page size Clarifai's docs state ("By default
  each page will return 20 annotations"; the proto comment says 128): the smaller default makes
  a client that forgets ``per_page`` page more, never miss results. ``per_page`` above 1000 is
  refused; ``page`` 0 means 1. Results come oldest first. A ``task_id`` with no such task
  matches nothing.
- PatchAnnotations needs ``action`` merge, overwrite or remove; DeleteAnnotations needs ids or
  input ids and ignores unknown ones. Any accepted PAT may patch or delete any annotation of the
  app.
- GetTaskInputCount/GetTaskAnnotationCount and PutTaskAssignments on a missing task answer the
  servicer's ``not_found_code``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from fake_servicer.annotations import PATCH_ACTIONS, AnnotationFilter, bound_task_id
from fake_servicer.lifecycle import APPROVE, REJECT, REQUEST_CHANGES, AppKey, Lifecycle
from fake_servicer.status import ApiError, invalid_request, page_window, shorten
from fake_servicer.store import TaskStore

Task = resources_pb2.Task
Action = service_pb2.PutTaskAssignmentsRequestAction

ANNOTATIONS_DEFAULT_PER_PAGE = 20

_CONFIG_OF_ACTION: dict[int, str | None] = {
    service_pb2.LABEL_START: None,
    service_pb2.LABEL_SUBMIT: "label_submit_config",
    service_pb2.REVIEW_START: "review_start_config",
    service_pb2.REVIEW_APPROVE: "review_approve_config",
    service_pb2.REVIEW_REQUEST_CHANGES: "review_request_changes_config",
    service_pb2.REVIEW_REJECT: "review_reject_config",
}
_DECISIONS = {
    service_pb2.REVIEW_APPROVE: APPROVE,
    service_pb2.REVIEW_REQUEST_CHANGES: REQUEST_CHANGES,
    service_pb2.REVIEW_REJECT: REJECT,
}


class LifecycleRpcs:
    """The lifecycle handlers of one servicer (``not_found(task_id)`` builds its error)."""

    def __init__(
        self, lifecycle: Lifecycle, store: TaskStore, not_found: Callable[[str], ApiError]
    ) -> None:
        self._lifecycle = lifecycle
        self._store = store
        self._not_found = not_found

    def _task(self, key: AppKey, task_id: str, field: str = "task_id") -> Task:
        if not task_id:
            raise invalid_request(field, "is required")
        task = self._store.get(key, task_id)
        if task is None:
            raise self._not_found(task_id)
        return task

    def put_task_assignments(
        self, request: service_pb2.PutTaskAssignmentsRequest, key: AppKey, actor: str
    ) -> service_pb2.MultiTaskAssignmentResponse:
        task = self._task(key, request.task_id)
        action = request.action
        config = request.WhichOneof("action_config")
        if action == Action.Value("PUT_TASK_ASSIGNMENTS_REQUEST_ACTION_NOT_SET"):
            if not request.input_id or config is not None:
                raise invalid_request("action", "must be set")
            action = service_pb2.LABEL_SUBMIT
        if action not in _CONFIG_OF_ACTION:
            raise invalid_request("action", f"{action} is not a known action")
        expected = _CONFIG_OF_ACTION[action]
        if config is not None and config != expected:
            name = Action.Name(action)
            raise invalid_request(config, f"does not go with action {name}")
        response = service_pb2.MultiTaskAssignmentResponse()
        lifecycle = self._lifecycle
        if action == service_pb2.LABEL_START:
            found = lifecycle.label_start(key, task, actor)
        elif action == service_pb2.LABEL_SUBMIT:
            ids = [a.id for a in request.label_submit_config.task_assignments]
            found = lifecycle.label_submit(key, task, actor, ids, request.input_id)
        elif action == service_pb2.REVIEW_START:
            workers = _user_ids(request.review_start_config.workers)
            found = lifecycle.review_start(key, task, actor, workers)
        else:
            assert expected is not None
            if config is None:
                raise invalid_request(expected, f"is required for action {Action.Name(action)}")
            sent = getattr(request, expected)
            ids = [a.id for a in sent.task_assignments]
            workers = _user_ids(sent.workers)
            found = lifecycle.review(key, task, actor, _DECISIONS[action], ids, workers, expected)
        response.task_assignments.extend(found)
        return response

    def list_next_task_assignments(
        self, request: service_pb2.ListNextTaskAssignmentsRequest, key: AppKey, actor: str
    ) -> service_pb2.MultiInputResponse:
        task = self._task(key, request.task_id)
        response = service_pb2.MultiInputResponse()
        for assignment in self._lifecycle.label_start(key, task, actor):
            response.inputs.append(assignment.input)
        return response

    def post_annotations(
        self, request: service_pb2.PostAnnotationsRequest, key: AppKey, actor: str
    ) -> service_pb2.MultiAnnotationResponse:
        if not request.annotations:
            raise invalid_request("annotations", "must contain at least one annotation")
        tasks: dict[str, Task] = {}
        for index, annotation in enumerate(request.annotations):
            task_id = bound_task_id(annotation)
            if task_id and task_id not in tasks:
                tasks[task_id] = self._task(key, task_id, f"annotations[{index}].task_id")
        response = service_pb2.MultiAnnotationResponse()
        response.annotations.extend(
            self._lifecycle.post_annotations(key, actor, request.annotations, tasks)
        )
        return response

    def list_annotations(
        self, request: service_pb2.ListAnnotationsRequest, key: AppKey, actor: str
    ) -> service_pb2.MultiAnnotationResponse:
        offset, limit = page_window(request.page, request.per_page, ANNOTATIONS_DEFAULT_PER_PAGE)
        flt = AnnotationFilter.from_request(request)
        found = self._lifecycle.list_annotations(key, flt, offset, limit)
        response = service_pb2.MultiAnnotationResponse()
        response.annotations.extend(found)
        return response

    def patch_annotations(
        self, request: service_pb2.PatchAnnotationsRequest, key: AppKey, actor: str
    ) -> service_pb2.MultiAnnotationResponse:
        if request.action not in PATCH_ACTIONS:
            raise invalid_request(
                "action",
                f"{shorten(request.action)} is not supported: use merge, overwrite or remove",
            )
        if not request.annotations:
            raise invalid_request("annotations", "must contain at least one annotation")
        patched = self._lifecycle.patch_annotations(
            key, request.action, request.annotations, request.delete_if_empty_data
        )
        response = service_pb2.MultiAnnotationResponse()
        response.annotations.extend(patched)
        return response

    def delete_annotations(
        self, request: service_pb2.DeleteAnnotationsRequest, key: AppKey, actor: str
    ) -> status_pb2.BaseResponse:
        if not request.ids and not request.input_ids:
            raise invalid_request("ids", "or input_ids must name at least one annotation")
        self._lifecycle.delete_annotations(key, request.ids, request.input_ids)
        return status_pb2.BaseResponse()

    def task_input_count(
        self, request: service_pb2.GetTaskCountRequest, key: AppKey, actor: str
    ) -> service_pb2.SingleTaskCountResponse:
        task = self._task(key, request.task_id)
        counts = self._lifecycle.input_counts(key, task, request.user_ids, _others(request))
        return _count_response(key, task, counts)

    def task_annotation_count(
        self, request: service_pb2.GetTaskCountRequest, key: AppKey, actor: str
    ) -> service_pb2.SingleTaskCountResponse:
        task = self._task(key, request.task_id)
        counts = self._lifecycle.annotation_counts(key, task, request.user_ids, _others(request))
        return _count_response(key, task, counts)


def _user_ids(workers: Iterable[resources_pb2.Worker]) -> list[str]:
    return [w.user.id for w in workers if w.WhichOneof("worker") == "user"]


def _others(request: service_pb2.GetTaskCountRequest) -> bool:
    return bool(request.model_version_ids or request.workflow_version_ids)


def _count_response(
    key: AppKey, task: Task, counts: list[resources_pb2.TaskStatusCountPerUser]
) -> service_pb2.SingleTaskCountResponse:
    response = service_pb2.SingleTaskCountResponse(app_id=key[1], task_id=task.id)
    response.counts.extend(counts)
    return response
