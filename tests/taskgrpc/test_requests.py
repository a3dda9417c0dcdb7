"""taskgrpc.requests: the exact request protos of the five RPCs, and their validation."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from tgsupport import simple_task, uaid

from taskgrpc import ValidationError
from taskgrpc import requests as rq

U = uaid("u1", "a1")


def test_user_app_id():
    assert rq.user_app_id("u1", "a1") == r.UserAppIDSet(user_id="u1", app_id="a1")


@pytest.mark.parametrize(
    ("user", "app", "field"), [("", "a", "user_id"), ("u", "", "app_id"), (None, "a", "user_id")]
)
def test_user_app_id_needs_both(user, app, field):
    with pytest.raises(ValidationError, match=field):
        rq.user_app_id(user, app)


# --- PostTasks ---------------------------------------------------------------------------


def test_post_tasks():
    tasks = [simple_task("t1"), simple_task(name="no id")]
    assert rq.post_tasks(U, tasks) == s.PostTasksRequest(user_app_id=U, tasks=tasks)


def test_post_tasks_empty():
    with pytest.raises(ValidationError, match="tasks"):
        rq.post_tasks(U, [])


def test_post_tasks_checks_each_task():
    bad = simple_task()
    bad.review.CopyFrom(r.TaskReview(strategy=r.TaskReview.CONSENSUS))
    bad.review.consensus_strategy_info.approval_threshold_reviewers = 2
    with pytest.raises(ValidationError, match="approval_threshold_reviewers"):
        rq.post_tasks(U, [simple_task(), bad])


def test_post_tasks_check_false_skips_checks():
    bad = r.Task(id="x")
    assert rq.post_tasks(U, [bad], check=False) == s.PostTasksRequest(user_app_id=U, tasks=[bad])


# --- GetTask -----------------------------------------------------------------------------


def test_get_task():
    assert rq.get_task(U, "t1") == s.GetTaskRequest(user_app_id=U, task_id="t1")


def test_get_task_additional_fields():
    fields = ["worker.users", "review.users", "metrics.work.inputs_count_estimated"]
    assert rq.get_task(U, "t1", fields) == s.GetTaskRequest(
        user_app_id=U, task_id="t1", additional_fields=fields
    )


@pytest.mark.parametrize("bad", ["", "  ", None])
def test_get_task_empty_id(bad):
    with pytest.raises(ValidationError, match="task_id"):
        rq.get_task(U, bad)


@pytest.mark.parametrize("bad", [["bogus"], "all"])
def test_get_task_bad_additional_fields(bad):
    with pytest.raises(ValidationError, match="additional"):
        rq.get_task(U, "t1", bad)


def test_every_documented_additional_field_is_accepted():
    documented = [
        "all",
        "worker.users",
        "review.users",
        "metrics.input_source.inputs_count_estimated",
        "metrics.work.inputs_count_estimated",
        "metrics.work.inputs_percent_estimated",
        "metrics.review.inputs_count_estimated",
        "metrics.review.inputs_count_estimated_per_reviewer",
        "metrics.review.inputs_percent_estimated",
        "metrics.review.inputs_percent_estimated_per_reviewer",
        "metrics.review.inputs_reviewable_count_estimated_per_reviewer",
    ]
    assert list(rq.get_task(U, "t", documented).additional_fields) == documented
    assert list(rq.list_tasks(U, additional_fields=documented).additional_fields) == documented


# --- ListTasks ---------------------------------------------------------------------------


def test_list_tasks_defaults():
    assert rq.list_tasks(U) == s.ListTasksRequest(user_app_id=U, page=1, per_page=128)


def test_list_tasks_every_filter():
    got = rq.list_tasks(
        U,
        page=3,
        per_page=50,
        worker_user_ids=["w1", "w2"],
        review_user_ids=["r1"],
        ids=["t1", "t2"],
        input_source_type="DATASET",
        input_source_ids=["d1"],
        additional_fields=["all"],
    )
    assert got == s.ListTasksRequest(
        user_app_id=U,
        page=3,
        per_page=50,
        worker_ids=[r.WorkerIDSet(user_id="w1"), r.WorkerIDSet(user_id="w2")],
        review_user_ids=["r1"],
        ids=["t1", "t2"],
        input_source_type=r.TaskInputSource.DATASET,
        input_source_ids=["d1"],
        additional_fields=["all"],
    )
    assert not got.worker_user_ids  # the deprecated field stays empty


@pytest.mark.parametrize("name", ["ALL_INPUTS", "SAVED_SEARCH", "DATASET", "INPUT"])
def test_list_tasks_input_source_type_by_name_or_value(name):
    value = r.TaskInputSource.TaskInputSourceType.Value(name)
    by_name = rq.list_tasks(U, input_source_type=name)
    assert by_name.input_source_type == value
    assert rq.list_tasks(U, input_source_type=value) == by_name


@pytest.mark.parametrize("bad", ["NOPE", 99, "INPUT_SOURCE_TYPE_NOT_SET", 0])
def test_list_tasks_unknown_input_source_type(bad):
    with pytest.raises(ValidationError, match="input_source_type"):
        rq.list_tasks(U, input_source_type=bad)


@pytest.mark.parametrize("per_page", [1, 1000])
def test_list_tasks_per_page_bounds_ok(per_page):
    assert rq.list_tasks(U, per_page=per_page).per_page == per_page


@pytest.mark.parametrize("per_page", [0, -1, 1001, 1.5, True])
def test_list_tasks_per_page_out_of_range(per_page):
    with pytest.raises(ValidationError, match="per_page"):
        rq.list_tasks(U, per_page=per_page)


@pytest.mark.parametrize("page", [0, -1, "2"])
def test_list_tasks_bad_page(page):
    with pytest.raises(ValidationError, match="page"):
        rq.list_tasks(U, page=page)


@pytest.mark.parametrize("field", ["worker_user_ids", "review_user_ids", "ids", "input_source_ids"])
def test_list_tasks_id_filters_refuse_empty_ids(field):
    with pytest.raises(ValidationError, match=field):
        rq.list_tasks(U, **{field: ["ok", ""]})


# --- PatchTasks --------------------------------------------------------------------------


def test_patch_tasks_overwrite():
    tasks = [simple_task("t1", name="one"), simple_task("t2")]
    assert rq.patch_tasks(U, tasks, "overwrite") == s.PatchTasksRequest(
        user_app_id=U, tasks=tasks, action="overwrite"
    )


def test_patch_tasks_overwrite_needs_ids():
    with pytest.raises(ValidationError, match="id"):
        rq.patch_tasks(U, [simple_task("")], "overwrite")


def test_patch_tasks_overwrite_checks_tasks():
    bad = simple_task("t1")
    bad.concepts.add()
    with pytest.raises(ValidationError, match="concepts"):
        rq.patch_tasks(U, [bad], "overwrite")


def test_status_patch():
    expected = r.Task(id="t1", status=status_pb2.Status(code=sc.TASK_DONE))
    assert rq.status_patch("t1", sc.TASK_DONE) == expected
    assert rq.status_patch("t1", "TASK_DONE") == expected


@pytest.mark.parametrize("bad", ["NOT_A_CODE", 0, 1, True])
def test_status_patch_unknown_code(bad):
    with pytest.raises(ValidationError, match="status"):
        rq.status_patch("t1", bad)


def test_status_patch_empty_id():
    with pytest.raises(ValidationError, match="task_id"):
        rq.status_patch("", sc.TASK_DONE)


def test_patch_tasks_merge_sends_id_and_status_only():
    patch = rq.status_patch("t1", sc.TASK_WONT_DO)
    assert rq.patch_tasks(U, [patch], "merge") == s.PatchTasksRequest(
        user_app_id=U,
        tasks=[r.Task(id="t1", status=status_pb2.Status(code=sc.TASK_WONT_DO))],
        action="merge",
    )


def test_patch_tasks_merge_needs_a_status():
    with pytest.raises(ValidationError, match="status"):
        rq.patch_tasks(U, [r.Task(id="t1")], "merge")


@pytest.mark.parametrize("action", ["", "remove", "OVERWRITE"])
def test_patch_tasks_unknown_action(action):
    with pytest.raises(ValidationError, match="action"):
        rq.patch_tasks(U, [simple_task("t1")], action)


@pytest.mark.parametrize("action", ["overwrite", "merge"])
def test_patch_tasks_empty(action):
    with pytest.raises(ValidationError, match="tasks"):
        rq.patch_tasks(U, [], action)


# --- DeleteTasks -------------------------------------------------------------------------


def test_delete_tasks_keeps_order_and_duplicates():
    assert rq.delete_tasks(U, ["b", "a", "b"]) == s.DeleteTasksRequest(
        user_app_id=U, ids=["b", "a", "b"]
    )


def test_delete_tasks_needs_ids():
    with pytest.raises(ValidationError, match="id"):
        rq.delete_tasks(U, [])


def test_delete_tasks_refuses_a_bare_string():
    with pytest.raises(ValidationError, match="ids"):
        rq.delete_tasks(U, "abc")


def test_delete_tasks_refuses_empty_ids():
    with pytest.raises(ValidationError, match=r"ids\[1\]"):
        rq.delete_tasks(U, ["a", ""])
