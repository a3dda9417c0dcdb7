"""The shared input checks in taskgrpc._validate."""

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r

from taskgrpc._validate import enum_number, unknown_name
from taskgrpc.errors import ValidationError

TaskType = r.Task.TaskType


def test_enum_number_takes_names_in_any_case_and_numbers() -> None:
    assert enum_number(TaskType, "polygon_detection", "task type") == TaskType.Value(
        "POLYGON_DETECTION"
    )
    assert enum_number(TaskType, 2, "task type") == 2


def test_enum_typo_lists_valid_names_and_suggests_one() -> None:
    with pytest.raises(ValidationError) as info:
        enum_number(TaskType, "BOUNDING_BOX_DETECTON", "task type")
    text = str(info.value)
    assert "did you mean 'BOUNDING_BOX_DETECTION'?" in text
    assert "CONCEPTS_CLASSIFICATION" in text and "POLYGON_DETECTION" in text


def test_skipped_names_and_unknown_numbers_are_refused() -> None:
    with pytest.raises(ValidationError, match="valid: CONCEPTS"):
        enum_number(TaskType, "TYPE_NOT_SET", "task type", skip=["TYPE_NOT_SET"])
    with pytest.raises(ValidationError, match="unknown task type 99"):
        enum_number(TaskType, 99, "task type")
    with pytest.raises(ValidationError, match="a name or a number"):
        enum_number(TaskType, 1.5, "task type")  # type: ignore[arg-type]


def test_no_hint_when_nothing_is_close() -> None:
    assert "did you mean" not in str(unknown_name("color", "zzzzzz", ["RED", "BLUE"]))


# --- issue 9: documented rules, bad input, every error a TaskgrpcError ----------------------

import math  # noqa: E402

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc  # noqa: E402
from tgsupport import APP, USER, client_settings, simple_task  # noqa: E402

import taskgrpc as tg  # noqa: E402
from taskgrpc import _validate as v  # noqa: E402
from taskgrpc import requests as rq  # noqa: E402


@pytest.mark.parametrize("code", ["TASK_DONE", "task_wont_do", sc.TASK_IDLE, 54001, "TASK_FAILED"])
def test_task_status_takes_task_statuses(code) -> None:
    assert v.task_status(code) in v.TASK_STATUS_CODES.values()


@pytest.mark.parametrize(
    "code", ["SUCCESS", "CONN_KEY_INVALID", sc.SUCCESS, sc.TASK_CONFLICT, "TASK_MISSING", 0, True]
)
def test_task_status_refuses_other_codes(code) -> None:
    with pytest.raises(ValidationError, match="task status"):
        v.task_status(code)
    with pytest.raises(ValidationError, match="task status"):
        rq.status_patch("t1", code)


def test_task_status_typo_gets_a_hint() -> None:
    with pytest.raises(ValidationError, match="did you mean 'TASK_DONE'"):
        v.task_status("TASK_DON")


def test_overwrite_with_a_non_task_status_is_refused() -> None:
    task = simple_task("t1")
    task.status.code = sc.SUCCESS
    with pytest.raises(ValidationError, match="task status"):
        rq.patch_tasks(rq.user_app_id(USER, APP), [task], "overwrite")
    task.status.code = sc.TASK_DONE  # the docs' update body sends TASK_DONE
    rq.patch_tasks(rq.user_app_id(USER, APP), [task], "overwrite")


def test_huge_weights_do_not_overflow() -> None:
    worker = tg.partitioned({"a": 1e308, "b": 1e308})
    assert dict(worker.partitioned_strategy_info.weights) == {"a": 1e308, "b": 1e308}
    with pytest.raises(ValidationError, match="share"):
        tg.partitioned({"a": 1e308, "b": 1e308}, workers_per_input=3)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, -1, 10**400, "1", None, True])
def test_weights_are_finite_numbers_not_negative(bad) -> None:
    with pytest.raises(ValidationError, match="weights"):
        tg.partitioned({"a": 1, "b": bad})


def test_zero_weights_are_legal_but_not_all_zero() -> None:
    worker = tg.partitioned({"a": 1, "b": 0})
    task = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], workers=worker)
    assert any("weight 0" in w for w in tg.lint(task))
    with pytest.raises(ValidationError, match="positive"):
        tg.partitioned({"a": 0, "b": 0})


def test_weights_name_only_the_tasks_workers() -> None:
    task = simple_task()
    task.worker.CopyFrom(tg.partitioned({"a": 1, "b": 1}))
    task.worker.partitioned_strategy_info.weights["stranger"] = 1
    with pytest.raises(ValidationError, match="stranger"):
        tg.check_task(task)
    # Deprecated worker fields count as workers too (the docs' own bodies use them).
    task.worker.user_ids.append("stranger")
    tg.check_task(task)


