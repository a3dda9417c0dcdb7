"""Body-status helpers: every response carries a ``Status`` with a fresh ``req_id``.

Errors travel in the response body (gRPC status OK, ``status.code != SUCCESS``), as the real
Clarifai API does. Handlers raise :class:`ApiError`; the servicer turns it into a body status.
"""

from __future__ import annotations

import secrets

from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2

SUCCESS_DESCRIPTION = "Ok"
KEY_INVALID_DESCRIPTION = "Invalid API key or Invalid API key/application pair"
INVALID_REQUEST_DESCRIPTION = "Invalid request"
THROTTLED_DESCRIPTION = "Making too many requests: the rate limit was exceeded, retry later"

_MAX_ECHO = 80


def new_req_id() -> str:
    """Return a fresh random 32-hex request id."""
    return secrets.token_hex(16)


def make_status(code: int, description: str, details: str = "") -> status_pb2.Status:
    """Build a ``Status`` with ``code``, ``description``, ``details`` and a fresh ``req_id``."""
    status = status_pb2.Status()
    status.code = code
    status.description = description
    if details:
        status.details = details
    status.req_id = new_req_id()
    return status


def success_status() -> status_pb2.Status:
    """Build the SUCCESS status (description "Ok")."""
    return make_status(status_code_pb2.SUCCESS, SUCCESS_DESCRIPTION)


def shorten(value: str) -> str:
    """Quote a client-supplied value for a message, truncated so messages stay small."""
    if len(value) > _MAX_ECHO:
        value = value[:_MAX_ECHO] + "..."
    return repr(value)


class ApiError(Exception):
    """A refused request: becomes the response body status (gRPC status stays OK)."""

    def __init__(self, code: int, description: str, details: str = "") -> None:
        super().__init__(f"{description}: {details}" if details else description)
        self.code = code
        self.description = description
        self.details = details

    def to_status(self) -> status_pb2.Status:
        """Return the body status for this error (with a fresh ``req_id``)."""
        return make_status(self.code, self.description, self.details)


def invalid_request(field: str, problem: str) -> ApiError:
    """Return a CONN_INVALID_REQUEST error whose description names ``field``."""
    return ApiError(
        status_code_pb2.CONN_INVALID_REQUEST,
        f"{INVALID_REQUEST_DESCRIPTION}: {field} {problem}",
        f"{field} {problem}",
    )


MAX_PER_PAGE = 1000
"""The largest ``per_page`` a List method accepts (the fake's choice)."""


def page_window(page: int, per_page: int, default_per_page: int) -> tuple[int, int]:
    """``(offset, limit)`` for a page-number request: ``page`` 0 means 1, ``per_page`` 0 means
    ``default_per_page``; ``per_page`` above :data:`MAX_PER_PAGE` is refused."""
    if per_page > MAX_PER_PAGE:
        raise invalid_request("per_page", f"must be at most {MAX_PER_PAGE}")
    limit = per_page or default_per_page
    return ((page or 1) - 1) * limit, limit
