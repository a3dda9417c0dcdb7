"""taskgrpc._content: content ids and whether a stored task is the one we sent."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import struct_pb2
from hypothesis import given, settings
from taskgen import any_task
from tgsupport import examples

import taskgrpc as tg
from taskgrpc._content import _canonical, _slow_canonical
from taskgrpc.builders import clone


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


@settings(max_examples=examples(300), deadline=None)
@given(any_task())
def test_the_fast_canonical_form_is_exactly_the_json_format_definition(task):
    assert _canonical(task) == _slow_canonical(task)
    assert _canonical(task) == _canonical(task)  # memoized parts give the same answer
    copy = clone(task)  # the bulk path: a copy without an id, worked on in place
    copy.ClearField("id")
    before = copy.SerializeToString(deterministic=True)
    assert _canonical(copy, own=True) == _slow_canonical(task)
    assert copy.SerializeToString(deterministic=True) == before  # left as it was


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


def test_content_ids_are_the_documented_definition_and_never_change():
    """A re-run after an upgrade must find the tasks an earlier version created: the id is
    sha256 of ``f"{salt}\\0"`` and the canonical JSON of the task without its id (the
    k-th repeat of a content in one list salted ``f"{salt}#{k}"``), its first 32 hex digits.
    Written out here with json_format, and pinned to the values 0.2.0 gave."""
    import hashlib
    import json

    from google.protobuf import json_format

    def defined(task: r.Task, salt: str) -> str:
        body = clone(task)
        body.ClearField("id")
        text = json.dumps(json_format.MessageToDict(body), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{salt}\0{text}".encode()).hexdigest()[:32]

    a = tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        concepts=["cat"],
        name="bulk-1",
        workers=tg.full(["labeler-1"]),
        review=tg.manual_review(["reviewer"]),
        source=tg.dataset("ds-1"),
    )
    b = struct_task()
    b.description = "déjà vu"
    tasks = [a, b, a]
    got = [t.id for t in tg.with_content_ids(tasks, "s")]
    assert got == [defined(a, "s"), defined(b, "s"), defined(a, "s#1")]
    assert tg.content_id(b) == defined(b, "")
    assert got == PINNED_IDS


PINNED_IDS = [  # taskgrpc 0.2.0's ids of the tasks above
    "f64785b7b83da94bba00855a16b6bf92",
    "e73926a45f5cd08b320ba9d4bc830159",
    "e24adbd8930903e2ce6a6a4cad2e806a",
]
