"""The one table of RPCs: every method taskgrpc sends is a row here.

A row names the method and holds its request and response classes, its pure
request builder and its safety class (how it may be retried). Everything else
reads the rows: the stub binds one callable per row (``_stub``), the retry
classification is derived from them (``retry.METHOD_RETRY``), operations name
their methods through them (``_ops``), and the fake's list of methods that
faults can target and the benchmarks use the same names.

The default timeout and retry policy of every row are the client's
(``timeout=`` and ``retry=`` of the constructor, overridable per call); the
safety class decides which failures that policy may retry.

Adding a verb: one row below, one request builder, and the two thin wrappers
in ``client.py`` and ``aio.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_pb2

from . import _lifecycle_requests as lrq
from . import requests as rq

__all__ = ["METHODS", "SERVICE", "Method", "Safety"]

SERVICE = "clarifai.api.V2"


class Safety(enum.Enum):
    """How a method may be retried."""

    #: Reads and idempotent writes: retried on every transient failure.
    IDEMPOTENT = "idempotent"
    #: Creates (PostTasks, PostAnnotations): retried when the service surely did
    #: nothing; after an unknown outcome only when every item carries an id (then
    #: reconciled by a lookup, never duplicated).
    CREATE = "create"


@dataclass(frozen=True)
class Method:
    """One RPC of ``clarifai.api.V2``: its classes, request builder and safety class."""

    name: str
    request: Any
    response: Any
    build: Callable[..., Any]
    safety: Safety

    @property
    def path(self) -> str:
        """The gRPC method path, ``/clarifai.api.V2/<name>``."""
        return f"/{SERVICE}/{self.name}"


IDEMPOTENT, CREATE = Safety.IDEMPOTENT, Safety.CREATE

# --- the Tasks API -----------------------------------------------------------------------
# ``set_status`` (PatchTasks ``merge``) writes the same status again, and ``overwrite``
# the same whole task, so PatchTasks is idempotent; DeleteTasks ignores ids already gone.

POST_TASKS = Method("PostTasks", s.PostTasksRequest, s.MultiTaskResponse, rq.post_tasks, CREATE)
GET_TASK = Method("GetTask", s.GetTaskRequest, s.SingleTaskResponse, rq.get_task, IDEMPOTENT)
LIST_TASKS = Method("ListTasks", s.ListTasksRequest, s.MultiTaskResponse, rq.list_tasks, IDEMPOTENT)
PATCH_TASKS = Method(
    "PatchTasks", s.PatchTasksRequest, s.MultiTaskResponse, rq.patch_tasks, IDEMPOTENT
)
DELETE_TASKS = Method(
    "DeleteTasks", s.DeleteTasksRequest, status_pb2.BaseResponse, rq.delete_tasks, IDEMPOTENT
)

# --- the labeling lifecycle ----------------------------------------------------------------
# PutTaskAssignments: "performs an idempotent action for the task assignments in given
# task" (service_pb2_grpc.py). The counts and ListAnnotations are reads.

PUT_TASK_ASSIGNMENTS = Method(
    "PutTaskAssignments",
    s.PutTaskAssignmentsRequest,
    s.MultiTaskAssignmentResponse,
    lrq.put_task_assignments,
    IDEMPOTENT,
)
POST_ANNOTATIONS = Method(
    "PostAnnotations",
    s.PostAnnotationsRequest,
    s.MultiAnnotationResponse,
    lrq.post_annotations,
    CREATE,
)
LIST_ANNOTATIONS = Method(
    "ListAnnotations",
    s.ListAnnotationsRequest,
    s.MultiAnnotationResponse,
    lrq.list_annotations,
    IDEMPOTENT,
)
GET_TASK_INPUT_COUNT = Method(
    "GetTaskInputCount",
    s.GetTaskCountRequest,
    s.SingleTaskCountResponse,
    lrq.task_count,
    IDEMPOTENT,
)
GET_TASK_ANNOTATION_COUNT = Method(
    "GetTaskAnnotationCount",
    s.GetTaskCountRequest,
    s.SingleTaskCountResponse,
    lrq.task_count,
    IDEMPOTENT,
)

#: Every row, by method name.
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        POST_TASKS,
        GET_TASK,
        LIST_TASKS,
        PATCH_TASKS,
        DELETE_TASKS,
        PUT_TASK_ASSIGNMENTS,
        POST_ANNOTATIONS,
        LIST_ANNOTATIONS,
        GET_TASK_INPUT_COUNT,
        GET_TASK_ANNOTATION_COUNT,
    )
}
