"""TaskStore: atomic operations, ordering, thread safety and scaling with store size."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from fake_rpc import APP, USER, ctx, make_task, user_app
from hypothesis import given, settings
from hypothesis import strategies as st
from tgsupport import examples

from fake_servicer import FakeV2Servicer
from fake_servicer.filters import TaskFilter
from fake_servicer.store import ConflictError, MissingTaskError, TaskStore

Task = resources_pb2.Task
KEY = (USER, APP)
EVERYTHING = TaskFilter()


def ids(tasks: list[Task]) -> list[str]:
    return [t.id for t in tasks]


def test_insert_new_is_all_or_nothing() -> None:
    store = TaskStore()
    store.insert_new(KEY, [make_task("a")])
    with pytest.raises(ConflictError) as raised:
        store.insert_new(KEY, [make_task("b"), make_task("a")])
    assert raised.value.task_id == "a"
    assert ids(store.snapshot(KEY)) == ["a"]


def test_update_is_all_or_nothing() -> None:
    store = TaskStore()
    store.put(KEY, [make_task("a", name="a0"), make_task("b", name="b0")])

    def rename(name: str) -> Callable[[Task], Task]:
        def build(old: Task) -> Task:
            new = Task()
            new.CopyFrom(old)
            new.name = name
            return new

        return build

    def refuse(old: Task) -> Task:
        raise ValueError("no")

    with pytest.raises(MissingTaskError):
        store.update(KEY, [("a", rename("a1")), ("ghost", rename("x"))])
    with pytest.raises(ValueError):
        store.update(KEY, [("a", rename("a1")), ("b", refuse)])
    assert [t.name for t in store.snapshot(KEY)] == ["b0", "a0"]
    updated = store.update(KEY, [("a", rename("a1")), ("a", rename("a2"))])
    assert [t.name for t in updated] == ["a1", "a2"]
    assert [t.name for t in store.snapshot(KEY)] == ["b0", "a2"]
    with pytest.raises(MissingTaskError):
        store.update(("other", "app"), [("a", rename("z"))])


def test_delete_counts_and_ignores_unknown() -> None:
    store = TaskStore()
    store.put(KEY, [make_task("a"), make_task("b")])
    assert store.delete(KEY, ["a", "a", "ghost"]) == 1
    assert store.delete(("no", "app"), ["b"]) == 0
    assert store.count(KEY) == 1


def test_page_offsets_and_ids() -> None:
    store = TaskStore()
    store.put(KEY, [make_task(f"t{i}") for i in range(5)])
    assert ids(store.page(KEY, EVERYTHING, 0, 2)) == ["t4", "t3"]
    assert ids(store.page(KEY, EVERYTHING, 4, 2)) == ["t0"]
    assert ids(store.page(KEY, EVERYTHING, 5, 2)) == []
    by_ids = TaskFilter(ids=frozenset({"t0", "t3", "zz"}))
    assert ids(store.page(KEY, by_ids, 0, 10)) == ["t3", "t0"]
    assert ids(store.page(("x", "y"), EVERYTHING, 0, 10)) == []


def test_concurrent_posts_all_stored() -> None:
    servicer = FakeV2Servicer()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                request = service_pb2.PostTasksRequest(
                    user_app_id=user_app(), tasks=[make_task(f"w{n}-{i}"), make_task()]
                )
                response = servicer.PostTasks(request, ctx())
                assert response.status.code == 10000
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(servicer.tasks(USER, APP)) == 16 * 20 * 2
    assert servicer.calls["PostTasks"] == 16 * 20


def test_concurrent_same_id_only_one_wins() -> None:
    servicer = FakeV2Servicer()
    codes: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        request = service_pb2.PostTasksRequest(user_app_id=user_app(), tasks=[make_task("same")])
        codes.append(servicer.PostTasks(request, ctx()).status.code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [10000] + [54100] * 7


def _best_time(action: Callable[[], object], repeat: int = 7, number: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            action()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.fixture(scope="module")
def stores() -> tuple[FakeV2Servicer, FakeV2Servicer]:
    """A 100k-task servicer and a 1k-task one, seeded without RPC."""
    big, small = FakeV2Servicer(), FakeV2Servicer()
    big.put_tasks(USER, APP, (make_task(f"t{i}") for i in range(100_000)))
    small.put_tasks(USER, APP, (make_task(f"t{i}") for i in range(1_000)))
    return big, small


@pytest.mark.timing
class TestScaling:
    """A 100k-task store must not be copied or sorted per page, nor scanned per insert.

    Ratios against a small store are generous (an O(store) page or post would be 50-100x).
    """

    @staticmethod
    def _list(servicer: FakeV2Servicer, page: int, per_page: int) -> list[str]:
        request = service_pb2.ListTasksRequest(user_app_id=user_app(), page=page, per_page=per_page)
        response = servicer.ListTasks(request, ctx())
        assert response.status.code == 10000
        return [t.id for t in response.tasks]

    def test_page_100_of_1000(self, stores: tuple[FakeV2Servicer, FakeV2Servicer]) -> None:
        big, small = stores
        page = self._list(big, 100, 1000)
        assert page[0] == "t999" and page[-1] == "t0"
        big_time = _best_time(lambda: self._list(big, 100, 1000))
        small_time = _best_time(lambda: self._list(small, 1, 1000))
        assert big_time < 10 * small_time, (big_time, small_time)

    def test_first_page_independent_of_size(
        self, stores: tuple[FakeV2Servicer, FakeV2Servicer]
    ) -> None:
        big, small = stores
        assert self._list(big, 1, 10)[0] == "t99999"
        big_time = _best_time(lambda: self._list(big, 1, 10), number=20)
        small_time = _best_time(lambda: self._list(small, 1, 10), number=20)
        assert big_time < 5 * small_time, (big_time, small_time)

    def test_ids_filter_independent_of_size(
        self, stores: tuple[FakeV2Servicer, FakeV2Servicer]
    ) -> None:
        big, small = stores

        def by_ids(servicer: FakeV2Servicer) -> None:
            request = service_pb2.ListTasksRequest(user_app_id=user_app(), ids=["t5", "t7"])
            assert len(servicer.ListTasks(request, ctx()).tasks) == 2

        big_time = _best_time(lambda: by_ids(big), number=20)
        small_time = _best_time(lambda: by_ids(small), number=20)
        assert big_time < 5 * small_time, (big_time, small_time)

    def test_post_128(self, stores: tuple[FakeV2Servicer, FakeV2Servicer]) -> None:
        big, small = stores

        def post(servicer: FakeV2Servicer) -> None:
            request = service_pb2.PostTasksRequest(
                user_app_id=user_app(), tasks=[make_task() for _ in range(128)]
            )
            assert servicer.PostTasks(request, ctx()).status.code == 10000

        big_time = _best_time(lambda: post(big))
        small_time = _best_time(lambda: post(small))
        assert big_time < 5 * small_time, (big_time, small_time)


OPS = st.lists(
    st.tuples(st.sampled_from(["post", "delete", "overwrite"]), st.sampled_from("abcdefgh")),
    max_size=40,
)


@settings(max_examples=examples(60), deadline=None)
@given(ops=OPS, per_page=st.integers(min_value=1, max_value=5))
def test_listing_matches_a_simple_model(ops: list[tuple[str, str]], per_page: int) -> None:
    """Newest first; overwrite keeps the position; delete then post makes an id newest."""
    servicer = FakeV2Servicer()
    model: list[str] = []  # oldest first
    for op, task_id in ops:
        if op == "post":
            request = service_pb2.PostTasksRequest(
                user_app_id=user_app(), tasks=[make_task(task_id)]
            )
            code = servicer.PostTasks(request, ctx()).status.code
            assert code == (54100 if task_id in model else 10000)
            if task_id not in model:
                model.append(task_id)
        elif op == "delete":
            request_d = service_pb2.DeleteTasksRequest(user_app_id=user_app(), ids=[task_id])
            assert servicer.DeleteTasks(request_d, ctx()).status.code == 10000
            if task_id in model:
                model.remove(task_id)
        else:
            request_p = service_pb2.PatchTasksRequest(
                user_app_id=user_app(), action="overwrite", tasks=[make_task(task_id, name=op)]
            )
            code = servicer.PatchTasks(request_p, ctx()).status.code
            assert code == (10000 if task_id in model else 54102)
    listed: list[str] = []
    page = 1
    while True:
        request_l = service_pb2.ListTasksRequest(
            user_app_id=user_app(), page=page, per_page=per_page
        )
        ids_page = [t.id for t in servicer.ListTasks(request_l, ctx()).tasks]
        listed += ids_page
        if len(ids_page) < per_page:
            break
        page += 1
    assert listed == model[::-1]
