"""ListTasks filters over RPC, including deprecated worker and reviewer fields."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2
from fake_rpc import APP, USER, Rpc, ids_of, make_task

from fake_servicer import FakeV2Servicer

Task = resources_pb2.Task
User = resources_pb2.User
Worker = resources_pb2.Worker
WorkerIDSet = resources_pb2.WorkerIDSet
Source = resources_pb2.TaskInputSource


def task_with_workers(task_id: str, **worker: object) -> Task:
    return make_task(task_id, worker=resources_pb2.TaskWorker(**worker))  # type: ignore[arg-type]


@pytest.fixture
def seeded(servicer: FakeV2Servicer) -> FakeV2Servicer:
    model = resources_pb2.Model(id="m1", model_version=resources_pb2.ModelVersion(id="mv1"))
    workflow = resources_pb2.Workflow(id="wf1", version=resources_pb2.WorkflowVersion(id="wv1"))
    tasks = [
        task_with_workers("current", workers=[Worker(user=User(id="alice"))]),
        task_with_workers("dep-ids", user_ids=["bob"]),
        task_with_workers("dep-users", users=[User(id="carol")]),
        task_with_workers("model", workers=[Worker(model=model), Worker(user=User(id="bob"))]),
        task_with_workers("workflow", workers=[Worker(workflow=workflow)]),
        make_task("rev-current", review=resources_pb2.TaskReview(users=[User(id="rita")])),
        make_task("rev-dep", review=resources_pb2.TaskReview(user_ids=["rob"])),
        make_task("ds1", input_source=Source(type=Source.DATASET, id="d1")),
        make_task("ds2", input_source=Source(type=Source.DATASET, id="d2")),
        make_task("search", input_source=Source(type=Source.SAVED_SEARCH, id="d1")),
    ]
    servicer.put_tasks(USER, APP, tasks)
    return servicer


@pytest.mark.usefixtures("seeded")
class TestFilters:
    def test_ids(self, rpc: Rpc) -> None:
        assert ids_of(rpc.list(ids=["ds1", "ghost", "current", "ds1"])) == ["ds1", "current"]

    def test_ids_paginated(self, rpc: Rpc) -> None:
        wanted = ["current", "model", "ds2"]
        assert ids_of(rpc.list(ids=wanted, per_page=2)) == ["ds2", "model"]
        assert ids_of(rpc.list(ids=wanted, per_page=2, page=2)) == ["current"]

    @pytest.mark.parametrize(
        ("users", "expected"),
        [
            (["alice"], ["current"]),
            (["bob"], ["model", "dep-ids"]),
            (["carol"], ["dep-users"]),
            (["alice", "carol"], ["dep-users", "current"]),
            (["nobody"], []),
        ],
    )
    def test_worker_user_ids(self, rpc: Rpc, users: list[str], expected: list[str]) -> None:
        assert ids_of(rpc.list(worker_user_ids=users)) == expected

    @pytest.mark.parametrize(
        ("worker_ids", "expected"),
        [
            ([WorkerIDSet(user_id="alice")], ["current"]),
            ([WorkerIDSet(user_id="bob")], ["model", "dep-ids"]),
            ([WorkerIDSet(model_id="m1")], ["model"]),
            ([WorkerIDSet(model_id="m1", model_version_id="mv1")], ["model"]),
            ([WorkerIDSet(model_id="m1", model_version_id="other")], []),
            ([WorkerIDSet(user_id="someone", app_id="a", model_id="m1")], ["model"]),
            ([WorkerIDSet(workflow_id="wf1")], ["workflow"]),
            ([WorkerIDSet(workflow_id="wf1", workflow_version_id="wv2")], []),
            ([WorkerIDSet(model_id="m1"), WorkerIDSet(user_id="carol")], ["model", "dep-users"]),
            ([WorkerIDSet()], []),
        ],
    )
    def test_worker_ids(self, rpc: Rpc, worker_ids: list[WorkerIDSet], expected: list[str]) -> None:
        assert ids_of(rpc.list(worker_ids=worker_ids)) == expected

    def test_review_user_ids_current_and_deprecated(self, rpc: Rpc) -> None:
        assert ids_of(rpc.list(review_user_ids=["rita"])) == ["rev-current"]
        assert ids_of(rpc.list(review_user_ids=["rob"])) == ["rev-dep"]
        assert ids_of(rpc.list(review_user_ids=["rob", "rita"])) == ["rev-dep", "rev-current"]

    def test_input_source(self, rpc: Rpc) -> None:
        assert ids_of(rpc.list(input_source_type=Source.DATASET)) == ["ds2", "ds1"]
        assert ids_of(rpc.list(input_source_ids=["d1"])) == ["search", "ds1"]
        both = rpc.list(input_source_type=Source.SAVED_SEARCH, input_source_ids=["d1"])
        assert ids_of(both) == ["search"]
        assert len(rpc.list(input_source_type=Source.INPUT_SOURCE_TYPE_NOT_SET).tasks) == 10

    def test_filters_are_anded(self, rpc: Rpc) -> None:
        assert ids_of(rpc.list(ids=["ds1", "ds2"], input_source_ids=["d2"])) == ["ds2"]
        assert ids_of(rpc.list(worker_user_ids=["bob"], ids=["dep-ids"])) == ["dep-ids"]
        assert ids_of(rpc.list(worker_user_ids=["alice"], review_user_ids=["rita"])) == []

    def test_filtered_pagination(self, rpc: Rpc) -> None:
        assert ids_of(rpc.list(input_source_type=Source.DATASET, per_page=1)) == ["ds2"]
        page2 = rpc.list(input_source_type=Source.DATASET, per_page=1, page=2)
        assert ids_of(page2) == ["ds1"]
        page3 = rpc.list(input_source_type=Source.DATASET, per_page=1, page=3)
        assert ids_of(page3) == []


def test_label_order_tasks_hidden_unless_asked(rpc: Rpc, servicer: FakeV2Servicer) -> None:
    servicer.put_tasks(
        USER,
        APP,
        [
            make_task("plain"),
            make_task("lo1", label_order_id="L1"),
            make_task("lo2", label_order_id="L2"),
        ],
    )
    assert ids_of(rpc.list()) == ["plain"]
    assert ids_of(rpc.list(including_label_order_tasks=True)) == ["lo2", "lo1", "plain"]
    assert ids_of(rpc.list(label_order_ids=["L1"])) == ["lo1"]
    assert ids_of(rpc.list(ids=["lo1", "plain"])) == ["plain"]
    assert rpc.get("lo1").task.label_order_id == "L1"
    servicer.put_tasks(USER, APP, [make_task("lo1")])
    assert ids_of(rpc.list()) == ["lo1", "plain"]
