"""REVIEW_START and the review decisions under MANUAL review, one and all reviewers."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from fake_rpc import APP, USER, Rpc, ok
from team import SC, Actor, TaskReview, TaskWorker, annotation_codes, codes, labeling_task

from fake_servicer import FakeServer

APPROVE = service_pb2.REVIEW_APPROVE
CHANGES = service_pb2.REVIEW_REQUEST_CHANGES
REJECT = service_pb2.REVIEW_REJECT


def submitted_task(
    server: FakeServer,
    rpc: Rpc,
    actors: dict[str, Actor],
    inputs: int,
    reviewers_threshold: int = 1,
    labelers: tuple[str, ...] = ("l1",),
    strategy: int = TaskWorker.DYNAMIC,
) -> list[str]:
    """t1: MANUAL review by r1 and r2; ``labelers`` label every input they get "cat"."""
    ids = server.servicer.put_inputs(USER, APP, inputs)
    task = labeling_task("t1", strategy, TaskReview.MANUAL, reviewers_threshold=reviewers_threshold)
    ok(rpc.post(task))
    for labeler in labelers:
        actors[labeler].label_all("t1", "cat")
    return ids


def statuses(server: FakeServer) -> list[int]:
    return codes(server.servicer.assignments(USER, APP, "t1"))


class TestOneReviewer:
    def test_batches_are_split_between_reviewers(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        ids = submitted_task(team_server, team_rpc, actors, 15)
        r1 = actors["r1"].review_start("t1")
        assert [a.input.id for a in r1] == ids[:10]
        assert codes(r1) == [SC.TASK_ASSIGNMENT_AWAITING_REVIEW] * 10
        assert [a.id for a in actors["r1"].review_start("t1")] == [a.id for a in r1]
        r2 = actors["r2"].review_start("t1")
        assert [a.input.id for a in r2] == ids[10:]
        assert actors["r2"].review_start("t1") == r2

    def test_approve_moves_assignments_and_annotations(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(team_server, team_rpc, actors, 3)
        batch = actors["r1"].review_start("t1")
        response = ok(actors["r1"].decide("t1", APPROVE, batch[:2]))
        assert codes(response.task_assignments) == [SC.TASK_ASSIGNMENT_SUCCESS] * 2
        assert sorted(annotation_codes(team_rpc, "t1").values()) == sorted(
            [SC.ANNOTATION_SUCCESS] * 2 + [SC.ANNOTATION_AWAITING_REVIEW]
        )
        again = ok(actors["r1"].decide("t1", APPROVE, batch[:2]))
        assert codes(again.task_assignments) == [SC.TASK_ASSIGNMENT_SUCCESS] * 2
        assert [a.id for a in actors["r1"].review_start("t1")] == [batch[2].id]

    def test_request_changes_sends_work_back(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(team_server, team_rpc, actors, 2)
        batch = actors["r1"].review_start("t1")
        response = ok(actors["r1"].decide("t1", CHANGES, batch[:1]))
        assert codes(response.task_assignments) == [SC.TASK_ASSIGNMENT_PENDING]
        assert annotation_codes(team_rpc, "t1")[("l1", batch[0].input.id)] == (
            SC.ANNOTATION_PENDING
        )
        assert ok(actors["r1"].decide("t1", CHANGES, batch[:1]))  # repeated: no-op
        pending = actors["r1"].decide("t1", APPROVE, batch[:1])
        assert pending.status.code == SC.CONN_INVALID_REQUEST
        rework = actors["l1"].start("t1")
        assert [a.id for a in rework] == [batch[0].id]
        actors["l1"].submit("t1", rework)
        assert statuses(team_server) == [SC.TASK_ASSIGNMENT_AWAITING_REVIEW] * 2
        assert {a.id for a in actors["r2"].review_start("t1")} == {batch[0].id}

    def test_reject_is_final(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(team_server, team_rpc, actors, 2)
        batch = actors["r1"].review_start("t1")
        rejected = ok(actors["r1"].decide("t1", REJECT, batch[:1])).task_assignments
        assert codes(rejected) == [SC.TASK_ASSIGNMENT_REJECTED]
        assert annotation_codes(team_rpc, "t1")[("l1", batch[0].input.id)] == (
            SC.ANNOTATION_REVIEW_DENIED
        )
        assert ok(actors["r1"].decide("t1", REJECT, batch[:1]))  # repeated: no-op
        for action in (APPROVE, CHANGES):
            refused = actors["r1"].decide("t1", action, batch[:1])
            assert refused.status.code == SC.CONN_INVALID_REQUEST
        assert actors["l1"].start("t1") == []
        assert statuses(team_server).count(SC.TASK_ASSIGNMENT_REJECTED) == 1

    def test_assignment_held_by_another_reviewer(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(team_server, team_rpc, actors, 1)
        batch = actors["r1"].review_start("t1")
        assert actors["r2"].decide("t1", APPROVE, batch).status.code == SC.TASK_PERMISSION_DENIED
        assert statuses(team_server) == [SC.TASK_ASSIGNMENT_AWAITING_REVIEW]

    def test_bulk_by_workers(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(
            team_server, team_rpc, actors, 3, labelers=("l1", "l2"), strategy=TaskWorker.FULL
        )
        response = ok(actors["r1"].decide("t1", APPROVE, workers=["l1"]))
        assert [a.worker.user.id for a in response.task_assignments] == ["l1"] * 3
        assert set(codes(response.task_assignments)) == {SC.TASK_ASSIGNMENT_SUCCESS}
        remaining = actors["r1"].review_start("t1")
        assert {a.worker.user.id for a in remaining} == {"l2"}

    def test_review_start_filters_workers(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(
            team_server, team_rpc, actors, 3, labelers=("l1", "l2"), strategy=TaskWorker.FULL
        )
        batch = actors["r1"].review_start("t1", workers=["l2"])
        assert [a.worker.user.id for a in batch] == ["l2"] * 3

    def test_who_may_review(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(team_server, team_rpc, actors, 2)
        response = actors["l1"].put("t1", service_pb2.REVIEW_START)
        assert response.status.code == SC.TASK_PERMISSION_DENIED
        owner_batch = actors[USER].review_start("t1")
        assert len(owner_batch) == 2
        assert ok(actors[USER].decide("t1", APPROVE, owner_batch))
        assert statuses(team_server) == [SC.TASK_ASSIGNMENT_SUCCESS] * 2

    @pytest.mark.parametrize("action", [APPROVE, CHANGES, REJECT])
    def test_decision_needs_its_config(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor], action: int
    ) -> None:
        submitted_task(team_server, team_rpc, actors, 1)
        assert actors["r1"].put("t1", action).status.code == SC.CONN_INVALID_REQUEST
        empty = actors["r1"].decide("t1", action)
        assert empty.status.code == SC.CONN_INVALID_REQUEST
        pending_elsewhere = resources_pb2.TaskAssignment(id="nope")
        unknown = actors["r1"].decide("t1", action, [pending_elsewhere])
        assert unknown.status.code == SC.CONN_INVALID_REQUEST
        assert statuses(team_server) == [SC.TASK_ASSIGNMENT_AWAITING_REVIEW]

    def test_deciding_unsubmitted_work_is_refused(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        team_server.servicer.put_inputs(USER, APP, 1)
        ok(team_rpc.post(labeling_task("t1", review=TaskReview.MANUAL)))
        batch = actors["l1"].start("t1")
        assert actors["r1"].decide("t1", APPROVE, batch).status.code == SC.CONN_INVALID_REQUEST
        assert actors["r1"].review_start("t1") == []


class TestAllReviewers:
    def test_every_reviewer_must_approve(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(team_server, team_rpc, actors, 2, reviewers_threshold=-1)
        r1 = actors["r1"].review_start("t1")
        r2 = actors["r2"].review_start("t1")
        assert [a.id for a in r1] == [a.id for a in r2]
        first = ok(actors["r1"].decide("t1", APPROVE, r1)).task_assignments
        assert codes(first) == [SC.TASK_ASSIGNMENT_AWAITING_REVIEW] * 2
        assert actors["r1"].review_start("t1") == []
        assert ok(actors["r1"].decide("t1", APPROVE, r1))  # repeated: no-op
        assert statuses(team_server) == [SC.TASK_ASSIGNMENT_AWAITING_REVIEW] * 2
        final = ok(actors["r2"].decide("t1", APPROVE, r2)).task_assignments
        assert codes(final) == [SC.TASK_ASSIGNMENT_SUCCESS] * 2

    def test_one_rejection_is_final(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(team_server, team_rpc, actors, 1, reviewers_threshold=-1)
        batch = actors["r1"].review_start("t1")
        ok(actors["r1"].decide("t1", APPROVE, batch))
        ok(actors["r2"].decide("t1", REJECT, batch))
        assert statuses(team_server) == [SC.TASK_ASSIGNMENT_REJECTED]

    def test_request_changes_forgets_approvals(
        self, team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        submitted_task(team_server, team_rpc, actors, 1, reviewers_threshold=-1)
        batch = actors["r1"].review_start("t1")
        ok(actors["r1"].decide("t1", APPROVE, batch))
        ok(actors["r2"].decide("t1", CHANGES, batch))
        actors["l1"].submit("t1", actors["l1"].start("t1"))
        ok(actors["r2"].decide("t1", APPROVE, batch))
        assert statuses(team_server) == [SC.TASK_ASSIGNMENT_AWAITING_REVIEW]
        ok(actors["r1"].decide("t1", APPROVE, batch))
        assert statuses(team_server) == [SC.TASK_ASSIGNMENT_SUCCESS]


def test_an_approver_may_still_reject_before_the_others_decide(
    team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
) -> None:
    submitted_task(team_server, team_rpc, actors, 1, reviewers_threshold=-1)
    batch = actors["r1"].review_start("t1")
    ok(actors["r1"].decide("t1", APPROVE, batch))
    rejected = ok(actors["r1"].decide("t1", REJECT, batch)).task_assignments
    assert codes(rejected) == [SC.TASK_ASSIGNMENT_REJECTED]
