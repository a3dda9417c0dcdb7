"""Property-based tests (hypothesis) against one live fake shared by the module.

* Any valid spec the builders accept round-trips create then get unchanged.
* Any spec that breaks a validation rule raises ValidationError and sends nothing.
* Random interleavings of create, update, set_status and delete agree with a plain dict model,
  with and without faults.

Each example uses a fresh app id, so examples never see each other's tasks.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from relsupport import FAST, PAT, USER, copy, stored, stripped

import taskgrpc
from fake_servicer import FakeServer, Faults, serve

MAX_U32 = 2**32 - 1
TYPES = ["CONCEPTS_CLASSIFICATION", "BOUNDING_BOX_DETECTION", "POLYGON_DETECTION"]
PROPS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- the shared server and one channel; a client per example -----------------------------


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[FakeServer, grpc.Channel]]:
    with serve() as server:
        channel = grpc.insecure_channel(server.target)
        try:
            yield server, channel
        finally:
            channel.close()


def fresh_client(channel: grpc.Channel, retry: Any = FAST) -> taskgrpc.TaskClient:
    """A client of a new, empty app (the channel is shared, so this is cheap)."""
    return taskgrpc.TaskClient(
        pat=PAT,
        user_id=USER,
        app_id=f"p-{uuid.uuid4().hex[:16]}",
        channel=channel,
        retry=retry,
    )


# --- strategies of valid specs -----------------------------------------------------------

# Any text protobuf can carry (no lone surrogates) that is not blank.
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
ids = text.filter(lambda s: s.strip() != "").map(lambda s: s[:12])


def id_lists(min_size: int, max_size: int = 4) -> st.SearchStrategy[list[str]]:
    return st.lists(ids, min_size=min_size, max_size=max_size, unique=True)


@st.composite
def workers(draw: st.DrawFn) -> tuple[r.TaskWorker, int, bool]:
    """(worker, the most labelers an input can get or 0 for no limit, is auto-annotation)."""
    kind = draw(st.sampled_from(["full", "dynamic", "partitioned", "evenly", "auto"]))
    if kind == "full":
        users = draw(id_lists(0))
        return taskgrpc.full(users), len(users), False
    if kind == "dynamic":
        return taskgrpc.dynamic(draw(id_lists(1))), 0, False
    if kind == "evenly":
        users = draw(id_lists(1))
        wpi = draw(st.integers(1, len(users)))
        return taskgrpc.partitioned_evenly(users, workers_per_input=wpi), wpi, False
    if kind == "partitioned":
        users = draw(id_lists(1))
        number = st.integers(1, 1000) | st.floats(0.001, 1e6, allow_nan=False)
        weights = {u: draw(number) for u in users}
        total = math.fsum(float(w) for w in weights.values())
        most = max(1, min(len(users), math.floor(total / max(weights.values()))))
        wpi = draw(st.integers(1, most))
        return taskgrpc.partitioned(weights, workers_per_input=wpi), wpi, False
    which = draw(st.sampled_from(["model", "version", "workflow"]))
    if which == "workflow":
        return taskgrpc.auto_annotation(workflow_id=draw(ids)), 0, True
    version = draw(ids) if which == "version" else None
    return taskgrpc.auto_annotation(model_id=draw(ids), model_version_id=version), 0, True


@st.composite
def reviews(draw: st.DrawFn, limit: int) -> r.TaskReview | None:
    kind = draw(st.sampled_from(["default", "none", "manual", "consensus"]))
    if kind == "default":
        return None
    if kind == "none":
        return taskgrpc.no_review()
    users = draw(id_lists(1))
    if kind == "manual":
        return taskgrpc.manual_review(users)
    threshold = draw(st.integers(1, limit if limit else MAX_U32))
    # resources.proto approval_threshold_reviewers: "the only allowed values are 0, 1, -1".
    reviewers = draw(st.none() | st.sampled_from([-1, 0, 1]))
    return taskgrpc.consensus(users, approval_threshold=threshold, reviewers_threshold=reviewers)


@st.composite
def sources(draw: st.DrawFn) -> r.TaskInputSource | None:
    kind = draw(st.sampled_from(["default", "all", "search", "dataset"]))
    if kind == "default":
        return None
    if kind == "all":
        return taskgrpc.all_inputs()
    return (taskgrpc.saved_search if kind == "search" else taskgrpc.dataset)(draw(ids))


@st.composite
def valid_specs(draw: st.DrawFn) -> r.Task:
    worker, limit, auto = draw(workers())
    names = [*TYPES, "TYPE_NOT_SET"] if auto else TYPES
    type_name = draw(st.sampled_from(names))
    kind: int | str = draw(
        st.sampled_from([type_name, type_name.lower(), int(r.Task.TaskType.Value(type_name))])
    )
    return taskgrpc.build_task(
        kind,
        concepts=draw(id_lists(1)),
        name=draw(text),
        description=draw(text),
        workers=worker,
        source=draw(sources()),
        review=draw(reviews(limit)),
        sample_ms=draw(st.integers(0, MAX_U32)),
    )


# --- round trip ---------------------------------------------------------------------------


@settings(PROPS, max_examples=100)
@given(spec=valid_specs())
def test_any_valid_spec_round_trips_create_then_get(
    live: tuple[FakeServer, grpc.Channel], spec: r.Task
) -> None:
    server, channel = live
    original = copy(spec)
    with fresh_client(channel) as c:
        created = c.create(spec)
        got = c.get(created.id)
        [listed] = list(c.list(ids=[created.id]))
        assert list(stored(server.servicer, c.app_id)) == [created.id]
    assert spec == original, "create changed the caller's message"
    assert got == created
    assert listed == created
    assert stripped(got) == stripped(spec)
    assert got.status.code == sc.TASK_IN_PROGRESS


# --- invalid specs: ValidationError, nothing sent -----------------------------------------

Mutation = Callable[[r.Task], None]


def _clear_concepts(t: r.Task) -> None:
    del t.concepts[:]
    del t.concept_ids[:]


def _blank_concept(t: r.Task) -> None:
    t.concepts.add().concept.id = "  "


def _type_not_set(t: r.Task) -> None:
    t.type = r.Task.TYPE_NOT_SET
    t.worker.CopyFrom(taskgrpc.full(["u1"]))


def _partitioned_without_info(t: r.Task) -> None:
    t.worker.strategy = r.TaskWorker.PARTITIONED
    t.worker.ClearField("partitioned_strategy_info")


def _too_many_per_input(t: r.Task) -> None:
    t.worker.CopyFrom(taskgrpc.partitioned_evenly(["a", "b"]))
    t.worker.partitioned_strategy_info.workers_per_input = 3


def _negative_weight(t: r.Task) -> None:
    t.worker.CopyFrom(taskgrpc.partitioned({"a": 1, "b": 1}))
    t.worker.partitioned_strategy_info.weights["b"] = -1


def _weight_for_a_non_worker(t: r.Task) -> None:
    t.worker.CopyFrom(taskgrpc.partitioned({"a": 1, "b": 1}))
    t.worker.partitioned_strategy_info.weights["stranger"] = 1


def _reviewers_threshold_two(t: r.Task) -> None:
    t.review.CopyFrom(taskgrpc.consensus(["r1", "r2"], approval_threshold=1))
    t.review.consensus_strategy_info.approval_threshold_reviewers = 2


def _model_beside_a_user(t: r.Task) -> None:
    t.worker.CopyFrom(taskgrpc.auto_annotation(model_id="m"))
    t.worker.workers.add().user.id = "u1"


def _worker_auto_with_users(t: r.Task) -> None:
    t.worker.CopyFrom(taskgrpc.full(["u1"]))
    t.worker.type = r.TaskWorker.WORKER_AUTO


def _impossible_share(t: r.Task) -> None:
    t.worker.CopyFrom(taskgrpc.partitioned({"a": 1, "b": 1, "c": 1}, workers_per_input=2))
    t.worker.partitioned_strategy_info.weights["a"] = 10


def _duplicate_worker(t: r.Task) -> None:
    t.worker.CopyFrom(taskgrpc.full(["a", "b"]))
    t.worker.user_ids.append("a")  # the deprecated field counts too


def _search_without_id(t: r.Task) -> None:
    t.input_source.CopyFrom(r.TaskInputSource(type=r.TaskInputSource.SAVED_SEARCH))


def _dataset_without_id(t: r.Task) -> None:
    t.input_source.CopyFrom(r.TaskInputSource(type=r.TaskInputSource.DATASET, id=""))


def _duplicate_reviewer(t: r.Task) -> None:
    t.review.CopyFrom(taskgrpc.manual_review(["r1", "r2"]))
    t.review.users.add(id="r1")


def _consensus_without_threshold(t: r.Task) -> None:
    t.review.CopyFrom(taskgrpc.consensus(["r1"], approval_threshold=1))
    t.review.consensus_strategy_info.approval_threshold_labelers = 0


def _consensus_unreachable(t: r.Task) -> None:
    t.worker.CopyFrom(taskgrpc.full(["a", "b"]))
    t.review.CopyFrom(taskgrpc.consensus(["r1"], approval_threshold=1))
    t.review.consensus_strategy_info.approval_threshold_labelers = 3


#: Each breaks a rule a proto comment or docs page states (see taskgrpc.builders.check_task).
MUTATIONS: list[Mutation] = [
    _blank_concept,
    _too_many_per_input,
    _negative_weight,
    _weight_for_a_non_worker,
    _impossible_share,
    _search_without_id,
    _dataset_without_id,
    _reviewers_threshold_two,
    _model_beside_a_user,
    _worker_auto_with_users,
]

#: Legal but odd (the client is never stricter than the service): accepted, and lint() warns.
LINTED: list[Mutation] = [
    _clear_concepts,
    _type_not_set,
    _partitioned_without_info,
    _duplicate_worker,
    _duplicate_reviewer,
    _consensus_without_threshold,
    _consensus_unreachable,
]


@pytest.mark.parametrize("mutation", LINTED, ids=lambda m: m.__name__.strip("_"))
@settings(PROPS, max_examples=12)
@given(spec=valid_specs())
def test_any_legal_but_odd_spec_is_accepted_with_a_warning(
    spec: r.Task, mutation: Mutation
) -> None:
    odd = copy(spec)
    mutation(odd)
    taskgrpc.check_task(odd)
    assert taskgrpc.lint(odd), "lint() names what looks odd"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__.strip("_"))
@settings(PROPS, max_examples=12)
@given(spec=valid_specs(), good=valid_specs(), position=st.integers(0, 2))
def test_any_spec_breaking_a_rule_raises_validation_error_and_sends_nothing(
    live: tuple[FakeServer, grpc.Channel],
    spec: r.Task,
    good: r.Task,
    mutation: Mutation,
    position: int,
) -> None:
    server, channel = live
    servicer = server.servicer
    bad = copy(spec)
    mutation(bad)
    with pytest.raises(taskgrpc.ValidationError):
        taskgrpc.check_task(bad)
    with_id = copy(bad)
    with_id.id = "some-task-id"
    batch = [good, copy(good)]
    batch.insert(position, bad)
    attempts: list[Callable[[taskgrpc.TaskClient], Any]] = [
        lambda c: c.create(bad),
        lambda c: c.create(bad, assign_id=False),
        lambda c: c.create_many(batch),
        lambda c: c.create_many(batch, assign_ids=False, batch_size=1),
        lambda c: c.update(with_id),
        lambda c: c.update_many([good_with_id(good), with_id]),
    ]
    before = servicer.calls
    with fresh_client(channel) as c:
        for attempt in attempts:
            with pytest.raises(taskgrpc.ValidationError):
                attempt(c)
        assert servicer.tasks(USER, c.app_id) == []
    assert servicer.calls == before


def good_with_id(t: r.Task) -> r.Task:
    out = copy(t)
    out.id = "a-good-id"
    return out


BuilderCall = Callable[[st.DrawFn], Any]


def _users(draw: st.DrawFn) -> list[str]:
    return draw(id_lists(1))


def _blank(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", " ", "\t\n"]))


def _bad_weight(draw: st.DrawFn) -> Any:
    users = _users(draw)
    bad = draw(st.sampled_from([-1, -0.5, math.nan, math.inf, "1", None, True]))
    return taskgrpc.partitioned({**dict.fromkeys(users, 1.0), "x": bad})


def _impossible_share(draw: st.DrawFn) -> Any:
    users = _users(draw)
    return taskgrpc.partitioned(
        {**dict.fromkeys(users, 1), "big": len(users) + 1}, workers_per_input=2
    )


def _reviewers_threshold(draw: st.DrawFn) -> Any:
    users = _users(draw)
    n = len(users)
    bad = draw(st.integers(max(2, n + 1), n + 5) | st.integers(-5, -2))
    return taskgrpc.consensus(users, approval_threshold=1, reviewers_threshold=bad)


#: Builder calls that each break one rule.
INVALID_BUILDER_CALLS: dict[str, BuilderCall] = {
    "blank concept": lambda d: taskgrpc.build_task(TYPES[0], concepts=[_blank(d)]),
    "concepts as a string": lambda d: taskgrpc.build_task(TYPES[0], concepts="cat"),
    "unknown type": lambda d: taskgrpc.build_task(
        d(st.sampled_from(["SEGMENTATION", "", "typo", 99, -1, True])), concepts=["c"]
    ),
    "sample_ms out of range": lambda d: taskgrpc.build_task(
        TYPES[0],
        concepts=["c"],
        sample_ms=d(st.integers(max_value=-1) | st.integers(min_value=MAX_U32 + 1)),
    ),
    "name not text": lambda d: taskgrpc.build_task(TYPES[0], concepts=["c"], name=b"x"),
    "blank worker": lambda d: taskgrpc.full([*_users(d), _blank(d)]),
    "evenly, too many per input": lambda d: taskgrpc.partitioned_evenly(
        ["a", "b"], workers_per_input=d(st.integers(3, 9))
    ),
    "evenly, zero per input": lambda d: taskgrpc.partitioned_evenly(
        _users(d), workers_per_input=d(st.integers(-3, 0))
    ),
    "no weights": lambda d: taskgrpc.partitioned({}),
    "bad weight": _bad_weight,
    "impossible share": _impossible_share,
    "auto with both": lambda d: taskgrpc.auto_annotation(model_id="m", workflow_id="w"),
    "auto with neither": lambda d: taskgrpc.auto_annotation(),
    "version with workflow": lambda d: taskgrpc.auto_annotation(
        workflow_id="w", model_version_id="v"
    ),
    "saved search without id": lambda d: taskgrpc.saved_search(_blank(d)),
    "dataset without id": lambda d: taskgrpc.dataset(_blank(d)),
    "consensus threshold below 0": lambda d: taskgrpc.consensus(
        _users(d), approval_threshold=d(st.integers(-5, -1))
    ),
    "consensus reviewers threshold": _reviewers_threshold,
}


@pytest.mark.parametrize("label", sorted(INVALID_BUILDER_CALLS))
@settings(PROPS, max_examples=10)
@given(data=st.data())
def test_any_builder_call_breaking_a_rule_raises_validation_error(
    live: tuple[FakeServer, grpc.Channel], label: str, data: st.DataObject
) -> None:
    server, _ = live
    before = server.servicer.calls
    with pytest.raises(taskgrpc.ValidationError):
        INVALID_BUILDER_CALLS[label](data.draw)
    assert server.servicer.calls == before


# --- model-based: random interleavings agree with a dict ----------------------------------

STATUSES = [sc.TASK_DONE, sc.TASK_IN_PROGRESS, sc.TASK_WONT_DO, sc.TASK_IDLE]
names = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
own_ids = st.text("abcdef0123456789", min_size=1, max_size=6).map(lambda s: f"id-{s}")


def machine(server: FakeServer, channel: grpc.Channel, faults: Faults | None) -> type:
    servicer = server.servicer

    class TasksAgainstADict(RuleBasedStateMachine):
        """The fake, driven through the client, holds exactly what the dict says."""

        known = Bundle("known")

        def __init__(self) -> None:
            super().__init__()
            servicer.set_faults(faults)
            self.client = fresh_client(channel)
            self.app = self.client.app_id
            self.model: dict[str, tuple[str, int]] = {}

        def spec(self, name: str) -> r.Task:
            return taskgrpc.build_task(TYPES[0], concepts=["c"], name=name)

        @rule(target=known, name=names)
        def create(self, name: str) -> str:
            # Idempotent by default: the same content gets the same id, and creating it
            # again returns the task stored under that id, even if it was edited since.
            out = self.client.create(self.spec(name))
            assert out.id == taskgrpc.content_id(self.spec(name))
            if out.id in self.model:
                assert (out.name, out.status.code) == self.model[out.id]
            else:
                assert out.name == name
                self.model[out.id] = (name, sc.TASK_IN_PROGRESS)
            return out.id

        @rule(target=known, task_id=own_ids, name=names)
        def create_with_id(self, task_id: str, name: str) -> Any:
            t = self.spec(name)
            t.id = task_id
            if task_id in self.model:
                if self.model[task_id][0] == name:
                    # The id works like an idempotency key: the same content under the same
                    # id is the task an earlier create made; it is returned, and nothing
                    # changes on the server.
                    out = self.client.create(t)
                    assert out.id == task_id
                    assert (out.name, out.status.code) == self.model[task_id]
                    return multiple()
                with pytest.raises(taskgrpc.ConflictError):
                    self.client.create(t)
                return multiple()
            self.client.create(t)
            self.model[task_id] = (name, sc.TASK_IN_PROGRESS)
            return task_id

        @rule(target=known, count=st.integers(1, 5), prefix=names)
        def create_many(self, count: int, prefix: str) -> Any:
            sent = [self.spec(f"{prefix}{i}") for i in range(count)]
            out = self.client.create_many(sent, batch_size=2)
            assert [t.id for t in out] == [t.id for t in taskgrpc.with_content_ids(sent)]
            for t, s in zip(out, sent, strict=True):
                if t.id in self.model:  # created before (and maybe edited since)
                    assert (t.name, t.status.code) == self.model[t.id]
                else:
                    assert t.name == s.name
                    self.model[t.id] = (t.name, sc.TASK_IN_PROGRESS)
            return multiple(*(t.id for t in out))

        @rule(task_id=known, name=names)
        def update(self, task_id: str, name: str) -> None:
            t = self.spec(name)
            t.id = task_id
            if task_id not in self.model:
                with pytest.raises(taskgrpc.NotFoundError):
                    self.client.update(t)
                return
            out = self.client.update(t)
            self.model[task_id] = (name, self.model[task_id][1])
            assert (out.name, out.status.code) == self.model[task_id]

        @rule(task_id=known, code=st.sampled_from(STATUSES))
        def set_status(self, task_id: str, code: int) -> None:
            if task_id not in self.model:
                with pytest.raises(taskgrpc.NotFoundError):
                    self.client.set_status(task_id, code)
                return
            out = self.client.set_status(task_id, code)
            self.model[task_id] = (self.model[task_id][0], code)
            assert out.status.code == code

        @rule(task_id=consumes(known))
        def delete(self, task_id: str) -> None:
            self.client.delete(task_id)
            self.model.pop(task_id, None)

        @rule(task_ids=st.lists(known, max_size=4))
        def delete_many(self, task_ids: list[str]) -> None:
            if task_ids:
                self.client.delete_many(task_ids, batch_size=2)
            for task_id in task_ids:
                self.model.pop(task_id, None)

        @rule(task_id=known)
        def get(self, task_id: str) -> None:
            if task_id not in self.model:
                with pytest.raises(taskgrpc.NotFoundError):
                    self.client.get(task_id)
                return
            got = self.client.get(task_id)
            assert (got.name, got.status.code) == self.model[task_id]

        @invariant()
        def the_store_equals_the_model(self) -> None:
            on_server = {t.id: (t.name, t.status.code) for t in servicer.tasks(USER, self.app)}
            assert on_server == self.model

        def teardown(self) -> None:
            listed = {t.id: (t.name, t.status.code) for t in self.client.list(per_page=7)}
            servicer.set_faults(None)
            self.client.close()
            assert listed == self.model

    return TasksAgainstADict


@pytest.mark.parametrize(
    "faults",
    [None, Faults(unavailable=0.1, throttled=0.1, commit_unavailable=0.1, seed=3)],
    ids=["no-faults", "chaos"],
)
def test_random_interleavings_agree_with_a_dict_model(
    live: tuple[FakeServer, grpc.Channel], faults: Faults | None
) -> None:
    server, channel = live
    try:
        run_state_machine_as_test(
            machine(server, channel, faults),
            settings=settings(PROPS, max_examples=40, stateful_step_count=25),
        )
    finally:
        server.servicer.set_faults(None)
