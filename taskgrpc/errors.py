"""The one exception tree of taskgrpc.

::

    TaskgrpcError
    ├── ValidationError (also ValueError)   bad input, caught before anything is sent
    ├── ApiError                            the response body's status was not SUCCESS
    │   ├── NotFoundError                   TASK_MISSING, CONN_DOES_NOT_EXIST
    │   ├── AuthError                       CONN_KEY_*, CONN_TOKEN_INVALID, ...
    │   ├── InvalidRequestError             CONN_INVALID_REQUEST, CONN_BAD_REQUEST_FORMAT, ...
    │   ├── ThrottledError                  CONN_THROTTLED, CONN_EXCEED_*
    │   ├── ConflictError                   TASK_CONFLICT
    │   └── ServerError                     FAILURE, TRY_AGAIN, INTERNAL_*, RPC_*
    ├── TransportError                      the gRPC call itself failed (``.grpc_code``)
    │   ├── UnavailableError
    │   └── DeadlineExceededError
    ├── OutcomeUnknownError                 a create may or may not have happened
    │   └── DeadlineOutcomeUnknownError     ... because time ran out (also a DeadlineExceededError)
    ├── NotSentError                        never sent (client closed, call cancelled): nothing done
    └── BulkError                           some items of a bulk call failed

Errors pickle (tasks travel as bytes, see ``_pickling``). Messages never
contain the PAT: every text that came from the wire is redacted with the
client's key before it is stored on an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import grpc
from clarifai_grpc.grpc.api.status import status_code_pb2

if TYPE_CHECKING:
    from clarifai_grpc.grpc.api.resources_pb2 import Task
    from clarifai_grpc.grpc.api.status.status_pb2 import Status

__all__ = [
    "ApiError",
    "AuthError",
    "BulkError",
    "ConflictError",
    "DeadlineExceededError",
    "DeadlineOutcomeUnknownError",
    "InvalidRequestError",
    "NotFoundError",
    "NotSentError",
    "OutcomeUnknownError",
    "ServerError",
    "TaskgrpcError",
    "ThrottledError",
    "TransportError",
    "UnavailableError",
    "ValidationError",
]

_SC = status_code_pb2


class TaskgrpcError(Exception):
    """Base class of every error raised by taskgrpc."""


class ValidationError(TaskgrpcError, ValueError):
    """Bad input, refused before anything was sent."""


class ApiError(TaskgrpcError):
    """The service answered, but its body status was not SUCCESS.

    Attributes mirror the wire ``Status``: ``code`` (int), ``code_name``,
    ``description``, ``details``, ``req_id``, and the RPC ``method`` name.
    """

    def __init__(
        self,
        *,
        code: int,
        description: str = "",
        details: str = "",
        req_id: str = "",
        method: str = "",
    ) -> None:
        self.code = code
        self.code_name = code_name(code)
        self.description = description
        self.details = details
        self.req_id = req_id
        self.method = method
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"{self.method}: {self.code_name} ({self.code})"
        if self.description:
            text += f": {self.description}"
        if self.details:
            text += f" ({self.details})"
        if self.req_id:
            text += f" [req_id={self.req_id}]"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_api_error,
            (type(self), self.code, self.description, self.details, self.req_id, self.method),
        )


def _rebuild_api_error(
    cls: type[ApiError], code: int, description: str, details: str, req_id: str, method: str
) -> ApiError:
    return cls(code=code, description=description, details=details, req_id=req_id, method=method)


class NotFoundError(ApiError):
    """The task does not exist (TASK_MISSING or CONN_DOES_NOT_EXIST)."""


class AuthError(ApiError):
    """The key is missing, invalid, or lacks the scope or permission."""


class InvalidRequestError(ApiError):
    """The service refused the request as malformed or impossible."""


class ThrottledError(ApiError):
    """The service throttled the call or a usage limit was reached."""


class ConflictError(ApiError):
    """A task with that id already exists (TASK_CONFLICT)."""


class ServerError(ApiError):
    """The service failed internally (FAILURE, TRY_AGAIN, INTERNAL_*, RPC_*)."""


class TransportError(TaskgrpcError):
    """The gRPC call failed before a body status could be read.

    ``grpc_code`` is the ``grpc.StatusCode``; ``details`` its text (redacted).
    ``sent`` is False when the client gave up before sending anything (its
    deadline ran out first), so the call surely had no effect.
    """

    def __init__(
        self, grpc_code: grpc.StatusCode, details: str = "", method: str = "", sent: bool = True
    ) -> None:
        self.grpc_code = grpc_code
        self.details = details
        self.method = method
        self.sent = sent
        text = f"{method}: gRPC {grpc_code.name}"
        super().__init__(f"{text}: {details}" if details else text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.grpc_code, self.details, self.method, self.sent))


class UnavailableError(TransportError):
    """gRPC UNAVAILABLE: the service could not be reached, or dropped the call."""


class DeadlineExceededError(TransportError):
    """The call's time budget ran out (gRPC DEADLINE_EXCEEDED, or client-side)."""


