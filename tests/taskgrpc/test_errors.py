"""taskgrpc.errors: the tree, code -> class mapping, attributes, redaction and pickling."""

from __future__ import annotations

import pickle

import grpc
import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from tgsupport import PAT, bad_status

import taskgrpc
from taskgrpc import errors as e

# --- the tree ----------------------------------------------------------------------------

TREE = {
    e.ValidationError: (e.TaskgrpcError, ValueError),
    e.ApiError: (e.TaskgrpcError,),
    e.NotFoundError: (e.ApiError,),
    e.AuthError: (e.ApiError,),
    e.InvalidRequestError: (e.ApiError,),
    e.ThrottledError: (e.ApiError,),
    e.ConflictError: (e.ApiError,),
    e.ServerError: (e.ApiError,),
    e.TransportError: (e.TaskgrpcError,),
    e.UnavailableError: (e.TransportError,),
    e.DeadlineExceededError: (e.TransportError,),
    e.OutcomeUnknownError: (e.TaskgrpcError,),
    e.BulkError: (e.TaskgrpcError,),
}


@pytest.mark.parametrize(("cls", "bases"), TREE.items(), ids=lambda x: getattr(x, "__name__", ""))
def test_tree(cls, bases):
    for base in bases:
        assert issubclass(cls, base)
    assert getattr(taskgrpc, cls.__name__) is cls


def test_transport_and_api_errors_are_disjoint():
    assert not issubclass(e.TransportError, e.ApiError)
    assert not issubclass(e.ApiError, e.TransportError)
    assert not issubclass(e.ApiError, ValueError)


# --- code -> class -------------------------------------------------------------------------

EXPECTED = {
    "TASK_MISSING": e.NotFoundError,
    "CONN_DOES_NOT_EXIST": e.NotFoundError,
    "CONN_KEY_INVALID": e.AuthError,
    "CONN_KEY_NOT_FOUND": e.AuthError,
    "CONN_TOKEN_INVALID": e.AuthError,
    "CONN_CREDENTIALS_INVALID": e.AuthError,
    "CONN_INSUFFICIENT_SCOPES": e.AuthError,
    "TASK_PERMISSION_DENIED": e.AuthError,
    "CONN_INVALID_REQUEST": e.InvalidRequestError,
    "CONN_BAD_REQUEST_FORMAT": e.InvalidRequestError,
    "CONN_THROTTLED": e.ThrottledError,
    "TASK_CONFLICT": e.ConflictError,
    "FAILURE": e.ServerError,
    "INTERNAL_SERVER_ISSUE": e.ServerError,
    "INTERNAL_UNCATEGORIZED": e.ServerError,
    "INTERNAL_REDIS_UNAVAILABLE": e.ServerError,
    "RPC_REQUEST_QUEUE_FULL": e.ServerError,
    "RPC_SERVER_UNAVAILABLE": e.ServerError,
    "RPC_REQUEST_TIMEOUT": e.ServerError,
}


def names_with(prefix: str) -> list[str]:
    return [n for n in sc.StatusCode.keys() if n.startswith(prefix)]


@pytest.mark.parametrize(("name", "cls"), EXPECTED.items())
def test_code_to_class(name, cls):
    code = sc.StatusCode.Value(name)
    err = e.api_error(bad_status(code), "GetTask")
    assert type(err) is cls
    assert err.code == code
    assert err.code_name == name


@pytest.mark.parametrize("name", names_with("CONN_KEY_"))
def test_every_conn_key_code_is_auth(name):
    assert type(e.api_error(bad_status(sc.StatusCode.Value(name)), "m")) is e.AuthError


@pytest.mark.parametrize("name", names_with("CONN_EXCEED"))
def test_every_conn_exceed_code_is_throttled(name):
    assert type(e.api_error(bad_status(sc.StatusCode.Value(name)), "m")) is e.ThrottledError


@pytest.mark.parametrize("name", names_with("INTERNAL_") + names_with("RPC_"))
def test_every_internal_and_rpc_code_is_server_error(name):
    assert type(e.api_error(bad_status(sc.StatusCode.Value(name)), "m")) is e.ServerError


@pytest.mark.parametrize("name", ["TASK_DONE", "MIXED_STATUS", "CONN_UNCATEGORIZED"])
def test_other_codes_are_plain_api_errors(name):
    assert type(e.api_error(bad_status(sc.StatusCode.Value(name)), "m")) is e.ApiError


def test_unknown_code_number():
    err = e.api_error(bad_status(987654), "GetTask")
    assert type(err) is e.ApiError
    assert err.code == 987654
    assert "987654" in err.code_name


def test_api_error_attributes_and_message():
    status = bad_status(sc.TASK_MISSING, "Task not found", "no task t1", req_id="req-42")
    err = e.api_error(status, "GetTask")
    assert (err.code, err.code_name) == (sc.TASK_MISSING, "TASK_MISSING")
    assert err.description == "Task not found"
    assert err.details == "no task t1"
    assert err.req_id == "req-42"
    assert err.method == "GetTask"
    text = str(err)
    for part in ("GetTask", "TASK_MISSING", "Task not found", "no task t1", "req-42"):
        assert part in text


