"""Every ListTasks filter on ``list()``, sync and async: the request sent, and the fake's answer."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from tgsupport import APP, FAST_RETRY, PAT, USER, simple_task

import taskgrpc as tg
from taskgrpc import requests as rq

U = rq.user_app_id(USER, APP)


def test_the_request_carries_every_filter() -> None:
    request = rq.list_tasks(
        U,
        worker_user_ids=["u1"],
        worker_model_ids=["m1"],
        worker_workflow_ids=["wf1"],
        label_order_ids=["lo1"],
        including_label_order_tasks=True,
        review_user_ids=["r1"],
        ids=["t1"],
        input_source_ids=["ds1"],
        input_source_type="DATASET",
    )
    assert list(request.worker_ids) == [
        r.WorkerIDSet(user_id="u1"),
        r.WorkerIDSet(model_id="m1"),
        r.WorkerIDSet(workflow_id="wf1"),
    ]
    assert not request.worker_user_ids  # the deprecated field is never sent
    assert list(request.label_order_ids) == ["lo1"]
    assert request.including_label_order_tasks
    assert list(request.review_user_ids) == ["r1"]
    assert list(request.ids) == ["t1"]
    assert list(request.input_source_ids) == ["ds1"]
    assert request.input_source_type == r.TaskInputSource.DATASET


def test_none_means_no_filter() -> None:
    request = rq.list_tasks(
        U,
        worker_user_ids=None,
        review_user_ids=None,
        ids=None,
        input_source_ids=None,
        additional_fields=None,
        label_order_ids=None,
        worker_model_ids=None,
        worker_workflow_ids=None,
    )
    assert request == rq.list_tasks(U)


@pytest.mark.parametrize(
    "field", ["label_order_ids", "worker_model_ids", "worker_workflow_ids", "ids"]
)
def test_a_single_string_is_refused(field: str) -> None:
    with pytest.raises(tg.ValidationError, match=field):
        rq.list_tasks(U, **{field: "abc"})


def seeded(server) -> dict[str, r.Task]:
    """One task per kind of worker, plus one in a label order."""
    model = simple_task("by-model", type=r.Task.TYPE_NOT_SET)
    model.worker.CopyFrom(tg.auto_annotation(model_id="m1", model_version_id="v1"))
    workflow = simple_task("by-workflow", type=r.Task.TYPE_NOT_SET)
    workflow.worker.CopyFrom(tg.auto_annotation(workflow_id="wf1"))
    people = simple_task("by-people")
    people.worker.CopyFrom(tg.full(["u1", "u2"]))
    ordered = simple_task("in-order", label_order_id="lo1")
    tasks = {t.id: t for t in (model, workflow, people, ordered)}
    server.servicer.put_tasks(USER, APP, list(tasks.values()))
    return tasks


def ids(tasks) -> set[str]:
    return {t.id for t in tasks}


FILTERS = [
    ({}, {"by-model", "by-workflow", "by-people"}),
    ({"ids": None, "worker_user_ids": None}, {"by-model", "by-workflow", "by-people"}),
    ({"worker_model_ids": ["m1"]}, {"by-model"}),
    ({"worker_model_ids": ["other"]}, set()),
    ({"worker_workflow_ids": ["wf1"]}, {"by-workflow"}),
    ({"worker_user_ids": ["u2"]}, {"by-people"}),
    ({"worker_user_ids": ["u2"], "worker_model_ids": ["m1"]}, {"by-people", "by-model"}),
    ({"including_label_order_tasks": True}, {"by-model", "by-workflow", "by-people", "in-order"}),
    ({"label_order_ids": ["lo1"]}, {"in-order"}),
]


@pytest.mark.parametrize(("kwargs", "expected"), FILTERS)
def test_the_fake_filters_faithfully(client: tg.TaskClient, server, kwargs, expected) -> None:
    seeded(server)
    assert ids(client.list(**kwargs)) == expected


@pytest.mark.parametrize(("kwargs", "expected"), FILTERS)
async def test_async_list_takes_the_same_filters(server, kwargs, expected) -> None:
    seeded(server)
    async with tg.AsyncTaskClient(
        pat=PAT, user_id=USER, app_id=APP, target=server.target, secure=False, retry=FAST_RETRY
    ) as client:
        assert {t.id async for t in client.list(**kwargs)} == expected


def test_the_filters_reach_the_wire(client: tg.TaskClient, server) -> None:
    seeded(server)
    list(client.list(worker_workflow_ids=["wf1"], label_order_ids=["lo1"]))
    [record] = [c for c in server.servicer.requests if c.method == "ListTasks"]
    assert list(record.request.worker_ids) == [r.WorkerIDSet(workflow_id="wf1")]
    assert list(record.request.label_order_ids) == ["lo1"]
