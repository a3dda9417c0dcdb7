"""The parser and messages: usage errors (exit 2, never echoing a value), configuration,
help text, ``--version``, and library messages in CLI terms."""

from __future__ import annotations

import pytest
from clisupport import PAT, USER, WRONG_PAT, Cli, assert_clean_error, names, task_json

from taskgrpc import __version__
from taskgrpc.cli.options import redact_usage

USAGE_ERRORS = {
    "no command": [],
    "unknown command": ["frobnicate"],
    "create without --file": ["create"],
    "create, missing file": ["create", "--file", "/no/such/file.jsonl"],
    "create --batch-size 0": ["create", "--file", "-", "--batch-size", "0"],
    "get without ids": ["get"],
    "list --format xml": ["list", "--format", "xml"],
    "list --per-page 0": ["list", "--per-page", "0"],
    "list --per-page x": ["list", "--per-page", "x"],
    "list --source-type bogus": ["list", "--source-type", "BOGUS"],
    "list --timeout inf": ["list", "--timeout", "inf"],
    "list --timeout 1e10": ["list", "--timeout", "1e10"],
    "list --timeout nan": ["list", "--timeout", "nan"],
    "update without --file": ["update"],
    "set-status without code": ["set-status", "some-id"],
    "delete ids and --file": ["delete", "some-id", "--file", "-"],
    "delete with neither": ["delete"],
}


@pytest.mark.parametrize("args", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_exit_2(cli: Cli, args: list[str]) -> None:
    result = cli(*args, insecure=False)
    assert result.code == 2, str(result)
    assert result.err.strip() and result.out == ""
    assert_clean_error(result)


SECRET = "sekrit-value-123"


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--pat", SECRET],
        ["list", f"--pat={SECRET}"],
        ["list", SECRET],
        [SECRET],
        ["list", "--format", SECRET],
        ["list", "--per-page", SECRET],
        ["list", "--timeout", SECRET],
        ["list", "--source-type", SECRET],
    ],
)
def test_usage_errors_never_echo_a_value(cli: Cli, args: list[str]) -> None:
    result = cli(*args, env=cli.env(CLARIFAI_PAT=None))
    assert result.code == 2, str(result)
    assert SECRET not in result.out + result.err


def test_redact_usage_keeps_flag_names_only() -> None:
    assert redact_usage("unrecognized arguments: --pat abc --x=1 def") == (
        "unrecognized arguments: --pat --x"
    )
    assert redact_usage("argument --format: invalid choice: 'abc' (choose from 'a', 'b')") == (
        "argument --format: invalid choice (choose from 'a', 'b')"
    )
    assert redact_usage("argument --n: invalid int value: 'abc'") == (
        "argument --n: invalid int value"
    )


def test_there_is_no_pat_flag(cli: Cli) -> None:
    # Not even as an abbreviation of --pat-file.
    (cli.tmp / "x").write_text(PAT)
    result = cli("list", "--pat", str(cli.tmp / "x"), env=cli.env(CLARIFAI_PAT=None))
    assert result.code == 2, str(result)
    assert "--pat" in result.err


def test_an_enum_flag_typo_gets_the_valid_names_and_a_hint(cli: Cli) -> None:
    result = cli("list", "--source-type", "datset")
    assert result.code == 2, str(result)
    assert "did you mean DATASET?" in result.err and "SAVED_SEARCH" in result.err
    assert "datset" not in result.err  # the value is not echoed
    assert names(cli("list", "--source-type", "dataset")) == []  # any case


def test_version(cli: Cli) -> None:
    result = cli("--version", insecure=False)
    assert result.code == 0
    assert result.out.strip() == f"taskgrpc {__version__}"


def test_help_names_the_environment_and_shows_an_example(cli: Cli) -> None:
    result = cli("--help", insecure=False)
    assert result.code == 0
    for var in ("CLARIFAI_PAT", "CLARIFAI_USER_ID", "CLARIFAI_APP_ID", "CLARIFAI_GRPC_BASE"):
        assert var in result.out
    assert "example:" in result.out and "taskgrpc create --file" in result.out


@pytest.mark.parametrize(
    "command", ["create", "update", "delete", "get", "list", "set-status", "progress", "export"]
)
def test_each_subcommand_help_shows_an_example_and_defaults(cli: Cli, command: str) -> None:
    result = cli(command, "--help", insecure=False)
    assert result.code == 0
    assert "example:" in result.out and f"taskgrpc {command}" in result.out
    assert "(default: 30.0)" in result.out  # --timeout
    if command in ("create", "update", "delete"):
        assert "(default: 128)" in result.out and "input:" in result.out
    if command == "export":
        assert "(default: 1000)" in result.out  # --per-page


