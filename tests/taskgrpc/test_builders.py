"""taskgrpc.builders: exact output protos and every validation rule of issue 2."""

from __future__ import annotations

import math

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r

import taskgrpc
from taskgrpc import (
    ValidationError,
    all_inputs,
    auto_annotation,
    build_task,
    check_task,
    consensus,
    dataset,
    dynamic,
    full,
    manual_review,
    no_review,
    partitioned,
    partitioned_evenly,
    saved_search,
)
from taskgrpc.builders import lint

T = r.Task
TW = r.TaskWorker
PSI = r.TaskWorkerPartitionedStrategyInfo
SRC = r.TaskInputSource
REV = r.TaskReview


def users(*ids: str) -> list[r.Worker]:
    return [r.Worker(user=r.User(id=i)) for i in ids]


def concepts(*ids: str) -> list[r.TaskConcept]:
    return [r.TaskConcept(concept=r.Concept(id=i)) for i in ids]


def assert_no_deprecated(task: r.Task) -> None:
    assert not task.concept_ids
    assert not task.worker.user_ids
    assert not task.worker.users
    assert not task.review.user_ids
    assert task.review.consensus_strategy_info.approval_threshold == 0
    assert not task.review.manual_strategy_info.ListFields()


def refused(match: str):
    """pytest.raises for a ValidationError whose message names ``match``."""
    return pytest.raises(ValidationError, match=match)


# --- workers -------------------------------------------------------------------------


def test_full_with_users():
    assert full(["a", "b"]) == TW(strategy=TW.FULL, workers=users("a", "b"))


def test_full_without_users_is_non_assigned():
    worker = full()
    assert worker == TW(strategy=TW.FULL)
    assert not worker.workers


def test_dynamic():
    assert dynamic(["a", "b"]) == TW(strategy=TW.DYNAMIC, workers=users("a", "b"))


def test_dynamic_without_workers_is_legal_and_linted():
    # Never stricter than the service: no proto comment or docs page requires a worker.
    worker = dynamic([])
    assert worker == TW(strategy=TW.DYNAMIC)
    task = build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], workers=worker)
    assert any("DYNAMIC strategy without workers" in w for w in lint(task))


def test_partitioned_weighted():
    got = partitioned({"a": 90, "b": 10})
    info = PSI(type=PSI.WEIGHTED, workers_per_input=1)
    info.weights.update({"a": 90.0, "b": 10.0})
    assert got == TW(
        strategy=TW.PARTITIONED, workers=users("a", "b"), partitioned_strategy_info=info
    )
    assert not got.user_ids and not got.users


def test_partitioned_workers_per_input_is_sent():
    got = partitioned({"a": 1, "b": 1, "c": 1}, workers_per_input=3)
    assert got.partitioned_strategy_info.workers_per_input == 3
    assert got.partitioned_strategy_info.type == PSI.WEIGHTED


def test_partitioned_evenly():
    got = partitioned_evenly(["a", "b", "c"], workers_per_input=2)
    info = PSI(type=PSI.EVENLY, workers_per_input=2)
    assert got == TW(
        strategy=TW.PARTITIONED, workers=users("a", "b", "c"), partitioned_strategy_info=info
    )
    assert not got.partitioned_strategy_info.weights.fields


def test_auto_annotation_model():
    assert auto_annotation(model_id="m1") == TW(
        strategy=TW.FULL, type=TW.WORKER_AUTO, workers=[r.Worker(model=r.Model(id="m1"))]
    )


def test_auto_annotation_model_version():
    model = r.Model(id="m1", model_version=r.ModelVersion(id="v1"))
    assert auto_annotation(model_id="m1", model_version_id="v1") == TW(
        strategy=TW.FULL, type=TW.WORKER_AUTO, workers=[r.Worker(model=model)]
    )


def test_auto_annotation_workflow():
    assert auto_annotation(workflow_id="wf") == TW(
        strategy=TW.FULL, type=TW.WORKER_AUTO, workers=[r.Worker(workflow=r.Workflow(id="wf"))]
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"model_id": "m", "workflow_id": "w"},
        {"workflow_id": "w", "model_version_id": "v"},
        {"model_version_id": "v"},
    ],
)
def test_auto_annotation_needs_exactly_one_model_or_workflow(kwargs):
    with pytest.raises(ValidationError):
        auto_annotation(**kwargs)


