"""TaskClient.list end to end against fake_servicer: pages, page sizes, prefetch, order, and the
filters on a variety of stored tasks (every ListTasks filter's request: test_list_filters.py)."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from tgsupport import ids, seed

from taskgrpc import (
    build_task,
    consensus,
    dataset,
    full,
    manual_review,
    partitioned,
    saved_search,
)

CC = "CONCEPTS_CLASSIFICATION"


# --- list and pagination ------------------------------------------------------------------


def test_list_empty(client, server):
    assert list(client.list()) == []
    assert list(client.list().pages()) == []
    assert server.servicer.calls["ListTasks"] == 2


def test_list_exactly_one_page(client, server):
    expected = seed(server, 3)
    pages = list(client.list(per_page=3).pages())
    assert [ids(p) for p in pages] == [expected]
    # a full page might not be the last: page 2 is asked for, and comes back empty
    assert server.servicer.calls["ListTasks"] == 2


def test_list_one_more_than_a_page(client, server):
    expected = seed(server, 4)
    pages = list(client.list(per_page=3).pages())
    assert [len(p) for p in pages] == [3, 1]
    assert [t.id for p in pages for t in p] == expected
    assert server.servicer.calls["ListTasks"] == 2


def test_list_short_first_page_is_one_call(client, server):
    expected = seed(server, 2)
    assert ids(client.list(per_page=3)) == expected
    assert server.servicer.calls["ListTasks"] == 1


def test_list_per_page_1000(client, server):
    expected = seed(server, 1001)
    pages = list(client.list(per_page=1000).pages())
    assert [len(p) for p in pages] == [1000, 1]
    assert [t.id for p in pages for t in p] == expected
    requests = [c.request for c in server.servicer.requests if c.method == "ListTasks"]
    assert [(q.page, q.per_page) for q in requests] == [(1, 1000), (2, 1000)]


def test_pages_sizes(client, server):
    seed(server, 7)
    assert [len(p) for p in client.list(per_page=3).pages()] == [3, 3, 1]


def test_iterating_again_lists_again(client, server):
    expected = seed(server, 5)
    pager = client.list(per_page=2)
    assert ids(pager) == expected
    assert ids(pager) == expected


def test_prefetch_gives_the_same_tasks(client, server):
    expected = seed(server, 7)
    assert [ids(p) for p in client.list(per_page=3, prefetch=True).pages()] == [
        expected[0:3],
        expected[3:6],
        expected[6:7],
    ]
    assert ids(client.list(per_page=7, prefetch=True)) == expected


def test_list_is_newest_first(client):
    made = [client.create(build_task(CC, concepts=["cat"], name=f"t{i}")) for i in range(4)]
    assert ids(client.list()) == list(reversed(ids(made)))


@pytest.fixture
def variety(client):
    """Four tasks with distinct workers, reviewers and sources; returns their ids by name."""
    specs = {
        "a": build_task(
            CC,
            concepts=["c"],
            workers=full(["w1"]),
            source=dataset("d1"),
            review=manual_review(["r1"]),
        ),
        "b": build_task(
            CC,
            concepts=["c"],
            workers=full(["w2"]),
            source=dataset("d2"),
            review=consensus(["r1", "r2"], approval_threshold=1),
        ),
        "c": build_task(
            CC,
            concepts=["c"],
            workers=partitioned({"w1": 1, "w3": 1}),
            source=saved_search("s1"),
            review=manual_review(["r3"]),
        ),
        "d": build_task(CC, concepts=["c"]),
    }
    return {name: client.create(task).id for name, task in specs.items()}


def test_list_by_worker(client, variety):
    v = variety
    assert ids(client.list(worker_user_ids=["w1"])) == [v["c"], v["a"]]
    assert ids(client.list(worker_user_ids=["w2", "w3"])) == [v["c"], v["b"]]
    assert ids(client.list(worker_user_ids=["nobody"])) == []


def test_list_by_reviewer(client, variety):
    v = variety
    assert ids(client.list(review_user_ids=["r1"])) == [v["b"], v["a"]]
    assert ids(client.list(review_user_ids=["r2", "r3"])) == [v["c"], v["b"]]


def test_list_by_ids(client, variety):
    v = variety
    assert ids(client.list(ids=[v["a"], v["c"], "unknown"])) == [v["c"], v["a"]]


def test_list_by_input_source(client, variety):
    v = variety
    assert ids(client.list(input_source_type="DATASET")) == [v["b"], v["a"]]
    assert ids(client.list(input_source_type=r.TaskInputSource.SAVED_SEARCH)) == [v["c"]]
    assert ids(client.list(input_source_type="ALL_INPUTS")) == [v["d"]]
    assert ids(client.list(input_source_ids=["d1", "s1"])) == [v["c"], v["a"]]


def test_list_filters_combine(client, variety):
    v = variety
    assert ids(client.list(worker_user_ids=["w1"], input_source_type="DATASET")) == [v["a"]]
