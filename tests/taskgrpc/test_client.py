"""TaskClient end to end against fake_servicer on a real loopback server: each verb, the errors
the service answers with, app isolation, and input refused before anything is sent.

Elsewhere: listing and paging in test_paging.py, bulk calls in test_bulk.py, settings and
``from_env`` in test_config.py, channels, closing, threads and processes in
test_client_channels.py, the wire shape in test_client_wire.py.
"""

from __future__ import annotations

import time

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from tgsupport import (
    APP,
    HEX32,
    PAT,
    USER,
    ids,
    reviewers_two,
    simple_task,
    without_server_fields,
)

import taskgrpc
from fake_servicer import FakeV2Servicer, Faults, serve
from taskgrpc import (
    RetryPolicy,
    ValidationError,
    all_inputs,
    auto_annotation,
    build_task,
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

CC = "CONCEPTS_CLASSIFICATION"


# --- every builder round-trips ------------------------------------------------------------

BUILT = {
    "non_assigned": lambda: build_task(CC, concepts=["cat", "dog"]),
    "full_named": lambda: build_task(
        CC, concepts=["cat"], name="n", description="d", workers=full(["w1", "w2"])
    ),
    "dynamic": lambda: build_task(CC, concepts=["cat"], workers=dynamic(["w1", "w2"])),
    "weighted": lambda: build_task(CC, concepts=["cat"], workers=partitioned({"w1": 90, "w2": 10})),
    "weighted_consensus": lambda: build_task(
        CC,
        concepts=["cat"],
        workers=partitioned({"w1": 1, "w2": 1, "w3": 1}, workers_per_input=2),
        review=consensus(["r1", "r2"], approval_threshold=2, reviewers_threshold=-1),
    ),
    "evenly": lambda: build_task(
        CC, concepts=["cat"], workers=partitioned_evenly(["w1", "w2"], workers_per_input=2)
    ),
    "auto_model": lambda: build_task(
        "TYPE_NOT_SET",
        concepts=["cat"],
        workers=auto_annotation(model_id="general", model_version_id="v1"),
    ),
    "auto_workflow": lambda: build_task(
        "TYPE_NOT_SET", concepts=["cat"], workers=auto_annotation(workflow_id="wf")
    ),
    "saved_search": lambda: build_task(CC, concepts=["cat"], source=saved_search("ss1")),
    "dataset": lambda: build_task(CC, concepts=["cat"], source=dataset("ds1")),
    "all_inputs_no_review": lambda: build_task(
        CC, concepts=["cat"], source=all_inputs(), review=no_review()
    ),
    "manual_review": lambda: build_task(
        "BOUNDING_BOX_DETECTION", concepts=["cat"], review=manual_review(["r1", "r2"])
    ),
    "consensus_full": lambda: build_task(
        "POLYGON_DETECTION",
        concepts=["cat"],
        workers=full(["w1", "w2"]),
        review=consensus(["r1"], approval_threshold=2),
    ),
    "video": lambda: build_task("BOUNDING_BOX_DETECTION", concepts=["car"], sample_ms=250),
}


@pytest.mark.parametrize("name", BUILT)
def test_every_builder_round_trips(client, name):
    task = BUILT[name]()
    created = client.create(task)
    assert HEX32.fullmatch(created.id)
    assert without_server_fields(created) == task
    got = client.get(created.id)
    assert got == created
    assert (got.user_id, got.app_id) == (USER, APP)


# --- create --------------------------------------------------------------------------------


def test_create_assigns_a_client_id(client, server):
    task = build_task(CC, concepts=["cat"])
    created = client.create(task)
    assert not task.id
    (record,) = [c for c in server.servicer.requests if c.method == "PostTasks"]
    assert record.request.tasks[0].id == created.id  # the id was chosen by the client
    assert dict(record.metadata)["authorization"] == f"Key {PAT}"


def test_create_without_assign_id_gets_a_server_id(client, server):
    created = client.create(build_task(CC, concepts=["cat"]), assign_id=False)
    (record,) = server.servicer.requests
    assert record.request.tasks[0].id == ""
    assert created.id
    assert ids(server.servicer.tasks(USER, APP)) == [created.id]


def test_create_with_own_id(client):
    task = build_task(CC, concepts=["cat"])
    task.id = "my-task-1"
    assert client.create(task).id == "my-task-1"
    assert client.get("my-task-1").id == "my-task-1"


def test_create_reconciles_after_a_commit_then_unavailable(make_client, server):
    server.servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostTasks"}))
    client = make_client()
    created = client.create(build_task(CC, concepts=["cat"]))
    stored = server.servicer.tasks(USER, APP)
    assert ids(stored) == [created.id]  # exactly once, no duplicate
    assert server.servicer.calls["PostTasks"] == 1
    assert created == stored[0]


def test_create_without_ids_after_commit_then_unavailable_is_outcome_unknown(client, server):
    server.servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostTasks"}))
    task = build_task(CC, concepts=["cat"])
    with pytest.raises(taskgrpc.OutcomeUnknownError) as info:
        client.create(task, assign_id=False)
    assert info.value.tasks == [task]
    assert isinstance(info.value.cause, taskgrpc.UnavailableError)
    assert server.servicer.calls["PostTasks"] == 1  # never re-sent blindly
    assert len(server.servicer.tasks(USER, APP)) == 1  # it did happen


def test_create_reconciles_a_label_order_task(make_client, server):
    # ListTasks hides label-order tasks unless asked: the reconciliation lookup must ask.
    server.servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostTasks"}))
    client = make_client()
    task = build_task(CC, concepts=["cat"])
    task.label_order_id = "lo-1"
    created = client.create(task)
    assert created.label_order_id == "lo-1"
    assert ids(server.servicer.tasks(USER, APP)) == [created.id]
    assert server.servicer.calls["PostTasks"] == 1


# --- get -------------------------------------------------------------------------------------


def test_get_unknown_is_not_found(client):
    with pytest.raises(taskgrpc.NotFoundError) as info:
        client.get("nope")
    assert info.value.code == sc.TASK_MISSING
    assert info.value.code_name == "TASK_MISSING"
    assert info.value.method == "GetTask"
    assert info.value.req_id


def test_conn_does_not_exist_is_not_found_too():
    servicer = FakeV2Servicer(not_found_code=sc.CONN_DOES_NOT_EXIST)
    with (
        serve(servicer=servicer) as server,
        taskgrpc.TaskClient(
            pat=PAT, user_id=USER, app_id=APP, target=server.target, secure=False
        ) as client,
    ):
        with pytest.raises(taskgrpc.NotFoundError) as info:
            client.get("nope")
        assert info.value.code == sc.CONN_DOES_NOT_EXIST
        with pytest.raises(taskgrpc.NotFoundError):
            client.set_status("nope", sc.TASK_DONE)


@pytest.mark.parametrize("fields", [["all"], ["worker.users", "review.users"]])
def test_get_and_list_with_additional_fields(client, fields):
    created = client.create(
        build_task(CC, concepts=["cat"], workers=full(["w1"]), review=manual_review(["r1"]))
    )
    got = client.get(created.id, additional_fields=fields)
    assert got.id == created.id
    assert ids(client.list(additional_fields=fields)) == [created.id]


def test_get_all_fields_serves_metrics(client):
    created = client.create(build_task(CC, concepts=["cat"]))
    assert client.get(created.id, additional_fields=["all"]).HasField("metrics")
    assert not client.get(created.id).HasField("metrics")


# --- update, set_status, delete -----------------------------------------------------------


def test_update_overwrites_the_task(client):
    created = client.create(build_task(CC, concepts=["cat"], name="old"))
    new = build_task(
        "BOUNDING_BOX_DETECTION", concepts=["dog"], name="new", workers=dynamic(["w9"])
    )
    new.id = created.id
    updated = client.update(new)
    assert without_server_fields(updated) == without_server_fields(new)
    assert updated.id == created.id
    assert updated.created_at == created.created_at
    assert updated.modified_at.ToNanoseconds() >= created.modified_at.ToNanoseconds()
    assert client.get(created.id) == updated
    assert len(list(client.list())) == 1


def test_update_unknown_is_not_found(client):
    with pytest.raises(taskgrpc.NotFoundError):
        client.update(simple_task("never-made"))


@pytest.mark.parametrize("code", [sc.TASK_DONE, "TASK_WONT_DO"])
def test_set_status(client, code):
    created = client.create(build_task(CC, concepts=["cat"], workers=full(["w1"])))
    want = code if isinstance(code, int) else sc.StatusCode.Value(code)
    updated = client.set_status(created.id, code)
    assert updated.status.code == want
    got = client.get(created.id)
    assert got.status.code == want
    assert without_server_fields(got) == without_server_fields(created)  # nothing else changed
    assert got.created_at == created.created_at


def test_delete(client, server):
    a, b, c = (client.create(build_task(CC, concepts=["x"], name=n)).id for n in "abc")
    assert client.delete(a, b) is None
    assert ids(client.list()) == [c]
    with pytest.raises(taskgrpc.NotFoundError):
        client.get(a)
    client.delete(c, c)  # the same id twice in one call, as the docs do
    last = [x for x in server.servicer.requests if x.method == "DeleteTasks"][-1]
    assert list(last.request.ids) == [c, c]
    assert list(client.list()) == []
    client.delete(c)  # already gone
    client.delete("never-existed", "nor-this")  # unknown ids are ignored


# --- errors -------------------------------------------------------------------------------


def test_wrong_pat_is_auth_error_and_changes_nothing():
    with serve(pats=["good"]) as server:

        def make(pat):
            return taskgrpc.TaskClient(
                pat=pat, user_id=USER, app_id=APP, target=server.target, secure=False
            )

        with make("good") as good, make("bad-key") as bad:
            existing = good.create(build_task(CC, concepts=["cat"]))
            attempts = [
                lambda: bad.create(build_task(CC, concepts=["cat"])),
                lambda: bad.get(existing.id),
                lambda: list(bad.list()),
                lambda: bad.update(existing),
                lambda: bad.set_status(existing.id, sc.TASK_DONE),
                lambda: bad.delete(existing.id),
            ]
            for attempt in attempts:
                with pytest.raises(taskgrpc.AuthError) as info:
                    attempt()
                assert info.value.code == sc.CONN_KEY_INVALID
                assert "bad-key" not in str(info.value)
            assert server.servicer.tasks(USER, APP) == [existing]


def test_conflict_on_existing_id(client, server):
    task = build_task(CC, concepts=["cat"])
    task.id = "dup"
    first = client.create(task)
    other = build_task(CC, concepts=["cat"], name="other content")
    other.id = "dup"
    with pytest.raises(taskgrpc.ConflictError) as info:
        client.create(other)
    assert info.value.code == sc.TASK_CONFLICT
    assert info.value.method == "PostTasks"
    assert "dup" in info.value.description
    # the conflict is settled by one lookup, never by posting again
    assert server.servicer.calls["PostTasks"] == 2
    assert server.servicer.calls["ListTasks"] == 1
    assert server.servicer.tasks(USER, APP) == [first]


def test_creating_the_same_task_with_its_id_again_returns_it(client, server):
    # An id works like an idempotency key: the same content under the same id is the
    # task an earlier run created, so a re-run returns it and stores nothing new.
    task = build_task(CC, concepts=["cat"], name="same")
    task.id = "again"
    first = client.create(task)
    assert client.create(task) == first
    assert client.create_many([task]) == [first]
    assert server.servicer.tasks(USER, APP) == [first]


def test_invalid_request_from_the_server(client, server):
    # The builders do not police id syntax; the fake refuses ids with spaces.
    task = build_task(CC, concepts=["cat"])
    task.id = "not a valid id!"
    with pytest.raises(taskgrpc.InvalidRequestError) as info:
        client.create(task)
    assert info.value.code == sc.CONN_INVALID_REQUEST
    assert "id" in info.value.description
    assert server.servicer.tasks(USER, APP) == []


def test_throttled_after_retries(make_client, server):
    server.servicer.set_faults(Faults(throttled=1.0, methods={"GetTask"}))
    client = make_client(
        retry=RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.001)
    )
    with pytest.raises(taskgrpc.ThrottledError) as info:
        client.get("x")
    assert info.value.code == sc.CONN_THROTTLED
    assert server.servicer.calls["GetTask"] == 3


