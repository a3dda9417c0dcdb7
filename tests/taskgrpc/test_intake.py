"""taskgrpc._intake: a create's tasks checked, given ids, sized and put into requests in one
pass, with the work shared by tasks of one shape."""

from __future__ import annotations

import hashlib
import json

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from taskgen import any_task
from tgsupport import examples, uaid

import taskgrpc as tg
from taskgrpc._content import ContentIds
from taskgrpc._intake import _CHECKED, creates
from taskgrpc._validate import check_task, clone
from taskgrpc.errors import ValidationError


def verdict(task: r.Task) -> str | None:
    try:
        check_task(task)
    except ValidationError as err:
        return str(err)
    return None


def taken_in(tasks: list[r.Task], salt: str | None = "", batch_size: int = 128):
    ids = None if salt is None else ContentIds(salt)
    return creates(tasks, ids, uaid(), batch_size)


@settings(max_examples=examples(300), deadline=None)
@given(any_task(), st.text(max_size=8), st.text(max_size=8), st.sampled_from(["", "x", "given"]))
def test_one_pass_is_check_task_then_with_content_ids_and_byte_size(task, name, desc, task_id):
    """The memoized pass gives what the plain steps give, for any task, valid or not,
    whether its shape was seen before (the other names) or not."""
    variants = [task, clone(task)]
    variants[1].name, variants[1].description, variants[1].id = name, desc, task_id
    for t in variants:
        before = t.SerializeToString(deterministic=True)
        expected = verdict(t)
        if expected is not None:
            with pytest.raises(ValidationError) as err:
                taken_in([t])
            assert str(err.value) == f"tasks[0]: {expected}"
        else:
            made = taken_in([t], "s")
            assert list(made.items) == tg.with_content_ids([t], "s")
            assert made.sizes == [made.items[0].ByteSize()]
            plain = taken_in([t], None)  # assign_ids=False: sent as it is
            assert list(plain.items) == [t]
            assert plain.sizes == [t.ByteSize()]
        assert t.SerializeToString(deterministic=True) == before  # the caller's task unchanged


def test_the_verdict_of_a_shape_is_memoized_and_its_name_does_not_change_it():
    bad = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="a")
    bad.input_source.type = r.TaskInputSource.DATASET  # no dataset id: refused
    _CHECKED.clear()
    for name in ("a", "b", "ç"):
        bad.name = name
        with pytest.raises(ValidationError, match=r"tasks\[0\]: task.input_source.id is required"):
            taken_in([bad])
    assert len(_CHECKED) == 1  # one shape, checked once


def test_a_late_bad_task_refuses_the_whole_call_naming_its_index():
    good = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="ok")
    bad = clone(good)
    bad.concepts[0].concept.id = " "
    with pytest.raises(ValidationError, match=r"tasks\[300\]: task.concepts\[0\].concept.id"):
        taken_in([good] * 300 + [bad])
    with pytest.raises(ValidationError, match=r"tasks\[2\]: expected a clarifai Task message"):
        taken_in([good, good, {"name": "x"}])  # type: ignore[list-item]


def test_ids_given_twice_are_refused_and_repeats_of_content_get_their_own_ids():
    task = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="same")
    made = taken_in([task, task, task])
    assert [t.id for t in made.items] == [t.id for t in tg.with_content_ids([task] * 3)]
    assert len({t.id for t in made.items}) == 3
    mine = clone(task)
    mine.id = "mine"
    with pytest.raises(ValidationError, match=r"tasks\[1\]: the id 'mine' is given twice"):
        taken_in([mine, mine])


def test_requests_hold_the_items_and_are_handed_out_once_for_exactly_their_items():
    tasks = [
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], name=f"t{i}") for i in range(5)
    ]
    made = taken_in(tasks, batch_size=2)
    first = made.request([0, 1])
    assert list(first.tasks) == made.items[:2] and first.user_app_id == uaid()
    again = made.request([0, 1])  # handed out already: a new request with the same content
    assert again is not first and again == first
    part = made.request([2])  # a part of a batch (narrowing): built from the items
    assert list(part.tasks) == [made.items[2]]
    skipping = made.request([2, 4])  # same start, same length as the built [2, 3]: not it
    assert [t.name for t in skipping.tasks] == ["t2", "t4"]
    assert [t.name for t in made.request([2, 3]).tasks] == ["t2", "t3"]


