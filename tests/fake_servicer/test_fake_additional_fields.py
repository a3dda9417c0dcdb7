"""GetTask/ListTasks additional_fields: users filled from ids, metrics set, others refused."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from fake_rpc import Rpc, make_task

from fake_servicer.additional_fields import apply_additional_fields

Task = resources_pb2.Task
User = resources_pb2.User
Worker = resources_pb2.Worker

METRIC_FIELDS = [
    "metrics.input_source.inputs_count_estimated",
    "metrics.work.inputs_count_estimated",
    "metrics.work.inputs_percent_estimated",
    "metrics.review.inputs_count_estimated",
    "metrics.review.inputs_count_estimated_per_reviewer",
    "metrics.review.inputs_percent_estimated",
    "metrics.review.inputs_percent_estimated_per_reviewer",
    "metrics.review.inputs_reviewable_count_estimated_per_reviewer",
]


def mixed_task(task_id: str = "t1", *, model: bool = True) -> Task:
    """Users in current and deprecated fields; ``model`` adds a model worker among them (which
    PostTasks refuses: resources.proto allows only users in a labeling task's workers)."""
    models = [Worker(model=resources_pb2.Model(id="m1"))] if model else []
    return make_task(
        task_id,
        worker=resources_pb2.TaskWorker(
            workers=[Worker(user=User(id="w1")), *models, Worker(user=User(id="w2"))],
            user_ids=["w3", "w1"],
        ),
        review=resources_pb2.TaskReview(user_ids=["r1", "r2"]),
    )


def test_worker_users_filled_from_workers_and_user_ids() -> None:
    task = mixed_task()
    apply_additional_fields(task, frozenset({"worker.users"}))
    assert [u.id for u in task.worker.users] == ["w1", "w2", "w3"]
    assert not task.review.users


def test_review_users_filled_from_user_ids() -> None:
    task = mixed_task()
    apply_additional_fields(task, frozenset({"review.users"}))
    assert [u.id for u in task.review.users] == ["r1", "r2"]
    assert not task.worker.users


def test_existing_users_left_alone() -> None:
    task = mixed_task()
    task.worker.users.add(id="explicit")
    task.review.users.add(id="rev")
    apply_additional_fields(task, frozenset({"all"}))
    assert [u.id for u in task.worker.users] == ["explicit"]
    assert [u.id for u in task.review.users] == ["rev"]


def test_no_fields_changes_nothing() -> None:
    task = mixed_task()
    before = Task()
    before.CopyFrom(task)
    apply_additional_fields(task, frozenset())
    assert task == before
    assert not task.HasField("metrics")


@pytest.mark.parametrize("field", METRIC_FIELDS)
def test_each_metric_sets_its_sub_message(field: str) -> None:
    task = mixed_task()
    apply_additional_fields(task, frozenset({field}))
    _, group, name = field.split(".")
    present = {g: task.metrics.HasField(g) for g in ("input_source", "work", "review")}
    assert present == {g: g == group for g in present}
    value = getattr(getattr(task.metrics, group), name)
    if name.endswith("per_reviewer"):
        assert list(value) == [0, 0]
    else:
        assert value == 0


def test_all_sets_everything() -> None:
    task = mixed_task()
    apply_additional_fields(task, frozenset({"all"}))
    assert task.metrics.HasField("input_source")
    assert task.metrics.HasField("work")
    assert len(task.metrics.review.inputs_reviewable_count_estimated_per_reviewer) == 2
    assert [u.id for u in task.worker.users] == ["w1", "w2", "w3"]


def test_get_task_with_and_without_fields(rpc: Rpc) -> None:
    [created] = rpc.post(mixed_task(model=False)).tasks
    plain = rpc.get("t1")
    assert plain.task == created
    assert not plain.task.worker.users
    rich = rpc.get("t1", "worker.users", "review.users", "metrics.work.inputs_count_estimated")
    assert rich.status.code == status_code_pb2.SUCCESS
    assert [u.id for u in rich.task.worker.users] == ["w1", "w2", "w3"]
    assert [u.id for u in rich.task.review.users] == ["r1", "r2"]
    assert rich.task.metrics.HasField("work")
    assert not rpc.get("t1").task.worker.users


def test_list_tasks_applies_fields_to_every_task(rpc: Rpc) -> None:
    rpc.post(mixed_task("a", model=False), mixed_task("b", model=False))
    response = rpc.list(additional_fields=["all"])
    assert response.status.code == status_code_pb2.SUCCESS
    assert [len(t.worker.users) for t in response.tasks] == [3, 3]
    assert all(t.metrics.HasField("review") for t in response.tasks)
    assert not any(t.worker.users for t in rpc.list().tasks)


@pytest.mark.parametrize("bad", ["worker", "metrics.work", "tasks.users"])
def test_unknown_field_refused(rpc: Rpc, bad: str) -> None:
    rpc.post(mixed_task(model=False))
    for response in (rpc.get("t1", "all", bad), rpc.list(additional_fields=[bad])):
        assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
        assert bad in response.status.description
        assert "additional_fields" in response.status.description
