"""Chaos: bulk create, list, update and delete against a fake that fails 30% of calls.

Faults (seeded, all three kinds): ``unavailable`` (nothing done), ``throttled`` (nothing
done) and ``commit_unavailable`` (done, then UNAVAILABLE). Figures (calls per method, faults
per kind, tasks stored) are printed: run with ``pytest -s`` to see them.
"""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from relsupport import (
    USER,
    aclient,
    client,
    figures,
    no_duplicates,
    seed_for,
    stored,
    stripped,
    task,
)

import taskgrpc
from fake_servicer import FakeServer, FakeV2Servicer, Faults

N = 1000
BATCH = 8  # small batches: about 125 PostTasks calls, so dozens of faults land on them


def chaos(seed: int, methods: set[str] | None = None) -> Faults:
    return Faults(
        unavailable=0.1, throttled=0.1, commit_unavailable=0.1, seed=seed, methods=methods
    )


def inputs(n: int, prefix: str) -> list[r.Task]:
    return [task(f"{prefix}-{i:04d}", description=f"input #{i}") for i in range(n)]


def populate(server: FakeServer, app: str, n: int = N) -> list[r.Task]:
    """Create ``n`` tasks without faults, through the client."""
    with client(server, app) as c:
        return c.create_many(inputs(n, app), batch_size=128)


def assert_all_kinds_injected(fig: dict) -> None:
    for kind in ("unavailable", "throttled", "commit_unavailable"):
        assert fig["faults_injected"].get(kind, 0) > 0, f"no {kind} fault was injected: {fig}"


