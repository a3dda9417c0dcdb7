"""Hypothesis strategies for tasks: any Task message, valid or not, with every kind of field
(deprecated forms, maps, Structs, server fields)."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2 as r
from hypothesis import strategies as st

__all__ = ["any_task", "json_values"]

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53),
    st.text(max_size=6),
)
json_values = st.recursive(
    _leaf,
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
    meta = draw(st.dictionaries(st.text(max_size=4), json_values, max_size=3))
    if meta:
        t.metadata.update(meta)
    return t
