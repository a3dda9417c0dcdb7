"""``taskgrpc get`` and ``taskgrpc list``: filters, paging and every output format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clisupport import COLUMNS, REQ_ID, USER, Cli, assert_clean_error, names, task_json
from google.protobuf import json_format

from fake_servicer import FakeServer


@pytest.fixture
def listed(cli: Cli) -> dict[str, str]:
    """Five tasks with different workers, reviewers and sources; name -> id."""
    tasks = [
        task_json("l-alice", "c1", workers=["alice"]),
        task_json("l-bob-rev", "c2", workers=["bob"], reviewers=["rita"]),
        task_json("l-both-ds1", "c3", workers=["alice", "bob"], source=("DATASET", "ds1")),
        task_json("l-ds2", "c4", source=("DATASET", "ds2"), reviewers=["rita", "sam"]),
        task_json("l-search", "c5", source=("SAVED_SEARCH", "s1")),
    ]
    return {t["name"]: t["id"] for t in cli.seed(tasks)}


def test_get_ids_in_every_format(cli: Cli) -> None:
    a, b = cli.seed([task_json("g1"), task_json("g2", "dog", workers=["bob"])])
    ids = [b["id"], a["id"]]
    got = cli("get", *ids)
    assert [t["id"] for t in got.objects()] == ids
    assert got.objects()[0]["worker"]["workers"] == [{"user": {"id": "bob"}}]
    assert [t["id"] for t in json.loads(cli("get", *ids, "--format", "json").out)] == ids
    rows = list(csv.DictReader(io.StringIO(cli("get", *ids, "--format", "csv").out)))
    assert [r["id"] for r in rows] == ids and rows[0]["workers"] == "bob"
    table = cli("get", *ids, "--format", "table")
    assert table.out.splitlines()[0].lower().split() == COLUMNS
    assert [line.split()[0] for line in table.out.splitlines()[1:]] == ids
    snake = cli("get", a["id"], "--proto-names").objects()[0]
    assert "input_source" in snake and "inputSource" not in snake


def test_get_missing_id_prints_the_api_error_and_the_found_ones(cli: Cli) -> None:
    (task,) = cli.seed([task_json("present")])
    result = cli("get", "absent-id", task["id"])
    assert result.code == 1, str(result)
    assert [t["id"] for t in result.objects()] == [task["id"]]
    assert "absent-id" in result.err and "TASK_MISSING" in result.err
    assert REQ_ID.search(result.err), result.err
    assert_clean_error(result)


def test_list_all_and_filters(cli: Cli, listed: dict[str, str]) -> None:
    assert names(cli("list")) == sorted(listed)
    assert names(cli("list", "--worker", "alice")) == ["l-alice", "l-both-ds1"]
    assert names(cli("list", "--worker", "alice", "--worker", "bob")) == [
        "l-alice",
        "l-bob-rev",
        "l-both-ds1",
    ]
    assert names(cli("list", "--reviewer", "rita")) == ["l-bob-rev", "l-ds2"]
    ids = [listed["l-alice"], listed["l-search"]]
    assert names(cli("list", "--ids", *ids)) == ["l-alice", "l-search"]
    assert names(cli("list", "--source-type", "DATASET")) == ["l-both-ds1", "l-ds2"]
    assert names(cli("list", "--source-id", "ds1", "--source-id", "s1")) == [
        "l-both-ds1",
        "l-search",
    ]
    assert names(cli("list", "--worker", "nobody")) == []


def test_list_per_page_pages_through_everything_once(cli: Cli, listed: dict[str, str]) -> None:
    for per_page in ("1", "2", "5"):
        ids = [t["id"] for t in cli("list", "--per-page", per_page).objects()]
        assert sorted(ids) == sorted(listed.values()), per_page


def test_list_formats(cli: Cli, listed: dict[str, str]) -> None:
    stored = {t["id"]: t for t in cli.stored()}
    assert sorted(t["id"] for t in json.loads(cli("list", "--format", "json").out)) == sorted(
        stored
    )
    reader = csv.DictReader(io.StringIO(cli("list", "--format", "csv").out))
    by_name = {r["name"]: r for r in reader}
    assert reader.fieldnames == COLUMNS
    assert by_name["l-both-ds1"]["workers"] == "alice,bob"
    assert by_name["l-bob-rev"]["review"] == "MANUAL"
    assert by_name["l-alice"]["status"] == "TASK_IN_PROGRESS"
    assert by_name["l-alice"]["created"] == stored[listed["l-alice"]]["createdAt"]
    empty = cli("list", "--format", "json", "--worker", "nobody")
    assert empty.code == 0 and json.loads(empty.out) == []
    snake = cli("list", "--proto-names").objects()
    assert all("created_at" in t and "createdAt" not in t for t in snake)


def test_list_table_is_aligned_with_the_documented_columns(
    cli: Cli, listed: dict[str, str]
) -> None:
    stored = {t["id"]: t for t in cli.stored()}
    header, *rows = cli("list", "--format", "table").out.splitlines()
    assert header.lower().split() == COLUMNS
    starts = [header.lower().index(c) for c in COLUMNS]
    assert len(rows) == len(listed)
    for line in rows:
        bounds = [*starts[1:], None]
        cell = {c: line[s:e].strip() for c, s, e in zip(COLUMNS, starts, bounds, strict=True)}
        task = stored[cell["id"]]
        assert cell["name"] == task["name"] and cell["created"] == task["createdAt"]
        assert cell["review"] == task["review"]["strategy"]


def test_list_by_model_workflow_and_label_order(cli: Cli, fake_clarifai: FakeServer) -> None:
    def seeded(name: str, workers: Sequence[str] = (), **fields: Any) -> r.Task:
        return json_format.ParseDict({**task_json(name, workers=workers), **fields}, r.Task())

    fake_clarifai.servicer.put_tasks(
        USER,
        cli.app,
        [
            seeded("by-model", worker={"strategy": "FULL", "workers": [{"model": {"id": "m1"}}]}),
            seeded("by-flow", worker={"strategy": "FULL", "workers": [{"workflow": {"id": "w1"}}]}),
            seeded("in-order", labelOrderId="lo1"),
            seeded("plain", workers=["alice"]),
        ],
    )
    assert names(cli("list")) == ["by-flow", "by-model", "plain"]  # label orders left out
    assert names(cli("list", "--including-label-order-tasks")) == [
        "by-flow",
        "by-model",
        "in-order",
        "plain",
    ]
    assert names(cli("list", "--label-order-id", "lo1")) == ["in-order"]
    assert names(cli("list", "--worker-model-id", "m1")) == ["by-model"]
    assert names(cli("list", "--worker-workflow-id", "w1")) == ["by-flow"]
    assert names(cli("list", "--worker-model-id", "m1", "--worker", "alice")) == [
        "by-model",
        "plain",
    ]
    sent = [c.request for c in fake_clarifai.servicer.requests if c.method == "ListTasks"][-1]
    assert {(w.model_id, w.user_id) for w in sent.worker_ids} == {  # type: ignore[attr-defined]
        ("m1", ""),
        ("", "alice"),
    }
