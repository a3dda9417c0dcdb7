"""``taskgrpc.cli.errors``: which errors stop a bulk run, and library terms in CLI terms."""

from __future__ import annotations

import grpc
import pytest
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from taskgrpc.cli.errors import cli_terms, error_text, fails_every_line
from taskgrpc.errors import (
    ApiError,
    AuthError,
    DeadlineExceededError,
    NotFoundError,
    OutcomeUnknownError,
    UnavailableError,
    ValidationError,
)

UNAVAILABLE = UnavailableError(grpc.StatusCode.UNAVAILABLE, "connection refused", "PostTasks")


@pytest.mark.parametrize(
    ("err", "verb", "any_success", "stops"),
    [
        (AuthError(code=sc.CONN_KEY_INVALID, method="ListTasks"), "create", True, True),
        (AuthError(code=sc.TASK_PERMISSION_DENIED), "delete", True, True),
        (NotFoundError(code=sc.CONN_DOES_NOT_EXIST), "create", False, True),  # no such app
        (NotFoundError(code=sc.CONN_DOES_NOT_EXIST), "update", False, False),  # a task id
        (NotFoundError(code=sc.TASK_MISSING), "update", False, False),
        (ApiError(code=sc.CONN_INVALID_REQUEST), "create", False, False),  # this line's fault
        (UNAVAILABLE, "create", False, True),  # the target never answered
        (UNAVAILABLE, "create", True, False),  # it did: a passing outage
        (OutcomeUnknownError([], UNAVAILABLE), "create", False, True),
        (DeadlineExceededError(grpc.StatusCode.DEADLINE_EXCEEDED), "create", False, False),
        (ValidationError("too big"), "create", False, False),
    ],
)
def test_which_errors_fail_every_line(
    err: Exception, verb: str, any_success: bool, stops: bool
) -> None:
    assert fails_every_line(err, verb=verb, any_success=any_success) is stops  # type: ignore[arg-type]


def test_error_text_of_an_api_error_has_code_description_and_req_id() -> None:
    err = ApiError(code=sc.TASK_MISSING, description="not found", req_id="r1", method="GetTask")
    assert error_text(err) == "TASK_MISSING: not found [req_id=r1]"


def test_cli_terms_maps_library_arguments_to_flags() -> None:
    assert cli_terms("pass secure=False for a plaintext server") == (
        "pass --insecure for a plaintext server"
    )
    assert cli_terms("pass allow_insecure=True if you mean it") == (
        "pass --allow-insecure if you mean it"
    )
    assert cli_terms("batch_size must be >= 1") == "--batch-size must be >= 1"
    assert cli_terms("environment variable X is not set (needed for user_id)") == (
        "environment variable X is not set (or pass --user-id)"
    )
    assert cli_terms("a plain sentence about targets") == "a plain sentence about targets"
    # the library's own TLS hints name both spellings; the command line keeps its own
    assert cli_terms("server, pass secure=False, or --insecure on the command line)") == (
        "server, pass --insecure)"
    )
    assert (
        cli_terms(
            "(if the server expects TLS, pass secure=True: the default, without --insecure "
            "on the command line)"
        )
        == "(if the server expects TLS, leave out --insecure)"
    )
