"""taskgrpc.retry: RetryPolicy math and validation, classify, the method table, TokenBucket."""

from __future__ import annotations

import dataclasses
import pickle
import threading

import grpc
import pytest
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from tgsupport import FakeClock, bad_status

from taskgrpc import DEFAULT, RetryPolicy, ValidationError
from taskgrpc import errors as e
from taskgrpc import retry as rt

# --- RetryPolicy -----------------------------------------------------------------------------


def test_cap_grows_exponentially_then_caps():
    policy = RetryPolicy(initial_backoff=0.1, max_backoff=1.0, multiplier=2.0)
    assert [policy.cap(n) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_cap_with_multiplier_one_is_constant():
    policy = RetryPolicy(initial_backoff=0.3, max_backoff=5.0, multiplier=1.0)
    assert {policy.cap(n) for n in range(1, 20)} == {0.3}


@pytest.mark.parametrize("attempt", [1000, 10**6, 10**9])
def test_cap_never_overflows(attempt):
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=7.0, multiplier=10.0)
    assert policy.cap(attempt) == 7.0


def test_backoff_without_jitter_is_the_cap():
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=3.0, multiplier=3.0, jitter=False)
    assert [policy.backoff(n) for n in (1, 2, 3)] == pytest.approx([0.5, 1.5, 3.0])


def test_backoff_with_jitter_is_full_jitter(monkeypatch):
    seen = []

    class FakeRandom:
        @staticmethod
        def uniform(low, high):
            seen.append((low, high))
            return high / 2

    monkeypatch.setattr(rt, "random", FakeRandom)
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=10.0, multiplier=2.0)
    assert policy.backoff(3) == 2.0
    assert seen == [(0.0, 4.0)]


def test_backoff_with_jitter_stays_in_range():
    policy = RetryPolicy(initial_backoff=0.2, max_backoff=1.0)
    draws = [policy.backoff(2) for _ in range(300)]
    assert all(0.0 <= d <= 0.4 for d in draws)
    assert len(set(draws)) > 1


def test_defaults_are_valid_and_frozen():
    policy = RetryPolicy()
    assert policy.max_attempts >= 1
    assert 0 <= policy.initial_backoff <= policy.max_backoff
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_attempts = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"max_attempts": 2.0},
        {"max_attempts": True},
        {"initial_backoff": -0.1},
        {"initial_backoff": 2.0, "max_backoff": 1.0},
        {"multiplier": 0.5},
    ],
)
def test_policy_validation(kwargs):
    with pytest.raises(ValidationError):
        RetryPolicy(**kwargs)


def test_one_attempt_is_allowed():
    assert RetryPolicy(max_attempts=1).max_attempts == 1


def test_default_sentinel():
    assert DEFAULT is rt.DEFAULT
    assert repr(DEFAULT)


# --- the method table and classify ---------------------------------------------------------


def test_method_table():
    assert rt.METHOD_RETRY == {
        "GetTask": rt.Safety.IDEMPOTENT,
        "ListTasks": rt.Safety.IDEMPOTENT,
        "PatchTasks": rt.Safety.IDEMPOTENT,
        "DeleteTasks": rt.Safety.IDEMPOTENT,
        "PostTasks": rt.Safety.CREATE,
        "PutTaskAssignments": rt.Safety.IDEMPOTENT,
        "PostAnnotations": rt.Safety.CREATE,
        "ListAnnotations": rt.Safety.IDEMPOTENT,
        "GetTaskInputCount": rt.Safety.IDEMPOTENT,
        "GetTaskAnnotationCount": rt.Safety.IDEMPOTENT,
    }


def api(code: int) -> e.ApiError:
    return e.api_error(bad_status(code), "GetTask")


@pytest.mark.parametrize("code", [sc.CONN_THROTTLED, sc.RPC_REQUEST_QUEUE_FULL])
def test_nothing_done_codes(code):
    assert rt.classify(api(code)) is rt.Transience.NOTHING_DONE


@pytest.mark.parametrize(
    "code",
    [
        sc.TRY_AGAIN,
        sc.RPC_SERVER_UNAVAILABLE,
        sc.RPC_REQUEST_TIMEOUT,
        sc.INTERNAL_REDIS_UNAVAILABLE,
        sc.INTERNAL_UNEXPECTED_TIMEOUT,
        sc.INTERNAL_CONTEXT_CANCELED,
    ],
)
def test_outcome_unknown_codes(code):
    assert rt.classify(api(code)) is rt.Transience.OUTCOME_UNKNOWN


