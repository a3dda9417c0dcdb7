"""Reading input: every line the client cannot read fails alone, with file:line and the
reason, never a traceback, and the good lines still go."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clisupport import HEX32, Cli, assert_clean_error, invalid_json, jsonl, task_json
from hypothesis import given, settings
from hypothesis import strategies as st

from taskgrpc._content import ContentIds
from taskgrpc.cli import main
from taskgrpc.cli.errors import UsageError
from taskgrpc.cli.reading import Line, docs_body_tasks, parse_error_text, read_ids, read_tasks
from taskgrpc.cli.writing import to_json


def test_bad_lines_are_reported_with_file_and_line_and_valid_lines_still_go(cli: Cli) -> None:
    lines = [
        json.dumps(task_json("good1")),
        '{"type": "CONCEPTS_CLASSIFICATION", "name": ',  # not JSON
        json.dumps({**task_json("bad-field"), "colour": "red"}),  # unknown field
        json.dumps(invalid_json("bad-reviewers")),
        json.dumps(task_json("good2", "dog")),
        "[1, 2]",  # not an object
    ]
    path = cli.write("batch.jsonl", "\n".join(lines) + "\n")
    result = cli("create", "--file", path)
    assert result.code == 1, str(result)
    assert_clean_error(result)
    for number in (2, 3, 4, 6):
        assert f"batch.jsonl:{number}:" in result.err, str(result)
    for number in (1, 5):
        assert f"batch.jsonl:{number}:" not in result.err
    assert "'colour'" in result.err and "Available Fields" not in result.err
    assert re.search(r"batch\.jsonl:4:.*approval_threshold_reviewers", result.err), "rule named"
    assert cli.stored_names() == ["good1", "good2"]


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("NaN", '"metadata": {"x": NaN}', "NaN"),
        ("Infinity", '"metadata": {"x": -Infinity}', "Infinity"),
        ("deep", '"metadata": {"x": ' + "[" * 5000 + "]" * 5000 + "}", "deep"),
        ("too deep for protobuf", '"metadata": ' + '{"a": ' * 150 + "1" + "}" * 150, "deep"),
        # read by json_format, yet too deep to go into a request (protobuf's decoder limit)
        ("too deep to send", '"metadata": ' + '{"a": ' * 40 + "1" + "}" * 40, "deep"),
        ("lone surrogate", '"description": "\\udc00"', "surrogate"),
    ],
)
def test_a_line_the_client_cannot_read_fails_alone(
    cli: Cli, name: str, line: str, reason: str
) -> None:
    good = json.dumps(task_json("good"))
    bad = json.dumps(task_json("bad"))[:-1] + ", " + line + "}"
    failures = cli.tmp / "failed.jsonl"
    path = cli.write("t.jsonl", f"{good}\n{bad}\n")
    result = cli("create", "--file", path, "--failures", str(failures))
    assert result.code == 1, str(result)
    assert_clean_error(result)
    (message,) = result.error_lines()
    assert message.startswith(f"error: {path}:2: ") and reason.lower() in message.lower(), message
    assert failures.read_text() == bad + "\n"  # written back as it was read
    assert cli.stored_names() == ["good"]


def test_a_line_that_is_not_utf8_fails_alone_and_is_written_back_byte_for_byte(cli: Cli) -> None:
    good = json.dumps(task_json("ok")).encode()
    bad = json.dumps(task_json("caf\u00e9"), ensure_ascii=False).encode("latin-1")
    path = cli.write("mixed.jsonl", good + b"\n" + bad + b"\n")
    failures = cli.tmp / "failed.jsonl"
    result = cli("create", "--file", path, "--failures", str(failures))
    assert result.code == 1, str(result)
    assert f"{path}:2: not UTF-8" in result.err
    assert failures.read_bytes() == bad + b"\n"
    assert cli.stored_names() == ["ok"]


def test_bad_item_of_a_json_array_is_reported_with_its_position(cli: Cli) -> None:
    items = [task_json("ok"), invalid_json("bad-reviewers")]
    result = cli("create", "--file", cli.write("arr.json", json.dumps(items)))
    assert result.code == 1, str(result)
    assert "arr.json:2:" in result.err
    assert cli.stored_names() == ["ok"]


def test_a_nan_inside_a_json_array_fails_only_its_item(cli: Cli) -> None:
    text = "[" + json.dumps(task_json("ok")) + ', {"name": "x", "sampleMs": NaN}]'
    result = cli("create", "--file", cli.write("arr.json", text))
    assert result.code == 1, str(result)
    assert "arr.json:2: not valid JSON: NaN" in result.err
    assert cli.stored_names() == ["ok"]


def test_bad_line_on_stdin_is_reported_as_stdin(cli: Cli) -> None:
    result = cli("create", "--file", "-", stdin=jsonl([task_json("ok"), invalid_json("x")]))
    assert result.code == 1, str(result)
    assert "<stdin>:2:" in result.err


def test_an_enum_typo_lists_the_valid_names_with_a_hint(cli: Cli) -> None:
    bad = {**task_json("typo"), "worker": {"strategy": "FULLL"}}
    result = cli("create", "--file", cli.write("t.jsonl", [bad]))
    assert result.code == 1, str(result)
    (message,) = result.error_lines()
    assert "did you mean 'FULL'?" in message
    assert "PARTITIONED" in message and "DYNAMIC" in message


def test_parse_error_text_rewrites_enum_and_field_errors() -> None:
    enum = parse_error_text(
        "Failed to parse type field: Invalid enum value CONCEPT_CLASS for enum type "
        "clarifai.api.Task.TaskType at Task.type."
    )
    assert enum.startswith("Task.type: unknown TaskType 'CONCEPT_CLASS'")
    assert "CONCEPTS_CLASSIFICATION" in enum
    field = parse_error_text(
        'Message type "clarifai.api.Task" has no field named "nmae" at "Task".\n'
        " Available Fields(except extensions): \"['id', 'name', 'type']\""
    )
    assert field == "Task: unknown field 'nmae' in Task; did you mean 'name'?"


def test_docs_body_shapes() -> None:
    assert docs_body_tasks({"tasks": [1]}) == [1]
    assert docs_body_tasks({"tasks": [1], "user_app_id": {}}) == [1]
    assert docs_body_tasks({"tasks": [1], "name": "x"}) is None  # a task, not a body
    assert docs_body_tasks({"tasks": "x"}) is None


_LINE_PARTS = st.sampled_from(
    [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"',
        b":",
        b",",
        b"NaN",
        b"Infinity",
        b"\xff",
        b"\xc3",
        b" ",
        b'"name"',
        b'"tasks"',
        b'"id"',
        b"1e400",
        b"null",
        b"\r",
        b"\\u",
        b"\xe2\x80\xa8",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_LINE_PARTS, max_size=12).map(b"".join), max_size=6))
def test_any_input_is_read_without_raising(
    tmp_path_factory: pytest.TempPathFactory, raw_lines: list[bytes]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "in.jsonl"
    path.write_bytes(b"\n".join(raw_lines))
    lines = read_tasks(str(path), require_id=False)
    for line in lines:
        assert (line.task is None) == bool(line.error)  # each item is a task or a reason
        assert line.error == "" or line.error.startswith(f"{path}:{line.number}: ")
    for line in read_ids_or_usage(str(path)):
        assert isinstance(line.value, str) and line.value.strip()


def read_ids_or_usage(path: str) -> list[Line]:
    try:
        return read_ids(path)
    except UsageError:
        return []


def test_a_number_too_large_for_a_double_fails_its_line_alone(cli: Cli) -> None:
    # 1e400 is valid JSON syntax, but reads as infinity, which no Struct can carry.
    bad = json.dumps(task_json("huge"))[:-1] + ', "metadata": {"x": 1e400}}'
    path = cli.write("t.jsonl", f"{json.dumps(task_json('ok'))}\n{bad}\n")
    result = cli("create", "--file", path)
    assert result.code == 1, str(result)
    assert f"{path}:2: not valid JSON: 1e400 (out of range)" in result.err
    assert cli.stored_names() == ["ok"]


def test_a_task_whose_content_id_cannot_be_derived_fails_alone(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ContentIds.assign

    def assign(self: ContentIds, tasks: list[r.Task]) -> list[r.Task]:
        if any(t.name == "unhashable" for t in tasks):
            raise ValueError("cannot serialize this")
        return real(self, tasks)

    monkeypatch.setattr(ContentIds, "assign", assign)
    path = cli.write("t.jsonl", [task_json("ok"), task_json("unhashable"), task_json("ok2")])
    result = cli("create", "--file", path)
    assert result.code == 1, str(result)
    assert f"{path}:2: cannot derive its content id: cannot serialize this" in result.err
    assert cli.stored_names() == ["ok", "ok2"]


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(metadata=st.dictionaries(st.text(max_size=6), _JSON, max_size=4), raw=st.text(max_size=12))
def test_whatever_reading_accepts_can_be_hashed_and_printed(
    tmp_path_factory: pytest.TempPathFactory, metadata: dict[str, object], raw: str
) -> None:
    line = json.dumps({**task_json("fuzz"), "metadata": metadata, "description": raw})
    path = tmp_path_factory.mktemp("fuzz") / "in.jsonl"
    path.write_text(line + "\n" + line.replace("1", "1e999") + "\n", encoding="utf-8")
    for item in read_tasks(str(path), require_id=False):
        if item.task is not None:
            [task] = ContentIds("").assign([item.task])
            assert HEX32.match(task.id)
            json.loads(to_json(task))


def test_an_array_item_with_a_lone_surrogate_fails_alone_and_is_written_back(cli: Cli) -> None:
    text = "[" + json.dumps(task_json("ok")) + ', {"name": "\\udc00", "description": "caf\u00e9"}]'
    failures = cli.tmp / "failed.jsonl"
    result = cli("create", "--file", cli.write("arr.json", text), "--failures", str(failures))
    assert result.code == 1, str(result)
    assert_clean_error(result)
    assert "arr.json:2:" in result.err and "surrogate" in result.err.lower()
    (written,) = failures.read_text(encoding="utf-8").splitlines()
    assert json.loads(written) == {"name": "\udc00", "description": "caf\u00e9"}
    assert cli.stored_names() == ["ok"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(_LINE_PARTS, max_size=12).map(b"".join),
            st.just(json.dumps(task_json("valid")).encode()),
        ),
        max_size=6,
    ),
    st.booleans(),
)
def test_create_dry_run_never_raises_whatever_the_input(
    tmp_path_factory: pytest.TempPathFactory, raw_lines: list[bytes], as_array: bool
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    data = b"\n".join(raw_lines)
    if as_array:
        data = b"[" + b",\n".join(raw_lines) + b"]"
    (folder / "in.jsonl").write_bytes(data)
    argv = ["create", "--file", str(folder / "in.jsonl"), "--dry-run", "-q"]
    argv += ["--failures", str(folder / "failed.jsonl")]
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLARIFAI_USER_ID", "u")
        mp.setenv("CLARIFAI_APP_ID", "a")
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as exit_,
        ):
            main(argv)
    assert exit_.value.code in (0, 1), err.getvalue()
    written = (folder / "failed.jsonl").read_bytes().splitlines()
    sent = [t for line in out.getvalue().splitlines() for t in json.loads(line)["tasks"]]
    assert (exit_.value.code == 1) == bool(written)
    assert all(t["id"] for t in sent)  # every task is sent with an id