def test_api_error_redacts_the_pat():
    status = bad_status(
        sc.CONN_KEY_INVALID, f"Invalid API key {PAT}", f"key={PAT}; again {PAT}", req_id="r"
    )
    err = e.api_error(status, "ListTasks", PAT)
    assert PAT not in err.description
    assert PAT not in err.details
    assert PAT not in str(err)
    assert PAT not in repr(err)
    assert "Invalid API key" in err.description
    assert "***" in err.details


def test_redact():
    secret = "0123456789abcdef0123456789abcdef"  # a real PAT's shape: 32 hex characters
    assert e.redact(f"a {secret} b {secret}", secret) == "a *** b ***"
    assert e.redact(f"Key {secret}", secret) == "Key ***"
    assert e.redact("nothing", secret) == "nothing"
    assert e.redact("text", "") == "text"


@pytest.mark.parametrize("short", ["k", "key", "SECRET", "a" * (e.MIN_REDACTED_LENGTH - 1)])
def test_a_short_pat_never_garbles_text(short):
    # A PAT shorter than MIN_REDACTED_LENGTH is no secret (tests use such with the fake);
    # redacting it would corrupt words: with PAT "k", "handshake" became "handsha***e".
    text = "Tls handshake failed; key SECRET aaaaaaaaaaaaaaaaaaaa"
    assert e.redact(text, short) == text


def test_the_minimum_length_is_redacted():
    secret = "x" * e.MIN_REDACTED_LENGTH
    assert e.redact(f"<{secret}>", secret) == "<***>"


# --- transport errors ----------------------------------------------------------------------


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.UNAVAILABLE, e.UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, e.DeadlineExceededError),
        (grpc.StatusCode.INTERNAL, e.TransportError),
        (grpc.StatusCode.UNIMPLEMENTED, e.TransportError),
        (grpc.StatusCode.UNAUTHENTICATED, e.TransportError),
    ],
)
def test_transport_error_from_grpc(code, cls):
    err = e.transport_error(FakeRpcError(code, f"went wrong {PAT}"), "PostTasks", PAT)
    assert type(err) is cls
    assert err.grpc_code is code
    assert err.method == "PostTasks"
    assert PAT not in err.details and PAT not in str(err)
    assert "went wrong" in err.details
    assert code.name in str(err)


WRONG_VERSION = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Tls handshake "
    "failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:100000f7:SSL routines:"
    "OPENSSL_internal:WRONG_VERSION_NUMBER"
)


@pytest.mark.parametrize("secure", [True, None])
def test_tls_to_a_plaintext_server_suggests_secure_false(secure):
    exc = FakeRpcError(grpc.StatusCode.UNAVAILABLE, WRONG_VERSION)
    err = e.transport_error(exc, "GetTask", PAT, secure)
    assert "WRONG_VERSION_NUMBER" in str(err)
    assert "secure=False" in str(err) and "--insecure" in str(err)


def test_plaintext_to_a_tls_server_suggests_secure_true():
    details = "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:1: Socket closed"
    exc = FakeRpcError(grpc.StatusCode.UNAVAILABLE, details)
    assert "secure=True" in str(e.transport_error(exc, "GetTask", PAT, False))
    # With TLS on, a closed socket says nothing about TLS: no hint.
    assert "secure=" not in str(e.transport_error(exc, "GetTask", PAT, True))


def test_other_transport_errors_get_no_hint():
    exc = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")
    for secure in (True, False, None):
        assert "secure=" not in str(e.transport_error(exc, "GetTask", PAT, secure))


def test_tls_client_on_the_plaintext_fake_gets_the_hint():
    from fake_servicer import serve

    with (
        serve() as server,
        taskgrpc.TaskClient(
            pat=PAT, user_id="u", app_id="a", target=server.target, retry=None, timeout=5
        ) as client,
        pytest.raises(taskgrpc.UnavailableError, match="secure=False"),
    ):
        client.get("t1")


def test_transport_error_from_an_rpc_error_without_code():
    err = e.transport_error(grpc.RpcError(), "GetTask")
    assert type(err) is e.TransportError
    assert err.grpc_code is grpc.StatusCode.UNKNOWN


# --- pickling ------------------------------------------------------------------------------


def roundtrip(err):
    return pickle.loads(pickle.dumps(err))


@pytest.mark.parametrize("name", [*EXPECTED, "TASK_DONE"])
def test_api_errors_pickle(name):
    err = e.api_error(bad_status(sc.StatusCode.Value(name), "desc", "det", "rid"), "PatchTasks")
    back = roundtrip(err)
    assert type(back) is type(err)
    assert (
        back.code,
        back.code_name,
        back.description,
        back.details,
        back.req_id,
        back.method,
    ) == (
        err.code,
        err.code_name,
        "desc",
        "det",
        "rid",
        "PatchTasks",
    )
    assert str(back) == str(err)


