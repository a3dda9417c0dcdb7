"""taskgrpc: a typed, retry-safe client for Clarifai labeling tasks over gRPC.

The public surface is re-exported here; the modules behind it are private
unless named in the docs (``taskgrpc.requests``, ``taskgrpc.errors``,
``taskgrpc.retry``, ``taskgrpc.builders``).
"""

from .aio import AsyncTaskClient, AsyncTaskPager
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
    InvalidRequestError,
    NotFoundError,
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

__all__ = [
    "DEFAULT",
    "ApiError",
    "AsyncTaskClient",
    "AsyncTaskPager",
    "AuthError",
    "BulkError",
    "ConflictError",
    "DeadlineExceededError",
    "InvalidRequestError",
    "NotFoundError",
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
    "dataset",
    "dynamic",
    "full",
    "manual_review",
    "no_review",
    "partitioned",
    "partitioned_evenly",
    "saved_search",
]
