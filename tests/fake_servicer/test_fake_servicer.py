"""End-to-end behaviour of the five task RPCs over a real loopback server."""

from __future__ import annotations

import re

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from fake_rpc import APP, PAT, USER, Rpc, ctx, ids_of, make_task, user_app

from fake_servicer import FakeServer, FakeV2Servicer, serve

Task = resources_pb2.Task
SUCCESS = status_code_pb2.SUCCESS
INVALID = status_code_pb2.CONN_INVALID_REQUEST
KEY_INVALID = status_code_pb2.CONN_KEY_INVALID


def assert_ok(response: object) -> None:
    status = response.status  # type: ignore[attr-defined]
    assert status.code == SUCCESS, status
    assert status.description == "Ok"
    assert re.fullmatch(r"[0-9a-f]{32}", status.req_id)


class TestStatus:
    def test_success_has_fresh_req_id(self, rpc: Rpc) -> None:
        first = rpc.list()
        second = rpc.list()
        assert_ok(first)
        assert_ok(second)
        assert first.status.req_id != second.status.req_id

    def test_error_has_req_id_and_description(self, rpc: Rpc) -> None:
        response = rpc.get("nope")
        assert response.status.code == status_code_pb2.TASK_MISSING
        assert "nope" in response.status.description
        assert re.fullmatch(r"[0-9a-f]{32}", response.status.req_id)


class TestAuth:
    @pytest.fixture
    def locked(self) -> object:
        with serve(pats=["good-pat"]) as server:
            client = Rpc(server.target, pat="good-pat")
            yield server, client
            client.close()

    def test_accepted_key(self, locked: tuple[FakeServer, Rpc]) -> None:
        _, client = locked
        assert_ok(client.post(make_task("t1")))

    @pytest.mark.parametrize(
        "metadata",
        [
            [],
            [("authorization", "Key wrong-pat")],
            [("authorization", "good-pat")],
            [("authorization", "Bearer good-pat")],
            [("authorization", "Key ")],
        ],
        ids=["missing", "wrong", "no-prefix", "bearer", "empty"],
    )
    def test_refused_key_changes_nothing(
        self, locked: tuple[FakeServer, Rpc], metadata: list[tuple[str, str]]
    ) -> None:
        server, client = locked
        request = service_pb2.PostTasksRequest(user_app_id=user_app(), tasks=[make_task("t1")])
        response = client.call("PostTasks", request, metadata=metadata)
        assert response.status.code == KEY_INVALID
        assert response.status.description == (
            "Invalid API key or Invalid API key/application pair"
        )
        assert not response.tasks
        assert server.servicer.tasks(USER, APP) == []
        for text in (response.status.description, response.status.details):
            assert "good-pat" not in text
            assert "wrong-pat" not in text

    def test_refused_key_on_every_method(self, locked: tuple[FakeServer, Rpc]) -> None:
        server, client = locked
        assert_ok(client.post(make_task("keep")))
        bad = {"pat": "wrong-pat"}
        assert client.get("keep", **bad).status.code == KEY_INVALID
        assert client.list(pat="wrong-pat").status.code == KEY_INVALID
        status = status_pb2.Status(code=status_code_pb2.TASK_DONE)
        merged = client.patch("merge", Task(id="keep", status=status), **bad)
        assert merged.status.code == KEY_INVALID
        assert client.delete("keep", **bad).status.code == KEY_INVALID
        [stored] = server.servicer.tasks(USER, APP)
        assert stored.status.code == status_code_pb2.TASK_IN_PROGRESS

    def test_any_non_empty_key_when_no_pats(self, rpc: Rpc) -> None:
        assert_ok(rpc.list(pat="whatever"))
        assert rpc.list(pat=None).status.code == KEY_INVALID

    def test_empty_pat_list_accepts_nothing(self) -> None:
        servicer = FakeV2Servicer(pats=[])
        request = service_pb2.ListTasksRequest(user_app_id=user_app())
        response = servicer.ListTasks(request, ctx("anything"))
        assert response.status.code == KEY_INVALID

    def test_auth_checked_before_user_app_id(self, rpc: Rpc) -> None:
        response = rpc.list(user="", pat=None)
        assert response.status.code == KEY_INVALID