class OutcomeUnknownError(TaskgrpcError):
    """A create failed in a way that leaves its outcome unknown.

    ``tasks`` are the tasks that may or may not exist now (the service may have
    committed them before the failure); ``cause`` is the error that hid the
    outcome. Tasks with ids only end up here once retries or time ran out:
    until then the client finds out which exist and re-posts only the missing.
    """

    def __init__(self, tasks: Sequence[Task], cause: TaskgrpcError) -> None:
        self.tasks = list(tasks)
        self.cause = cause
        # the same error serves annotate (PostAnnotations): .tasks then holds annotations
        kind = type(self.tasks[0]).__name__.lower() if self.tasks else "task"
        hint = (
            f"creating these {kind}s again (they carry their ids) is safe: those that "
            "exist are returned, not duplicated"
            if all(t.id for t in self.tasks)
            else "give tasks ids (the default assign_ids=True) to make creates safe to retry"
        )
        # Exception's own init: in DeadlineOutcomeUnknownError the next class in the
        # MRO is DeadlineExceededError, whose init takes other arguments.
        Exception.__init__(
            self,
            f"the outcome of creating {len(self.tasks)} {kind}(s) is unknown, they may or may "
            f"not exist ({cause}); {hint}",
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.tasks, self.cause))


class DeadlineOutcomeUnknownError(OutcomeUnknownError, DeadlineExceededError):
    """A create ran out of time with its outcome unknown.

    Both an :class:`OutcomeUnknownError` (``.tasks`` may exist) and a
    :class:`DeadlineExceededError`, so a slow server gives a deadline error
    whatever the verb.
    """

    def __init__(self, tasks: Sequence[Task], cause: TaskgrpcError) -> None:
        OutcomeUnknownError.__init__(self, tasks, cause)
        self.grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
        self.details = str(cause)
        self.method = getattr(cause, "method", "PostTasks")
        self.sent = True

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.tasks, self.cause))


class NotSentError(TaskgrpcError):
    """The call was never sent, so it surely did nothing: its client was closed, or the
    bulk call it belongs to was cancelled or interrupted before it started. Safe to send
    again as it is."""


