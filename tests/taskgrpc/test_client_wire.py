"""Wire shape of TaskClient, with grpcio-testing's channel: the exact request protos, the
authorization metadata, and how responses and failures come back to the caller.

grpcio-testing ignores client timeouts, so every call the client makes is answered here; the
client runs in a thread and is joined with a timeout.
"""

from __future__ import annotations

import threading

import grpc
import grpc_testing
import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from tgsupport import (
    APP,
    FAST_RETRY,
    HEX32,
    PAT,
    USER,
    Runner,
    bad_status,
    copy,
    multi,
    ok_status,
    simple_task,
    single,
    uaid,
)

import taskgrpc
from taskgrpc import build_task, content_id, full

V2 = s.DESCRIPTOR.services_by_name["V2"]
U = uaid(USER, APP)
RUNTIME_KEY = "grpc.metadata_added_by_runtime"


class Wire:
    def __init__(self) -> None:
        self.channel = grpc_testing.channel([V2], grpc_testing.strict_real_time())
        self.client = taskgrpc.TaskClient(
            pat=PAT, user_id=USER, app_id=APP, channel=self.channel, retry=FAST_RETRY
        )
        self.runner: Runner | None = None

    def start(self, fn) -> Runner:
        self.runner = Runner(fn)
        return self.runner

    def take(self, method: str, timeout: float = 10.0):
        """The next call of ``method``: (metadata, request, rpc). Fails instead of hanging."""
        box: dict = {}
        thread = threading.Thread(
            target=lambda: box.update(v=self.channel.take_unary_unary(V2.methods_by_name[method])),
            daemon=True,
        )
        thread.start()
        thread.join(timeout)
        if "v" not in box:
            runner = self.runner
            raise AssertionError(
                f"no {method} call arrived; client error: {runner and runner.error!r}"
            )
        metadata, request, rpc = box["v"]
        own = tuple((k, v) for k, v in metadata if k != RUNTIME_KEY)
        assert own == (("authorization", f"Key {PAT}"),)
        return metadata, request, rpc

    def answer(self, method: str, response) -> object:
        """Take the next call of ``method``, answer it OK with ``response``; return its request."""
        _, request, rpc = self.take(method)
        rpc.terminate(response, (), grpc.StatusCode.OK, "")
        return request


@pytest.fixture
def wire():
    return Wire()


def stored(task: r.Task, task_id: str | None = None) -> r.Task:
    out = copy(task)
    if task_id is not None:
        out.id = task_id
    out.user_id, out.app_id = USER, APP
    out.status.code = sc.TASK_IN_PROGRESS
    return out


# --- create ------------------------------------------------------------------------------


def test_create_assigns_an_id_and_leaves_the_callers_task_alone(wire):
    task = build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], workers=full(["w1"]))
    before = copy(task)
    run = wire.start(lambda: wire.client.create(task))
    _, request, rpc = wire.take("PostTasks")
    assert len(request.tasks) == 1
    sent = request.tasks[0]
    assert HEX32.fullmatch(sent.id)
    expected = copy(task)
    expected.id = sent.id
    assert request == s.PostTasksRequest(user_app_id=U, tasks=[expected])
    response = stored(task, sent.id)
    rpc.terminate(multi(response), (), grpc.StatusCode.OK, "")
    assert run.result() == response
    assert task == before
    assert not task.id


def test_create_sends_the_content_id_and_a_salt_makes_another(wire):
    task = simple_task()
    ids = []
    for salt in ("", "", "copy-2"):
        run = wire.start(lambda salt=salt: wire.client.create(task, id_salt=salt))
        _, request, rpc = wire.take("PostTasks")
        rpc.terminate(multi(stored(request.tasks[0])), (), grpc.StatusCode.OK, "")
        assert run.result().id == request.tasks[0].id
        ids.append(request.tasks[0].id)
    assert ids == [content_id(task), content_id(task), content_id(task, "copy-2")]
    assert ids[0] != ids[2]


def test_create_without_assign_id_sends_no_id(wire):
    task = simple_task(name="anon")
    run = wire.start(lambda: wire.client.create(task, assign_id=False))
    request = wire.answer("PostTasks", multi(stored(task, "f" * 32)))
    assert request == s.PostTasksRequest(user_app_id=U, tasks=[task])
    assert request.tasks[0].id == ""
    assert run.result() == stored(task, "f" * 32)


def test_create_keeps_the_callers_id(wire):
    task = simple_task("my-id")
    run = wire.start(lambda: wire.client.create(task))
    request = wire.answer("PostTasks", multi(stored(task)))
    assert request == s.PostTasksRequest(user_app_id=U, tasks=[task])
    assert run.result() == stored(task)