@pytest.mark.parametrize("kwargs", [{"model_id": ""}, {"workflow_id": ""}])
def test_auto_annotation_empty_id(kwargs):
    with refused(next(iter(kwargs))):
        auto_annotation(**kwargs)


# --- sources and reviews ---------------------------------------------------------------


def test_sources():
    assert all_inputs() == SRC(type=SRC.ALL_INPUTS)
    assert saved_search("s1") == SRC(type=SRC.SAVED_SEARCH, id="s1")
    assert dataset("d1") == SRC(type=SRC.DATASET, id="d1")


def test_no_review():
    assert no_review() == REV(strategy=REV.NONE)


def test_manual_review():
    got = manual_review(["r1", "r2"])
    assert got == REV(strategy=REV.MANUAL, users=[r.User(id="r1"), r.User(id="r2")])
    assert not got.user_ids


def test_consensus():
    got = consensus(["r1", "r2"], approval_threshold=2)
    assert got == REV(
        strategy=REV.CONSENSUS,
        users=[r.User(id="r1"), r.User(id="r2")],
        consensus_strategy_info=r.TaskReviewConsensusStrategyInfo(approval_threshold_labelers=2),
    )
    assert got.consensus_strategy_info.approval_threshold == 0
    assert not got.user_ids


@pytest.mark.parametrize("reviewers", [-1, 0, 1])
def test_consensus_reviewers_threshold(reviewers):
    got = consensus(["r1", "r2"], approval_threshold=1, reviewers_threshold=reviewers)
    assert got.consensus_strategy_info.approval_threshold_reviewers == reviewers
    assert got.consensus_strategy_info.approval_threshold_labelers == 1


@pytest.mark.parametrize("bad", [2, 3, -2, True, 1.0, "1"])
def test_consensus_reviewers_threshold_only_0_1_minus_1(bad):
    # resources.proto approval_threshold_reviewers: "the only allowed values are 0, 1, -1".
    with refused("reviewers_threshold"):
        consensus(["r1", "r2", "r3"], approval_threshold=1, reviewers_threshold=bad)


@pytest.mark.parametrize("bad", [2, 5, -2])
def test_check_task_refuses_other_reviewers_thresholds(bad):
    task = simple_hand_task()
    task.review.CopyFrom(consensus(["r1", "r2"], approval_threshold=1))
    task.review.consensus_strategy_info.approval_threshold_reviewers = bad
    with refused("approval_threshold_reviewers"):
        check_task(task)


def test_manual_review_without_reviewers_is_legal_and_linted():
    review = manual_review([])
    assert review == REV(strategy=REV.MANUAL)
    task = build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], review=review)
    assert any("MANUAL review without reviewers" in w for w in lint(task))


def test_manual_review_sample_percentage():
    review = manual_review(["r"], sample_percentage=0.5)
    assert review.manual_strategy_info.sample_percentage == 0.5
    for bad in (-0.1, 1.5, math.nan, "0.5"):
        with refused("sample_percentage"):
            manual_review(["r"], sample_percentage=bad)


# --- build_task --------------------------------------------------------------------------


def test_build_task_defaults():
    task = build_task("CONCEPTS_CLASSIFICATION", concepts=["cat", "dog"])
    assert task == T(
        type=T.CONCEPTS_CLASSIFICATION,
        concepts=concepts("cat", "dog"),
        worker=TW(strategy=TW.FULL),
        input_source=SRC(type=SRC.ALL_INPUTS),
        review=REV(strategy=REV.NONE),
    )
    assert not task.id
    assert_no_deprecated(task)


def test_build_task_everything():
    worker = partitioned({"a": 2, "b": 1, "c": 1}, workers_per_input=2)
    review = consensus(["r1"], approval_threshold=2)
    task = build_task(
        "BOUNDING_BOX_DETECTION",
        concepts=["cat"],
        name="boxes",
        description="draw boxes",
        workers=worker,
        source=dataset("d1"),
        review=review,
        sample_ms=500,
    )
    assert task == T(
        type=T.BOUNDING_BOX_DETECTION,
        name="boxes",
        description="draw boxes",
        concepts=concepts("cat"),
        worker=worker,
        input_source=SRC(type=SRC.DATASET, id="d1"),
        review=review,
        sample_ms=500,
    )
    assert_no_deprecated(task)


