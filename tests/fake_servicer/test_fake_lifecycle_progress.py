"""Counts and metrics derived from the lifecycle state; task deletion, patching, TASK_DONE."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from fake_rpc import APP, USER, Rpc, ok
from team import (
    SC,
    Actor,
    TaskReview,
    TaskWorker,
    counts,
    labeling_task,
    metrics,
    team_servicer,
)

from fake_servicer import FakeServer, serve

APPROVE = service_pb2.REVIEW_APPROVE
REJECT = service_pb2.REVIEW_REJECT


def manual_task(server: FakeServer, rpc: Rpc, inputs: int, threshold: int = 1) -> list[str]:
    ids = server.servicer.put_inputs(USER, APP, inputs)
    task = labeling_task(
        "t1",
        TaskWorker.FULL,
        TaskReview.MANUAL,
        labelers=["l1", "l2"],
        reviewers_threshold=threshold,
    )
    ok(rpc.post(task))
    return ids


class TestCounts:
    def test_input_and_annotation_counts_follow_the_work(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        manual_task(team_server, team_rpc, 4)
        assert counts(team_rpc, "GetTaskInputCount", "t1") == {
            "l1": (4, 0, 0, 0, 0),
            "l2": (4, 0, 0, 0, 0),
        }
        assert counts(team_rpc, "GetTaskAnnotationCount", "t1") == {
            "l1": (0, 0, 0, 0, 0),
            "l2": (0, 0, 0, 0, 0),
        }
        l1 = actors["l1"]
        batch = l1.start("t1")
        for assignment in batch[:3]:
            ok(l1.annotate("t1", assignment.input.id, "cat"))
        assert counts(team_rpc, "GetTaskAnnotationCount", "t1")["l1"] == (3, 0, 0, 0, 0)
        l1.submit("t1", batch[:3])
        review = actors["r1"].review_start("t1")
        ok(actors["r1"].decide("t1", APPROVE, review[:1]))
        ok(actors["r1"].decide("t1", REJECT, review[1:2]))
        assert counts(team_rpc, "GetTaskInputCount", "t1")["l1"] == (1, 1, 0, 1, 1)
        assert counts(team_rpc, "GetTaskAnnotationCount", "t1")["l1"] == (0, 1, 0, 1, 1)

    def test_filters_and_response_fields(self, team_server: FakeServer, team_rpc: Rpc) -> None:
        manual_task(team_server, team_rpc, 2)
        assert set(counts(team_rpc, "GetTaskInputCount", "t1", user_ids=["l2"])) == {"l2"}
        assert counts(team_rpc, "GetTaskInputCount", "t1", model_version_ids=["m"]) == {}
        response = ok(team_rpc.request("GetTaskInputCount", task_id="t1"))
        assert (response.app_id, response.task_id) == (APP, "t1")
        assert [c.user_id for c in response.counts] == ["l1", "l2"]
        for method in ("GetTaskInputCount", "GetTaskAnnotationCount"):
            assert team_rpc.request(method, task_id="nope").status.code == SC.TASK_MISSING
            assert team_rpc.request(method).status.code == SC.CONN_INVALID_REQUEST


class TestMetrics:
    def test_metrics_are_derived(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        manual_task(team_server, team_rpc, 4)
        start = metrics(team_rpc, "t1")
        assert start.input_source.inputs_count_estimated == 4
        assert list(start.review.inputs_reviewable_count_estimated_per_reviewer) == [2, 2]
        assert list(start.review.inputs_count_estimated_per_reviewer) == [0, 0]
        actors["l1"].submit("t1", actors["l1"].start("t1")[:3])
        middle = metrics(team_rpc, "t1")
        assert middle.work.inputs_count_estimated == 3
        assert middle.work.inputs_percent_estimated == 75
        assert middle.review.inputs_count_estimated == 0
        actors["l2"].submit("t1", actors["l2"].start("t1")[:1])
        batch = actors["r1"].review_start("t1")
        ok(actors["r1"].decide("t1", APPROVE, batch))
        # Input 1 has both labelers' work approved; inputs 2 and 3 still wait for l2.
        reviewed = metrics(team_rpc, "t1").review
        assert reviewed.inputs_count_estimated == 1
        assert reviewed.inputs_percent_estimated == 25
        assert list(reviewed.inputs_count_estimated_per_reviewer) == [3, 0]
        assert list(reviewed.inputs_percent_estimated_per_reviewer) == [100, 0]

    def test_all_reviewers_review_everything(self, team_server: FakeServer, team_rpc: Rpc) -> None:
        manual_task(team_server, team_rpc, 3, threshold=-1)
        review = metrics(team_rpc, "t1").review
        assert list(review.inputs_reviewable_count_estimated_per_reviewer) == [3, 3]

    def test_listed_tasks_get_metrics_too(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        team_server.servicer.put_inputs(USER, APP, 2)
        ok(team_rpc.post(labeling_task("t1")))
        actors["l1"].label_all("t1", "cat")
        response = ok(team_rpc.list(additional_fields=["metrics.review.inputs_count_estimated"]))
        task = response.tasks[0]
        assert task.metrics.review.inputs_count_estimated == 2
        assert not task.metrics.HasField("work")

    def test_percent_is_floored_until_all_reviewed(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        team_server.servicer.put_inputs(USER, APP, 3)
        ok(team_rpc.post(labeling_task("t1")))
        l1 = actors["l1"]
        l1.submit("t1", l1.start("t1")[:2])
        assert metrics(team_rpc, "t1").review.inputs_percent_estimated == 66


class TestTaskChanges:
    def test_delete_drops_assignments_and_keeps_annotations(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        team_server.servicer.put_inputs(USER, APP, 2)
        ok(team_rpc.post(labeling_task("t1")))
        actors["l1"].label_all("t1", "cat")
        ok(team_rpc.delete("t1"))
        listed = ok(team_rpc.request("ListAnnotations", task_id="t1")).annotations
        assert len(listed) == 2
        assert actors["l1"].put("t1", service_pb2.LABEL_START).status.code == SC.TASK_MISSING
        ok(team_rpc.post(labeling_task("t1")))
        assert team_server.servicer.assignments(USER, APP, "t1") == []
        assert len(actors["l1"].start("t1")) == 2

    def test_overwrite_keeps_assignments_and_reads_new_settings(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        team_server.servicer.put_inputs(USER, APP, 2)
        ok(team_rpc.post(labeling_task("t1", TaskWorker.FULL, labelers=["l1"])))
        before = team_server.servicer.assignments(USER, APP, "t1")
        changed = labeling_task("t1", TaskWorker.FULL, TaskReview.MANUAL, labelers=["l1"])
        ok(team_rpc.patch("overwrite", changed))
        assert [a.id for a in team_server.servicer.assignments(USER, APP, "t1")] == [
            a.id for a in before
        ]
        actors["l1"].label_all("t1", "cat")
        assert set(a.status.code for a in team_server.servicer.assignments(USER, APP, "t1")) == {
            SC.TASK_ASSIGNMENT_AWAITING_REVIEW
        }

    def test_done_is_set_by_the_owner_only_by_default(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        team_server.servicer.put_inputs(USER, APP, 2)
        ok(team_rpc.post(labeling_task("t1")))
        actors["l1"].label_all("t1", "cat")
        assert metrics(team_rpc, "t1").review.inputs_percent_estimated == 100
        assert ok(team_rpc.get("t1")).task.status.code == SC.TASK_IN_PROGRESS
        done = resources_pb2.Task(id="t1")
        done.status.code = SC.TASK_DONE
        ok(team_rpc.patch("merge", done))
        assert ok(team_rpc.get("t1")).task.status.code == SC.TASK_DONE

    def test_auto_done_is_opt_in(self) -> None:
        with serve(servicer=team_servicer(auto_done=True)) as server, Rpc(server.target) as rpc:
            server.servicer.put_inputs(USER, APP, 2)
            ok(rpc.post(labeling_task("t1", review=TaskReview.MANUAL)))
            l1 = Actor(rpc, "l1")
            l1.label_all("t1", "cat")
            assert ok(rpc.get("t1")).task.status.code == SC.TASK_IN_PROGRESS
            Actor(rpc, "r1").approve_all("t1")
            assert ok(rpc.get("t1")).task.status.code == SC.TASK_DONE