@pytest.mark.parametrize("field", ["name", "description"])
def test_a_lone_surrogate_is_a_validation_error(field) -> None:
    with pytest.raises(ValidationError, match="surrogate"):
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], **{field: "bad \ud800"})
    # A Task cannot even hold one (protobuf refuses it), so check_task needs no text check.
    with pytest.raises(UnicodeEncodeError):
        simple_task(**{field: "bad \ud800"})


def test_a_lone_surrogate_in_an_id_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="surrogate"):
        tg.full(["u\ud800"])


def test_non_ascii_text_is_fine() -> None:
    task = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["chat"], name="café ☕ 猫")
    assert task.name == "café ☕ 猫"


def test_auto_annotation_has_one_model_or_workflow_worker() -> None:
    task = tg.build_task("TYPE_NOT_SET", concepts=["c"], workers=tg.auto_annotation(model_id="m"))
    task.worker.workers.add().workflow.id = "wf"
    with pytest.raises(ValidationError, match="exactly one worker"):
        tg.check_task(task)


@pytest.mark.parametrize(
    ("worker_type", "workers"),
    [("WORKER_AUTO", tg.full(["u"])), ("WORKER_HUMAN", tg.auto_annotation(model_id="m"))],
)
def test_worker_type_must_match_the_workers(worker_type, workers) -> None:
    task = simple_task(type=r.Task.TYPE_NOT_SET)
    task.worker.CopyFrom(workers)
    task.worker.type = r.TaskWorker.WorkerType.Value(worker_type)
    with pytest.raises(ValidationError, match=worker_type):
        tg.check_task(task)


def test_concept_with_an_auto_annotation_config() -> None:
    c = tg.concept("cat", data_types=["TAG", "bounding_box"], threshold=(0.5, 0.9), status=24150)
    config = c.auto_annotation_config
    assert config.annotation_data_types == 3
    rng = config.threshold_range  # floats: 32 bits on the wire
    assert (rng.lower, rng.upper) == (0.5, pytest.approx(0.9))
    assert config.threshold_range.is_lower_inclusive and config.threshold_range.is_upper_inclusive
    assert config.status_code == sc.ANNOTATION_SUCCESS
    assert tg.concept("cat", data_types=34).auto_annotation_config.annotation_data_types == 34
    assert not tg.concept("cat").HasField("auto_annotation_config")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data_types": 64},
        {"data_types": -1},
        {"data_types": ["TAGS"]},
        {"data_types": "TAG"},
        {"threshold": (0.9, 0.5)},
        {"threshold": (math.nan, 1)},
        {"threshold": 0.5},
        {"status": "NOPE"},
    ],
)
def test_concept_config_refuses_what_the_proto_rules_out(kwargs) -> None:
    with pytest.raises(ValidationError):
        tg.concept("cat", **kwargs)


def test_build_task_sets_every_documented_field() -> None:
    task = tg.build_task(
        "BOUNDING_BOX_DETECTION",
        id="my-task",
        concepts=["cat", tg.concept("dog", data_types=["BOUNDING_BOX"])],
        source=tg.single_input("input-1"),
        priority="high",
        metadata={"team": "a", "n": 2},
        ai_assistant="assist-wf",
        ai_assist=tg.ai_assist_params(min_threshold=0.2, max_threshold=0.8),
        delete_previous_annotations=True,
        status="TASK_IDLE",
    )
    assert task.id == "my-task"
    assert [c.concept.id for c in task.concepts] == ["cat", "dog"]
    assert task.input_source == r.TaskInputSource(type=r.TaskInputSource.INPUT, id="input-1")
    assert task.priority == r.Task.HIGH
    assert dict(task.metadata) == {"team": "a", "n": 2}
    assert task.ai_assistant.workflow_id == "assist-wf"
    assert (task.ai_assist_params.min_threshold, task.ai_assist_params.max_threshold) == (
        pytest.approx(0.2),
        pytest.approx(0.8),
    )
    assert task.delete_previous_annotations
    assert task.status.code == sc.TASK_IDLE


@pytest.mark.parametrize(
    "kwargs",
    [
        {"priority": "URGENT"},
        {"metadata": {"x": object()}},
        {"metadata": [1]},
        {"status": "SUCCESS"},
        {"id": ""},
        {"ai_assistant": ""},
    ],
)
def test_build_task_refuses_bad_new_fields(kwargs) -> None:
    with pytest.raises(ValidationError):
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], **kwargs)


def test_workflow_worker_with_a_version() -> None:
    worker = tg.auto_annotation(workflow_id="wf", workflow_version_id="v2")
    assert worker.workers[0].workflow.version.id == "v2"
    with pytest.raises(ValidationError):
        tg.auto_annotation(model_id="m", workflow_version_id="v2")


def test_lint_is_empty_for_a_plain_task() -> None:
    task = tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        concepts=["cat"],
        workers=tg.partitioned({"a": 1, "b": 1, "c": 1}, workers_per_input=2),
        review=tg.consensus(["r"], approval_threshold=2),
    )
    assert tg.lint(task) == []


def test_lint_names_deprecated_fields() -> None:
    task = simple_task()
    task.concept_ids.append("dog")
    assert any("concept_ids" in w for w in tg.lint(task))