@pytest.mark.parametrize(
    "name", ["CONCEPTS_CLASSIFICATION", "BOUNDING_BOX_DETECTION", "POLYGON_DETECTION"]
)
def test_type_by_name_equals_type_by_value(name):
    by_name = build_task(name, concepts=["c"])
    by_value = build_task(T.TaskType.Value(name), concepts=["c"])
    assert by_name == by_value
    assert by_name.type == T.TaskType.Value(name)


@pytest.mark.parametrize("type_", ["TYPE_NOT_SET", T.TYPE_NOT_SET])
@pytest.mark.parametrize(
    "worker",
    [
        {"model_id": "m"},
        {"model_id": "m", "model_version_id": "v"},
        {"workflow_id": "wf"},
    ],
)
def test_auto_annotation_task_may_leave_type_unset(type_, worker):
    workers = auto_annotation(**worker)
    task = build_task(type_, concepts=["cat"], workers=workers)
    assert task.type == T.TYPE_NOT_SET
    assert task.worker == workers


@pytest.mark.parametrize("type_", ["TYPE_NOT_SET", 0])
@pytest.mark.parametrize("workers", [None, full(["a"]), dynamic(["a"])])
def test_type_not_set_for_human_workers_is_only_linted(type_, workers):
    # No proto comment requires a type for a human task: a warning, never a refusal.
    task = build_task(type_, concepts=["cat"], workers=workers)
    assert any("TYPE_NOT_SET" in w for w in lint(task))


@pytest.mark.parametrize("bad", ["CLASSIFY", "", "concept_classification", 99, -1, 1.0, None])
def test_unknown_type(bad):
    with refused("type"):
        build_task(bad, concepts=["cat"])


def test_validation_error_is_a_value_error():
    with pytest.raises(ValueError):
        build_task("NOPE", concepts=["cat"])
    assert issubclass(ValidationError, taskgrpc.TaskgrpcError)


@pytest.mark.parametrize("bad", [["cat", ""], [""], ["  "], [5], [None], "cat"])
def test_bad_concepts(bad):
    with refused("concepts"):
        build_task("CONCEPTS_CLASSIFICATION", concepts=bad)


@pytest.mark.parametrize("concepts", [[], ["cat", "cat"]])
def test_no_or_duplicate_concepts_are_linted(concepts):
    task = build_task("CONCEPTS_CLASSIFICATION", concepts=concepts)
    assert any("concept" in w for w in lint(task))


def test_negative_sample_ms():
    with refused("sample_ms"):
        build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], sample_ms=-1)


def test_sample_ms_zero_is_fine():
    assert build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], sample_ms=0).sample_ms == 0


# --- weights and workers_per_input -------------------------------------------------------


@pytest.mark.parametrize("weights", [{}, {"a": -1, "b": 1}, {"a": -0.5}])
def test_negative_or_empty_weights(weights):
    with refused("weights"):
        partitioned(weights)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", None, True])
def test_weights_must_be_finite_numbers(bad):
    with refused("weights"):
        partitioned({"a": 1, "b": bad})


def test_share_above_one_over_workers_per_input_is_impossible():
    # a has 3/4 of the weight, but with 2 workers per input nobody can take more than 1/2.
    with refused(r"weights\['a'\]"):
        partitioned({"a": 3, "b": 1}, workers_per_input=2)


def test_equal_shares_with_two_workers_per_input_is_fine():
    got = partitioned({"a": 1, "b": 1}, workers_per_input=2)
    assert got.partitioned_strategy_info.workers_per_input == 2


def test_share_exactly_one_over_workers_per_input_is_fine():
    got = partitioned({"a": 2, "b": 1, "c": 1}, workers_per_input=2)
    assert dict(got.partitioned_strategy_info.weights.items()) == {"a": 2, "b": 1, "c": 1}


