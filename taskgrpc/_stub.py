"""Every RPC of the method table as a callable on a channel, independent of clarifai-grpc's globals.

``service_pb2_grpc.V2Stub`` reads a module-global deserializer that only the
``ClarifaiChannel`` factories set: on a plain channel it raises TypeError, and
after ``get_json_channel()`` it hands back JSON deserializers. This stub binds
the same method paths with the protobuf classes' own (de)serializers, so it
works on any ``grpc.Channel`` or ``grpc.aio.Channel``, and costs one
``unary_unary`` call per row of ``_methods.METHODS`` instead of 273.
"""

from __future__ import annotations

from typing import Any

from ._methods import METHODS, SERVICE

__all__ = ["METHODS", "SERVICE", "TaskStub"]


class TaskStub:
    """``stub.methods[name](request, timeout=..., metadata=...)`` for every row of the table.

    Works with sync and aio channels alike (both have ``unary_unary``).
    """

    __slots__ = ("methods",)

    def __init__(self, channel: Any) -> None:
        self.methods: dict[str, Any] = {
            name: channel.unary_unary(
                row.path,
                request_serializer=row.request.SerializeToString,
                response_deserializer=row.response.FromString,
            )
            for name, row in METHODS.items()
        }
