"""taskgrpc._content: content ids and whether a stored task is the one we sent."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

import taskgrpc as tg
from taskgrpc._content import _canonical, _slow_canonical


def sent_task() -> r.Task:
    task = tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        concepts=["cat", "dog"],
        name="x",
        workers=tg.partitioned({"u1": 9, "u2": 1}),
        review=tg.consensus(["rv"], approval_threshold=1),
    )
    task.id = "t1"
    return task


def as_stored(task: r.Task) -> r.Task:
    out = r.Task()
    out.CopyFrom(task)
    out.user_id, out.app_id = "user", "app"
    out.status.code = sc.TASK_IN_PROGRESS
    out.created_at.FromSeconds(1)
    out.metrics.work.inputs_count_estimated = 5
    return out


def test_server_fields_and_filled_in_defaults_do_not_count():
    stored = as_stored(sent_task())
    stored.priority = r.Task.HIGH  # a default the service may pick
    stored.worker.type = r.TaskWorker.WORKER_HUMAN
    stored.worker.workers[0].user.first_name = "Filled In"
    assert tg.same_task(sent_task(), stored)


def test_any_difference_in_what_was_sent_counts():
    base = sent_task()
    for change in (
        lambda t: setattr(t, "name", "other"),
        lambda t: t.worker.partitioned_strategy_info.weights.update({"u1": 1, "u2": 9}),
        lambda t: setattr(t.review.consensus_strategy_info, "approval_threshold_labelers", 2),
        lambda t: t.metadata.update({"batch": "b2"}),
        lambda t: setattr(t, "sample_ms", 40),
        lambda t: t.concepts.add(concept=r.Concept(id="bird")),
    ):
        stored = as_stored(base)
        change(stored)
        assert not tg.same_task(base, stored)
    # a field we did not set but the stored task has (other than service defaults) counts
    unnamed = sent_task()
    unnamed.name = ""
    assert not tg.same_task(unnamed, as_stored(sent_task()))
    # and a priority we did set must match
    urgent = sent_task()
    urgent.priority = r.Task.HIGH
    assert not tg.same_task(urgent, as_stored(sent_task()))


def test_deprecated_and_current_forms_are_the_same_task():
    current = sent_task()
    old = r.Task()
    old.CopyFrom(current)
    del old.concepts[:]
    old.concept_ids.extend(["dog", "cat"])
    del old.worker.workers[:]
    old.worker.user_ids.extend(["u2", "u1"])
    del old.review.users[:]
    old.review.user_ids.append("rv")
    old.review.consensus_strategy_info.approval_threshold_labelers = 0
    old.review.consensus_strategy_info.approval_threshold = 1
    assert tg.same_task(old, as_stored(current))
    assert tg.same_task(current, as_stored(old))


def test_content_id_depends_on_content_and_salt_only():
    a = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    same = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    other = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="b")
    assert tg.content_id(a) == tg.content_id(same)
    assert len(tg.content_id(a)) == 32 and int(tg.content_id(a), 16) >= 0
    assert tg.content_id(a) != tg.content_id(other)
    assert tg.content_id(a) != tg.content_id(a, salt="copy")
    with_id = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    with_id.id = "given"
    assert tg.content_id(with_id) == tg.content_id(a)  # the id is not content


def test_with_content_ids_copies_only_tasks_without_ids():
    a = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    b = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="b")
    b.id = "kept"
    out = tg.with_content_ids([a, b])
    assert [t.id for t in out] == [tg.content_id(a), "kept"]
    assert a.id == "" and out[1] is b


def test_with_content_ids_tells_identical_tasks_apart_by_position():
    a = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    b = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="b")
    out = tg.with_content_ids([a, b, a, a], salt="s")
    assert [t.id for t in out] == [
        tg.content_id(a, "s"),
        tg.content_id(b, "s"),
        tg.content_id(a, "s#1"),
        tg.content_id(a, "s#2"),
    ]
    # deterministic: the same list in the same order gives the same ids
    assert [t.id for t in tg.with_content_ids([a, b, a, a], salt="s")] == [t.id for t in out]


def test_is_content_id_recognizes_derived_ids_and_their_repeats():
    from taskgrpc._content import is_content_id

    a = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    first, second = tg.with_content_ids([a, a], salt="x")
    assert is_content_id(first, "x", 0)
    assert is_content_id(second, "x", 1) and not is_content_id(second, "x", 0)
    assert not is_content_id(first, "other", 5)
    chosen = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    chosen.id = "my-id"
    assert not is_content_id(chosen, "x", 5)
    assert not is_content_id(a, "x", 5)  # no id at all


# --- the fast canonical form is exactly the definition ----------------------------------------


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53),
    st.text(max_size=6),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def any_task(draw):
    t = r.Task(
        id=draw(st.sampled_from(["", "given"])),
        name=draw(st.text(max_size=8)),
        description=draw(st.text(max_size=8)),
        type=draw(st.sampled_from([0, 1, 2, 3, 99])),
        sample_ms=draw(st.integers(0, 2**32 - 1)),
        label_order_id=draw(st.text(max_size=3)),
        delete_previous_annotations=draw(st.booleans()),
        priority=draw(st.sampled_from([0, 1, 2, 3])),
    )
    for cid in draw(st.lists(st.text(min_size=1, max_size=3), max_size=3)):
        t.concepts.add(concept=r.Concept(id=cid, value=draw(st.floats(0, 1, width=32))))
    t.concept_ids.extend(draw(st.lists(st.text(max_size=3), max_size=2)))
    t.worker.strategy = draw(st.sampled_from([0, 1, 2, 3]))
    t.worker.user_ids.extend(draw(st.lists(st.text(max_size=3), max_size=2)))
    for uid in draw(st.lists(st.text(min_size=1, max_size=3), max_size=2)):
        t.worker.workers.add(user=r.User(id=uid))
    weights = draw(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 9), max_size=2))
    for uid, w in weights.items():
        t.worker.partitioned_strategy_info.weights[uid] = w
    t.review.strategy = draw(st.sampled_from([0, 1, 2, 3]))
    t.review.consensus_strategy_info.approval_threshold_labelers = draw(st.integers(0, 3))
    t.input_source.type = draw(st.sampled_from([0, 1, 2, 3]))
    t.input_source.id = draw(st.text(max_size=3))
    if draw(st.booleans()):
        t.created_at.FromSeconds(draw(st.integers(0, 2**33)))
    if draw(st.booleans()):
        t.visibility.gettable = draw(st.sampled_from([0, 10, 50]))
    if draw(st.booleans()):
        t.ai_assist_params.min_threshold = draw(st.floats(0, 1, width=32))
    meta = draw(st.dictionaries(st.text(max_size=4), _json, max_size=3))
    if meta:
        t.metadata.update(meta)
    return t


@settings(max_examples=300, deadline=None)
@given(any_task())
def test_the_fast_canonical_form_is_exactly_the_json_format_definition(task):
    assert _canonical(task) == _slow_canonical(task)
    assert _canonical(task) == _canonical(task)  # memoized parts give the same answer


def test_canonical_form_of_builder_tasks_is_the_definition():
    tasks = [
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a"),
        sent_task(),
        as_stored(sent_task()),
        struct_task(),
    ]
    for task in tasks:
        assert _canonical(task) == _slow_canonical(task)


def struct_task():
    t = tg.build_task("BOUNDING_BOX_DETECTION", concepts=["car"], name="meta")
    t.metadata.CopyFrom(struct_pb2.Struct())
    t.metadata.update({"n": 1.5, "deep": {"list": [1, "two", None, True]}, "é": "ü"})
    return t


def test_content_id_bytes_is_what_an_id_adds_to_a_task():
    from taskgrpc._content import CONTENT_ID_BYTES

    task = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    [with_id] = tg.with_content_ids([task])
    assert with_id.ByteSize() - task.ByteSize() == CONTENT_ID_BYTES


def test_content_ids_given_in_parts_are_those_of_the_whole_list():
    from taskgrpc._content import ContentIds

    a = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    b = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="b")
    tasks = [a, b, a, a, b, a]
    giver = ContentIds("s")
    parts = giver.assign(tasks[:2]) + giver.assign(tasks[2:5]) + giver.assign(tasks[5:])
    assert [t.id for t in parts] == [t.id for t in tg.with_content_ids(tasks, "s")]
    assert giver.derived == {t.id for t in parts}
