"""Every worker strategy x review strategy, end to end over real gRPC, with the team's PATs.

Labelers label everything they get with the same concept, reviewers approve everything; then
every assignment and annotation is SUCCESS and the metrics and counts say so.
"""

from __future__ import annotations

from collections import Counter

import pytest
from clarifai_grpc.grpc.api import resources_pb2
from fake_rpc import APP, USER, Rpc, ok
from google.protobuf import struct_pb2
from team import (
    LABELERS,
    SC,
    Actor,
    Partitioned,
    TaskReview,
    TaskWorker,
    annotation_codes,
    codes,
    counts,
    labeling_task,
    metrics,
)

from fake_servicer import FakeServer
from fake_servicer.distribution import initial_assignments

INPUTS = 23


def weights(**values: float) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


STRATEGIES: dict[str, tuple[int, Partitioned | None]] = {
    "full": (TaskWorker.FULL, None),
    "evenly": (TaskWorker.PARTITIONED, Partitioned(type=Partitioned.EVENLY, workers_per_input=2)),
    "weighted": (
        TaskWorker.PARTITIONED,
        Partitioned(type=Partitioned.WEIGHTED, workers_per_input=1, weights=weights(l1=3, l2=1)),
    ),
    "dynamic": (TaskWorker.DYNAMIC, None),
}
REVIEWS = {"none": TaskReview.NONE, "manual": TaskReview.MANUAL, "consensus": TaskReview.CONSENSUS}


def per_labeler(assignments: list[resources_pb2.TaskAssignment]) -> Counter[str]:
    return Counter(a.worker.user.id for a in assignments)


@pytest.mark.parametrize("review_name", list(REVIEWS))
@pytest.mark.parametrize("strategy_name", list(STRATEGIES))
def test_strategy_by_review(
    team_server: FakeServer,
    team_rpc: Rpc,
    actors: dict[str, Actor],
    strategy_name: str,
    review_name: str,
) -> None:
    servicer = team_server.servicer
    ids = servicer.put_inputs(USER, APP, INPUTS)
    strategy, partitioned = STRATEGIES[strategy_name]
    review = REVIEWS[review_name]
    task = labeling_task(
        "t1",
        strategy,
        review,
        partitioned=partitioned,
        labelers_threshold=2 if review == TaskReview.CONSENSUS else 0,
    )
    ok(team_rpc.post(task))

    created = servicer.assignments(USER, APP, "t1")
    expected_at_creation = {
        "full": {user: INPUTS for user in LABELERS},
        "evenly": {"l1": 16, "l2": 15, "l3": 15},  # 46 = 23 inputs x 2 workers, round-robin
        "weighted": {"l1": 17, "l2": 6},  # 3:1, l3 has no weight
        "dynamic": {},
    }[strategy_name]
    assert dict(per_labeler(created)) == expected_at_creation
    assert set(codes(created)) <= {SC.TASK_ASSIGNMENT_PENDING}
    before = metrics(team_rpc, "t1")
    assert before.input_source.inputs_count_estimated == INPUTS
    assert before.work.inputs_count_estimated == 0
    assert before.review.inputs_count_estimated == 0

    # Labelers take turns, one batch each, until nobody gets work.
    labeled = Counter[str]()
    busy = True
    while busy:
        busy = False
        for labeler in LABELERS:
            batch = actors[labeler].start("t1")
            assert len(batch) <= 10
            for assignment in batch:
                ok(actors[labeler].annotate("t1", assignment.input.id, "cat"))
            if batch:
                actors[labeler].submit("t1", batch)
                labeled[labeler] += len(batch)
                busy = True

    everything = servicer.assignments(USER, APP, "t1")
    if strategy_name == "dynamic":
        per_input = 2 if review == TaskReview.CONSENSUS else 1
        assert len(everything) == INPUTS * per_input
        assert Counter(a.input.id for a in everything) == Counter(
            {input_id: per_input for input_id in ids}
        )
    else:
        assert dict(labeled) == expected_at_creation
    awaiting = {
        TaskReview.NONE: SC.TASK_ASSIGNMENT_SUCCESS,
        TaskReview.MANUAL: SC.TASK_ASSIGNMENT_AWAITING_REVIEW,
        # Everyone chose "cat": consensus is reached once two labelers agree; a partition
        # with one labeler per input never reaches the threshold and falls back to review.
        TaskReview.CONSENSUS: (
            SC.TASK_ASSIGNMENT_AWAITING_REVIEW
            if strategy_name == "weighted"
            else SC.TASK_ASSIGNMENT_SUCCESS
        ),
    }[review]
    assert set(codes(everything)) == {awaiting}
    middle = metrics(team_rpc, "t1")
    assert middle.work.inputs_count_estimated == INPUTS
    assert middle.work.inputs_percent_estimated == 100

    if review != TaskReview.NONE:
        reviewed = actors["r1"].approve_all("t1") + actors["r2"].approve_all("t1")
        needs_review = awaiting == SC.TASK_ASSIGNMENT_AWAITING_REVIEW
        assert reviewed == (len(everything) if needs_review else 0)

    final = servicer.assignments(USER, APP, "t1")
    assert set(codes(final)) == {SC.TASK_ASSIGNMENT_SUCCESS}
    assert set(annotation_codes(team_rpc, "t1").values()) == {SC.ANNOTATION_SUCCESS}
    done = metrics(team_rpc, "t1")
    assert done.review.inputs_count_estimated == INPUTS
    assert done.review.inputs_percent_estimated == 100
    by_user = counts(team_rpc, "GetTaskInputCount", "t1")
    assert set(by_user) == set(LABELERS)
    assert sum(row[3] for row in by_user.values()) == len(final)
    assert all(row[:3] == (0, 0, 0) and row[4] == 0 for row in by_user.values())
    annotations = counts(team_rpc, "GetTaskAnnotationCount", "t1")
    assert annotations == by_user


