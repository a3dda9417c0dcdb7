"""Every task body of Clarifai's Tasks docs (tests/data/clarifai_docs, sources in SOURCES.md)
goes through ``create`` / ``update`` unrefused and unchanged on the wire (the fake's request
log), and the builders alone can express each one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf import json_format
from tgsupport import APP, USER

import taskgrpc as tg
from taskgrpc._content import normalized

DOCS = Path(__file__).resolve().parents[1] / "data" / "clarifai_docs"
BODIES = sorted(p.stem for p in DOCS.glob("*.json"))


def body(name: str) -> s.PostTasksRequest | s.PatchTasksRequest:
    data = json.loads((DOCS / f"{name}.json").read_text())
    message = s.PatchTasksRequest() if "action" in data else s.PostTasksRequest()
    return json_format.ParseDict(data, message)


def docs_task(name: str) -> r.Task:
    [task] = body(name).tasks
    return task


def test_every_fixture_is_listed_with_its_source() -> None:
    sources = (DOCS / "SOURCES.md").read_text()
    assert len(BODIES) >= 12
    for name in BODIES:
        assert f"`{name}.json`" in sources


@pytest.mark.parametrize("name", BODIES)
def test_docs_body_goes_through_unchanged(name: str, client: tg.TaskClient, server) -> None:
    request = body(name)
    [task] = request.tasks
    if isinstance(request, s.PatchTasksRequest):
        assert request.action == "overwrite"
        seed = r.Task()
        seed.CopyFrom(task)
        seed.ClearField("status")
        server.servicer.put_tasks(USER, APP, [seed])  # the task the docs update
        stored = client.update(task)
        method = "PatchTasks"
    else:
        stored = client.create(task, assign_id=False)
        method = "PostTasks"
    records = [c for c in server.servicer.requests if c.method == method]
    assert len(records) == 1
    [sent] = records[0].request.tasks
    assert sent == task  # unchanged on the wire
    assert stored.name == task.name


#: The docs' bodies written with builders only (deprecated fields become current ones).
BUILT: dict[str, Callable[[], r.Task]] = {
    "create_non_assigned": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        name="Annotate CONCEPT_ID_HERE",
        concepts=["CONCEPT_ID_HERE"],
        sample_ms=1000,
    ),
    "create_assigned": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        name="Annotate CONCEPT_ID_HERE",
        concepts=["CONCEPT_ID_HERE"],
        workers=tg.dynamic(["WORKER_USER_ID_HERE"]),
        source=tg.dataset("DATASET_ID_HERE"),
        review=tg.manual_review(["REVIEWER_USER_ID_HERE"], sample_percentage=0.5),
        sample_ms=1000,
    ),
    "create_partitioned": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        name="Annotate CONCEPT_ID_HERE",
        concepts=["CONCEPT_ID_HERE"],
        workers=tg.partitioned({"USER_ID_1_HERE": 90, "USER_ID_2_HERE": 10}),
        sample_ms=1000,
    ),
    "create_consensus": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        name="Annotate CONCEPT_ID_HERE",
        concepts=["CONCEPT_ID_HERE"],
        workers=tg.partitioned({"USER_ID_1_HERE": 1, "USER_ID_2_HERE": 1, "USER_ID_3_HERE": 1}),
        review=tg.consensus(["USER_ID_4_HERE"], approval_threshold=2),
        sample_ms=1000,
    ),
    "create_consensus_python": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        name="Annotate water",
        concepts=["water"],
        workers=tg.partitioned(
            {"USER_ID_1_HERE": 1, "USER_ID_2_HERE": 1, "USER_ID_3_HERE": 1}, workers_per_input=3
        ),
        review=tg.consensus(["USER_ID_4_HERE"], approval_threshold=2),
        sample_ms=1000,
    ),
    "create_auto_annotation": lambda: tg.build_task(
        "TYPE_NOT_SET",
        name="Auto-Annotate CONCEPT_ID_HERE",
        concepts=[
            tg.concept(
                "CONCEPT_ID_HERE",
                data_types=["TAG"],
                threshold=(0.7, 0.999),
                status="ANNOTATION_SUCCESS",
            )
        ],
        workers=tg.auto_annotation(
            model_id="MODEL_ID_HERE", model_version_id="MODEL_VERSION_ID_HERE"
        ),
        source=tg.dataset("DATASET_ID_HERE"),
        sample_ms=1000,
    ),
    "update_task": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        id="TASK_ID_HERE",
        name="Annotate CONCEPT_ID_HERE",
        concepts=["CONCEPT_ID_HERE"],
        workers=tg.partitioned({"USER_ID_1_HERE": 1, "USER_ID_2_HERE": 1}),
        review=tg.consensus(["USER_ID_3_HERE"], approval_threshold=2),
        sample_ms=1000,
        status="TASK_DONE",
    ),
    "update_task_python": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        id="d0f2fa2b61234d1cb6b66983ea021b5b",
        name="Annotate water",
        concepts=["water"],
        workers=tg.partitioned(
            {"USER_ID_1_HERE": 1, "USER_ID_2_HERE": 1, "USER_ID_3_HERE": 1}, workers_per_input=3
        ),
        review=tg.consensus(["USER_ID_4_HERE"], approval_threshold=2),
        sample_ms=1000,
        status="TASK_DONE",
    ),
    "v9_create_assigned": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        name="Annotate CONCEPT_ID_HERE",
        concepts=["CONCEPT_ID_HERE"],
        workers=tg.full(["WORKER_USER_ID_HERE"]),
        review=tg.manual_review(["REVIEWER_USER_ID_HERE"], sample_percentage=0.5),
        sample_ms=1000,
    ),
    "v7_create_assigned": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        name="Annotate {{concept_id}}",
        concepts=["{{concept_id}}"],
        workers=tg.full(["{{worker_user_id}}"]),
        review=tg.manual_review(["{{reviewer_user_id}}"], sample_percentage=0.5),
        sample_ms=1000,
    ),
    "v7_create_partitioned": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        name="Annotate {{concept_id}}",
        concepts=["{{concept_id}}"],
        workers=tg.partitioned({"{{user_id1}}": 90, "{{user_id2}}": 10}),
        sample_ms=1000,
    ),
    "v7_create_consensus": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        name="Annotate {{concept_id}}",
        concepts=["{{concept_id}}"],
        workers=tg.partitioned({"{{user_id1}}": 1, "{{user_id2}}": 1, "{{user_id3}}": 1}),
        review=tg.consensus(["{{user_id4}}"], approval_threshold=2),
        sample_ms=1000,
    ),
    "v7_update_task": lambda: tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        id="{{task_id}}",
        name="Annotate {{concept_id}}",
        concepts=["{{concept_id}}"],
        workers=tg.partitioned({"{{user_id1}}": 1, "{{user_id2}}": 1}),
        review=tg.consensus(["{{user_id3}}"], approval_threshold=2),
        sample_ms=1000,
        status="TASK_DONE",
    ),
}


def test_every_docs_body_has_a_builder_expression() -> None:
    assert sorted(BUILT) == BODIES


def _comparable(task: r.Task) -> r.Task:
    out = normalized(task)
    # WORKER_TYPE_NOT_SET is documented as the backward-compatible unset value of
    # worker.type; auto_annotation() says WORKER_AUTO explicitly.
    out.worker.ClearField("type")
    return out


@pytest.mark.parametrize("name", BODIES)
def test_builders_express_the_docs_body(name: str) -> None:
    built, docs = BUILT[name](), docs_task(name)
    assert _comparable(built) == _comparable(docs)
    assert (built.id, built.status.code) == (docs.id, docs.status.code)


def test_auto_annotation_config_is_exact() -> None:
    # Beyond the normalized comparison: the per-concept config is byte-for-byte the docs'.
    built = BUILT["create_auto_annotation"]()
    assert list(built.concepts) == list(docs_task("create_auto_annotation").concepts)
    assert built.worker.workers == docs_task("create_auto_annotation").worker.workers


@pytest.mark.parametrize("name", ["create_consensus", "update_task", "v7_create_consensus"])
def test_docs_consensus_threshold_above_workers_per_input_is_only_a_warning(name: str) -> None:
    # The docs send workers_per_input 1 with approval_threshold 2: legal (every input then
    # goes to the reviewers), so the client accepts it and lint() explains it.
    task = docs_task(name)
    tg.check_task(task, require_id=bool(task.id))
    assert any("workers_per_input" in w for w in tg.lint(task))
