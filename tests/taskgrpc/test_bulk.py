"""taskgrpc._bulk: planning batches by count and bytes, and the byte arithmetic."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import service_pb2 as s
from tgsupport import simple_task, uaid

from taskgrpc._bulk import framed, plan


@pytest.mark.parametrize("sizes", [[0], [5, 127, 128, 300], [16_383, 16_384, 2_000_000]])
def test_framed_sizes_add_up_to_the_request_size(sizes):
    tasks = [simple_task(f"t{i}", description="x" * n) for i, n in enumerate(sizes)]
    header = s.PostTasksRequest(user_app_id=uaid()).ByteSize()
    request = s.PostTasksRequest(user_app_id=uaid(), tasks=tasks)
    assert request.ByteSize() == header + sum(framed(t.ByteSize()) for t in tasks)


def test_plan_by_count_only():
    assert plan(None, 5, 2, 0, 0) == ([[0, 1], [2, 3], [4]], [])


def test_plan_by_bytes_and_count_keeps_order_and_sets_aside_items_too_big():
    sizes = [40, 40, 40, 500, 10, 10, 10, 10]
    # each item costs size + 2; header 10; budget 100
    batches, too_big = plan(sizes, len(sizes), 3, 100, 10)
    assert too_big == [3]
    assert batches == [[0, 1], [2, 4, 5], [6, 7]]
    for batch in batches:
        assert 10 + sum(framed(sizes[i]) for i in batch) <= 100


def test_batches_are_prepared_once_in_input_order_whatever_order_they_start_in():
    from tgsupport import ScriptedDriver

    from taskgrpc._bulk import Bulk

    seen: list[list[int]] = []

    def prepare(items):
        seen.append(list(items))
        return [i * 10 for i in items]

    def make_op(items):
        if False:
            yield
        return items

    bulk = Bulk("create_many", list(range(7)), 2, 4, make_op, None, prepare=prepare)
    for index in (3, 1, 0, 2):
        bulk.done(index, ScriptedDriver([]).run(bulk.op(index)))
    assert seen == [[0, 1], [2, 3], [4, 5], [6]]
    assert bulk.result() == [0, 10, 20, 30, 40, 50, 60]
    assert seen[4:] == [[]]  # then the items too big to send (none here)
