"""The five Tasks RPCs as callables on a channel, independent of clarifai-grpc's globals.

``service_pb2_grpc.V2Stub`` reads a module-global deserializer that only the
``ClarifaiChannel`` factories set: on a plain channel it raises TypeError, and
after ``get_json_channel()`` it hands back JSON deserializers. This stub binds
the same method paths with the protobuf classes' own (de)serializers, so it
works on any ``grpc.Channel`` or ``grpc.aio.Channel``, and costs five
``unary_unary`` calls to build instead of 273.
"""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_pb2

SERVICE = "clarifai.api.V2"

#: method name -> (request class, response class)
METHODS: dict[str, tuple[Any, Any]] = {
    "PostTasks": (s.PostTasksRequest, s.MultiTaskResponse),
    "GetTask": (s.GetTaskRequest, s.SingleTaskResponse),
    "ListTasks": (s.ListTasksRequest, s.MultiTaskResponse),
    "PatchTasks": (s.PatchTasksRequest, s.MultiTaskResponse),
    "DeleteTasks": (s.DeleteTasksRequest, status_pb2.BaseResponse),
}


class TaskStub:
    """``stub.methods[name](request, timeout=..., metadata=...)`` for the five task RPCs.

    Works with sync and aio channels alike (both have ``unary_unary``).
    """

    __slots__ = ("methods",)

    def __init__(self, channel: Any) -> None:
        self.methods: dict[str, Any] = {
            name: channel.unary_unary(
                f"/{SERVICE}/{name}",
                request_serializer=req.SerializeToString,
                response_deserializer=resp.FromString,
            )
            for name, (req, resp) in METHODS.items()
        }
