"""taskgrpc: a typed, retry-safe client for Clarifai labeling tasks over gRPC.

The public surface is re-exported here; the modules behind it are private
unless named in the docs (``taskgrpc.requests``, ``taskgrpc.errors``,
``taskgrpc.retry``, ``taskgrpc.builders``).
"""

from typing import TYPE_CHECKING, Any

from . import _pickling  # noqa: F401 - makes Task messages picklable
from ._content import content_id, same_task, with_content_ids
from .builders import (
    all_inputs,
    auto_annotation,
    build_task,
    check_task,
    consensus,
    dataset,
    dynamic,
    full,
    manual_review,
    no_review,
    partitioned,
    partitioned_evenly,
    saved_search,
)
from .client import TaskClient, TaskPager
from .errors import (
    ApiError,
    AuthError,
    BulkError,
    ConflictError,
    DeadlineExceededError,
    DeadlineOutcomeUnknownError,
    InvalidRequestError,
    NotFoundError,
    NotSentError,
    OutcomeUnknownError,
    ServerError,
    TaskgrpcError,
    ThrottledError,
    TransportError,
    UnavailableError,
    ValidationError,
)
from .retry import DEFAULT, RetryPolicy

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .aio import AsyncTaskClient, AsyncTaskPager


def __getattr__(name: str) -> Any:
    # The async client loads lazily: importing grpc.aio pulls in asyncio, which
    # sync users should not pay for at import time.
    if name in ("AsyncTaskClient", "AsyncTaskPager"):
        from . import aio

        return getattr(aio, name)
    raise AttributeError(f"module 'taskgrpc' has no attribute {name!r}")


__all__ = [
    "DEFAULT",
    "ApiError",
    "AsyncTaskClient",
    "AsyncTaskPager",
    "AuthError",
    "BulkError",
    "ConflictError",
    "DeadlineExceededError",
    "DeadlineOutcomeUnknownError",
    "InvalidRequestError",
    "NotFoundError",
    "NotSentError",
    "OutcomeUnknownError",
    "RetryPolicy",
    "ServerError",
    "TaskClient",
    "TaskPager",
    "TaskgrpcError",
    "ThrottledError",
    "TransportError",
    "UnavailableError",
    "ValidationError",
    "__version__",
    "all_inputs",
    "auto_annotation",
    "build_task",
    "check_task",
    "consensus",
    "content_id",
    "dataset",
    "dynamic",
    "full",
    "manual_review",
    "no_review",
    "partitioned",
    "partitioned_evenly",
    "same_task",
    "saved_search",
    "with_content_ids",
]
