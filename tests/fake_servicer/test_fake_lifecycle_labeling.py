"""Inputs, LABEL_START / LABEL_SUBMIT, task annotations: the labeler's side, over real gRPC."""

from __future__ import annotations

import threading

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from fake_rpc import APP, USER, Rpc, ok
from team import SC, Actor, TaskReview, TaskWorker, codes, labeling_task

from fake_servicer import FakeServer

Source = resources_pb2.TaskInputSource


def seed(server: FakeServer, count: int, dataset_id: str | None = None) -> list[str]:
    return server.servicer.put_inputs(USER, APP, count, dataset_id=dataset_id)


class TestInputs:
    def test_put_inputs_by_count_ids_and_messages(self, team_server: FakeServer) -> None:
        servicer = team_server.servicer
        assert servicer.put_inputs(USER, APP, 2) == ["input-000001", "input-000002"]
        assert servicer.put_inputs(USER, APP, ["cat"], dataset_id="ds") == ["cat"]
        message = resources_pb2.Input(id="dog")
        message.data.image.url = "https://example.com/dog.jpg"
        assert servicer.put_inputs(USER, APP, [message]) == ["dog"]
        stored = servicer.inputs(USER, APP)
        assert [i.id for i in stored] == ["input-000001", "input-000002", "cat", "dog"]
        assert list(stored[2].dataset_ids) == ["ds"]
        assert stored[3].data.image.url == "https://example.com/dog.jpg"
        assert servicer.inputs(USER, "other-app") == []

    def test_source_types_select_inputs(self, team_server: FakeServer, team_rpc: Rpc) -> None:
        seed(team_server, 3)
        in_dataset = seed(team_server, 2, "ds")
        sources = {
            "all": Source(type=Source.ALL_INPUTS),
            "dataset": Source(type=Source.DATASET, id="ds"),
            "one": Source(type=Source.INPUT, id="input-000002"),
            "missing": Source(type=Source.INPUT, id="nope"),
            "search": Source(type=Source.SAVED_SEARCH, id="any-search"),
        }
        for name, source in sources.items():
            ok(team_rpc.post(labeling_task(name, TaskWorker.FULL, labelers=["l1"], source=source)))
        servicer = team_server.servicer
        inputs_of = {
            name: [a.input.id for a in servicer.assignments(USER, APP, name)] for name in sources
        }
        assert len(inputs_of["all"]) == 5
        assert inputs_of["dataset"] == in_dataset
        assert inputs_of["one"] == ["input-000002"]
        assert inputs_of["missing"] == []
        assert inputs_of["search"] == inputs_of["all"]

    def test_source_is_resolved_at_creation(self, team_server: FakeServer, team_rpc: Rpc) -> None:
        seed(team_server, 2)
        ok(team_rpc.post(labeling_task("t1", TaskWorker.FULL, labelers=["l1"])))
        seed(team_server, 3)
        assert len(team_server.servicer.assignments(USER, APP, "t1")) == 2