def test_create_many_batches_in_order(wire):
    tasks = [simple_task(f"t{i}", name=f"task {i}") for i in range(5)]
    run = wire.start(lambda: wire.client.create_many(tasks, batch_size=2, concurrency=1))
    requests = []
    for _ in range(3):
        _, request, rpc = wire.take("PostTasks")
        requests.append(request)
        rpc.terminate(multi(*[stored(t) for t in request.tasks]), (), grpc.StatusCode.OK, "")
    assert requests == [
        s.PostTasksRequest(user_app_id=U, tasks=tasks[0:2]),
        s.PostTasksRequest(user_app_id=U, tasks=tasks[2:4]),
        s.PostTasksRequest(user_app_id=U, tasks=tasks[4:5]),
    ]
    assert run.result() == [stored(t) for t in tasks]


def test_create_many_assigns_ids_without_mutating(wire):
    tasks = [simple_task(name="a"), simple_task("given", name="b"), simple_task(name="c")]
    before = [copy(t) for t in tasks]
    run = wire.start(lambda: wire.client.create_many(tasks, batch_size=3, concurrency=1))
    _, request, rpc = wire.take("PostTasks")
    sent = list(request.tasks)
    assert HEX32.fullmatch(sent[0].id) and HEX32.fullmatch(sent[2].id)
    assert sent[0].id != sent[2].id
    assert sent[1].id == "given"
    assert [t.name for t in sent] == ["a", "b", "c"]
    rpc.terminate(multi(*[stored(t) for t in sent]), (), grpc.StatusCode.OK, "")
    assert [t.id for t in run.result()] == [t.id for t in sent]
    assert tasks == before


# --- get ---------------------------------------------------------------------------------


def test_get(wire):
    task = stored(simple_task("t1"))
    run = wire.start(lambda: wire.client.get("t1"))
    request = wire.answer("GetTask", single(task))
    assert request == s.GetTaskRequest(user_app_id=U, task_id="t1")
    assert run.result() == task


def test_get_with_additional_fields(wire):
    fields = ["worker.users", "metrics.work.inputs_count_estimated"]
    task = stored(simple_task("t1"))
    run = wire.start(lambda: wire.client.get("t1", additional_fields=fields))
    request = wire.answer("GetTask", single(task))
    assert request == s.GetTaskRequest(user_app_id=U, task_id="t1", additional_fields=fields)
    assert run.result() == task


def test_get_unavailable_is_retried(wire):
    task = stored(simple_task("t1"))
    run = wire.start(lambda: wire.client.get("t1"))
    _, first, rpc = wire.take("GetTask")
    rpc.terminate(s.SingleTaskResponse(), (), grpc.StatusCode.UNAVAILABLE, "down")
    second = wire.answer("GetTask", single(task))
    assert first == second == s.GetTaskRequest(user_app_id=U, task_id="t1")
    assert run.result() == task


def test_get_unavailable_without_retry_raises(wire):
    run = wire.start(lambda: wire.client.get("t1", retry=None))
    _, _, rpc = wire.take("GetTask")
    rpc.terminate(s.SingleTaskResponse(), (), grpc.StatusCode.UNAVAILABLE, f"down {PAT}")
    with pytest.raises(taskgrpc.UnavailableError) as info:
        run.result()
    assert info.value.grpc_code is grpc.StatusCode.UNAVAILABLE
    assert info.value.method == "GetTask"
    assert PAT not in str(info.value)


def test_grpc_internal_is_a_transport_error_not_retried(wire):
    run = wire.start(lambda: wire.client.get("t1"))
    _, _, rpc = wire.take("GetTask")
    rpc.terminate(s.SingleTaskResponse(), (), grpc.StatusCode.INTERNAL, "broken")
    with pytest.raises(taskgrpc.TransportError) as info:
        run.result()
    assert type(info.value) is taskgrpc.TransportError
    assert info.value.grpc_code is grpc.StatusCode.INTERNAL


# --- body errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (sc.TASK_MISSING, taskgrpc.NotFoundError),
        (sc.CONN_DOES_NOT_EXIST, taskgrpc.NotFoundError),
        (sc.CONN_KEY_INVALID, taskgrpc.AuthError),
        (sc.CONN_INVALID_REQUEST, taskgrpc.InvalidRequestError),
        (sc.TASK_CONFLICT, taskgrpc.ConflictError),
        (sc.INTERNAL_SERVER_ISSUE, taskgrpc.ServerError),
        (sc.CONN_EXCEED_HOURLY_LIMIT, taskgrpc.ThrottledError),
    ],
)
def test_body_status_raises_the_api_error(wire, code, cls):
    status = bad_status(code, f"went wrong for {PAT}", "some details", req_id="req-9")
    run = wire.start(lambda: wire.client.get("t1"))
    wire.answer("GetTask", single(status=status))
    with pytest.raises(cls) as info:
        run.result()
    err = info.value
    assert type(err) is cls
    assert (err.code, err.method, err.req_id, err.details) == (
        code,
        "GetTask",
        "req-9",
        "some details",
    )
    assert PAT not in err.description and PAT not in str(err)


