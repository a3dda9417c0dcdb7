"""``taskgrpc create``: creating, safe re-runs, content ids, the failures file, dry runs, and
the bodies users paste from Clarifai's docs, sent unchanged."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clisupport import (
    HEX32,
    PAT,
    USER,
    Cli,
    assert_clean_error,
    assert_no_task_json,
    invalid_json,
    jsonl,
    task_json,
)
from google.protobuf import json_format
from tgsupport import simple_task

import taskgrpc
from fake_servicer import FakeServer, Faults

# --- create -------------------------------------------------------------------------------


def test_create_from_jsonl(cli: Cli) -> None:
    tasks = [task_json("a"), task_json("b", "dog", workers=["alice"]), task_json("c", "fox")]
    text = jsonl(tasks[:2]) + "\n   \n" + jsonl(tasks[2:])  # blank lines are skipped
    result = cli("create", "--file", cli.write("tasks.jsonl", text))
    assert result.code == 0, str(result)
    created = result.objects()
    assert [t["name"] for t in created] == ["a", "b", "c"]
    assert all(HEX32.match(t["id"]) for t in created)
    assert created[1]["worker"]["workers"] == [{"user": {"id": "alice"}}]
    assert sorted(t["id"] for t in cli.stored()) == sorted(t["id"] for t in created)
    assert_no_task_json(result.err)


def test_create_from_json_array(cli: Cli) -> None:
    tasks = [task_json("x"), task_json("y", "dog")]
    result = cli("create", "--file", cli.write("tasks.json", json.dumps(tasks, indent=2)), "-q")
    assert result.code == 0, str(result)
    assert [t["name"] for t in result.objects()] == ["x", "y"]
    assert cli.stored_names() == ["x", "y"]


def test_create_from_stdin(cli: Cli) -> None:
    tasks = [task_json("s1"), task_json("s2", "dog")]
    assert cli("create", "--file", "-", stdin=jsonl(tasks)).code == 0
    assert cli("create", "--file", "-", stdin=json.dumps([task_json("s3")])).code == 0
    assert cli.stored_names() == ["s1", "s2", "s3"]


def test_create_quiet_success_writes_only_stdout(cli: Cli) -> None:
    result = cli("create", "--file", cli.write("t.jsonl", [task_json("q")]), "--quiet")
    assert result.code == 0, str(result)
    assert result.err == ""
    assert [t["name"] for t in result.objects()] == ["q"]


def test_create_ends_with_one_summary_line(cli: Cli) -> None:
    result = cli("create", "--file", cli.write("t.jsonl", [task_json("a"), task_json("b", "x")]))
    assert result.code == 0, str(result)
    assert result.err.splitlines() == ["create: created 2, existed 0, failed 0"]


# --- safe re-runs -------------------------------------------------------------------------


def test_rerun_of_the_same_file_creates_nothing_new(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json("r1"), task_json("r2", "dog"), task_json("r3", "x")])
    first = cli("create", "--file", path)
    assert first.code == 0, str(first)
    ids = sorted(t["id"] for t in first.objects())
    second = cli("create", "--file", path)
    assert second.code == 0, str(second)
    # One summary line; no per-line "exists" notes without --verbose.
    assert second.err.splitlines() == ["create: created 0, existed 3, failed 0"]
    assert sorted(t["id"] for t in second.objects()) == ids  # the existing tasks are reported
    verbose = cli("create", "--file", path, "--verbose")
    for number in (1, 2, 3):
        assert f"exists: {path}:{number}" in verbose.err
    assert sorted(t["id"] for t in cli.stored()) == ids


def test_rerun_after_a_partial_run_creates_only_the_rest(cli: Cli) -> None:
    tasks = [task_json(f"p{i}", f"c{i}") for i in range(5)]
    assert cli("create", "--file", cli.write("head.jsonl", tasks[:2])).code == 0
    result = cli("create", "--file", cli.write("all.jsonl", tasks))
    assert result.code == 0, str(result)
    assert "created 3, existed 2" in result.err
    assert cli.stored_names() == [f"p{i}" for i in range(5)]


def test_ids_are_the_library_content_ids(cli: Cli) -> None:
    # The CLI and create_many agree: ids come from taskgrpc.with_content_ids over the file.
    tasks = [task_json("a"), task_json("b", "dog"), task_json("a")]
    result = cli("create", "--file", cli.write("t.jsonl", tasks), "--id-salt", "s")
    assert result.code == 0, str(result)
    protos = [json_format.ParseDict(t, r.Task()) for t in tasks]
    expected = [t.id for t in taskgrpc.with_content_ids(protos, "s")]
    assert sorted({t["id"] for t in cli.stored()}) == sorted(set(expected))
    assert len(cli.stored()) == len(set(expected))


def test_content_id_ignores_key_order_spacing_and_field_spelling(cli: Cli) -> None:
    task = task_json("same", workers=["alice"])
    assert cli("create", "--file", cli.write("a.jsonl", [task])).code == 0
    variant = {
        "review": {"strategy": "NONE"},
        "input_source": {"type": "ALL_INPUTS"},  # snake_case spelling of inputSource
        "worker": {"workers": [{"user": {"id": "alice"}}], "strategy": "FULL"},
        "concepts": [{"concept": {"id": "cat"}}],
        "name": "same",
        "type": "CONCEPTS_CLASSIFICATION",
    }
    text = json.dumps(variant, indent=None, separators=(" ,  ", " :  ")) + "\n"
    result = cli("create", "--file", cli.write("b.jsonl", text))
    assert result.code == 0, str(result)
    assert "existed 1" in result.err
    assert len(cli.stored()) == 1


def test_one_explicit_id_for_two_different_tasks_is_a_failure(cli: Cli) -> None:
    first, second = task_json("first"), task_json("second")
    first["id"] = second["id"] = "shared-id"
    failed = cli.tmp / "failed.jsonl"
    path = cli.write("t.jsonl", [first, second])
    result = cli("create", "--file", path, "--failures", str(failed))
    assert result.code == 1, str(result)
    assert f"{path}:2: id shared-id is already used by line 1" in result.err
    assert cli.stored_names() == ["first"]
    assert [json.loads(x)["name"] for x in failed.read_text().splitlines()] == ["second"]


def test_id_salt_creates_a_deliberate_copy_once(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json("k1"), task_json("k2", "dog")])
    plain = cli("create", "--file", path)
    assert plain.code == 0, str(plain)
    salted = cli("create", "--file", path, "--id-salt", "copy-1")
    assert salted.code == 0 and "created 2" in salted.err, str(salted)
    assert not {t["id"] for t in salted.objects()} & {t["id"] for t in plain.objects()}
    again = cli("create", "--file", path, "--id-salt", "copy-1")
    assert again.code == 0 and "created 0" in again.err, str(again)
    assert cli.stored_names() == ["k1", "k1", "k2", "k2"]


def test_explicit_ids_are_kept(cli: Cli) -> None:
    result = cli("create", "--file", cli.write("t.jsonl", [task_json("e", id="my-task-1")]))
    assert result.code == 0, str(result)
    assert [t["id"] for t in cli.stored()] == ["my-task-1"]


def test_a_stored_task_with_other_content_under_a_line_id_is_a_failure(cli: Cli) -> None:
    cli.seed([task_json("original", id="taken")])
    failed = cli.tmp / "failed.jsonl"
    line = task_json("different", id="taken")
    result = cli("create", "--file", cli.write("t.jsonl", [line]), "--failures", str(failed))
    assert result.code == 1, str(result)
    assert "taken" in result.err and "other content" in result.err
    assert cli.stored_names() == ["original"]
    assert [json.loads(x) for x in failed.read_text().splitlines()] == [line]


# --- the failures file --------------------------------------------------------------------


def test_failures_file_holds_bad_lines_and_reruns_after_a_fix(cli: Cli) -> None:
    bad = invalid_json("fixme")
    path = cli.write("t.jsonl", [task_json("ok1"), bad, task_json("ok2", "dog")])
    failures = cli.tmp / "failed.jsonl"
    result = cli("create", "--file", path, "--failures", str(failures))
    assert result.code == 1, str(result)
    assert [json.loads(x) for x in failures.read_text().splitlines()] == [bad]
    assert f"{path}:2:" in result.err
    assert result.err.splitlines()[-1] == (
        f"create: created 2, existed 0, failed 1; lines to re-run in {failures}"
    )
    fixed = [
        {**json.loads(x), "review": {"strategy": "NONE"}} for x in failures.read_text().splitlines()
    ]
    failures.write_text(jsonl(fixed))
    again = cli("create", "--file", str(failures), "--failures", str(cli.tmp / "f2.jsonl"))
    assert again.code == 0, str(again)
    assert (cli.tmp / "f2.jsonl").read_text() == ""
    assert cli.stored_names() == ["fixme", "ok1", "ok2"]


def test_failures_default_to_stderr_as_json_lines(cli: Cli) -> None:
    bad = invalid_json("to-stderr")
    result = cli("create", "--file", cli.write("t.jsonl", [bad]))
    assert result.code == 1, str(result)
    assert bad in [json.loads(x) for x in result.err.splitlines() if x.startswith("{")]
    assert result.out == ""


def test_unwritable_failures_path_is_a_usage_error(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json("ok"), invalid_json("bad")])
    result = cli("create", "--file", path, "--failures", str(cli.tmp / "no-such-dir" / "f.jsonl"))
    assert result.code == 2, str(result)
    assert_clean_error(result)
    assert "no-such-dir" in result.err
    assert cli.stored() == []


def test_create_failures_from_the_server_rerun_cleanly(cli: Cli, fake_clarifai: FakeServer) -> None:
    tasks = [task_json(f"f{i}", f"c{i}") for i in range(3)]
    path = cli.write("t.jsonl", tasks)
    fake_clarifai.servicer.set_faults(Faults(unavailable=1.0, methods=frozenset({"PostTasks"})))
    failures = cli.tmp / "failed.jsonl"
    result = cli(
        "create", "--file", path, "--batch-size", "1", "--failures", str(failures), "--timeout", "2"
    )
    assert result.code == 1, str(result)
    assert_clean_error(result)
    failed = [json.loads(x) for x in failures.read_text().splitlines()]
    assert sorted(x["name"] for x in failed) == ["f0", "f1", "f2"]
    assert all(HEX32.match(x["id"]) for x in failed)  # each with the id it was sent with
    assert fake_clarifai.servicer.tasks(USER, cli.app) == []

    fake_clarifai.servicer.set_faults(None)
    again = cli("create", "--file", str(failures), "--failures", str(cli.tmp / "f2.jsonl"))
    assert again.code == 0, str(again)
    assert sorted(t.name for t in fake_clarifai.servicer.tasks(USER, cli.app)) == ["f0", "f1", "f2"]
    rerun = cli("create", "--file", path)  # and the original file is now a no-op: exactly once
    assert rerun.code == 0 and "created 0, existed 3" in rerun.err, str(rerun)
    assert len(fake_clarifai.servicer.tasks(USER, cli.app)) == 3


def test_failed_lines_carry_the_id_they_were_sent_with_even_if_empty_or_null(
    cli: Cli, fake_clarifai: FakeServer
) -> None:
    lines = [task_json("n1", id=""), task_json("n2", "dog", id=None), task_json("n3", "fox")]
    fake_clarifai.servicer.set_faults(Faults(unavailable=1.0, methods=frozenset({"PostTasks"})))
    failures = cli.tmp / "failed.jsonl"
    result = cli(
        "create",
        *("--file", cli.write("t.jsonl", lines), "--id-salt", "run-1", "--timeout", "2"),
        *("--failures", str(failures)),
    )
    assert result.code == 1, str(result)
    written = [json.loads(x) for x in failures.read_text().splitlines()]
    protos = [json_format.ParseDict(t, r.Task()) for t in lines]
    sent = {t.name: t.id for t in taskgrpc.with_content_ids(protos, "run-1")}
    assert {x["name"]: x["id"] for x in written} == sent
    assert all(HEX32.match(i) for i in sent.values())
    # Re-running the failures file (without the salt) creates exactly those tasks, once.
    fake_clarifai.servicer.set_faults(None)
    assert cli("create", "--file", str(failures)).code == 0
    assert cli("create", "--file", str(failures)).code == 0
    assert sorted(t.id for t in fake_clarifai.servicer.tasks(USER, cli.app)) == sorted(
        sent.values()
    )


# --- dry run ------------------------------------------------------------------------------


def test_dry_run_prints_requests_and_sends_nothing(cli: Cli, fake_clarifai: FakeServer) -> None:
    tasks = [task_json(f"d{i}", f"c{i}") for i in range(5)]
    path = cli.write("t.jsonl", tasks)
    result = cli(
        "create", "--file", path, "--dry-run", "--batch-size", "2", env=cli.env(CLARIFAI_PAT=None)
    )
    assert result.code == 0, str(result)
    requests = result.objects()
    assert len(requests) == 3  # 2 + 2 + 1
    assert all(r["userAppId"] == {"userId": USER, "appId": cli.app} for r in requests)
    sent = [t for r in requests for t in r["tasks"]]
    assert [t["name"] for t in sent] == [t["name"] for t in tasks]
    assert sum(fake_clarifai.servicer.calls.values()) == 0
    real = cli("create", "--file", path, "--quiet")
    assert [t["id"] for t in real.objects()] == [t["id"] for t in sent]  # the same ids


def test_dry_run_still_reports_bad_lines(cli: Cli, fake_clarifai: FakeServer) -> None:
    path = cli.write("t.jsonl", [task_json("ok"), invalid_json("bad")])
    result = cli("create", "--file", path, "--dry-run", "--proto-names")
    assert result.code == 1, str(result)
    assert f"{path}:2:" in result.err
    (request,) = result.objects()
    assert "user_app_id" in request  # --proto-names spells fields as the protos do
    assert [t["name"] for t in request["tasks"]] == ["ok"]
    assert sum(fake_clarifai.servicer.calls.values()) == 0


# --- what users paste ---------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "data" / "clarifai_docs"
BODIES = sorted(p.name for p in DOCS.glob("*.json"))


@pytest.mark.parametrize("name", BODIES)
def test_every_docs_request_body_goes_through_unchanged(
    cli: Cli, fake_clarifai: FakeServer, name: str
) -> None:
    """Each request body of Clarifai's Tasks docs (tests/data/clarifai_docs), pasted whole:
    ``create`` (or ``update`` for a PatchTasks body) sends its tasks unrefused and unchanged."""
    data = json.loads((DOCS / name).read_text())
    expected = [json_format.ParseDict(t, r.Task()) for t in data["tasks"]]
    updating = "action" in data
    if updating:  # the task must exist to be overwritten
        fake_clarifai.servicer.put_tasks(USER, cli.app, [simple_task(t.id) for t in expected])
    result = cli("update" if updating else "create", "--file", str(DOCS / name))
    assert result.code == 0, str(result)
    method = "PatchTasks" if updating else "PostTasks"
    calls = [c for c in fake_clarifai.servicer.requests if c.method == method]
    assert all(("authorization", f"Key {PAT}") in c.metadata for c in calls)
    received = [task for c in calls for task in c.request.tasks]  # type: ignore[attr-defined]
    assert len(received) == len(expected)
    for got, want in zip(received, expected, strict=True):
        if not want.id:
            assert HEX32.match(got.id)  # its content id, nothing else added
            got.ClearField("id")
        assert got == want  # nothing dropped or rewritten on the wire


def test_a_pretty_printed_single_task_works(cli: Cli) -> None:
    text = json.dumps(task_json("pretty"), indent=4)
    result = cli("create", "--file", "-", stdin=text)
    assert result.code == 0, str(result)
    assert cli.stored_names() == ["pretty"]


def test_line_separators_inside_json_strings_do_not_split_lines(cli: Cli) -> None:
    name = "para\u2028line\u2029next\x85end"
    text = json.dumps(task_json(name), ensure_ascii=False) + "\n"
    assert cli("create", "--file", cli.write("u.jsonl", text)).code == 0
    assert cli.stored_names() == [name]


def test_output_with_proto_names(cli: Cli) -> None:
    result = cli("create", "--file", cli.write("t.jsonl", [task_json("pn")]), "--proto-names")
    (task,) = result.objects()
    assert "input_source" in task and "created_at" in task and "inputSource" not in task


def test_input_of_a_path_that_does_not_exist_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("create", "--file", str(tmp_path / "nope.jsonl"))
    assert result.code == 2, str(result)
    assert "nope.jsonl" in result.err


def test_an_unknown_outcome_is_written_with_the_salted_id_and_rerun_finds_it(
    cli: Cli, fake_clarifai: FakeServer
) -> None:
    # The server is slower than --timeout: the client gives up, the server commits later.
    # The failures file carries the salted ids that were sent, so a re-run without
    # --id-salt finds the tasks instead of creating copies.
    path = cli.write("t.jsonl", [task_json(f"s{i}") for i in range(2)])
    fake_clarifai.servicer.set_faults(Faults(latency_ms=1000, methods=frozenset({"PostTasks"})))
    failures = cli.tmp / "failed.jsonl"
    result = cli(
        *("create", "--file", path, "--id-salt", "run-1", "--timeout", "0.3"),
        *("--failures", str(failures)),
    )
    assert result.code == 1, str(result)
    assert "DEADLINE_EXCEEDED" in result.err or "unknown" in result.err
    fake_clarifai.servicer.set_faults(None)
    deadline = time.monotonic() + 5
    while len(fake_clarifai.servicer.tasks(USER, cli.app)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the late commit lands
    stored = {t.id for t in fake_clarifai.servicer.tasks(USER, cli.app)}
    written = [json.loads(x) for x in failures.read_text().splitlines()]
    assert {t["id"] for t in written} == stored and len(stored) == 2
    again = cli("create", "--file", str(failures))
    assert again.code == 0 and "existed 2" in again.err, str(again)
    assert {t.id for t in fake_clarifai.servicer.tasks(USER, cli.app)} == stored


def test_a_task_edited_since_it_was_created_from_a_line_still_exists(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json("original")])
    (created,) = cli.seed([task_json("original")])
    with cli.client() as client:  # someone renames it in the meantime
        task = client.get(created["id"])
        task.name = "renamed by hand"
        client.update(task)
    again = cli("create", "--file", path)
    assert again.code == 0, str(again)
    assert "created 0, existed 1, failed 0" in again.err
    assert cli.stored_names() == ["renamed by hand"]


def test_a_docs_body_user_app_id_is_ignored_for_the_configured_app(
    cli: Cli, fake_clarifai: FakeServer
) -> None:
    body = {
        "user_app_id": {"user_id": "YOUR_USER_ID_HERE", "app_id": "YOUR_APP_ID_HERE"},
        "tasks": [task_json("from-a-body"), task_json("second", "dog")],
    }
    result = cli("create", "--file", cli.write("body.json", json.dumps(body, indent=2)))
    assert result.code == 0, str(result)
    assert cli.stored_names() == ["from-a-body", "second"]
    assert fake_clarifai.servicer.tasks("YOUR_USER_ID_HERE", "YOUR_APP_ID_HERE") == []


def test_identical_lines_are_distinct_tasks_and_a_rerun_finds_both(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json("twin"), task_json("twin")])
    first = cli("create", "--file", path)
    assert first.code == 0 and "created 2" in first.err, str(first)
    assert cli.stored_names() == ["twin", "twin"]
    again = cli("create", "--file", path)
    assert again.code == 0 and "created 0, existed 2" in again.err, str(again)
    assert len(cli.stored()) == 2


def test_two_lines_with_one_id_and_the_same_content_are_one_task(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json("one", id="same-id"), task_json("one", id="same-id")])
    result = cli("create", "--file", path, "--verbose")
    assert result.code == 0, str(result)
    assert f"{path}:2: the same task as line 1" in result.err
    assert "repeated lines 1" in result.err.splitlines()[-1]
    assert cli.stored_names() == ["one"]