# --- client construction --------------------------------------------------------------------


def client_kwargs(**overrides):
    return client_settings(**{"target": "127.0.0.1:1", **overrides})


@pytest.mark.parametrize("target", [None, 443, b"localhost:1"])
def test_target_must_be_a_string(target) -> None:
    with pytest.raises(ValidationError, match="target"):
        tg.TaskClient(**client_kwargs(target=target))


@pytest.mark.parametrize(
    "pat", ["pat\n", "pat\r\nx", "p\x00t", "pät-123", "pat\t1", "pat\x7f", "\ud800", ""]
)
def test_a_pat_that_is_no_valid_header_value_is_refused(pat) -> None:
    with pytest.raises(ValidationError, match="pat") as info:
        tg.TaskClient(**client_kwargs(pat=pat))
    if pat.strip():
        assert pat not in str(info.value)


def test_a_printable_ascii_pat_is_accepted() -> None:
    tg.TaskClient(**client_kwargs(pat="Key-like pat ~!@#$%^&*()")).close()


@pytest.mark.parametrize(
    "call",
    [
        lambda: tg.TaskClient(**client_kwargs(target=None)),
        lambda: tg.TaskClient(**client_kwargs(user_id="u\ud800")),
        lambda: tg.partitioned({"a": 1e308, "b": 1e308}, workers_per_input=5),
        lambda: tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], name="\udfff"),
        lambda: tg.consensus(["r"], approval_threshold=1, reviewers_threshold=2),
        lambda: rq.status_patch("t", "CONN_KEY_INVALID"),
    ],
)
def test_every_bad_input_error_is_a_taskgrpc_error(call) -> None:
    with pytest.raises(tg.TaskgrpcError):
        call()


def test_a_cached_valid_worker_does_not_hide_a_later_change() -> None:
    task = tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        concepts=["c"],
        workers=tg.partitioned({"a": 1, "b": 1, "c": 1}, workers_per_input=2),
    )
    tg.check_task(task)  # the worker's checks now come from the cache
    task.worker.partitioned_strategy_info.weights["a"] = 10
    with pytest.raises(ValidationError, match="share"):
        tg.check_task(task)


@pytest.mark.parametrize("cls", ["TaskClient", "AsyncTaskClient"])
def test_the_class_docstring_documents_every_constructor_argument(cls) -> None:
    import inspect

    client_class = getattr(tg, cls)
    doc = inspect.getdoc(client_class)
    assert doc and "\n\nArguments (all keyword-only):" in doc
    for name in inspect.signature(client_class).parameters:
        assert f"``{name}``" in doc, name


@pytest.mark.parametrize("field", ["workers", "source", "review", "ai_assist"])
def test_build_task_parts_must_be_messages(field) -> None:
    with pytest.raises(ValidationError, match=field):
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], **{field: "oops"})


@pytest.mark.parametrize("verb", ["create_many", "update_many", "delete_many"])
@pytest.mark.parametrize("bad", [None, 5, object(), True, "t1"])
def test_bulk_verbs_refuse_what_is_not_a_list(verb, bad) -> None:
    with tg.TaskClient(**client_kwargs()) as client, pytest.raises(ValidationError):
        getattr(client, verb)(bad)


def _deep_task(nesting: int, *, lists: bool = False) -> r.Task:
    """A task whose metadata nests ``nesting`` objects (or arrays) below its top level."""
    task = tg.build_task(name="deep", type="CONCEPTS_CLASSIFICATION", concepts=["cat"])
    if lists:
        inner = task.metadata.get_or_create_list("a")
        for _ in range(nesting - 1):
            inner = inner.add_list()
        inner.append(1)
    else:
        level = task.metadata
        for _ in range(nesting):
            level = level.get_or_create_struct("a")
        level["b"] = 1
    return task


def _sendable(task: r.Task) -> bool:
    """Whether protobuf can put ``task`` into a request and decode it again."""
    from clarifai_grpc.grpc.api import service_pb2 as s
    from google.protobuf.message import DecodeError

    try:
        s.PostTasksRequest.FromString(s.PostTasksRequest(tasks=[task]).SerializeToString())
    except DecodeError:
        return False
    return True


@pytest.mark.parametrize(("nesting", "lists"), [(32, False), (33, False), (48, True), (49, True)])
def test_check_task_refuses_exactly_the_metadata_protobuf_cannot_send(
    nesting: int, lists: bool
) -> None:
    task = _deep_task(nesting, lists=lists)
    if _sendable(task):
        tg.check_task(task)
    else:
        with pytest.raises(ValidationError, match="nested too deeply"):
            tg.check_task(task)


def test_the_depth_boundary_is_where_protobuf_puts_it() -> None:
    # the parametrized cases straddle the limit: one side sendable, the other not
    assert _sendable(_deep_task(32)) and not _sendable(_deep_task(33))
    assert _sendable(_deep_task(48, lists=True)) and not _sendable(_deep_task(49, lists=True))
