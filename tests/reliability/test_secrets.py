"""Secret hygiene: the PAT is in no log record (DEBUG included), repr or exception text;
plain text is refused to non-loopback hosts; the ``taskgrpc`` logger says what it does.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from relsupport import PAT, USER, aclient, client, task

import taskgrpc
from fake_servicer import FakeServer, Faults, serve

WRONG_PAT = "wrong-PAT-0b8a6f4c2d"


class Capture(logging.Handler):
    """Keeps every record, formatted with its traceback, plus its raw message and args."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        out = []
        for record in self.records:
            out += [self.format(record), str(record.msg), repr(record.args), repr(record.__dict__)]
        return out

    def taskgrpc(self, level: int) -> list[logging.LogRecord]:
        return [r for r in self.records if r.name == "taskgrpc" and r.levelno == level]


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    ours = logging.getLogger("taskgrpc")
    saved = root.level, ours.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    ours.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        ours.setLevel(saved[1])


def exception_texts(exc: BaseException) -> list[str]:
    """str, repr and the formatted traceback of ``exc`` and of every exception it carries."""
    texts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        texts += [str(e), repr(e), "".join(traceback.format_exception(e))]
        texts += [repr(v) for v in vars(e).values()]
        for linked in (e.__cause__, e.__context__, getattr(e, "cause", None)):
            if isinstance(linked, BaseException):
                todo.append(linked)
        errors = getattr(e, "errors", None)
        if isinstance(errors, dict):
            todo += [v for v in errors.values() if isinstance(v, BaseException)]
    return texts