class TestDistribution:
    def test_evenly_without_workers_per_input_gives_each_input_once(self) -> None:
        task = labeling_task(
            "t", TaskWorker.PARTITIONED, partitioned=Partitioned(type=Partitioned.EVENLY)
        )
        pairs = initial_assignments(task, ["a", "b", "c"], [f"i{n}" for n in range(10)])
        assert Counter(worker for worker, _ in pairs) == {"a": 4, "b": 3, "c": 3}
        assert len({input_id for _, input_id in pairs}) == 10

    def test_workers_per_input_is_capped(self) -> None:
        info = Partitioned(type=Partitioned.EVENLY, workers_per_input=5)
        task = labeling_task("t", TaskWorker.PARTITIONED, partitioned=info)
        pairs = initial_assignments(task, ["a", "b"], ["i1", "i2"])
        assert sorted(pairs) == [("a", "i1"), ("a", "i2"), ("b", "i1"), ("b", "i2")]

    def test_weighted_is_proportional_and_distinct_per_input(self) -> None:
        info = Partitioned(
            type=Partitioned.WEIGHTED, workers_per_input=2, weights=weights(a=2, b=1, c=1)
        )
        task = labeling_task("t", TaskWorker.PARTITIONED, partitioned=info)
        pairs = initial_assignments(task, ["a", "b", "c"], [f"i{n}" for n in range(100)])
        assert Counter(worker for worker, _ in pairs) == {"a": 100, "b": 50, "c": 50}
        assert all(n == 2 for n in Counter(input_id for _, input_id in pairs).values())

    def test_dynamic_and_no_workers_assign_nothing_at_creation(self) -> None:
        assert initial_assignments(labeling_task("t"), ["a"], ["i1"]) == []
        full = labeling_task("t", TaskWorker.FULL)
        assert initial_assignments(full, [], ["i1"]) == []