class BulkError(TaskgrpcError):
    """Some items of a bulk call failed; nothing is silently lost.

    ``results`` has one entry per input item, in input order: the resulting
    ``Task`` (or the task id, for deletes) on success, ``None`` where it failed.
    ``errors`` maps each failed item's input index to its error.
    ``succeeded`` lists the successful results in input order, and
    ``failed_items`` the failed inputs, ready to be retried. For ``create_many``
    the items carry the ids they were (or would have been) sent with, so
    creating ``failed_items`` again never duplicates a task.
    ``not_sent`` lists the indices whose item was never sent
    (:class:`NotSentError`: a closed client, a cancelled or interrupted call).
    """

    def __init__(
        self,
        operation: str,
        items: Sequence[Any],
        results: Sequence[Any],
        errors: dict[int, TaskgrpcError],
    ) -> None:
        self.operation = operation
        self.items = list(items)
        self.results = list(results)
        self.errors = dict(sorted(errors.items()))
        first = next(iter(self.errors.values()))
        super().__init__(
            f"{operation}: {len(self.errors)} of {len(self.items)} item(s) failed; "
            f"first error: {first}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.operation, self.items, self.results, self.errors))

    @property
    def succeeded(self) -> list[Any]:
        return [r for i, r in enumerate(self.results) if i not in self.errors]

    @property
    def failed_items(self) -> list[Any]:
        return [self.items[i] for i in self.errors]

    @property
    def not_sent(self) -> list[int]:
        return [i for i, e in self.errors.items() if isinstance(e, NotSentError)]

    @classmethod
    def of(cls, exc: BaseException) -> BulkError | None:
        """The BulkError that an interrupted bulk call attached to ``exc`` (a
        CancelledError, a TimeoutError, a KeyboardInterrupt), or None.

        It follows ``__cause__`` and ``__context__``: where the report sits in that
        chain differs between Python versions (before 3.11, awaiting a cancelled task
        raises a new CancelledError whose ``__context__`` is the one re-raised).
        """
        seen: set[int] = set()
        todo: list[BaseException] = [exc]
        while todo:
            current = todo.pop(0)
            if id(current) in seen:
                continue
            seen.add(id(current))
            if isinstance(current, cls):
                return current
            todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        return None


# --- mapping from the wire ---------------------------------------------------

_BY_CODE: dict[int, type[ApiError]] = {
    _SC.TASK_MISSING: NotFoundError,
    _SC.CONN_DOES_NOT_EXIST: NotFoundError,
    _SC.CONN_KEY_INVALID: AuthError,
    _SC.CONN_KEY_NOT_FOUND: AuthError,
    _SC.CONN_TOKEN_INVALID: AuthError,
    _SC.CONN_CREDENTIALS_INVALID: AuthError,
    _SC.CONN_INSUFFICIENT_SCOPES: AuthError,
    _SC.CONN_AUTH_METHOD_DISABLED: AuthError,
    _SC.TASK_PERMISSION_DENIED: AuthError,
    _SC.CONN_INVALID_REQUEST: InvalidRequestError,
    _SC.CONN_BAD_REQUEST_FORMAT: InvalidRequestError,
    _SC.CONN_INVALID_RANGE: InvalidRequestError,
    _SC.CONN_METHOD_NOT_ALLOWED: InvalidRequestError,
    _SC.CONN_THROTTLED: ThrottledError,
    _SC.CONN_EXCEED_HOURLY_LIMIT: ThrottledError,
    _SC.CONN_EXCEED_MONTHLY_LIMIT: ThrottledError,
    _SC.CONN_EXCEEDS_LIMITS: ThrottledError,
    _SC.TASK_CONFLICT: ConflictError,
    _SC.FAILURE: ServerError,
    _SC.TRY_AGAIN: ServerError,
}
for _name, _value in _SC.StatusCode.items():
    if _name.startswith(("INTERNAL_", "RPC_")):
        _BY_CODE.setdefault(_value, ServerError)

_BY_GRPC: dict[grpc.StatusCode, type[TransportError]] = {
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def code_name(code: int) -> str:
    """The StatusCode enum name of ``code``, or ``"UNKNOWN_<code>"``."""
    try:
        return str(_SC.StatusCode.Name(cast(Any, code)))
    except ValueError:
        return f"UNKNOWN_{code}"


#: The shortest PAT that is redacted. Real PATs are 32 hex characters; a string of 16 or
#: more characters does not turn up in ordinary text by chance, so replacing it never garbles
#: a message. A shorter PAT (as tests use with the fake) is accepted but not redacted: it is
#: no secret, and redacting it would corrupt words ("k" in "handshake").
MIN_REDACTED_LENGTH = 16


def redact(text: str, secret: str) -> str:
    """``text`` with every whole occurrence of ``secret`` replaced by ``***``.

    Only a ``secret`` of :data:`MIN_REDACTED_LENGTH` characters or more is redacted.
    """
    if len(secret) < MIN_REDACTED_LENGTH or secret not in text:
        return text
    return text.replace(secret, "***")


def _transport_hint(details: str, secure: bool | None) -> str:
    """How to fix a TLS / plaintext mismatch, judged from grpc's error text."""
    if "WRONG_VERSION_NUMBER" in details and secure is not False:
        return (
            " (the server does not speak TLS: for a plaintext server such as the fake, "
            "pass secure=False, or --insecure on the command line)"
        )
    if secure is False and "Socket closed" in details:
        return (
            " (if the server expects TLS, pass secure=True: the default, without --insecure "
            "on the command line)"
        )
    return ""


def api_error(status: Status, method: str, secret: str = "") -> ApiError:
    """The ApiError subclass for a non-SUCCESS body ``status``."""
    cls = _BY_CODE.get(status.code, ApiError)
    return cls(
        code=status.code,
        description=redact(status.description, secret),
        details=redact(status.details, secret),
        req_id=status.req_id,
        method=method,
    )


def transport_error(
    exc: grpc.RpcError, method: str, secret: str = "", secure: bool | None = None
) -> TransportError:
    """The TransportError subclass for a failed gRPC call.

    A TLS / plaintext mismatch gets a hint naming ``secure=``; ``secure`` is the
    client's setting (``None`` if unknown).
    """
    code_fn = getattr(exc, "code", None)
    details_fn = getattr(exc, "details", None)
    code = code_fn() if callable(code_fn) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    details = details_fn() if callable(details_fn) else ""
    cls = _BY_GRPC.get(code, TransportError)
    text = redact(str(details or ""), secret)
    return cls(code, text + _transport_hint(text, secure), method)