class Run:
    """Runs calls, keeping every exception they raise."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def expect(self, kind: type[BaseException], call: Callable[[], Any]) -> None:
        try:
            call()
        except BaseException as exc:
            self.errors.append(exc)
            assert isinstance(exc, kind), repr(exc)
        else:
            raise AssertionError(f"expected {kind.__name__}")

    def texts(self) -> list[str]:
        return [t for e in self.errors for t in exception_texts(e)]


def every_verb(c: taskgrpc.TaskClient, tag: str) -> None:
    one = c.create(task(f"{tag}-one"))
    many = c.create_many([task(f"{tag}-{i}") for i in range(6)], batch_size=2)
    c.get(one.id)
    assert len(list(c.list(per_page=3))) >= 7
    assert len(list(c.list(per_page=3, prefetch=True))) >= 7
    renamed = task(f"{tag}-renamed")
    renamed.id = one.id
    c.update(renamed)
    c.update_many([_renamed(t) for t in many], batch_size=4)
    c.set_status(one.id, "TASK_DONE")
    c.delete(one.id)
    c.delete_many([t.id for t in many], batch_size=4)


def _renamed(t: Any) -> Any:
    out = task(t.name + "-v2")
    out.id = t.id
    return out


def assert_no_secret(texts: list[str], *secrets: str) -> None:
    for secret in secrets:
        leaks = [t for t in texts if secret in t]
        assert leaks == [], f"{secret!r} leaked in {len(leaks)} text(s), e.g. {leaks[0]!r}"


def test_the_pat_is_in_no_log_record_repr_or_exception_text(capture: Capture) -> None:
    run = Run()
    with serve(pats=[PAT]) as server:
        servicer = server.servicer
        c = client(server, "secrets")
        texts = [repr(c), str(c)]
        every_verb(c, "clean")
        # Errors from the service, including one whose text echoes the PAT back.
        run.expect(taskgrpc.NotFoundError, lambda: c.get("no-such-task"))
        run.expect(taskgrpc.NotFoundError, lambda: c.get(PAT))
        ghost = task("ghost")
        ghost.id = "no-such-task"
        run.expect(taskgrpc.NotFoundError, lambda: c.update(ghost))
        run.expect(taskgrpc.ValidationError, lambda: c.create(taskgrpc.TaskClient))
        run.expect(taskgrpc.ValidationError, lambda: c.get(""))
        # A wrong PAT: every verb is refused.
        wrong = client(server, "secrets", pat=WRONG_PAT)
        texts += [repr(wrong), str(wrong)]
        run.expect(taskgrpc.AuthError, lambda: wrong.get("x"))
        run.expect(taskgrpc.AuthError, lambda: wrong.create(task("w")))
        run.expect(taskgrpc.AuthError, lambda: list(wrong.list()))
        run.expect(taskgrpc.AuthError, lambda: wrong.set_status("x", "TASK_DONE"))
        run.expect(taskgrpc.AuthError, lambda: wrong.delete("x"))
        run.expect(taskgrpc.BulkError, lambda: wrong.create_many([task("w")]))
        # Faults: retried (INFO), then successful.
        servicer.set_faults(Faults(unavailable=0.1, throttled=0.1, commit_unavailable=0.1, seed=9))
        every_verb(c, "faulty")
        # Faults that end in errors.
        servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostTasks"}))
        run.expect(taskgrpc.OutcomeUnknownError, lambda: c.create(task("u"), assign_id=False))
        run.expect(
            taskgrpc.BulkError,
            lambda: c.create_many([task("u1"), task("u2")], assign_ids=False),
        )
        servicer.set_faults(Faults(throttled=1.0))
        run.expect(taskgrpc.ThrottledError, lambda: c.get("x", retry=None))
        run.expect(taskgrpc.BulkError, lambda: c.delete_many(["a", "b"], retry=None))
        servicer.set_faults(Faults(unavailable=1.0))
        run.expect(taskgrpc.UnavailableError, lambda: c.get("x", retry=None))
        servicer.set_faults(Faults(latency_ms=300))
        run.expect(taskgrpc.DeadlineExceededError, lambda: c.get("x", timeout=0.05))
        servicer.set_faults(None)
        # The PAT really was sent: its absence elsewhere means something.
        assert ("authorization", f"Key {PAT}") in servicer.requests[0].metadata
    # No server at all.
    run.expect(taskgrpc.UnavailableError, lambda: c.get("x", retry=None, timeout=2))
    c.close()
    wrong.close()
    run.expect(taskgrpc.NotSentError, lambda: c.get("x"))

    texts += run.texts() + capture.texts()
    assert_no_secret(texts, PAT, WRONG_PAT)
    # The run did produce what was checked.
    kinds = {type(e).__name__ for e in run.errors}
    assert kinds >= {
        "NotFoundError",
        "AuthError",
        "ValidationError",
        "BulkError",
        "OutcomeUnknownError",
        "ThrottledError",
        "UnavailableError",
        "DeadlineExceededError",
        "NotSentError",
    }, kinds
    assert len(capture.taskgrpc(logging.DEBUG)) > 50
    assert len(capture.taskgrpc(logging.INFO)) > 5
    not_found = [e for e in run.errors if isinstance(e, taskgrpc.NotFoundError)]
    assert any("***" in str(e) for e in not_found), "the echoed PAT was not redacted"


async def test_the_async_client_leaks_no_pat(capture: Capture, server: FakeServer) -> None:
    errors: list[BaseException] = []
    server.servicer.set_faults(
        Faults(unavailable=0.1, throttled=0.1, commit_unavailable=0.1, seed=10)
    )
    async with aclient(server, "asecrets") as c:
        texts = [repr(c), str(c)]
        created = await c.create_many([task(f"a{i}") for i in range(10)], batch_size=2)
        await c.get(created[0].id)
        _ = [t async for t in c.list(per_page=3)]
        await c.set_status(created[0].id, "TASK_DONE")
        await c.delete_many([t.id for t in created])
        server.servicer.set_faults(None)
        for missing in (PAT, "missing"):
            try:
                await c.get(missing)
            except taskgrpc.NotFoundError as exc:
                errors.append(exc)
        server.servicer.set_faults(Faults(latency_ms=200, methods={"PostTasks"}))
        try:
            await c.create(task("late"), timeout=0.05)
        except taskgrpc.OutcomeUnknownError as exc:
            errors.append(exc)
        server.servicer.set_faults(None)
    assert len(errors) == 3
    texts += [t for e in errors for t in exception_texts(e)] + capture.texts()
    assert_no_secret(texts, PAT)
    assert capture.taskgrpc(logging.DEBUG)


# --- plain text only to loopback --------------------------------------------------------

NOT_LOOPBACK = [
    "10.0.0.1:50051",
    "192.168.1.5",
    "0.0.0.0:1234",
    "example.com:443",
    "api.clarifai.com",
    "localhost.example.com:443",
    "127.0.0.1.nip.io:443",
    "[2001:db8::1]:443",
    "[::]:80",
]
LOOPBACK = ["127.0.0.1:1", "127.0.0.2:50051", "127.255.255.254:9", "localhost:1234", "[::1]:1234"]


def _make(kind: str, target: str, **kwargs: Any) -> Any:
    cls = taskgrpc.TaskClient if kind == "sync" else taskgrpc.AsyncTaskClient
    return cls(pat=PAT, user_id=USER, app_id="a", target=target, **kwargs)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("target", NOT_LOOPBACK)
def test_plain_text_to_a_non_loopback_host_is_refused(kind: str, target: str) -> None:
    with pytest.raises(taskgrpc.ValidationError) as info:
        _make(kind, target, secure=False)
    assert "allow_insecure" in str(info.value)
    assert_no_secret(exception_texts(info.value), PAT)
    # Explicitly allowed, or over TLS, it is accepted (nothing is sent until first use).
    assert _make(kind, target, secure=False, allow_insecure=True).target
    assert _make(kind, target, secure=True).target


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("target", LOOPBACK)
def test_plain_text_to_loopback_is_allowed(kind: str, target: str) -> None:
    c = _make(kind, target, secure=False)
    assert PAT not in repr(c)


def test_plain_text_to_loopback_really_works_beyond_127_0_0_1() -> None:
    with serve(host="127.0.0.2") as server, client(server, "lo2") as c:
        out = c.create(task("over 127.0.0.2"))
        assert c.get(out.id) == out


# --- what the taskgrpc logger says ------------------------------------------------------

DEBUG_OK = re.compile(
    r"^(?P<method>\w+) attempt=(?P<attempt>\d+) req_id=(?P<req_id>\w*) "
    r"code=(?P<code>\d+) in (?P<ms>\d+\.\d) ms$"
)
DEBUG_FAILED = re.compile(r"^(?P<method>\w+) attempt=(?P<attempt>\d+) failed in \d+\.\d ms: ")


def test_each_call_is_logged_at_debug_and_each_retry_at_info(
    capture: Capture, server: FakeServer
) -> None:
    servicer = server.servicer
    [task_id] = servicer.put_tasks(USER, "logs", [task("logged")])
    with client(server, "logs") as c:
        c.get(task_id)
        with pytest.raises(taskgrpc.NotFoundError):
            c.get("missing-id")
        servicer.set_faults(Faults(throttled=0.5, unavailable=0.3, seed=4, methods={"GetTask"}))
        capture.records.clear()
        c.get(task_id)
    calls = servicer.calls["GetTask"] - 2
    injected = servicer.faults_injected
    assert calls == injected["throttled"] + injected["unavailable"] + 1
    assert injected["throttled"] > 0 and injected["unavailable"] > 0

    debug = [r.getMessage() for r in capture.taskgrpc(logging.DEBUG)]
    info = [r.getMessage() for r in capture.taskgrpc(logging.INFO)]
    assert len(debug) == calls, debug
    attempts = []
    for message in debug:
        ok, failed = DEBUG_OK.match(message), DEBUG_FAILED.match(message)
        assert ok or failed, message
        match = ok or failed
        assert match is not None and match["method"] == "GetTask"
        attempts.append(int(match["attempt"]))
        if ok:
            assert re.fullmatch(r"[0-9a-f]{32}", ok["req_id"]), message
    assert attempts == list(range(1, calls + 1))
    assert sum(1 for m in debug if "code=11005" in m) == injected["throttled"]
    assert sum(1 for m in debug if "UNAVAILABLE" in m) == injected["unavailable"]
    assert len(info) == calls - 1
    for n, message in enumerate(info, start=1):
        assert message.startswith(f"GetTask attempt={n} failed ("), message
        assert "retrying in" in message


def test_debug_log_names_the_req_id_of_the_response(capture: Capture, server: FakeServer) -> None:
    with client(server, "reqid") as c, pytest.raises(taskgrpc.NotFoundError) as info:
        c.get("missing-id")
    req_id = info.value.req_id
    assert req_id
    debug = [r.getMessage() for r in capture.taskgrpc(logging.DEBUG)]
    assert [m for m in debug if f"req_id={req_id}" in m], debug