def reference_ids(tasks: list[r.Task], salt: str) -> list[str]:
    """The content-id rule written out with json_format, apart from taskgrpc's code."""
    counts: dict[str, int] = {}
    out = []
    for task in tasks:
        if task.id:
            out.append(task.id)
            continue
        body = clone(task)
        text = json.dumps(json_format.MessageToDict(body), sort_keys=True, separators=(",", ":"))
        k = counts.get(text, 0)
        counts[text] = k + 1
        key = salt if k == 0 else f"{salt}#{k}"
        out.append(hashlib.sha256(f"{key}\0{text}".encode()).hexdigest()[:32])
    return out


names = st.sampled_from(["", "a", "name", "description", "\x00", "é\u2028", '"\\', "🐈"])


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), names, names), min_size=1, max_size=9),
    st.integers(1, 4),
    st.sampled_from(["", "s", "s#1"]),
)
def test_ids_of_a_whole_call_are_the_json_format_definition(picks, batch_size, salt):
    """Repeats across batches, caller ids and shapes seen before, against the rule itself."""
    shapes = [
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"]),
        tg.build_task("BOUNDING_BOX_DETECTION", concepts=["car"], workers=tg.full(["u"])),
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], metadata={"k": [1, "x"]}),
    ]
    tasks = []
    for n, (shape, name, description) in enumerate(picks):
        task = clone(shapes[shape])
        task.name, task.description = name, description
        if n % 4 == 3:
            task.id = f"own-{n}"
        tasks.append(task)
    made = creates(tasks, ContentIds(salt), uaid(), batch_size)
    assert [t.id for t in made.items] == reference_ids(tasks, salt)
    assert made.own_ids == sum(1 for t in tasks if t.id)
    assert made.sizes == [t.ByteSize() for t in made.items]


def test_metadata_nested_too_deeply_is_refused_naming_the_task():
    base = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="ok")
    deep = clone(base)
    level = deep.metadata
    for _ in range(40):
        level = level.get_or_create_struct("k")
    for ids in (ContentIds(""), None):
        with pytest.raises(ValidationError, match=r"tasks\[1\]: task.metadata is nested too deep"):
            creates([base, deep], ids, uaid(), 128)


def test_an_id_sent_twice_is_refused_whether_given_or_derived():
    task = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="t")
    mine = clone(task)
    mine.id = tg.content_id(task)  # a caller's id that is the next task's content id
    with pytest.raises(ValidationError, match=r"tasks\[1\]: its content id '[0-9a-f]{32}' is"):
        taken_in([mine, task])
    with pytest.raises(ValidationError, match=r"tasks\[1\]: the id '[0-9a-f]{32}' is given twice"):
        taken_in([task, mine])  # the other order: the derived one came first


def test_a_task_json_format_cannot_write_has_no_content_id_but_can_be_sent():
    task = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="nan")
    task.metadata.update({"score": float("nan")})
    with pytest.raises(ValidationError, match=r"tasks\[0\]: no content id can be derived"):
        taken_in([task])
    assert taken_in([task], None).items == [task]  # assign_ids=False: sent as it is


def test_memos_are_bounded_by_bytes():
    from taskgrpc._content import Memo

    memo: Memo[bytes, int] = Memo(100)
    for i in range(10):
        memo.put(bytes([i]) * 30, i, 30)
        assert len(memo) == i % 3 + 1  # a fourth entry of 30 bytes would pass 100: cleared
    assert memo.get(bytes([9]) * 30) == 9


def test_non_ascii_text_is_sized_in_bytes():
    task = tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["c"], name="ñ" * 200)
    task.description = "描述" * 100
    made = taken_in([task])
    assert made.sizes == [made.items[0].ByteSize()]
