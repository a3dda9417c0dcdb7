"""taskgrpc: a typed, retry-safe client for Clarifai labeling tasks over gRPC.

The public surface is re-exported here; the modules behind it are private
unless named in the docs (``taskgrpc.requests``, ``taskgrpc.errors``,
``taskgrpc.retry``, ``taskgrpc.builders``).
"""

from typing import TYPE_CHECKING, Any

from . import _pickling  # noqa: F401 - makes Task messages picklable
from ._content import content_id, same_task, with_content_ids
from ._lifecycle import Progress
from ._lifecycle_requests import annotation
from ._options import BulkOptions, ClientOptions
from .builders import (
    ai_assist_params,
    all_inputs,
    auto_annotation,
    build_task,
    check_task,
    concept,
    consensus,
    dataset,
    dynamic,
    full,
    lint,
    manual_review,
    no_review,
    partitioned,
    partitioned_evenly,
    saved_search,
    single_input,
)
from .client import AnnotationPager, TaskClient, TaskPager
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

__version__ = "0.3.0"

if TYPE_CHECKING:
    from .aio import AsyncAnnotationPager, AsyncTaskClient, AsyncTaskPager


def __getattr__(name: str) -> Any:
    # The async client loads lazily: importing grpc.aio pulls in asyncio, which
    # sync users should not pay for at import time.
    if name in ("AsyncTaskClient", "AsyncTaskPager", "AsyncAnnotationPager"):
        from . import aio

        return getattr(aio, name)
    raise AttributeError(f"module 'taskgrpc' has no attribute {name!r}")


__all__ = [
    "DEFAULT",
    "AnnotationPager",
    "ApiError",
    "AsyncAnnotationPager",
    "AsyncTaskClient",
    "AsyncTaskPager",
    "AuthError",
    "BulkError",
    "BulkOptions",
    "ClientOptions",
    "ConflictError",
    "DeadlineExceededError",
    "DeadlineOutcomeUnknownError",
    "InvalidRequestError",
    "NotFoundError",
    "NotSentError",
    "OutcomeUnknownError",
    "Progress",
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
    "ai_assist_params",
    "all_inputs",
    "annotation",
    "auto_annotation",
    "build_task",
    "check_task",
    "concept",
    "consensus",
    "content_id",
    "dataset",
    "dynamic",
    "full",
    "lint",
    "manual_review",
    "no_review",
    "partitioned",
    "partitioned_evenly",
    "same_task",
    "saved_search",
    "single_input",
    "with_content_ids",
]
