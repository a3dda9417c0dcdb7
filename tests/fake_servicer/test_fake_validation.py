"""Impossible tasks, task ids and additional_fields: unit checks and over RPC."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from fake_rpc import APP, USER, Rpc, make_task

from fake_servicer import FakeV2Servicer
from fake_servicer.status import ApiError
from fake_servicer.validation import (
    ADDITIONAL_FIELDS,
    check_additional_fields,
    check_task_id,
    check_task_possible,
)

Task = resources_pb2.Task
TaskWorker = resources_pb2.TaskWorker
Partitioned = resources_pb2.TaskWorkerPartitionedStrategyInfo
TaskReview = resources_pb2.TaskReview
Consensus = resources_pb2.TaskReviewConsensusStrategyInfo
Source = resources_pb2.TaskInputSource


def weighted(*, wpi: int = 1, workers: tuple[str, ...] | None = None, **weights: Any) -> TaskWorker:
    """A WEIGHTED worker; its users are the weights' keys unless ``workers`` names them."""
    info = Partitioned(type=Partitioned.WEIGHTED, workers_per_input=wpi)
    info.weights.update(weights)
    users = list(weights) if workers is None else list(workers)
    return TaskWorker(
        strategy=TaskWorker.PARTITIONED,
        user_ids=users,
        partitioned_strategy_info=info,
    )


def consensus(**info: int) -> TaskReview:
    return TaskReview(strategy=TaskReview.CONSENSUS, consensus_strategy_info=Consensus(**info))


IMPOSSIBLE: dict[str, tuple[Task, str]] = {
    "no-type": (Task(id="x"), "type"),
    "no-type-user-worker": (
        Task(worker=TaskWorker(workers=[resources_pb2.Worker(user=resources_pb2.User(id="u"))])),
        "type",
    ),
    "partitioned-no-info": (
        make_task(worker=TaskWorker(strategy=TaskWorker.PARTITIONED)),
        "worker.partitioned_strategy_info",
    ),
    "partitioned-type-unset": (
        make_task(
            worker=TaskWorker(
                strategy=TaskWorker.PARTITIONED,
                partitioned_strategy_info=Partitioned(workers_per_input=1),
            )
        ),
        "worker.partitioned_strategy_info.type",
    ),
    "weighted-empty": (make_task(worker=weighted()), "weights"),
    "weighted-negative": (make_task(worker=weighted(u1=-1)), "weights"),
    "weighted-not-number": (make_task(worker=weighted(u1="ninety")), "weights"),
    "consensus-reviewers-2": (
        make_task(review=consensus(approval_threshold_labelers=1, approval_threshold_reviewers=2)),
        "approval_threshold_reviewers",
    ),
    "weight-for-a-non-worker": (make_task(worker=weighted(workers=("u1",), u1=1, u9=1)), "u9"),
    "weight-share-impossible": (make_task(worker=weighted(wpi=2, u1=3, u2=1)), "weights"),
    "weights-all-zero": (make_task(worker=weighted(u1=0, u2=0)), "weights"),
    "auto-annotation-two-workers": (
        Task(
            type=Task.TYPE_NOT_SET,
            concepts=[resources_pb2.TaskConcept(concept=resources_pb2.Concept(id="c"))],
            worker=TaskWorker(
                workers=[
                    resources_pb2.Worker(model=resources_pb2.Model(id="m")),
                    resources_pb2.Worker(user=resources_pb2.User(id="u")),
                ]
            ),
        ),
        "workers",
    ),
    "saved-search-no-id": (
        make_task(input_source=Source(type=Source.SAVED_SEARCH)),
        "input_source.id",
    ),
    "dataset-no-id": (make_task(input_source=Source(type=Source.DATASET)), "input_source.id"),
}

POSSIBLE: dict[str, Task] = {
    "plain": make_task(),
    "auto-annotation-model": Task(
        worker=TaskWorker(workers=[resources_pb2.Worker(model=resources_pb2.Model(id="m"))])
    ),
    "auto-annotation-workflow": Task(
        worker=TaskWorker(workers=[resources_pb2.Worker(workflow=resources_pb2.Workflow(id="w"))])
    ),
    "evenly": make_task(
        worker=TaskWorker(
            strategy=TaskWorker.PARTITIONED,
            partitioned_strategy_info=Partitioned(type=Partitioned.EVENLY, workers_per_input=1),
        )
    ),
    "weighted-docs": make_task(worker=weighted(u1=90, u2=10)),
    "weighted-unnormalised": make_task(worker=weighted(u1=9, u2=1)),
    "consensus-labelers": make_task(review=consensus(approval_threshold_labelers=1)),
    # resources.proto: "When 0, labelers consensus is disabled" - legal.
    "consensus-threshold-0": make_task(review=consensus()),
    "consensus-all-reviewers": make_task(
        review=consensus(approval_threshold_labelers=2, approval_threshold_reviewers=-1)
    ),
    "weighted-zero-weight": make_task(worker=weighted(u1=1, u2=0)),
    "consensus-deprecated": make_task(review=consensus(approval_threshold=2)),
    "manual-review": make_task(review=TaskReview(strategy=TaskReview.MANUAL)),
    "all-inputs": make_task(input_source=Source(type=Source.ALL_INPUTS)),
    "dataset": make_task(input_source=Source(type=Source.DATASET, id="ds")),
    "saved-search": make_task(input_source=Source(type=Source.SAVED_SEARCH, id="s")),
}