class TestLabelStart:
    def test_dynamic_hands_out_ten_at_a_time(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        ids = seed(team_server, 25)
        ok(team_rpc.post(labeling_task("t1")))
        assert team_server.servicer.assignments(USER, APP, "t1") == []
        first = actors["l1"].start("t1")
        assert [a.input.id for a in first] == ids[:10]
        assert codes(first) == [SC.TASK_ASSIGNMENT_PENDING] * 10
        assert {a.worker.user.id for a in first} == {"l1"}
        again = actors["l1"].start("t1")
        assert [a.id for a in again] == [a.id for a in first]
        second = actors["l2"].start("t1")
        assert [a.input.id for a in second] == ids[10:20]
        assert [a.input.id for a in actors["l3"].start("t1")] == ids[20:]
        assert actors["l3"].submit("t1", actors["l3"].start("t1"))
        assert actors["l3"].start("t1") == []

    def test_full_returns_the_first_pending_ten(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        ids = seed(team_server, 12)
        ok(team_rpc.post(labeling_task("t1", TaskWorker.FULL)))
        assert len(team_server.servicer.assignments(USER, APP, "t1")) == 36
        batch = actors["l2"].start("t1")
        assert [a.input.id for a in batch] == ids[:10]
        actors["l2"].submit("t1", batch)
        assert [a.input.id for a in actors["l2"].start("t1")] == ids[10:]

    def test_start_returns_full_inputs(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        message = resources_pb2.Input(id="cat")
        message.data.image.url = "https://example.com/cat.jpg"
        team_server.servicer.put_inputs(USER, APP, [message])
        ok(team_rpc.post(labeling_task("t1")))
        (assignment,) = actors["l1"].start("t1")
        assert assignment.input.data.image.url == "https://example.com/cat.jpg"
        assert assignment.id and assignment.created_at.seconds > 0

    def test_non_worker_is_denied(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        seed(team_server, 3)
        ok(team_rpc.post(labeling_task("t1", labelers=["l1"])))
        for user in ("l2", USER):
            response = actors[user].put("t1", service_pb2.LABEL_START)
            assert response.status.code == SC.TASK_PERMISSION_DENIED
            assert not response.task_assignments

    def test_task_not_in_progress_hands_out_nothing(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        seed(team_server, 3)
        ok(team_rpc.post(labeling_task("t1")))
        done = resources_pb2.Task(id="t1")
        done.status.code = SC.TASK_DONE
        ok(team_rpc.patch("merge", done))
        assert actors["l1"].start("t1") == []

    def test_missing_task(self, actors: dict[str, Actor]) -> None:
        response = actors["l1"].put("nope", service_pb2.LABEL_START)
        assert response.status.code == SC.TASK_MISSING

    def test_list_next_task_assignments_is_label_start(
        self, team_server: FakeServer, team_rpc: Rpc
    ) -> None:
        ids = seed(team_server, 3)
        ok(team_rpc.post(labeling_task("t1")))
        response = ok(team_rpc.request("ListNextTaskAssignments", pat="pat-l1", task_id="t1"))
        assert [i.id for i in response.inputs] == ids
        assert {a.worker.user.id for a in team_server.servicer.assignments(USER, APP, "t1")} == {
            "l1"
        }


class TestLabelSubmit:
    def test_submit_moves_assignments_and_annotations(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        seed(team_server, 2)
        ok(team_rpc.post(labeling_task("t1", review=TaskReview.MANUAL)))
        l1 = actors["l1"]
        batch = l1.start("t1")
        posted = ok(l1.annotate("t1", batch[0].input.id, "cat")).annotations[0]
        assert posted.status.code == SC.ANNOTATION_PENDING
        assert (posted.user_id, posted.task_id, posted.worker.user.id) == ("l1", "t1", "l1")
        submitted = l1.submit("t1", batch)
        assert codes(submitted) == [SC.TASK_ASSIGNMENT_AWAITING_REVIEW] * 2
        listed = ok(team_rpc.request("ListAnnotations", task_id="t1")).annotations
        assert [a.status.code for a in listed] == [SC.ANNOTATION_AWAITING_REVIEW]
        assert codes(l1.submit("t1", batch)) == [SC.TASK_ASSIGNMENT_AWAITING_REVIEW] * 2

    def test_review_none_succeeds_at_once(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        seed(team_server, 1)
        ok(team_rpc.post(labeling_task("t1")))
        batch = actors["l1"].start("t1")
        ok(actors["l1"].annotate("t1", batch[0].input.id, "cat"))
        assert codes(actors["l1"].submit("t1", batch)) == [SC.TASK_ASSIGNMENT_SUCCESS]
        listed = ok(team_rpc.request("ListAnnotations", task_id="t1")).annotations
        assert [a.status.code for a in listed] == [SC.ANNOTATION_SUCCESS]

    def test_deprecated_input_id_submits(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        ids = seed(team_server, 2)
        ok(team_rpc.post(labeling_task("t1")))
        actors["l1"].start("t1")
        response = ok(actors["l1"].put("t1", 0, input_id=ids[1]))
        assert [(a.input.id, a.status.code) for a in response.task_assignments] == [
            (ids[1], SC.TASK_ASSIGNMENT_SUCCESS)
        ]

    def test_submitting_someone_elses_work_is_denied(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        seed(team_server, 1)
        ok(team_rpc.post(labeling_task("t1")))
        batch = actors["l1"].start("t1")
        config = service_pb2.LabelSubmitConfig(task_assignments=batch)
        response = actors["l2"].put("t1", service_pb2.LABEL_SUBMIT, label_submit_config=config)
        assert response.status.code == SC.TASK_PERMISSION_DENIED
        assert codes(team_server.servicer.assignments(USER, APP, "t1")) == [
            SC.TASK_ASSIGNMENT_PENDING
        ]

    def test_bad_requests_are_refused(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        seed(team_server, 1)
        ok(team_rpc.post(labeling_task("t1")))
        batch = actors["l1"].start("t1")
        l1 = actors["l1"]
        unknown = service_pb2.LabelSubmitConfig(task_assignments=[{"id": "nope"}])
        mixed = service_pb2.LabelSubmitConfig(task_assignments=[batch[0], {"id": "nope"}])
        refused = [
            l1.put("t1", 0),
            l1.put("t1", service_pb2.LABEL_SUBMIT),
            l1.put("t1", service_pb2.LABEL_SUBMIT, label_submit_config=unknown),
            l1.put("t1", service_pb2.LABEL_SUBMIT, label_submit_config=mixed),
            l1.put("t1", service_pb2.LABEL_START, label_submit_config=unknown),
            l1.put("t1", service_pb2.REVIEW_APPROVE, label_submit_config=unknown),
            l1.put("t1", 99),
            l1.put("", service_pb2.LABEL_START),
        ]
        for response in refused:
            assert response.status.code == SC.CONN_INVALID_REQUEST, response.status
        assert codes(team_server.servicer.assignments(USER, APP, "t1")) == [
            SC.TASK_ASSIGNMENT_PENDING
        ]


def test_concurrent_labelers_never_share_a_dynamic_input(
    team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
) -> None:
    ids = seed(team_server, 200)
    ok(team_rpc.post(labeling_task("t1")))
    done: dict[str, int] = {}

    def work(user: str) -> None:
        done[user] = actors[user].label_all("t1", "cat")

    threads = [threading.Thread(target=work, args=(user,)) for user in ("l1", "l2", "l3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assignments = team_server.servicer.assignments(USER, APP, "t1")
    assert sorted(a.input.id for a in assignments) == sorted(ids)
    assert sum(done.values()) == 200
    assert set(codes(assignments)) == {SC.TASK_ASSIGNMENT_SUCCESS}


def test_put_tasks_over_an_existing_id_keeps_its_assignments(team_server: FakeServer) -> None:
    servicer = team_server.servicer
    seed(team_server, 2)
    servicer.put_tasks(USER, APP, [labeling_task("t1", TaskWorker.FULL, labelers=["l1"])])
    before = [a.id for a in servicer.assignments(USER, APP, "t1")]
    servicer.put_tasks(USER, APP, [labeling_task("t1", TaskWorker.FULL, labelers=["l1"])])
    assert [a.id for a in servicer.assignments(USER, APP, "t1")] == before
    with pytest.raises(KeyError):
        servicer.assignments(USER, APP, "nope")
