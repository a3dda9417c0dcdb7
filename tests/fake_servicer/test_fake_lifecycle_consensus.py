"""CONSENSUS review: labelers agree when they chose the same concepts (the fake's choice)."""

from __future__ import annotations

from fake_rpc import APP, USER, Rpc, ok
from team import SC, Actor, TaskReview, TaskWorker, annotation_codes, codes, labeling_task

from fake_servicer import FakeServer

WAITING = SC.TASK_ASSIGNMENT_AWAITING_CONSENSUS_REVIEW
REVIEW = SC.TASK_ASSIGNMENT_AWAITING_REVIEW
DONE = SC.TASK_ASSIGNMENT_SUCCESS


def full_consensus_task(server: FakeServer, rpc: Rpc, threshold: int) -> str:
    """One input, FULL over l1..l3, CONSENSUS with ``threshold`` labelers; returns the input."""
    (input_id,) = server.servicer.put_inputs(USER, APP, 1)
    task = labeling_task("t1", TaskWorker.FULL, TaskReview.CONSENSUS, labelers_threshold=threshold)
    ok(rpc.post(task))
    return input_id


def label(actor: Actor, *concepts: str) -> None:
    batch = actor.start("t1")
    for assignment in batch:
        ok(actor.annotate("t1", assignment.input.id, *concepts))
    actor.submit("t1", batch)


def by_worker(server: FakeServer) -> dict[str, int]:
    return {a.worker.user.id: a.status.code for a in server.servicer.assignments(USER, APP, "t1")}


def test_agreement_reaches_success(
    team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
) -> None:
    input_id = full_consensus_task(team_server, team_rpc, 2)
    label(actors["l1"], "cat", "dog")
    assert by_worker(team_server)["l1"] == WAITING
    assert annotation_codes(team_rpc, "t1")[("l1", input_id)] == (
        SC.ANNOTATION_AWAITING_CONSENSUS_REVIEW
    )
    label(actors["l2"], "dog", "cat")  # same set, other order
    assert by_worker(team_server) == {"l1": DONE, "l2": DONE, "l3": SC.TASK_ASSIGNMENT_PENDING}
    label(actors["l3"], "bird")  # disagrees after consensus: a reviewer looks at it
    assert by_worker(team_server)["l3"] == REVIEW
    assert annotation_codes(team_rpc, "t1")[("l3", input_id)] == SC.ANNOTATION_AWAITING_REVIEW


def test_no_agreement_falls_back_to_reviewers(
    team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
) -> None:
    full_consensus_task(team_server, team_rpc, 2)
    label(actors["l1"], "cat")
    label(actors["l2"], "dog")
    assert set(by_worker(team_server).values()) == {WAITING, SC.TASK_ASSIGNMENT_PENDING}
    label(actors["l3"], "bird")
    assert by_worker(team_server) == {"l1": REVIEW, "l2": REVIEW, "l3": REVIEW}
    batch = actors["r1"].review_start("t1")
    assert len(batch) == 3
    ok(actors["r1"].decide("t1", 11, batch))
    assert set(by_worker(team_server).values()) == {DONE}


def test_zero_valued_concepts_do_not_count(
    team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
) -> None:
    input_id = full_consensus_task(team_server, team_rpc, 2)
    label(actors["l1"], "cat")
    batch = actors["l2"].start("t1")
    ok(actors["l2"].annotate("t1", input_id, "cat"))
    annotation = team_rpc.request("ListAnnotations", user_ids=["l2"]).annotations[0]
    annotation.data.concepts[0].value = 0.0
    ok(team_rpc.request("PatchAnnotations", action="overwrite", annotations=[annotation]))
    actors["l2"].submit("t1", batch)
    assert by_worker(team_server)["l2"] == WAITING


def test_threshold_one_succeeds_on_submit(
    team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
) -> None:
    full_consensus_task(team_server, team_rpc, 1)
    label(actors["l2"], "cat")
    assert by_worker(team_server)["l2"] == DONE
    label(actors["l1"], "dog")
    assert by_worker(team_server)["l1"] == REVIEW


def test_dynamic_gives_each_input_to_threshold_labelers(
    team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]
) -> None:
    ids = team_server.servicer.put_inputs(USER, APP, 3)
    task = labeling_task("t1", review=TaskReview.CONSENSUS, labelers_threshold=2)
    ok(team_rpc.post(task))
    assert [a.input.id for a in actors["l1"].start("t1")] == ids
    assert [a.input.id for a in actors["l2"].start("t1")] == ids
    assert actors["l3"].start("t1") == []
    label(actors["l1"], "cat")
    label(actors["l2"], "dog")
    assert set(codes(team_server.servicer.assignments(USER, APP, "t1"))) == {REVIEW}