@pytest.mark.parametrize(("task", "field"), IMPOSSIBLE.values(), ids=IMPOSSIBLE.keys())
def test_impossible_task_refused(task: Task, field: str) -> None:
    with pytest.raises(ApiError) as raised:
        check_task_possible(task, "tasks[0]")
    assert raised.value.code == status_code_pb2.CONN_INVALID_REQUEST
    assert field in raised.value.description
    assert "tasks[0]" in raised.value.description


@pytest.mark.parametrize("task", POSSIBLE.values(), ids=POSSIBLE.keys())
def test_possible_task_accepted(task: Task) -> None:
    check_task_possible(task, "tasks[0]")


@pytest.mark.parametrize(("task", "field"), IMPOSSIBLE.values(), ids=IMPOSSIBLE.keys())
def test_impossible_task_refused_over_rpc(
    rpc: Rpc, servicer: FakeV2Servicer, task: Task, field: str
) -> None:
    response = rpc.post(make_task("ok-first"), task)
    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "tasks[1]" in response.status.description
    assert field in response.status.description
    assert servicer.tasks(USER, APP) == []


@pytest.mark.parametrize("task", POSSIBLE.values(), ids=POSSIBLE.keys())
def test_possible_task_created_over_rpc(rpc: Rpc, task: Task) -> None:
    response = rpc.post(task)
    assert response.status.code == status_code_pb2.SUCCESS, response.status


@pytest.mark.parametrize(
    "task_id",
    ["a", "A1", "7", "task-1", "task_1.v2", "x" * 128, "0abc", "a-", "a."],
)
def test_valid_ids(task_id: str) -> None:
    check_task_id(task_id, "tasks[0].id")


@pytest.mark.parametrize(
    "task_id",
    ["-a", "_a", ".a", "a b", "a/b", "a\n", "é", "x" * 129, "a:b", "a\x00"],
)
def test_invalid_ids(task_id: str) -> None:
    with pytest.raises(ApiError) as raised:
        check_task_id(task_id, "tasks[0].id")
    assert raised.value.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "tasks[0].id" in raised.value.description


def test_invalid_id_refused_over_rpc(rpc: Rpc, servicer: FakeV2Servicer) -> None:
    response = rpc.post(make_task("good"), make_task("bad id"))
    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "tasks[1].id" in response.status.description
    assert servicer.tasks(USER, APP) == []


def test_long_id_not_echoed_in_full(rpc: Rpc) -> None:
    response = rpc.post(make_task("y" * 5000))
    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert len(response.status.description) < 500


def test_additional_fields_accepted_list() -> None:
    assert check_additional_fields(ADDITIONAL_FIELDS) == ADDITIONAL_FIELDS
    assert check_additional_fields([]) == frozenset()
    assert len(ADDITIONAL_FIELDS) == 11


@pytest.mark.parametrize("bad", ["metrics", "worker.user", "ALL", "", "stars"])
def test_additional_fields_refused(bad: str) -> None:
    with pytest.raises(ApiError) as raised:
        check_additional_fields(["all", bad])
    assert "additional_fields" in raised.value.description
    assert repr(bad) in raised.value.description


# --- issue 9: read-only fields and task statuses ---------------------------------------------


def with_metrics(task: Task) -> Task:
    task.metrics.work.inputs_count_estimated = 99
    return task


def test_create_ignores_client_metrics(rpc: Rpc, servicer: FakeV2Servicer) -> None:
    response = rpc.post(with_metrics(make_task("m1")))
    assert response.status.code == status_code_pb2.SUCCESS
    assert not response.tasks[0].HasField("metrics")
    [stored] = servicer.tasks(USER, APP)
    assert not stored.HasField("metrics")


def test_overwrite_ignores_client_metrics(rpc: Rpc, servicer: FakeV2Servicer) -> None:
    rpc.post(make_task("m2"))
    response = rpc.patch("overwrite", with_metrics(make_task("m2", name="again")))
    assert response.status.code == status_code_pb2.SUCCESS
    assert not response.tasks[0].HasField("metrics")
    assert not servicer.tasks(USER, APP)[0].HasField("metrics")


def test_create_replaces_every_read_only_field(rpc: Rpc) -> None:
    sent = make_task("ro1", user_id="someone", app_id="elsewhere")
    sent.status.code = status_code_pb2.TASK_DONE
    sent.created_at.FromSeconds(1)
    [task] = rpc.post(sent).tasks
    assert (task.user_id, task.app_id) == (USER, APP)
    assert task.status.code == status_code_pb2.TASK_IN_PROGRESS
    assert task.created_at.seconds > 1


@pytest.mark.parametrize("action", ["merge", "overwrite"])
@pytest.mark.parametrize(
    "code",
    [status_code_pb2.SUCCESS, status_code_pb2.CONN_KEY_INVALID, status_code_pb2.TASK_MISSING],
)
def test_a_status_that_is_no_task_status_is_refused(rpc: Rpc, action: str, code: int) -> None:
    rpc.post(make_task("s1"))
    sent = make_task("s1")
    sent.status.code = code
    response = rpc.patch(action, sent)
    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "status" in response.status.description


@pytest.mark.parametrize("action", ["merge", "overwrite"])
def test_a_task_status_is_accepted(rpc: Rpc, action: str) -> None:
    rpc.post(make_task("s2"))
    sent = make_task("s2")
    sent.status.code = status_code_pb2.TASK_DONE
    response = rpc.patch(action, sent)
    assert response.status.code == status_code_pb2.SUCCESS
    assert response.tasks[0].status.code == status_code_pb2.TASK_DONE