def test_weights_need_not_sum_to_100():
    small = partitioned({"a": 9, "b": 1})
    large = partitioned({"a": 90, "b": 10})

    def shares(worker):
        weights = dict(worker.partitioned_strategy_info.weights.items())
        total = sum(weights.values())
        return {k: v / total for k, v in weights.items()}

    assert shares(small) == pytest.approx(shares(large))
    assert shares(small) == pytest.approx({"a": 0.9, "b": 0.1})
    # and 9:1 is as impossible as 90:10 with 2 workers per input
    for weights in ({"a": 9, "b": 1}, {"a": 90, "b": 10}):
        with refused("weights"):
            partitioned(weights, workers_per_input=2)


@pytest.mark.parametrize("wpi", [0, -1, 3])
def test_workers_per_input_out_of_range_evenly(wpi):
    with refused("workers_per_input"):
        partitioned_evenly(["a", "b"], workers_per_input=wpi)


@pytest.mark.parametrize("wpi", [0, -1, 3])
def test_workers_per_input_out_of_range_weighted(wpi):
    with refused("workers_per_input"):
        partitioned({"a": 1, "b": 1}, workers_per_input=wpi)


@pytest.mark.parametrize("wpi", [1, 2])
def test_workers_per_input_in_range(wpi):
    assert (
        partitioned_evenly(
            ["a", "b"], workers_per_input=wpi
        ).partitioned_strategy_info.workers_per_input
        == wpi
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: full(["a", "b", "a"]),
        lambda: dynamic(["a", "a"]),
        lambda: partitioned_evenly(["a", "a"]),
    ],
)
def test_duplicate_worker_ids_are_linted(make):
    task = build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], workers=make())
    assert any("duplicate worker id(s): a" in w for w in lint(task))


@pytest.mark.parametrize("bad", [[""], ["a", " "], [3]])
def test_empty_worker_id(bad):
    with refused("worker"):
        full(bad)


def test_worker_ids_must_be_a_list_not_a_string():
    with refused("worker"):
        full("ab")


# --- input sources -------------------------------------------------------------------------


@pytest.mark.parametrize("make", [dataset, saved_search])
@pytest.mark.parametrize("bad", ["", "   ", None])
def test_empty_source_id(make, bad):
    with refused("input_source.id"):
        make(bad)


# --- consensus thresholds --------------------------------------------------------------------


def test_consensus_threshold_negative():
    with refused("approval_threshold"):
        consensus(["r1"], approval_threshold=-1)


def test_consensus_threshold_zero_disables_consensus_and_is_linted():
    # resources.proto approval_threshold_labelers: "When 0, labelers consensus is disabled."
    task = build_task(
        "CONCEPTS_CLASSIFICATION", concepts=["c"], review=consensus(["r"], approval_threshold=0)
    )
    assert any("disabled" in w for w in lint(task))


def test_consensus_threshold_above_workers_per_input_is_legal_and_linted():
    # resources.proto: when fewer labelers agree, "the input will be reviewed by reviewers".
    task = build_task(
        "CONCEPTS_CLASSIFICATION",
        concepts=["cat"],
        workers=partitioned_evenly(["a", "b", "c"], workers_per_input=2),
        review=consensus(["r1"], approval_threshold=3),
    )
    assert any("workers_per_input" in w for w in lint(task))


def test_consensus_threshold_equal_to_workers_per_input_is_fine():
    task = build_task(
        "CONCEPTS_CLASSIFICATION",
        concepts=["cat"],
        workers=partitioned({"a": 1, "b": 1, "c": 1}, workers_per_input=2),
        review=consensus(["r1"], approval_threshold=2),
    )
    assert task.review.consensus_strategy_info.approval_threshold_labelers == 2


def test_duplicate_reviewer_ids_are_linted():
    for review in (manual_review(["r1", "r1"]), consensus(["r1", "r1"], approval_threshold=1)):
        task = build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], review=review)
        assert any("duplicate reviewer" in w for w in lint(task))


# --- check_task on hand-built tasks ------------------------------------------------------------