class TestUserAppId:
    @pytest.mark.parametrize(("user", "app"), [("", APP), (USER, ""), ("", "")])
    def test_both_ids_required(self, rpc: Rpc, user: str, app: str) -> None:
        for response in (
            rpc.post(make_task("t1"), user=user, app=app),
            rpc.get("t1", user=user, app=app),
            rpc.list(user=user, app=app),
            rpc.patch("merge", Task(id="t1"), user=user, app=app),
            rpc.delete("t1", user=user, app=app),
        ):
            assert response.status.code == INVALID
            assert "user_app_id" in response.status.description

    def test_apps_are_isolated(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        assert_ok(rpc.post(make_task("shared"), app="app-a"))
        assert_ok(rpc.post(make_task("shared"), app="app-b"))
        assert_ok(rpc.post(make_task("only-a"), app="app-a"))
        assert rpc.get("only-a", app="app-b").status.code == status_code_pb2.TASK_MISSING
        assert ids_of(rpc.list(app="app-b")) == ["shared"]
        assert ids_of(rpc.list(user="other", app="app-a")) == []
        assert_ok(rpc.delete("shared", app="app-b"))
        assert [t.id for t in servicer.tasks(USER, "app-a")] == ["only-a", "shared"]
        status = status_pb2.Status(code=status_code_pb2.TASK_DONE)
        patched = rpc.patch("merge", Task(id="only-a", status=status), app="app-b")
        assert patched.status.code == status_code_pb2.TASK_MISSING

    def test_stored_tasks_get_user_and_app(self, rpc: Rpc) -> None:
        [task] = rpc.post(make_task("t1", user_id="spoof", app_id="spoof")).tasks
        assert (task.user_id, task.app_id) == (USER, APP)
        assert (rpc.get("t1").task.user_id, rpc.get("t1").task.app_id) == (USER, APP)


class TestPostTasks:
    def test_creates_with_ids_timestamps_and_status(self, rpc: Rpc) -> None:
        response = rpc.post(make_task("given"), make_task(), make_task(name="third"))
        assert_ok(response)
        given, generated, third = response.tasks
        assert given.id == "given"
        assert re.fullmatch(r"[0-9a-f]{32}", generated.id)
        assert re.fullmatch(r"[0-9a-f]{32}", third.id)
        assert generated.id != third.id
        assert third.name == "third"
        for task in response.tasks:
            assert task.HasField("created_at")
            assert task.modified_at == task.created_at
            assert task.status.code == status_code_pb2.TASK_IN_PROGRESS
            assert task.status.description
        assert rpc.get(generated.id).task == generated

    def test_response_in_request_order(self, rpc: Rpc) -> None:
        ids = ["c", "a", "b"]
        assert ids_of(rpc.post(*[make_task(i) for i in ids])) == ids

    def test_status_sent_is_replaced(self, rpc: Rpc) -> None:
        sent = make_task("t1", status=status_pb2.Status(code=status_code_pb2.TASK_DONE))
        [task] = rpc.post(sent).tasks
        assert task.status.code == status_code_pb2.TASK_IN_PROGRESS

    def test_empty_tasks_refused(self, rpc: Rpc) -> None:
        response = rpc.post()
        assert response.status.code == INVALID
        assert "tasks" in response.status.description

    def test_existing_id_conflicts_all_or_nothing(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        assert_ok(rpc.post(make_task("dup")))
        response = rpc.post(make_task("new1"), make_task("dup"), make_task("new2"))
        assert response.status.code == status_code_pb2.TASK_CONFLICT
        assert "dup" in response.status.description
        assert not response.tasks
        assert [t.id for t in servicer.tasks(USER, APP)] == ["dup"]

    def test_same_id_twice_in_request_conflicts(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        response = rpc.post(make_task("x"), make_task("y"), make_task("x"))
        assert response.status.code == status_code_pb2.TASK_CONFLICT
        assert "x" in response.status.description
        assert servicer.tasks(USER, APP) == []

    def test_invalid_task_stores_nothing(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        response = rpc.post(make_task("fine"), Task(id="untyped"))
        assert response.status.code == INVALID
        assert "tasks[1].type" in response.status.description
        assert servicer.tasks(USER, APP) == []

    def test_deprecated_fields_stored_as_sent(self, rpc: Rpc) -> None:
        sent = make_task(
            "old-style",
            concept_ids=["cat", "dog"],
            worker=resources_pb2.TaskWorker(
                strategy=resources_pb2.TaskWorker.FULL,
                user_ids=["w1"],
                users=[resources_pb2.User(id="w2")],
            ),
            review=resources_pb2.TaskReview(
                strategy=resources_pb2.TaskReview.CONSENSUS,
                user_ids=["r1"],
                consensus_strategy_info=resources_pb2.TaskReviewConsensusStrategyInfo(
                    approval_threshold=2
                ),
            ),
        )
        [created] = rpc.post(sent).tasks
        stored = rpc.get("old-style").task
        for task in (created, stored):
            assert list(task.concept_ids) == ["cat", "dog"]
            assert not task.concepts
            assert list(task.worker.user_ids) == ["w1"]
            assert [u.id for u in task.worker.users] == ["w2"]
            assert not task.worker.workers
            assert list(task.review.user_ids) == ["r1"]
            assert not task.review.users
            assert task.review.consensus_strategy_info.approval_threshold == 2
            assert task.review.consensus_strategy_info.approval_threshold_labelers == 0

    def test_pass_through_fields_untouched(self, rpc: Rpc) -> None:
        sent = make_task(
            "full",
            description="d",
            sample_ms=500,
            label_order_id="",
            delete_previous_annotations=True,
            priority=Task.HIGH,
            concepts=[resources_pb2.TaskConcept(concept=resources_pb2.Concept(id="cat"))],
            input_source=resources_pb2.TaskInputSource(
                type=resources_pb2.TaskInputSource.DATASET, id="ds1"
            ),
        )
        sent.metadata.update({"k": "v"})
        [created] = rpc.post(sent).tasks
        expected = resources_pb2.Task()
        expected.CopyFrom(sent)
        for name in ("created_at", "modified_at", "status", "user_id", "app_id"):
            expected.ClearField(name)
            created.ClearField(name)
        assert created == expected


class TestGetTask:
    def test_returns_stored_task(self, rpc: Rpc) -> None:
        [created] = rpc.post(make_task("t1", name="n")).tasks
        response = rpc.get("t1")
        assert_ok(response)
        assert response.task == created

    def test_unknown_id_is_task_missing(self, rpc: Rpc) -> None:
        response = rpc.get("ghost")
        assert response.status.code == status_code_pb2.TASK_MISSING
        assert not response.HasField("task")

    def test_not_found_code_configurable(self) -> None:
        servicer = FakeV2Servicer(not_found_code=status_code_pb2.CONN_DOES_NOT_EXIST)
        with serve(servicer=servicer) as server:
            client = Rpc(server.target)
            assert client.get("ghost").status.code == status_code_pb2.CONN_DOES_NOT_EXIST
            status = status_pb2.Status(code=status_code_pb2.TASK_DONE)
            patched = client.patch("merge", Task(id="ghost", status=status))
            assert patched.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
            client.close()

    def test_empty_task_id_refused(self, rpc: Rpc) -> None:
        response = rpc.get("")
        assert response.status.code == INVALID
        assert "task_id" in response.status.description

    def test_returns_copies(self, servicer: FakeV2Servicer) -> None:
        servicer.put_tasks(USER, APP, [make_task("t1", name="orig")])
        request = service_pb2.GetTaskRequest(user_app_id=user_app(), task_id="t1")
        first = servicer.GetTask(request, ctx())
        first.task.name = "mutated"
        assert servicer.GetTask(request, ctx()).task.name == "orig"
        listed = servicer.tasks(USER, APP)
        listed[0].name = "mutated"
        assert servicer.tasks(USER, APP)[0].name == "orig"


class TestListTasks:
    def test_empty_app(self, rpc: Rpc) -> None:
        response = rpc.list()
        assert_ok(response)
        assert ids_of(response) == []

    def test_newest_first(self, rpc: Rpc) -> None:
        rpc.post(make_task("first"))
        rpc.post(make_task("second"), make_task("third"))
        assert ids_of(rpc.list()) == ["third", "second", "first"]

    def test_overwrite_keeps_position(self, rpc: Rpc) -> None:
        rpc.post(make_task("a"), make_task("b"), make_task("c"))
        assert_ok(rpc.patch("overwrite", make_task("a", name="new")))
        assert ids_of(rpc.list()) == ["c", "b", "a"]

    def test_deleted_then_recreated_is_newest(self, rpc: Rpc) -> None:
        rpc.post(make_task("a"), make_task("b"))
        rpc.delete("a")
        rpc.post(make_task("a"))
        assert ids_of(rpc.list()) == ["a", "b"]

    def test_default_per_page_is_128(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        servicer.put_tasks(USER, APP, [make_task(f"t{i}") for i in range(130)])
        assert len(rpc.list().tasks) == 128
        assert ids_of(rpc.list(page=2)) == ["t1", "t0"]

    def test_pagination_edges(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        servicer.put_tasks(USER, APP, [make_task(f"t{i}") for i in range(10)])
        newest_first = [f"t{i}" for i in range(9, -1, -1)]
        assert ids_of(rpc.list(per_page=10)) == newest_first
        assert ids_of(rpc.list(per_page=10, page=2)) == []
        assert ids_of(rpc.list(per_page=9, page=1)) == newest_first[:9]
        assert ids_of(rpc.list(per_page=9, page=2)) == ["t0"]
        assert ids_of(rpc.list(per_page=3, page=0)) == ids_of(rpc.list(per_page=3, page=1))
        assert ids_of(rpc.list(per_page=3, page=4)) == ["t0"]
        assert ids_of(rpc.list(per_page=3, page=1000)) == []

    def test_pages_concatenate_to_everything(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        servicer.put_tasks(USER, APP, [make_task(f"t{i}") for i in range(25)])
        seen: list[str] = []
        page = 1
        while True:
            ids = ids_of(rpc.list(per_page=7, page=page))
            seen += ids
            if len(ids) < 7:
                break
            page += 1
        assert seen == [t.id for t in servicer.tasks(USER, APP)]
        assert len(set(seen)) == 25

    def test_per_page_limits(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        servicer.put_tasks(USER, APP, [make_task(f"t{i}") for i in range(1001)])
        assert len(rpc.list(per_page=1000).tasks) == 1000
        refused = rpc.list(per_page=1001)
        assert refused.status.code == INVALID
        assert "per_page" in refused.status.description
        assert not refused.tasks

    def test_no_total_or_token(self) -> None:
        names = set(service_pb2.MultiTaskResponse.DESCRIPTOR.fields_by_name)
        assert names == {"status", "tasks"}


class TestPatchTasks:
    @pytest.fixture
    def created(self, rpc: Rpc) -> Task:
        response = rpc.post(make_task("t1", name="before", description="keep?"))
        task: Task = response.tasks[0]
        return task

    def test_overwrite_replaces_whole_task(self, rpc: Rpc, created: Task) -> None:
        sent = make_task("t1", name="after", type=Task.BOUNDING_BOX_DETECTION)
        response = rpc.patch("overwrite", sent)
        assert_ok(response)
        [updated] = response.tasks
        assert updated.name == "after"
        assert updated.description == ""
        assert updated.type == Task.BOUNDING_BOX_DETECTION
        assert updated.created_at == created.created_at
        assert (updated.user_id, updated.app_id) == (USER, APP)
        assert updated.modified_at.ToNanoseconds() >= created.modified_at.ToNanoseconds()
        assert updated.status == created.status
        assert rpc.get("t1").task == updated

    def test_overwrite_status_replaced_when_sent(self, rpc: Rpc, created: Task) -> None:
        status = status_pb2.Status(code=status_code_pb2.TASK_DONE, description="done")
        [updated] = rpc.patch("overwrite", make_task("t1", status=status)).tasks
        assert updated.status == status

    def test_overwrite_bumps_modified_at(self) -> None:
        now = [1000.0]
        servicer = FakeV2Servicer(clock=lambda: now[0])
        with serve(servicer=servicer) as server:
            client = Rpc(server.target)
            [created] = client.post(make_task("t1")).tasks
            now[0] = 2000.5
            [updated] = client.patch("overwrite", make_task("t1")).tasks
            client.close()
        assert created.created_at.ToMilliseconds() == 1_000_000
        assert updated.created_at == created.created_at
        assert updated.modified_at.ToMilliseconds() == 2_000_500

    def test_overwrite_rechecks_impossibility(self, rpc: Rpc, created: Task) -> None:
        good = make_task("t1", name="changed")
        response = rpc.patch("overwrite", good, Task(id="t1"))
        assert response.status.code == INVALID
        assert "tasks[1].type" in response.status.description
        assert rpc.get("t1").task == created

    def test_merge_changes_only_status(self, rpc: Rpc, created: Task) -> None:
        status = status_pb2.Status(code=status_code_pb2.TASK_DONE)
        sent = Task(id="t1", name="ignored", status=status)
        [updated] = rpc.patch("merge", sent).tasks
        assert updated.status.code == status_code_pb2.TASK_DONE
        assert updated.name == "before"
        assert updated.description == "keep?"
        assert updated.created_at == created.created_at
        assert rpc.get("t1").task == updated

    def test_merge_without_status_refused(self, rpc: Rpc, created: Task) -> None:
        response = rpc.patch("merge", Task(id="t1", name="x"))
        assert response.status.code == INVALID
        assert "status" in response.status.description
        assert rpc.get("t1").task == created

    @pytest.mark.parametrize("action", ["", "remove", "OVERWRITE", "replace"])
    def test_bad_action_refused(self, rpc: Rpc, created: Task, action: str) -> None:
        response = rpc.patch(action, make_task("t1", name="x"))
        assert response.status.code == INVALID
        assert "action" in response.status.description
        assert rpc.get("t1").task == created

    def test_id_required(self, rpc: Rpc, created: Task) -> None:
        response = rpc.patch("overwrite", make_task("t1", name="x"), make_task("", name="y"))
        assert response.status.code == INVALID
        assert "tasks[1].id" in response.status.description
        assert rpc.get("t1").task == created

    def test_empty_tasks_refused(self, rpc: Rpc) -> None:
        assert rpc.patch("merge").status.code == INVALID

    def test_unknown_id_all_or_nothing(self, rpc: Rpc, created: Task) -> None:
        status = status_pb2.Status(code=status_code_pb2.TASK_DONE)
        response = rpc.patch("merge", Task(id="t1", status=status), Task(id="ghost", status=status))
        assert response.status.code == status_code_pb2.TASK_MISSING
        assert "ghost" in response.status.description
        assert rpc.get("t1").task == created
        over = rpc.patch("overwrite", make_task("t1", name="x"), make_task("ghost"))
        assert over.status.code == status_code_pb2.TASK_MISSING
        assert rpc.get("t1").task == created

    def test_response_in_request_order(self, rpc: Rpc) -> None:
        rpc.post(make_task("a"), make_task("b"), make_task("c"))
        status = status_pb2.Status(code=status_code_pb2.TASK_DONE)
        response = rpc.patch("merge", *[Task(id=i, status=status) for i in ("c", "a", "b")])
        assert ids_of(response) == ["c", "a", "b"]

    def test_same_id_twice_applies_in_order(self, rpc: Rpc, created: Task) -> None:
        response = rpc.patch("overwrite", make_task("t1", name="one"), make_task("t1", name="two"))
        assert [t.name for t in response.tasks] == ["one", "two"]
        assert rpc.get("t1").task.name == "two"


class TestDeleteTasks:
    def test_deletes_and_tolerates_duplicates_and_unknown(
        self, rpc: Rpc, servicer: FakeV2Servicer
    ) -> None:
        rpc.post(make_task("a"), make_task("b"), make_task("c"))
        response = rpc.delete("a", "a", "ghost", "c")
        assert_ok(response)
        assert isinstance(response, status_pb2.BaseResponse)
        assert [t.id for t in servicer.tasks(USER, APP)] == ["b"]
        assert rpc.get("a").status.code == status_code_pb2.TASK_MISSING

    def test_only_unknown_ids_succeeds(self, rpc: Rpc) -> None:
        assert_ok(rpc.delete("ghost"))

    def test_empty_ids_refused(self, rpc: Rpc) -> None:
        response = rpc.delete()
        assert response.status.code == INVALID
        assert "ids" in response.status.description


class TestObservability:
    def test_counts_every_call_including_refused(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        rpc.post(make_task("a"))
        rpc.post()
        rpc.list(pat=None)
        rpc.get("a")
        calls = servicer.calls
        assert calls["PostTasks"] == 2
        assert calls["ListTasks"] == 1
        assert calls["GetTask"] == 1
        assert calls["DeleteTasks"] == 0

    def test_records_request_copy_and_metadata(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        request = service_pb2.GetTaskRequest(user_app_id=user_app(), task_id="zz")
        rpc.call("GetTask", request, metadata=[("authorization", f"Key {PAT}"), ("x-trace", "7")])
        [record] = servicer.requests
        assert record.method == "GetTask"
        assert record.request == request
        assert ("authorization", f"Key {PAT}") in record.metadata
        assert ("x-trace", "7") in record.metadata
        assert isinstance(record.time, float)

    def test_records_are_bounded_and_ordered(self) -> None:
        servicer = FakeV2Servicer(max_records=3)
        for task_id in ("a", "b", "c", "d"):
            request = service_pb2.GetTaskRequest(user_app_id=user_app(), task_id=task_id)
            servicer.GetTask(request, ctx())
        records = servicer.requests
        assert [r.request.task_id for r in records] == ["b", "c", "d"]  # type: ignore[attr-defined]
        assert records[0].time <= records[-1].time
        assert servicer.calls["GetTask"] == 4

    def test_reset_forgets_everything(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        rpc.post(make_task("a"))
        servicer.reset()
        assert servicer.tasks(USER, APP) == []
        assert servicer.calls["PostTasks"] == 0
        assert servicer.requests == ()
        assert ids_of(rpc.list()) == []

    def test_put_tasks_seeds_without_rpc(self, rpc: Rpc, servicer: FakeV2Servicer) -> None:
        ids = servicer.put_tasks(USER, APP, [make_task("seeded"), make_task()])
        assert ids[0] == "seeded"
        assert re.fullmatch(r"[0-9a-f]{32}", ids[1])
        assert servicer.calls == {}
        task = rpc.get("seeded").task
        assert (task.user_id, task.app_id) == (USER, APP)
        assert task.HasField("created_at")
        assert ids_of(rpc.list()) == [ids[1], "seeded"]