def test_body_error_on_create(wire):
    # A conflict on a task with an id is settled by one lookup: here the stored task has
    # other content, so it is someone else's and the ConflictError stands.
    run = wire.start(lambda: wire.client.create(simple_task("dup")))
    wire.answer("PostTasks", multi(status=bad_status(sc.TASK_CONFLICT, "exists")))
    foreign = stored(simple_task("dup", name="someone else's"))
    request = wire.answer("ListTasks", multi(foreign))
    assert list(request.ids) == ["dup"]
    with pytest.raises(taskgrpc.ConflictError) as info:
        run.result()
    assert info.value.method == "PostTasks"


def test_body_error_on_create_without_id_is_raised_at_once(wire):
    task = simple_task("")
    run = wire.start(lambda: wire.client.create(task, assign_id=False))
    wire.answer("PostTasks", multi(status=bad_status(sc.CONN_INVALID_REQUEST, "bad")))
    with pytest.raises(taskgrpc.InvalidRequestError) as info:
        run.result()
    assert info.value.method == "PostTasks"


def test_body_error_on_delete(wire):
    run = wire.start(lambda: wire.client.delete("a"))
    wire.answer("DeleteTasks", status_pb2.BaseResponse(status=bad_status(sc.CONN_KEY_INVALID)))
    with pytest.raises(taskgrpc.AuthError) as info:
        run.result()
    assert info.value.method == "DeleteTasks"


# --- list --------------------------------------------------------------------------------


def test_list_pages_until_a_short_page(wire):
    tasks = [stored(simple_task(f"t{i}")) for i in range(3)]
    pager = wire.client.list(
        per_page=2,
        worker_user_ids=["w1", "w2"],
        review_user_ids=["r1"],
        ids=["t0", "t1", "t2"],
        input_source_type="DATASET",
        input_source_ids=["d1"],
        additional_fields=["all"],
    )
    run = wire.start(lambda: list(pager))
    first = wire.answer("ListTasks", multi(*tasks[:2]))
    second = wire.answer("ListTasks", multi(tasks[2]))
    expected = s.ListTasksRequest(
        user_app_id=U,
        page=1,
        per_page=2,
        worker_ids=[r.WorkerIDSet(user_id="w1"), r.WorkerIDSet(user_id="w2")],
        review_user_ids=["r1"],
        ids=["t0", "t1", "t2"],
        input_source_type=r.TaskInputSource.DATASET,
        input_source_ids=["d1"],
        additional_fields=["all"],
    )
    assert first == expected
    expected.page = 2
    assert second == expected
    assert not first.worker_user_ids
    # the thread finished, so no third page was asked for (it would be waiting for an answer)
    assert run.result() == tasks


def test_list_defaults(wire):
    run = wire.start(lambda: list(wire.client.list()))
    request = wire.answer("ListTasks", multi())
    assert request == s.ListTasksRequest(user_app_id=U, page=1, per_page=128)
    assert run.result() == []


def test_list_full_page_then_empty_page(wire):
    tasks = [stored(simple_task(f"t{i}")) for i in range(2)]
    run = wire.start(lambda: list(wire.client.list(per_page=2).pages()))
    assert wire.answer("ListTasks", multi(*tasks)).page == 1
    assert wire.answer("ListTasks", multi()).page == 2
    assert run.result() == [tasks]


def test_list_sends_nothing_until_iterated(wire):
    pager = wire.client.list(per_page=5)
    run = wire.start(lambda: next(iter(pager)))
    request = wire.answer("ListTasks", multi(stored(simple_task("t1"))))
    assert request.page == 1 and request.per_page == 5
    assert run.result().id == "t1"


# --- update, set_status, delete ---------------------------------------------------------------


def test_update_overwrites(wire):
    task = simple_task("t1", name="renamed")
    run = wire.start(lambda: wire.client.update(task))
    request = wire.answer("PatchTasks", multi(stored(task)))
    assert request == s.PatchTasksRequest(user_app_id=U, tasks=[task], action="overwrite")
    assert run.result() == stored(task)


def test_set_status_merges_only_id_and_status(wire):
    done = stored(simple_task("t1"))
    done.status.code = sc.TASK_DONE
    run = wire.start(lambda: wire.client.set_status("t1", sc.TASK_DONE))
    request = wire.answer("PatchTasks", multi(done))
    assert request == s.PatchTasksRequest(
        user_app_id=U,
        tasks=[r.Task(id="t1", status=status_pb2.Status(code=sc.TASK_DONE))],
        action="merge",
    )
    assert run.result() == done