def deprecated_task() -> r.Task:
    """A task built the way the docs' curl examples still do it: only deprecated fields."""
    info = PSI(type=PSI.WEIGHTED, workers_per_input=1)
    info.weights.update({"a": 1.0, "b": 1.0})
    return T(
        type=T.CONCEPTS_CLASSIFICATION,
        concept_ids=["cat"],
        worker=TW(strategy=TW.PARTITIONED, user_ids=["a", "b"], partitioned_strategy_info=info),
        input_source=SRC(type=SRC.ALL_INPUTS),
        review=REV(
            strategy=REV.CONSENSUS,
            user_ids=["r1"],
            consensus_strategy_info=r.TaskReviewConsensusStrategyInfo(approval_threshold=1),
        ),
    )


def test_check_task_accepts_deprecated_fields():
    check_task(deprecated_task())


def test_check_task_accepts_deprecated_worker_users():
    task = T(
        type=T.POLYGON_DETECTION,
        concept_ids=["cat"],
        worker=TW(strategy=TW.FULL, users=[r.User(id="a")]),
        review=REV(strategy=REV.MANUAL, user_ids=["r1"]),
    )
    check_task(task)


def test_check_task_accepts_every_builder_output():
    for task in (
        build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], workers=dynamic(["a"])),
        build_task(
            "POLYGON_DETECTION",
            concepts=["c"],
            source=saved_search("s"),
            review=manual_review(["r"]),
        ),
    ):
        check_task(task)
        check_task(task, require_id=False)


def test_check_task_require_id():
    task = build_task("CONCEPTS_CLASSIFICATION", concepts=["c"])
    with refused("id"):
        check_task(task, require_id=True)
    task.id = "t1"
    check_task(task, require_id=True)


def test_check_task_refuses_a_non_task():
    with pytest.raises(ValidationError):
        check_task(r.TaskWorker())  # type: ignore[arg-type]


def test_check_task_duplicate_across_current_and_deprecated_worker_fields():
    task = simple_hand_task()
    task.worker.CopyFrom(TW(strategy=TW.FULL, workers=users("a"), user_ids=["a"]))
    check_task(task)
    assert any("duplicate worker id(s): a" in w for w in lint(task))


def test_check_task_impossible_deprecated_weights():
    task = deprecated_task()
    info = task.worker.partitioned_strategy_info
    info.workers_per_input = 2
    info.weights.update({"a": 3.0, "b": 1.0})
    with refused("weights"):
        check_task(task)


def test_check_task_partitioned_without_strategy_info():
    task = simple_hand_task()
    task.worker.CopyFrom(TW(strategy=TW.PARTITIONED, workers=users("a")))
    check_task(task)
    assert any("partitioned_strategy_info" in w for w in lint(task))


def test_check_task_consensus_deprecated_threshold_above_full_workers():
    task = simple_hand_task()
    task.worker.CopyFrom(TW(strategy=TW.FULL, user_ids=["a", "b"]))
    task.review.CopyFrom(
        REV(
            strategy=REV.CONSENSUS,
            user_ids=["r"],
            consensus_strategy_info=r.TaskReviewConsensusStrategyInfo(approval_threshold=3),
        )
    )
    check_task(task)
    assert any("FULL workers" in w for w in lint(task))


def test_check_task_consensus_without_threshold():
    task = simple_hand_task()
    task.review.CopyFrom(REV(strategy=REV.CONSENSUS, users=[r.User(id="r")]))
    check_task(task)
    assert any("disabled" in w for w in lint(task))


def test_check_task_source_without_id():
    task = simple_hand_task()
    task.input_source.CopyFrom(SRC(type=SRC.DATASET))
    with refused("input_source.id"):
        check_task(task)


def test_check_task_empty_concept_id():
    task = simple_hand_task()
    task.concepts.add()
    with refused("concepts"):
        check_task(task)


def test_check_task_without_concepts():
    task = simple_hand_task()
    del task.concepts[:]
    check_task(task)
    assert "the task names no concept" in lint(task)


def simple_hand_task() -> r.Task:
    return T(
        type=T.CONCEPTS_CLASSIFICATION,
        concepts=concepts("cat"),
        worker=TW(strategy=TW.FULL),
        input_source=SRC(type=SRC.ALL_INPUTS),
        review=REV(strategy=REV.NONE),
    )