def test_pickled_api_error_stays_redacted():
    err = e.api_error(bad_status(sc.CONN_KEY_INVALID, f"bad {PAT}"), "GetTask", PAT)
    assert PAT.encode() not in pickle.dumps(err)


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL],
)
def test_transport_errors_pickle(code):
    err = e.transport_error(FakeRpcError(code, "details"), "ListTasks")
    back = roundtrip(err)
    assert type(back) is type(err)
    assert (back.grpc_code, back.details, back.method) == (code, "details", "ListTasks")
    assert str(back) == str(err)


def test_unsent_deadline_error_pickles():
    err = e.DeadlineExceededError(
        grpc.StatusCode.DEADLINE_EXCEEDED, "budget", "GetTask", sent=False
    )
    back = roundtrip(err)
    assert type(back) is e.DeadlineExceededError
    assert back.sent is False
    assert roundtrip(e.UnavailableError(grpc.StatusCode.UNAVAILABLE)).sent is True


def test_validation_error_pickles():
    back = roundtrip(e.ValidationError("per_page must be between 1 and 1000"))
    assert type(back) is e.ValidationError
    assert str(back) == "per_page must be between 1 and 1000"


def test_outcome_unknown_error_pickles():
    cause = e.UnavailableError(grpc.StatusCode.UNAVAILABLE, "down", "PostTasks")
    err = e.OutcomeUnknownError([r.Task(id="t1", name="n")], cause)
    back = roundtrip(err)
    assert type(back) is e.OutcomeUnknownError
    assert [t.id for t in back.tasks] == ["t1"]
    assert type(back.cause) is e.UnavailableError
    assert str(back) == str(err)


def test_bulk_error_pickles():
    cause = e.api_error(bad_status(sc.TASK_MISSING), "DeleteTasks")
    err = e.BulkError("delete_many", ["a", "b", "c"], ["a", None, "c"], {1: cause})
    back = roundtrip(err)
    assert type(back) is e.BulkError
    assert back.operation == "delete_many"
    assert back.items == ["a", "b", "c"]
    assert back.results == ["a", None, "c"]
    assert list(back.errors) == [1]
    assert type(back.errors[1]) is e.NotFoundError
    assert str(back) == str(err)


# --- OutcomeUnknownError and BulkError attributes ----------------------------------------


def test_outcome_unknown_error_attributes():
    cause = e.UnavailableError(grpc.StatusCode.UNAVAILABLE, "down", "PostTasks")
    tasks = [r.Task(id="a"), r.Task(id="b")]
    err = e.OutcomeUnknownError(tasks, cause)
    assert err.tasks == tasks
    assert err.cause is cause
    assert "2 task(s)" in str(err)
    assert "creating these tasks again (they carry their ids) is safe" in str(err)


def test_outcome_unknown_error_names_annotations_in_its_hint():
    cause = e.UnavailableError(grpc.StatusCode.UNAVAILABLE, "down", "PostAnnotations")
    err = e.OutcomeUnknownError([r.Annotation(id="a1")], cause)
    assert "1 annotation(s)" in str(err)
    assert "creating these annotations again" in str(err)


def test_bulk_error_attributes():
    conflict = e.api_error(bad_status(sc.TASK_CONFLICT, "exists"), "PostTasks")
    down = e.UnavailableError(grpc.StatusCode.UNAVAILABLE, "down", "PostTasks")
    items = ["i0", "i1", "i2", "i3"]
    err = e.BulkError("create_many", items, ["r0", None, "r2", None], {3: down, 1: conflict})
    assert err.operation == "create_many"
    assert err.items == items
    assert err.results == ["r0", None, "r2", None]
    assert list(err.errors) == [1, 3]  # sorted by input index
    assert err.errors[1] is conflict and err.errors[3] is down
    assert err.succeeded == ["r0", "r2"]
    assert err.failed_items == ["i1", "i3"]
    text = str(err)
    assert "create_many" in text and "2 of 4" in text
    assert "TASK_CONFLICT" in text  # the first failed item's error


def test_bulk_error_of_finds_the_report_through_cause_and_context() -> None:
    from taskgrpc.errors import BulkError, NotSentError

    report = BulkError("create_many", ["a"], [None], {0: NotSentError("not attempted")})
    inner = KeyboardInterrupt()
    inner.__cause__ = report
    outer = RuntimeError("re-raised by another layer")
    outer.__context__ = inner  # Python 3.10's await of a cancelled task looks like this
    assert BulkError.of(inner) is report
    assert BulkError.of(outer) is report
    assert BulkError.of(report) is report
    loop = ValueError("no report")
    loop.__context__ = ValueError("cycle")
    loop.__context__.__context__ = loop
    assert BulkError.of(loop) is None