def test_delete_keeps_order_and_duplicates(wire):
    run = wire.start(lambda: wire.client.delete("b", "a", "b"))
    request = wire.answer("DeleteTasks", status_pb2.BaseResponse(status=ok_status()))
    assert request == s.DeleteTasksRequest(user_app_id=U, ids=["b", "a", "b"])
    assert run.result() is None


def test_update_many_and_delete_many_batches(wire):
    tasks = [simple_task(f"t{i}", name="n") for i in range(3)]
    run = wire.start(lambda: wire.client.update_many(tasks, batch_size=2, concurrency=1))
    first = wire.answer("PatchTasks", multi(*[stored(t) for t in tasks[:2]]))
    second = wire.answer("PatchTasks", multi(stored(tasks[2])))
    assert first == s.PatchTasksRequest(user_app_id=U, tasks=tasks[:2], action="overwrite")
    assert second == s.PatchTasksRequest(user_app_id=U, tasks=tasks[2:], action="overwrite")
    assert run.result() == [stored(t) for t in tasks]

    run = wire.start(lambda: wire.client.delete_many(["a", "b", "c"], batch_size=2, concurrency=1))
    first = wire.answer("DeleteTasks", status_pb2.BaseResponse(status=ok_status()))
    second = wire.answer("DeleteTasks", status_pb2.BaseResponse(status=ok_status()))
    assert first == s.DeleteTasksRequest(user_app_id=U, ids=["a", "b"])
    assert second == s.DeleteTasksRequest(user_app_id=U, ids=["c"])
    assert run.result() is None


# --- issue 8: content ids in bulk, narrowing, byte budget ---------------------------------------


def test_create_many_sends_content_ids_and_narrows_a_refused_batch_in_halves(wire):
    tasks = [simple_task(name=f"n{i}") for i in range(4)]
    tasks[3] = simple_task(name="same")
    tasks.append(simple_task(name="same"))
    sent = taskgrpc.with_content_ids(tasks, "s")
    run = wire.start(
        lambda: wire.client.create_many(tasks, batch_size=5, concurrency=1, id_salt="s")
    )
    refused = multi(status=bad_status(sc.CONN_INVALID_REQUEST, "bad"))
    first = wire.answer("PostTasks", refused)
    assert first == s.PostTasksRequest(user_app_id=U, tasks=sent)
    left = wire.answer("PostTasks", multi(*[stored(t) for t in sent[:2]]))
    assert left == s.PostTasksRequest(user_app_id=U, tasks=sent[:2])
    right = wire.answer("PostTasks", refused)
    assert right == s.PostTasksRequest(user_app_id=U, tasks=sent[2:])
    one = wire.answer("PostTasks", multi(stored(sent[2])))
    assert one == s.PostTasksRequest(user_app_id=U, tasks=sent[2:3])
    two = wire.answer("PostTasks", refused)
    assert two == s.PostTasksRequest(user_app_id=U, tasks=sent[3:])
    three = wire.answer("PostTasks", multi(stored(sent[3])))
    assert three == s.PostTasksRequest(user_app_id=U, tasks=sent[3:4])
    wire.answer("PostTasks", refused)  # sent[4] alone: the bad one
    with pytest.raises(taskgrpc.BulkError) as info:
        run.result()
    assert list(info.value.errors) == [4]
    assert info.value.failed_items == [sent[4]]
    assert sent[3].id != sent[4].id  # identical tasks, told apart by position


def test_update_many_splits_batches_by_bytes(wire):
    tasks = [simple_task(f"t{i}", description="x" * 1000) for i in range(5)]
    run = wire.start(
        lambda: wire.client.update_many(tasks, batch_size=10, concurrency=1, max_request_bytes=2500)
    )
    got = []
    for k in range(3):
        _, request, rpc = wire.take("PatchTasks")
        answer = multi() if k == 2 else multi(*[stored(t) for t in request.tasks])
        rpc.terminate(answer, (), grpc.StatusCode.OK, "")
        got.append([t.id for t in request.tasks])
        assert request.ByteSize() <= 2500 and request.action == "overwrite"
    with pytest.raises(taskgrpc.BulkError) as info:  # the last answer lacks its task
        run.result()
    assert got == [["t0", "t1"], ["t2", "t3"], ["t4"]]
    assert list(info.value.errors) == [4]
    assert "0 result(s) for 1 item(s)" in str(info.value.errors[4])
    assert [t.id for t in info.value.succeeded] == ["t0", "t1", "t2", "t3"]
