"""The lifecycle operations, driven by the scripted sans-I/O driver: how annotate settles
unknown outcomes and refusals without ever posting an annotation twice."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from tgsupport import (
    FAST_RETRY,
    HEX32,
    FakeClock,
    ScriptedDriver,
    bad_status,
    ok_status,
    uaid,
    unavailable,
)

import taskgrpc
from taskgrpc import _lifecycle as lc
from taskgrpc import _lifecycle_requests as lrq
from taskgrpc import _ops


def budget(policy=FAST_RETRY) -> _ops.Budget:
    return _ops.Budget(uaid=uaid(), timeout=None, policy=policy, limiter=None, secret="k")


def ann(aid: str, input_id: str = "in1", task_id: str = "t1") -> r.Annotation:
    out = lrq.annotation(input_id, ["cat"], annotation_id=aid)
    out.task_id = task_id
    return out


def answer(*items: r.Annotation, status=None) -> s.MultiAnnotationResponse:
    return s.MultiAnnotationResponse(status=status or ok_status(), annotations=list(items))


def stored(a: r.Annotation) -> r.Annotation:
    out = r.Annotation()
    out.CopyFrom(a)
    out.user_id = "labeler"
    out.data.concepts[0].name = "cat"  # the service fills in names: still ours
    return out


def run(outcomes, *items, policy=FAST_RETRY):
    driver = ScriptedDriver(outcomes, FakeClock())
    request = lrq.post_annotations(uaid(), list(items))
    try:
        return driver, driver.run(lc.create_annotations(request, budget(policy)))
    except taskgrpc.TaskgrpcError as err:
        return driver, err


def posted(driver: ScriptedDriver) -> list[list[str]]:
    return [
        [a.id for a in c.request.annotations] for c in driver.calls if c.method == "PostAnnotations"
    ]


def test_success_returns_the_stored_annotations_in_input_order():
    a, b = ann("a"), ann("b", "in2")
    driver, result = run([answer(stored(b), stored(a))], a, b)
    assert [x.id for x in result] == ["a", "b"]
    assert driver.shape() == [("Call", "PostAnnotations")]


def test_throttled_is_retried_as_is():
    a = ann("a")
    driver, result = run([answer(status=bad_status(sc.CONN_THROTTLED)), answer(a)], a)
    assert [x.id for x in result] == ["a"]
    assert posted(driver) == [["a"], ["a"]]


def test_unknown_outcome_is_looked_up_and_only_the_missing_are_posted_again():
    a, b = ann("a"), ann("b", "in2")
    driver, result = run([unavailable(), answer(stored(a)), answer(b)], a, b)
    assert [x.id for x in result] == ["a", "b"]
    assert posted(driver) == [["a", "b"], ["b"]]
    lookup = driver.calls[1]
    assert lookup.method == "ListAnnotations"
    assert list(lookup.request.ids) == ["a", "b"] and lookup.request.list_all_annotations


def test_unknown_outcome_where_everything_was_stored_posts_nothing_more():
    a = ann("a")
    driver, result = run([answer(status=bad_status(sc.RPC_REQUEST_TIMEOUT)), answer(stored(a))], a)
    assert [x.id for x in result] == ["a"]
    assert posted(driver) == [["a"]]


def test_a_rerun_whose_ids_are_refused_returns_the_earlier_runs_annotations():
    a, b = ann("a"), ann("b", "in2")
    refused = answer(status=bad_status(sc.CONN_INVALID_REQUEST, "id taken"))
    driver, result = run([refused, answer(stored(a), stored(b))], a, b)
    assert [x.id for x in result] == ["a", "b"]
    assert posted(driver) == [["a", "b"]]


def test_a_refusal_with_none_of_ours_stored_stands_and_is_not_resent():
    a = ann("a")
    refused = answer(status=bad_status(sc.CONN_INVALID_REQUEST, "bad concept"))
    driver, err = run([refused, answer()], a)
    assert isinstance(err, taskgrpc.InvalidRequestError)
    assert posted(driver) == [["a"]]


def test_an_id_taken_on_another_input_is_a_conflict():
    a = ann("a")
    refused = answer(status=bad_status(sc.CONN_INVALID_REQUEST, "id taken"))
    _driver, err = run([refused, answer(ann("a", "other-input"))], a)
    assert isinstance(err, taskgrpc.ConflictError) and "another input" in str(err)


def test_auth_errors_are_not_looked_up():
    driver, err = run([answer(status=bad_status(sc.CONN_KEY_INVALID))], ann("a"))
    assert isinstance(err, taskgrpc.AuthError)
    assert driver.shape() == [("Call", "PostAnnotations")]


def test_out_of_attempts_after_an_unknown_outcome_is_outcome_unknown_naming_annotations():
    policy = taskgrpc.RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0)
    a = ann("a")
    _driver, err = run([unavailable(), answer(), unavailable()], a, policy=policy)
    assert isinstance(err, taskgrpc.OutcomeUnknownError)
    assert [x.id for x in err.tasks] == ["a"]
    assert "annotation(s)" in str(err)


def test_an_answer_missing_our_ids_is_outcome_unknown_and_nothing_is_resent():
    a, b = ann("a"), ann("b", "in2")
    driver, err = run([answer(a)], a, b)
    assert isinstance(err, taskgrpc.OutcomeUnknownError)
    assert posted(driver) == [["a", "b"]]


@pytest.mark.parametrize(
    ("worker", "expected"),
    [
        (r.Worker(user=r.User(id="u")), "u"),
        (r.Worker(model=r.Model(id="m")), "m"),
        (r.Worker(workflow=r.Workflow(id="w")), "w"),
        (r.Worker(), ""),
    ],
)
def test_worker_id_of_each_kind(worker, expected):
    assert lc.worker_id(worker) == expected


# --- content ids --------------------------------------------------------------------------------


def fresh(*specs: tuple[str, str]) -> list[r.Annotation]:
    return lrq.task_annotations("t1", [lrq.annotation(i, [c]) for i, c in specs])


def test_content_ids_are_stable_per_person_and_distinct_across_people_and_repeats():
    first, again, other = fresh(("in1", "cat")), fresh(("in1", "cat")), fresh(("in1", "cat"))
    lrq.give_annotation_ids(first, "pat-alice")
    lrq.give_annotation_ids(again, "pat-alice")
    lrq.give_annotation_ids(other, "pat-bob")
    assert first[0].id == again[0].id and HEX32.fullmatch(first[0].id)
    assert other[0].id != first[0].id
    repeats = fresh(("in1", "cat"), ("in1", "cat"), ("in1", "dog"))
    lrq.give_annotation_ids(repeats, "pat-alice")
    assert repeats[0].id == first[0].id
    assert len({a.id for a in repeats}) == 3
    other_task = lrq.task_annotations("t2", [lrq.annotation("in1", ["cat"])])
    lrq.give_annotation_ids(other_task, "pat-alice")
    assert other_task[0].id != first[0].id
    given = fresh(("in1", "cat"))
    given[0].id = "mine"
    lrq.give_annotation_ids(given, "pat-alice")
    assert given[0].id == "mine"