@pytest.mark.parametrize(
    "code",
    [
        sc.TASK_MISSING,
        sc.CONN_DOES_NOT_EXIST,
        sc.CONN_KEY_INVALID,
        sc.CONN_INVALID_REQUEST,
        sc.TASK_CONFLICT,
        sc.CONN_EXCEED_HOURLY_LIMIT,
        sc.CONN_EXCEED_MONTHLY_LIMIT,
        sc.FAILURE,
        sc.INTERNAL_SERVER_ISSUE,
    ],
)
def test_permanent_codes(code):
    assert rt.classify(api(code)) is rt.Transience.PERMANENT


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.UNAVAILABLE, rt.Transience.OUTCOME_UNKNOWN),
        (grpc.StatusCode.DEADLINE_EXCEEDED, rt.Transience.OUTCOME_UNKNOWN),
        (grpc.StatusCode.INTERNAL, rt.Transience.PERMANENT),
        (grpc.StatusCode.UNIMPLEMENTED, rt.Transience.PERMANENT),
        (grpc.StatusCode.UNAUTHENTICATED, rt.Transience.PERMANENT),
    ],
)
def test_classify_transport(code, kind):
    cls = e.TransportError
    if code is grpc.StatusCode.UNAVAILABLE:
        cls = e.UnavailableError
    elif code is grpc.StatusCode.DEADLINE_EXCEEDED:
        cls = e.DeadlineExceededError
    assert rt.classify(cls(code, "x", "GetTask")) is kind


def test_unsent_call_is_not_an_unknown_outcome():
    # the client's own deadline ran out before sending: the call surely did nothing
    err = e.DeadlineExceededError(
        grpc.StatusCode.DEADLINE_EXCEEDED, "budget", "PostTasks", sent=False
    )
    assert rt.classify(err) is not rt.Transience.OUTCOME_UNKNOWN


@pytest.mark.parametrize(
    "err",
    [
        e.ValidationError("x"),
        e.TaskgrpcError("x"),
        e.OutcomeUnknownError([], e.TaskgrpcError("x")),
    ],
)
def test_other_errors_are_permanent(err):
    assert rt.classify(err) is rt.Transience.PERMANENT


# --- TokenBucket -----------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(rt, "time", fake)
    return fake


def test_bucket_burst_then_paced(clock):
    bucket = rt.TokenBucket(10, burst=2)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == 0.0
    # out of tokens: each further call books the next free slot, 1/rate apart
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)


def test_bucket_refills_with_time(clock):
    bucket = rt.TokenBucket(10, burst=2)
    for _ in range(4):
        bucket.reserve()  # tokens now -2
    clock.advance(0.35)  # +3.5 tokens -> 1.5
    assert bucket.reserve() == 0.0  # -> 0.5
    assert bucket.reserve() == pytest.approx(0.05)  # -> -0.5: half a token at 10/s


def test_bucket_never_saves_more_than_burst(clock):
    bucket = rt.TokenBucket(5, burst=3)
    clock.advance(3600)
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.2])


@pytest.mark.parametrize(("rate", "burst"), [(5, 1.0), (10, 1.0), (100, 10.0), (1000, 100.0)])
def test_bucket_default_burst(rate, burst):
    assert rt.TokenBucket(rate).burst == burst


@pytest.mark.parametrize("rate", [0, -1, True, "10", None, float("nan")])
def test_bucket_rate_validation(rate):
    with pytest.raises(ValidationError, match="max_rps"):
        rt.TokenBucket(rate)


def test_bucket_is_thread_safe(clock):
    rate, burst, threads, each = 100.0, 5.0, 8, 50
    bucket = rt.TokenBucket(rate, burst=burst)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker():
        start.wait()
        got = [bucket.reserve() for _ in range(each)]
        with lock:
            waits.extend(got)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    total = threads * each
    # with time frozen, the n-th reservation past the burst waits exactly n/rate: no slot twice
    expected = [0.0] * int(burst) + [k / rate for k in range(1, total - int(burst) + 1)]
    assert sorted(waits) == pytest.approx(expected)


def test_bucket_pickles(clock):
    bucket = rt.TokenBucket(20, burst=4)
    bucket.reserve()
    back = pickle.loads(pickle.dumps(bucket))
    assert (back.rate, back.burst) == (20.0, 4.0)
    # a fresh bucket: its burst is available again
    assert [back.reserve() for _ in range(5)] == pytest.approx([0, 0, 0, 0, 0.05])


def test_bucket_takes_no_token_it_cannot_use_before_the_deadline(clock):
    bucket = rt.TokenBucket(10, burst=1)
    assert bucket.reserve(deadline=clock.now + 1) == 0.0
    # the next token is 0.1 s away: past a deadline 0.05 s away, so nothing is taken
    for _ in range(1000):
        assert bucket.reserve(deadline=clock.now + 0.05) is None
    assert bucket.level == pytest.approx(0.0)
    assert bucket.reserve(deadline=clock.now + 1) == pytest.approx(0.1)


def test_bucket_given_back_tokens_serve_the_next_caller(clock):
    bucket = rt.TokenBucket(10, burst=1)
    waits = [bucket.reserve() for _ in range(50)]  # 4.9 s of booked tokens
    assert waits[-1] == pytest.approx(4.9)
    for _ in range(49):
        bucket.give_back()  # the waiters gave up
    assert bucket.level == pytest.approx(0.0)
    clock.advance(0.1)
    assert bucket.reserve() == 0.0  # an idle client serves at once


def test_bucket_give_back_never_saves_more_than_burst(clock):
    bucket = rt.TokenBucket(10, burst=2)
    for _ in range(5):
        bucket.give_back()
    assert bucket.level == 2.0