def test_unavailable_after_retries(make_client, server):
    server.servicer.set_faults(Faults(unavailable=1.0, methods={"ListTasks"}))
    client = make_client(
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.001)
    )
    with pytest.raises(taskgrpc.UnavailableError):
        list(client.list())
    assert server.servicer.calls["ListTasks"] == 2


def test_unavailable_then_success_is_retried(make_client, server):
    # seeded stream: some calls fail, all eventually succeed with enough attempts
    server.servicer.set_faults(Faults(unavailable=0.5, seed=7, methods={"GetTask"}))
    client = make_client(retry=RetryPolicy(max_attempts=30, initial_backoff=0.0, max_backoff=0.0))
    created = client.create(build_task(CC, concepts=["cat"]))
    for _ in range(10):
        assert client.get(created.id) == created
    assert server.servicer.faults_injected["unavailable"] > 0
    assert server.servicer.calls["GetTask"] == 10 + server.servicer.faults_injected["unavailable"]


def test_server_deadline(make_client, server):
    server.servicer.set_faults(Faults(latency_ms=400, methods={"GetTask"}))
    client = make_client()
    with pytest.raises(taskgrpc.DeadlineExceededError):
        client.get("x", timeout=0.1)


# --- app isolation --------------------------------------------------------------------------


def test_apps_are_isolated(make_client, server):
    one = make_client(app_id="app-one")
    two = make_client(app_id="app-two")
    task = build_task(CC, concepts=["cat"])
    task.id = "shared-id"
    created = one.create(task)
    assert list(two.list()) == []
    with pytest.raises(taskgrpc.NotFoundError):
        two.get("shared-id")
    two.delete("shared-id")
    assert one.get("shared-id") == created
    # the same id may exist in the other app
    assert two.create(task).app_id == "app-two"
    assert ids(one.list()) == ids(two.list()) == ["shared-id"]