@pytest.mark.parametrize("missing", ["CLARIFAI_PAT", "CLARIFAI_USER_ID", "CLARIFAI_APP_ID"])
def test_missing_configuration_exits_2_naming_it(cli: Cli, missing: str) -> None:
    result = cli("list", env=cli.env(**{missing: None}))
    assert result.code == 2, str(result)
    assert missing in result.err and "--" in result.err  # the variable, and the flag
    assert "needed for" not in result.err
    assert_clean_error(result)


def test_flags_override_the_environment(cli: Cli) -> None:
    cli.seed([task_json("ov")])
    env = cli.env(
        CLARIFAI_GRPC_BASE="127.0.0.1:1", CLARIFAI_APP_ID="other-app", CLARIFAI_USER_ID="other"
    )
    flags = ("--target", cli.target, "--app-id", cli.app, "--user-id", USER)
    assert names(cli("list", *flags, env=env)) == ["ov"]
    bare = cli.env(CLARIFAI_GRPC_BASE=None, CLARIFAI_APP_ID=None, CLARIFAI_USER_ID=None)
    assert names(cli("list", *flags, env=bare)) == ["ov"]


def test_pat_file_works_and_wins_over_the_environment(cli: Cli) -> None:
    cli.seed([task_json("pf")])
    pat_file = cli.tmp / "pat.txt"
    pat_file.write_text(PAT + "\n")
    assert names(cli("list", "--pat-file", str(pat_file), env=cli.env(CLARIFAI_PAT=None))) == ["pf"]


def test_pat_file_problems_are_usage_errors(cli: Cli) -> None:
    missing = cli("list", "--pat-file", str(cli.tmp / "nope.txt"), env=cli.env(CLARIFAI_PAT=None))
    assert missing.code == 2, str(missing)
    (cli.tmp / "empty.txt").write_text("\n")
    empty = cli("list", "--pat-file", str(cli.tmp / "empty.txt"), env=cli.env(CLARIFAI_PAT=None))
    assert empty.code == 2, str(empty)


@pytest.mark.parametrize("command", ["list", "get", "create", "update", "set-status", "delete"])
def test_wrong_pat_fails_without_echoing_it(auth_cli: Cli, command: str) -> None:
    cli = auth_cli
    path = cli.write("t.jsonl", [task_json("w", id="some-task")])
    args = {
        "list": ["list"],
        "get": ["get", "some-task"],
        "create": ["create", "--file", path],
        "update": ["update", "--file", path],
        "set-status": ["set-status", "some-task", "TASK_DONE"],
        "delete": ["delete", "some-task"],
    }[command]
    result = cli(*args, env=cli.env(CLARIFAI_PAT=WRONG_PAT))
    assert result.code == 1, str(result)
    assert WRONG_PAT not in result.out + result.err
    assert "CONN_KEY_INVALID" in result.err
    assert_clean_error(result)


@pytest.mark.parametrize("command", ["create", "update", "delete", "list"])
def test_a_bad_target_is_a_usage_error_for_every_command(cli: Cli, command: str) -> None:
    path = cli.write("t.jsonl", [task_json("bt", id="bt-1")])
    args = {
        "create": ["create", "--file", path],
        "update": ["update", "--file", path],
        "delete": ["delete", "bt-1"],
        "list": ["list"],
    }[command]
    result = cli(*args, "--target", "http://127.0.0.1:1")
    assert result.code == 2, str(result)
    assert "--target" in result.err


def test_insecure_to_a_remote_host_names_the_flag(cli: Cli) -> None:
    refused = cli("list", env=cli.env(CLARIFAI_GRPC_BASE="192.0.2.1:9"))
    assert refused.code == 2, str(refused)
    assert "--allow-insecure" in refused.err and "allow_insecure" not in refused.err
    assert "secure=False" not in refused.err
    assert PAT not in refused.out + refused.err


def test_unreachable_server_is_one_error_line(cli: Cli) -> None:
    result = cli("list", "--timeout", "2", env=cli.env(CLARIFAI_GRPC_BASE="127.0.0.1:1"))
    assert result.code == 1, str(result)
    assert "UNAVAILABLE" in result.err and PAT not in result.err
    assert_clean_error(result)


def test_a_wrong_pat_in_a_pat_file_is_not_echoed(auth_cli: Cli) -> None:
    pat_file = auth_cli.tmp / "pat.txt"
    pat_file.write_text(WRONG_PAT + "\n")
    result = auth_cli("list", "--pat-file", str(pat_file), env=auth_cli.env(CLARIFAI_PAT=None))
    assert result.code == 1, str(result)
    assert WRONG_PAT not in result.out + result.err
    assert "CONN_KEY_INVALID" in result.err


def test_tls_to_a_plaintext_server_says_insecure(cli: Cli) -> None:
    result = cli("list", "--timeout", "3", insecure=False)
    assert result.code == 1, str(result)
    (message,) = [line for line in result.err.splitlines() if line.startswith("taskgrpc:")]
    assert "WRONG_VERSION_NUMBER" in message and "pass --insecure" in message
    assert "secure=False" not in message and "on the command line" not in message
