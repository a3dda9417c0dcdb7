"""How the command line reports errors: exit codes, usage errors, and library messages
rewritten in the command line's own terms (flags, not Python arguments)."""

from __future__ import annotations

import re

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from ..errors import ApiError, AuthError, OutcomeUnknownError, TaskgrpcError, UnavailableError

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141


class UsageError(Exception):
    """Bad command-line usage: exit 2, nothing sent."""


#: Library argument names and the command-line flags that set them: the one table every
#: message passes through, so the CLI never tells a user to "pass allow_insecure=True".
FLAG_TERMS: tuple[tuple[str, str], ...] = (
    # the library's TLS / plaintext hints name both spellings: keep the command line's
    (r"\bsecure=False, or --insecure on the command line", "--insecure"),
    (
        r"\bpass secure=True: the default, without --insecure on the command line",
        "leave out --insecure",
    ),
    (r"\bsecure=False\b", "--insecure"),
    (r"\ballow_insecure=True\b", "--allow-insecure"),
    (r"\ballow_insecure\b", "--allow-insecure"),
    (r"\(needed for pat\)", "(or pass --pat-file PATH)"),
    (r"\(needed for user_id\)", "(or pass --user-id)"),
    (r"\(needed for app_id\)", "(or pass --app-id)"),
    (r"\bbatch_size\b", "--batch-size"),
    (r"\bper_page\b", "--per-page"),
    (r"\bconcurrency\b", "--concurrency"),
    (r"^target\b", "--target"),
)
_TERMS = [(re.compile(pattern), flag) for pattern, flag in FLAG_TERMS]


def cli_terms(text: str) -> str:
    """``text`` with every library argument name replaced by its command-line flag."""
    for pattern, flag in _TERMS:
        text = pattern.sub(flag, text)
    return text


def error_text(err: BaseException) -> str:
    """One line for ``err``: an API error as ``CODE: description [req_id=...]``."""
    if isinstance(err, ApiError):
        text = f"{err.code_name}: {err.description or err}"
        text += f" ({err.details})" if err.details and err.description else ""
        return text + (f" [req_id={err.req_id}]" if err.req_id else "")
    return cli_terms(str(err))


#: Body codes that no line of a run can get past: a wrong app or user, not a wrong task.
_WRONG_TARGET = frozenset({sc.CONN_DOES_NOT_EXIST})


def fails_every_line(err: TaskgrpcError, *, verb: str, any_success: bool) -> bool:
    """Whether ``err`` will fail every remaining line too, so the run should stop at once:
    a refused PAT or permission, an app that does not exist (for creates, where no task id
    is involved), or a target that never answered."""
    if isinstance(err, OutcomeUnknownError):
        err = err.cause
    if isinstance(err, AuthError):
        return True
    if isinstance(err, ApiError):
        return verb == "create" and err.code in _WRONG_TARGET
    return isinstance(err, UnavailableError) and not any_success
