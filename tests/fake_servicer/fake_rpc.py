"""Test helpers for the fake: raw unary callables over a plain channel, task builders, and a
minimal ServicerContext for calling servicer methods directly.

``V2Stub`` cannot be used on a plain channel (it reads a global set only by ClarifaiChannel), so
the callables are built with ``channel.unary_unary``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn, cast

import grpc
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2

USER = "u1"
APP = "a1"
PAT = "test-pat"

_METHODS: dict[str, tuple[Any, Any]] = {
    "PostTasks": (service_pb2.PostTasksRequest, service_pb2.MultiTaskResponse),
    "GetTask": (service_pb2.GetTaskRequest, service_pb2.SingleTaskResponse),
    "ListTasks": (service_pb2.ListTasksRequest, service_pb2.MultiTaskResponse),
    "PatchTasks": (service_pb2.PatchTasksRequest, service_pb2.MultiTaskResponse),
    "DeleteTasks": (service_pb2.DeleteTasksRequest, status_pb2.BaseResponse),
    "ListModels": (service_pb2.ListModelsRequest, service_pb2.MultiModelResponse),
    "PutTaskAssignments": (
        service_pb2.PutTaskAssignmentsRequest,
        service_pb2.MultiTaskAssignmentResponse,
    ),
    "ListNextTaskAssignments": (
        service_pb2.ListNextTaskAssignmentsRequest,
        service_pb2.MultiInputResponse,
    ),
    "PostAnnotations": (service_pb2.PostAnnotationsRequest, service_pb2.MultiAnnotationResponse),
    "ListAnnotations": (service_pb2.ListAnnotationsRequest, service_pb2.MultiAnnotationResponse),
    "PatchAnnotations": (service_pb2.PatchAnnotationsRequest, service_pb2.MultiAnnotationResponse),
    "DeleteAnnotations": (service_pb2.DeleteAnnotationsRequest, status_pb2.BaseResponse),
    "GetTaskInputCount": (service_pb2.GetTaskCountRequest, service_pb2.SingleTaskCountResponse),
    "GetTaskAnnotationCount": (
        service_pb2.GetTaskCountRequest,
        service_pb2.SingleTaskCountResponse,
    ),
}


def user_app(user: str = USER, app: str = APP) -> resources_pb2.UserAppIDSet:
    return resources_pb2.UserAppIDSet(user_id=user, app_id=app)


def make_task(task_id: str = "", **fields: Any) -> resources_pb2.Task:
    """A valid, possible task (type CONCEPTS_CLASSIFICATION unless given)."""
    fields.setdefault("type", resources_pb2.Task.CONCEPTS_CLASSIFICATION)
    return resources_pb2.Task(id=task_id, **fields)


class Rpc:
    """The fake's task methods (and ListModels) as raw callables on one channel."""

    def __init__(self, target: str, pat: str | None = PAT) -> None:
        self.channel = grpc.insecure_channel(target)
        self.pat = pat
        self._callables: dict[str, Callable[..., Any]] = {
            name: self.channel.unary_unary(
                f"/clarifai.api.V2/{name}",
                request_serializer=req.SerializeToString,
                response_deserializer=resp.FromString,
            )
            for name, (req, resp) in _METHODS.items()
        }

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Rpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        request: Any,
        *,
        pat: str | None = "",
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> Any:
        """Call ``method``; ``pat=""`` means the default PAT, None sends no authorization."""
        if metadata is None:
            key = self.pat if pat == "" else pat
            metadata = [] if key is None else [("authorization", f"Key {key}")]
        return self._callables[method](request, metadata=tuple(metadata), timeout=10)

    def post(self, *tasks: resources_pb2.Task, user: str = USER, app: str = APP, **kw: Any) -> Any:
        request = service_pb2.PostTasksRequest(user_app_id=user_app(user, app), tasks=list(tasks))
        return self.call("PostTasks", request, **kw)

    def get(self, task_id: str, *fields: str, user: str = USER, app: str = APP, **kw: Any) -> Any:
        request = service_pb2.GetTaskRequest(
            user_app_id=user_app(user, app), task_id=task_id, additional_fields=list(fields)
        )
        return self.call("GetTask", request, **kw)

    def list(self, user: str = USER, app: str = APP, pat: str | None = "", **fields: Any) -> Any:
        request = service_pb2.ListTasksRequest(user_app_id=user_app(user, app), **fields)
        return self.call("ListTasks", request, pat=pat)

    def patch(
        self, action: str, *tasks: resources_pb2.Task, user: str = USER, app: str = APP, **kw: Any
    ) -> Any:
        request = service_pb2.PatchTasksRequest(
            user_app_id=user_app(user, app), action=action, tasks=list(tasks)
        )
        return self.call("PatchTasks", request, **kw)

    def delete(self, *ids: str, user: str = USER, app: str = APP, **kw: Any) -> Any:
        request = service_pb2.DeleteTasksRequest(user_app_id=user_app(user, app), ids=list(ids))
        return self.call("DeleteTasks", request, **kw)

    def request(self, method: str, pat: str | None = "", **fields: Any) -> Any:
        """Call ``method`` with a request of ``fields`` on the default app (``user_app_id``)."""
        request_type = _METHODS[method][0]
        fields.setdefault("user_app_id", user_app())
        return self.call(method, request_type(**fields), pat=pat)


class Aborted(Exception):
    """Raised by :class:`FakeContext.abort`."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


class FakeContext:
    """Just enough of grpc.ServicerContext for direct servicer calls."""

    def __init__(self, pat: str | None = PAT) -> None:
        self.metadata: tuple[tuple[str, str], ...] = (
            () if pat is None else (("authorization", f"Key {pat}"),)
        )

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise Aborted(code, details)


def ctx(pat: str | None = PAT) -> grpc.ServicerContext:
    """A :class:`FakeContext` typed as the ServicerContext the servicer expects."""
    return cast(grpc.ServicerContext, FakeContext(pat))


def ids_of(response: Any) -> list[str]:
    return [task.id for task in response.tasks]


def ok(response: Any) -> Any:
    """Assert the body status is SUCCESS and return the response."""
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    return response