# --- validation at the client: nothing is sent -------------------------------------------------


INVALID = {
    "get_empty_id": (lambda c: c.get(""), "task_id"),
    "update_empty_id": (lambda c: c.update(build_task(CC, concepts=["c"])), "id"),
    "set_status_empty_id": (lambda c: c.set_status("", sc.TASK_DONE), "task_id"),
    "set_status_unknown_code": (lambda c: c.set_status("t1", "NOT_A_CODE"), "status"),
    "delete_no_ids": (lambda c: c.delete(), "id"),
    "delete_empty_id": (lambda c: c.delete("a", ""), "ids"),
    "list_per_page_0": (lambda c: c.list(per_page=0), "per_page"),
    "list_per_page_1001": (lambda c: c.list(per_page=1001), "per_page"),
    "list_bad_source_type": (lambda c: c.list(input_source_type="NOPE"), "input_source_type"),
    "get_bad_additional_field": (lambda c: c.get("t", additional_fields=["x"]), "additional"),
    "create_many_batch_0": (
        lambda c: c.create_many([build_task(CC, concepts=["c"])], batch_size=0),
        "batch_size",
    ),
    "update_many_batch_0": (
        lambda c: c.update_many([simple_task("t1")], batch_size=0),
        "batch_size",
    ),
    "delete_many_batch_0": (lambda c: c.delete_many(["t1"], batch_size=0), "batch_size"),
    "create_reviewers_two": (lambda c: c.create(reviewers_two()), "reviewers"),
    "create_reviewers_two_no_id": (
        lambda c: c.create(reviewers_two(), assign_id=False),
        "reviewers",
    ),
    "update_reviewers_two": (lambda c: c.update(reviewers_two("t1")), "reviewers"),
    "set_status_not_a_task_status": (lambda c: c.set_status("t1", "SUCCESS"), "task status"),
    "list_single_string_ids": (lambda c: c.list(ids="t1"), "ids"),
    "create_not_a_task": (lambda c: c.create(r.TaskWorker()), "Task"),
    "bad_timeout": (lambda c: c.get("t1", timeout=0), "timeout"),
    "bad_retry": (lambda c: c.get("t1", retry=3), "retry"),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_input_sends_nothing(client, server, case):
    call, field = INVALID[case]
    with pytest.raises(ValidationError, match=field):
        call(client)
    assert sum(server.servicer.calls.values()) == 0


def test_auto_annotation_task_without_type_is_created(client):
    task = build_task("TYPE_NOT_SET", concepts=["c"], workers=auto_annotation(model_id="m"))
    created = client.create(task)
    assert created.type == r.Task.TYPE_NOT_SET
    # a hand-built one too: only the worker matters
    hand = r.Task(
        concepts=[r.TaskConcept(concept=r.Concept(id="c"))],
        worker=r.TaskWorker(workers=[r.Worker(workflow=r.Workflow(id="wf"))]),
    )
    assert client.create(hand).worker == hand.worker


def test_timeout_per_call(make_client, server):
    # The client's own timeout (10 s) would let a 0.6 s server answer; a per-call
    # timeout of 0.2 s must win, and a generous one must not get in the way.
    client = make_client(timeout=10.0)
    created = client.create(build_task(CC, concepts=["c"]), timeout=5)
    server.servicer.set_faults(Faults(latency_ms=600, methods={"GetTask"}))
    start = time.monotonic()
    with pytest.raises(taskgrpc.DeadlineExceededError):
        client.get(created.id, timeout=0.2)
    assert time.monotonic() - start < 0.55
    assert client.get(created.id, timeout=5) == created


@pytest.mark.parametrize("field", ["pat", "user_id", "app_id"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_credentials(field, value):
    kwargs = {"pat": PAT, "user_id": USER, "app_id": APP, "target": "127.0.0.1:1", "secure": False}
    kwargs[field] = value
    with pytest.raises(ValidationError, match=field):
        taskgrpc.TaskClient(**kwargs)
