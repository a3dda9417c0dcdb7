"""``taskgrpc update``, ``set-status`` and ``delete``."""

from __future__ import annotations

import json

import pytest
from clisupport import REQ_ID, Cli, assert_clean_error, jsonl, task_json

from fake_servicer import FakeServer


def test_update_overwrites_whole_tasks(cli: Cli) -> None:
    a, b = cli.seed([task_json("before-a", workers=["alice"]), task_json("before-b", "dog")])
    new_a = {**task_json("after-a", "zebra", workers=["carol"]), "id": a["id"]}
    new_b = {**b, "name": "after-b"}
    result = cli("update", "--file", cli.write("u.jsonl", [new_a, new_b]))
    assert result.code == 0, str(result)
    assert result.err.splitlines() == ["update: updated 2, failed 0"]
    assert [t["name"] for t in result.objects()] == ["after-a", "after-b"]
    stored = {t["id"]: t for t in cli.stored()}
    assert stored[a["id"]]["worker"]["workers"] == [{"user": {"id": "carol"}}]
    assert stored[a["id"]]["concepts"] == [{"concept": {"id": "zebra"}}]
    assert stored[a["id"]]["createdAt"] == a["createdAt"]
    assert stored[b["id"]]["name"] == "after-b"


def test_update_failures_rerun_cleanly_once_the_task_exists(cli: Cli) -> None:
    (existing,) = cli.seed([task_json("u-existing")])
    missing = task_json("u-missing-renamed", id="not-yet-created")
    path = cli.write("upd.jsonl", [{**existing, "name": "u-existing-renamed"}, missing])
    failures = cli.tmp / "failed.jsonl"
    result = cli("update", "--file", path, "--batch-size", "1", "--failures", str(failures))
    assert result.code == 1, str(result)
    assert f"{path}:2: TASK_MISSING" in result.err and REQ_ID.search(result.err)
    assert [json.loads(x) for x in failures.read_text().splitlines()] == [missing]
    assert [t["name"] for t in result.objects()] == ["u-existing-renamed"]

    cli.seed([task_json("u-missing", id=missing["id"])])
    again = cli("update", "--file", str(failures))
    assert again.code == 0, str(again)
    assert cli.stored_names() == ["u-existing-renamed", "u-missing-renamed"]


def test_update_from_stdin_and_a_line_without_id(cli: Cli) -> None:
    (a,) = cli.seed([task_json("s-a")])
    result = cli("update", "--file", "-", stdin=jsonl([{**a, "name": "s-a2"}, task_json("x")]))
    assert result.code == 1, str(result)
    assert "<stdin>:2:" in result.err and "id" in result.err
    assert cli.stored_names() == ["s-a2"]


def test_dry_run_update_and_delete_send_nothing(cli: Cli, fake_clarifai: FakeServer) -> None:
    created = cli.seed([task_json("a"), task_json("b", "dog")])
    calls = sum(fake_clarifai.servicer.calls.values())
    renamed = [{**t, "name": t["name"] + "-renamed"} for t in created]
    upd = cli("update", "--file", cli.write("u.jsonl", renamed), "--dry-run")
    assert upd.code == 0, str(upd)
    (request,) = upd.objects()
    assert request["action"] == "overwrite"
    assert [t["name"] for t in request["tasks"]] == ["a-renamed", "b-renamed"]
    ids = [t["id"] for t in created]
    dele = cli("delete", *ids, "--dry-run")
    assert [r["ids"] for r in dele.objects()] == [ids]
    dele_file = cli("delete", "--file", cli.write("ids.txt", "\n".join(ids)), "--dry-run")
    assert dele_file.code == 0 and dele_file.objects() == dele.objects(), str(dele_file)
    assert sum(fake_clarifai.servicer.calls.values()) == calls
    assert cli.stored_names() == ["a", "b"]


def test_set_status_by_name_and_by_number(cli: Cli) -> None:
    a, b = cli.seed([task_json("st-a"), task_json("st-b", "dog")])
    by_name = cli("set-status", a["id"], "TASK_DONE")
    assert by_name.code == 0, str(by_name)
    assert by_name.objects()[0]["status"]["code"] == "TASK_DONE"
    assert cli("set-status", b["id"], "54002").code == 0  # TASK_DONE
    stored = {t["id"]: t for t in cli.stored()}
    assert stored[b["id"]]["status"]["code"] == "TASK_DONE"
    assert stored[a["id"]]["name"] == "st-a"  # merge: only the status changed


def test_set_status_errors(cli: Cli) -> None:
    (a,) = cli.seed([task_json("st")])
    unknown_code = cli("set-status", a["id"], "NOT_A_STATUS")
    assert unknown_code.code == 2, str(unknown_code)
    assert_clean_error(unknown_code)
    missing = cli("set-status", "no-such-task", "TASK_DONE")
    assert missing.code == 1, str(missing)
    assert "TASK_MISSING" in missing.err and REQ_ID.search(missing.err)
    assert cli.stored()[0]["status"]["code"] == "TASK_IN_PROGRESS"


def test_delete_by_ids_says_requested_never_deleted(cli: Cli) -> None:
    a, _, c = cli.seed([task_json("x1"), task_json("x2", "dog"), task_json("x3", "fox")])
    result = cli("delete", a["id"], c["id"], "unknown-id")  # unknown ids are ignored
    assert result.code == 0, str(result)
    assert result.out == ""
    (summary,) = result.err.splitlines()
    assert summary.startswith("delete: requested 3") and "deleted" not in summary
    assert cli.stored_names() == ["x2"]


@pytest.mark.parametrize("shape", ["plain", "quoted", "stdin", "array", "list output"])
def test_delete_by_file(cli: Cli, shape: str) -> None:
    a, _, c = cli.seed([task_json("y1"), task_json("y2", "dog"), task_json("y3", "fox")])
    ids = [a["id"], c["id"]]
    if shape == "plain":
        result = cli("delete", "--file", cli.write("ids.txt", "\n".join(ids) + "\n\n"))
    elif shape == "quoted":
        result = cli("delete", "--file", cli.write("ids.jsonl", ids))
    elif shape == "array":
        result = cli("delete", "--file", cli.write("ids.json", json.dumps(ids)))
    elif shape == "list output":  # what `taskgrpc list` prints, as it is
        listed = cli("list", "--ids", *ids)
        result = cli("delete", "--file", cli.write("tasks.jsonl", listed.out))
    else:
        result = cli("delete", "--file", "-", stdin="\n".join(ids) + "\n")
    assert result.code == 0, str(result)
    assert "requested 2" in result.err
    assert cli.stored_names() == ["y2"]


@pytest.mark.parametrize(
    "line",
    ['""', '{"name": "no id"}', "[1, 2]", "{broken", '{"id": 7}', '{"id": ""}', r'"\udc00"'],
)
def test_delete_file_with_anything_but_ids_is_a_usage_error(
    cli: Cli, fake_clarifai: FakeServer, line: str
) -> None:
    (task,) = cli.seed([task_json("kept")])
    calls = sum(fake_clarifai.servicer.calls.values())
    path = cli.write("ids.txt", f"{task['id']}\n{line}\n")
    result = cli("delete", "--file", path)
    assert result.code == 2, str(result)
    assert f"{path}:2:" in result.err
    assert sum(fake_clarifai.servicer.calls.values()) == calls  # nothing sent
    assert cli.stored_names() == ["kept"]
