"""taskgrpc._options: ClientOptions and BulkOptions, and the clients built from them."""

from __future__ import annotations

import inspect
import math
import pickle

import pytest
from tgsupport import APP, FAST_RETRY, PAT, USER

import taskgrpc
from taskgrpc import BulkOptions, ClientOptions, RetryPolicy, ValidationError, build_task

CC = "CONCEPTS_CLASSIFICATION"


def options(**overrides):
    kwargs = {"pat": PAT, "user_id": USER, "app_id": APP}
    kwargs.update(overrides)
    return ClientOptions(**kwargs)


def test_defaults_are_normalized():
    opts = options()
    assert opts.target == "api.clarifai.com:443"
    assert opts.retry == RetryPolicy()
    assert opts.timeout == 30.0
    assert opts.max_request_bytes == 3 * 1024 * 1024
    assert options(target="localhost", timeout=1e12).settings()["target"] == "localhost:443"
    assert options(timeout=1e12).timeout == math.inf
    assert options(retry=None).retry is None


def test_repr_never_shows_the_pat():
    assert PAT not in repr(options())
    assert USER in repr(options())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pat", "", "pat must be a non-empty string"),
        ("target", "http://x", "without a scheme"),
        ("timeout", 0, "timeout must be a positive number"),
        ("retry", 3, "retry must be a RetryPolicy or None"),
        ("max_rps", 0, "max_rps must be a positive number"),
        ("max_request_bytes", True, "max_request_bytes must be an integer >= 1"),
    ],
)
def test_bad_values_raise_validation_error(field, value, message):
    with pytest.raises(ValidationError, match=message):
        options(**{field: value})


def test_options_are_frozen_and_compare_by_value():
    opts = options()
    with pytest.raises(AttributeError):
        opts.timeout = 1.0  # type: ignore[misc]
    assert opts == options()
    assert hash(opts) == hash(options())


def test_from_env_reads_the_variables_and_overrides_win():
    environ = {"CLARIFAI_PAT": PAT, "CLARIFAI_USER_ID": USER, "CLARIFAI_APP_ID": APP}
    opts = ClientOptions.from_env(environ, app_id="other", timeout=5.0)
    assert (opts.pat, opts.user_id, opts.app_id, opts.timeout) == (PAT, USER, "other", 5.0)
    with pytest.raises(ValidationError, match="CLARIFAI_PAT"):
        ClientOptions.from_env({})


def test_client_from_options_works_end_to_end(server):
    opts = options(target=server.target, secure=False, retry=FAST_RETRY, timeout=10.0)
    with taskgrpc.TaskClient.from_options(opts) as client:
        assert client.options == opts
        created = client.create(build_task(CC, concepts=["c"]))
        assert client.get(created.id) == created
    record = server.servicer.requests[0]
    assert dict(record.metadata)["authorization"] == f"Key {PAT}"


def test_from_options_still_refuses_plaintext_to_a_remote_host():
    opts = options(target="example.com", secure=False)
    with pytest.raises(ValidationError, match="clear text"):
        taskgrpc.TaskClient.from_options(opts)


def test_from_options_refuses_anything_else():
    with pytest.raises(ValidationError, match="ClientOptions"):
        taskgrpc.TaskClient.from_options({"pat": PAT})  # type: ignore[arg-type]


def test_a_pickled_client_keeps_its_options(make_client):
    client = make_client(max_rps=50.0)
    copy = pickle.loads(pickle.dumps(client))
    try:
        assert copy.options == client.options
        assert copy.options.max_rps == 50.0
    finally:
        copy.close()


def test_constructor_keywords_are_the_options_fields():
    params = set(inspect.signature(taskgrpc.TaskClient).parameters)
    fields = set(options().settings())
    assert params == fields | {"channel"}


@pytest.mark.parametrize("name", ["TaskClient", "AsyncTaskClient"])
def test_help_documents_every_constructor_argument(name):
    cls = getattr(taskgrpc, name)
    doc = inspect.getdoc(cls)
    for param in inspect.signature(cls).parameters:
        assert f"``{param}``" in doc, param


def test_bulk_options_defaults_and_checks():
    assert BulkOptions() == BulkOptions(batch_size=128, concurrency=8, max_request_bytes=None)
    with pytest.raises(ValidationError, match="batch_size must be an integer >= 1"):
        BulkOptions(batch_size=0)
    with pytest.raises(ValidationError, match="concurrency must be an integer >= 1"):
        BulkOptions(concurrency=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="max_request_bytes"):
        BulkOptions(max_request_bytes=-1)


def test_bulk_verbs_default_to_bulk_options():
    for verb in ("create_many", "update_many", "delete_many"):
        params = inspect.signature(getattr(taskgrpc.TaskClient, verb)).parameters
        assert params["batch_size"].default == BulkOptions().batch_size
        assert params["concurrency"].default == BulkOptions().concurrency


@pytest.mark.parametrize("name", ["TaskClient", "AsyncTaskClient"])
def test_every_verb_keeps_its_signature_and_docstring(name):
    from taskgrpc import _verbs

    cls = getattr(taskgrpc, name)
    for verb in _verbs.NAMES + _verbs.BULK_NAMES + _verbs.LISTING_NAMES:
        method = getattr(cls, _verbs.METHOD_NAMES.get(verb, verb))
        shared = getattr(_verbs, verb)
        assert method.__doc__ == shared.__doc__ and method.__doc__
        assert list(inspect.signature(method).parameters) == list(
            inspect.signature(shared).parameters
        )
        is_async = name == "AsyncTaskClient" and verb not in _verbs.LISTING_NAMES
        assert inspect.iscoroutinefunction(method) == is_async