@pytest.mark.parametrize("seed", [11, 2024, 777])
def test_create_many_under_chaos_stores_each_task_exactly_once(
    server: FakeServer, servicer: FakeV2Servicer, seed: int
) -> None:
    sent = inputs(N, "chaos")
    servicer.set_faults(chaos(seed))
    with client(server, "chaos") as c:
        created = c.create_many(sent, batch_size=BATCH)
    fig = figures(f"create_many x{N} seed={seed}", servicer, "chaos")
    servicer.set_faults(None)
    assert_all_kinds_injected(fig)

    on_server = stored(servicer, "chaos")
    names = [t.name for t in on_server.values()]
    assert no_duplicates(names) == []
    assert sorted(names) == sorted(t.name for t in sent)
    assert len(on_server) == N

    # The returned list is the server's truth, in input order.
    assert len(created) == N
    assert len({t.id for t in created}) == N
    assert [t.name for t in created] == [t.name for t in sent]
    for out, original in zip(created, sent, strict=True):
        assert out == on_server[out.id]
        assert stripped(out) == original
    assert all(not t.id for t in sent), "create_many changed the caller's messages"

    # Every fault cost a call, and every batch ended with a call that succeeded.
    batches = -(-N // BATCH)
    assert fig["calls_total"] >= batches + fig["faults_total"]
    # Only ids are posted again after an unknown outcome: the lookups are ListTasks by ids.
    assert all(
        rec.request.ids
        for rec in servicer.requests
        if rec.method == "ListTasks"  # records are bounded to the last 1000 calls
    )


def test_list_under_chaos_equals_the_fault_free_listing(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    populate(server, "listing")
    with client(server, "listing") as c:
        baseline = list(c.list(per_page=50))
        assert len(baseline) == N
        before = sum(servicer.calls.values())
        servicer.set_faults(chaos(5))
        listed = list(c.list(per_page=50))
        prefetched = list(c.list(per_page=64, prefetch=True))
    fig = figures("list under chaos", servicer, "listing")
    servicer.set_faults(None)
    assert_all_kinds_injected(fig)
    assert listed == baseline
    assert prefetched == baseline
    pages = N // 50 + 1 + -(-N // 64)  # the 50-per-page listing ends on an empty page
    assert fig["calls_total"] - before >= pages + fig["faults_total"]


def test_update_many_under_chaos_updates_every_task_exactly(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    originals = populate(server, "updates")
    changed = []
    for i, t in enumerate(originals):
        new = stripped(t, ("created_at", "modified_at", "user_id", "app_id"))
        new.name = f"{t.name}-v2"
        new.description = f"updated #{i}"
        new.sample_ms = i + 1
        changed.append(new)
    servicer.set_faults(chaos(99))
    with client(server, "updates") as c:
        updated = c.update_many(changed, batch_size=BATCH)
    fig = figures("update_many under chaos", servicer, "updates")
    servicer.set_faults(None)
    assert_all_kinds_injected(fig)

    on_server = stored(servicer, "updates")
    assert len(on_server) == N
    assert [t.id for t in updated] == [t.id for t in changed]
    for out, sent, original in zip(updated, changed, originals, strict=True):
        assert out == on_server[out.id]
        assert stripped(out) == stripped(sent)
        assert out.created_at == original.created_at
    assert no_duplicates(t.name for t in on_server.values()) == []


def test_delete_many_under_chaos_empties_the_store(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    created = populate(server, "deletes")
    populate(server, "bystander", 50)
    servicer.set_faults(chaos(3))
    with client(server, "deletes") as c:
        c.delete_many([t.id for t in created], batch_size=BATCH)
    fig = figures("delete_many under chaos", servicer, "deletes")
    servicer.set_faults(None)
    assert_all_kinds_injected(fig)
    assert servicer.tasks(USER, "deletes") == []
    assert len(servicer.tasks(USER, "bystander")) == 50


def test_create_many_without_ids_never_duplicates_under_chaos(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """assign_ids=False: an unknown outcome is reported, never retried blindly.

    Faults hit PostTasks only, so the counts are exact: a throttled batch is retried
    (nothing was done); an unavailable batch fails and is not stored; a commit_unavailable
    batch fails and *is* stored, once.
    """
    n, batch = 400, 5
    sent = inputs(n, "noids")
    servicer.set_faults(chaos(8, {"PostTasks"}))
    with client(server, "noids") as c, pytest.raises(taskgrpc.BulkError) as info:
        c.create_many(sent, batch_size=batch, assign_ids=False)
    fig = figures("create_many assign_ids=False under chaos", servicer, "noids")
    servicer.set_faults(None)
    assert_all_kinds_injected(fig)
    err = info.value
    injected = fig["faults_injected"]

    for index, error in err.errors.items():
        assert isinstance(error, taskgrpc.OutcomeUnknownError), repr(error)
        assert isinstance(error.cause, taskgrpc.UnavailableError)
        assert sent[index].name in {t.name for t in error.tasks}
        assert err.results[index] is None
    unknown = injected["unavailable"] + injected["commit_unavailable"]
    assert len(err.errors) == unknown * batch
    assert fig["calls"] == {"PostTasks": n // batch + injected["throttled"]}

    on_server = stored(servicer, "noids")
    names = [t.name for t in on_server.values()]
    assert no_duplicates(names) == []
    assert set(names) <= {t.name for t in sent}
    assert len(on_server) == n - injected["unavailable"] * batch
    # Every task reported created exists, as reported.
    assert len(err.succeeded) == n - len(err.errors)
    for out in err.succeeded:
        assert out == on_server[out.id]
    # Every task not reported created is exactly the set whose outcome was unknown.
    reported = {t.name for t in err.succeeded}
    assert {t.name for t in err.failed_items} == {t.name for t in sent} - reported


def test_create_without_id_after_commit_unavailable_raises_outcome_unknown(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostTasks"}))
    with client(server, "one") as c, pytest.raises(taskgrpc.OutcomeUnknownError) as info:
        c.create(task("only-once"), assign_id=False)
    assert [t.name for t in info.value.tasks] == ["only-once"]
    assert servicer.calls["PostTasks"] == 1
    assert [t.name for t in servicer.tasks(USER, "one")] == ["only-once"]


def test_create_with_id_after_commit_unavailable_is_reconciled(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostTasks"}))
    with client(server, "recon") as c:
        out = c.create(task("reconciled"))
    on_server = stored(servicer, "recon")
    assert list(on_server) == [out.id]
    assert on_server[out.id] == out
    assert servicer.calls["PostTasks"] == 1
    assert servicer.calls["ListTasks"] >= 1


def test_create_of_an_existing_id_conflicts_even_after_an_unknown_outcome(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """Another task already holds the id. Without faults that is a ConflictError; a failed
    first attempt (UNAVAILABLE, nothing done) must not turn it into a success that returns
    the *other* task as if it had been created."""
    with client(server, "taken") as c:
        c.create(task("original"), assign_id=True)
        existing = servicer.tasks(USER, "taken")[0]
        mine = task("mine")
        mine.id = existing.id
        with pytest.raises(taskgrpc.ConflictError):
            c.create(mine)
        servicer.set_faults(
            Faults(unavailable=0.5, seed=seed_for([True, False, False], 0.5), methods={"PostTasks"})
        )
        # the first post is dropped (UNAVAILABLE); the lookup finds another task's content
        # under the id: that is a conflict, not an unknown outcome and not a success
        with pytest.raises(taskgrpc.ConflictError) as info:
            c.create(mine)
        assert not isinstance(info.value, taskgrpc.OutcomeUnknownError)
    assert [t.name for t in servicer.tasks(USER, "taken")] == ["original"]


def test_create_of_a_label_order_task_is_reconciled_after_commit_unavailable(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """Tasks of a label order are hidden from ListTasks unless asked for
    (``including_label_order_tasks``): the lookup after an unknown outcome must still find
    the task it created."""
    lo = task("in-a-label-order")
    lo.label_order_id = "order-1"
    servicer.set_faults(
        Faults(commit_unavailable=0.5, seed=seed_for([True, False, False, False], 0.5))
    )
    with client(server, "orders") as c:
        out = c.create(lo)
    servicer.set_faults(None)
    on_server = stored(servicer, "orders")
    assert list(on_server) == [out.id]
    assert out == on_server[out.id]
    assert servicer.calls["PostTasks"] == 1


async def test_async_create_many_under_chaos(server: FakeServer, servicer: FakeV2Servicer) -> None:
    n = 300
    sent = inputs(n, "async")
    servicer.set_faults(chaos(42))
    async with aclient(server, "async") as c:
        created = await c.create_many(sent, batch_size=4, concurrency=8)
    fig = figures(f"async create_many x{n}", servicer, "async")
    servicer.set_faults(None)
    assert_all_kinds_injected(fig)
    on_server = stored(servicer, "async")
    assert len(on_server) == n
    assert no_duplicates(t.name for t in on_server.values()) == []
    assert [t.name for t in created] == [t.name for t in sent]
    for out in created:
        assert out == on_server[out.id]
