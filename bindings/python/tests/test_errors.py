"""CircuitOpenError, and bad arguments."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest

import fusebox
from conftest import Boom


def open_breaker(clock: fusebox.ManualClock) -> fusebox.CircuitBreaker:
    b = fusebox.CircuitBreaker("inventory:get", clock=clock, consecutive_failures=1,
                               open_timeout=30.0)
    with pytest.raises(Boom):
        with b:
            raise Boom()
    assert b.state == "open"
    return b


def test_circuit_open_error(clock: fusebox.ManualClock) -> None:
    b = open_breaker(clock)
    clock.advance(10.0)
    with pytest.raises(fusebox.CircuitOpenError) as info:
        b.call(lambda: None)
    e = info.value
    assert isinstance(e, fusebox.FuseboxError)
    assert isinstance(e, Exception)
    assert e.breaker == "inventory:get"
    assert e.reason == "open"
    assert e.retry_after == pytest.approx(20.0, abs=1e-3)
    assert "inventory:get" in str(e) and "20.000" in str(e)
    copy = pickle.loads(pickle.dumps(e))
    assert (copy.breaker, copy.retry_after, copy.reason) == (e.breaker, e.retry_after, e.reason)


def test_a_new_exception_on_every_rejection(clock: fusebox.ManualClock) -> None:
    b = open_breaker(clock)
    g = b(lambda: None)
    seen: list[fusebox.CircuitOpenError] = []
    for _ in range(5):
        try:
            g()
        except fusebox.CircuitOpenError as rejected:
            seen.append(rejected)
    assert len({id(e) for e in seen}) == 5
    # Tracebacks do not pile up: each has only the frames of its own raise.
    depths = []
    for e in seen:
        n, tb = 0, e.__traceback__
        while tb is not None:
            n, tb = n + 1, tb.tb_next
        depths.append(n)
    assert depths == [depths[0]] * 5 and depths[0] <= 2
    assert b.metrics()["rejected"] == 5


def test_retry_after_is_none_when_unknown(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("x", clock=clock)
    b.force_open()
    with pytest.raises(fusebox.CircuitOpenError) as info:
        b.call(lambda: None)
    assert info.value.retry_after is None
    assert info.value.reason == "forced_open"
    assert "forced open" in str(info.value)


BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"failure_rate_threshold": 0}, ValueError, "failure_rate_threshold"),
    ({"failure_rate_threshold": 1.5}, ValueError, "failure_rate_threshold"),
    ({"failure_rate_threshold": math.nan}, ValueError, "failure_rate_threshold"),
    ({"failure_rate_threshold": "0.5"}, TypeError, "failure_rate_threshold"),
    ({"consecutive_failures": 0}, ValueError, "consecutive_failures"),
    ({"consecutive_failures": -1}, ValueError, "consecutive_failures"),
    ({"consecutive_failures": 2.5}, TypeError, "consecutive_failures"),
    ({"min_calls": 0}, ValueError, "min_calls"),
    ({"min_calls": 2**70}, ValueError, "min_calls"),
    ({"min_calls": True}, TypeError, "min_calls"),
    ({"window": 0}, ValueError, "window"),
    ({"window": -1.0}, ValueError, "window"),
    ({"window": math.inf}, ValueError, "window"),
    ({"window_buckets": 0}, ValueError, "window_buckets"),
    ({"window_buckets": 5000}, ValueError, "window_buckets"),
    ({"window": 0.001, "window_buckets": 10}, ValueError, "window_buckets"),
    ({"count_window": 0}, ValueError, "count_window"),
    ({"count_window": 10, "window": 5.0}, ValueError, "count_window"),
    ({"open_timeout": -1}, ValueError, "open_timeout"),
    ({"open_timeout": math.nan}, ValueError, "open_timeout"),
    ({"open_timeout": None}, TypeError, "open_timeout"),
    ({"backoff_multiplier": 0.5, "backoff_max": 60.0}, ValueError, "backoff_multiplier"),
    ({"backoff_multiplier": 2.0}, ValueError, "backoff_max"),
    ({"backoff_multiplier": 2.0, "backoff_max": 1.0}, ValueError, "backoff_max"),
    ({"jitter": 2.0}, ValueError, "jitter"),
    ({"half_open_max_calls": 0}, ValueError, "half_open_max_calls"),
    ({"success_threshold": 5}, ValueError, "success_threshold"),
    ({"half_open_max_wait": 0}, ValueError, "half_open_max_wait"),
    ({"slow_call_duration": -0.5}, ValueError, "slow_call_duration"),
    ({"slow_call_rate_threshold": 0}, ValueError, "slow_call_rate_threshold"),
    ({"bogus": 1}, TypeError, "bogus"),
    ({"clock": object()}, TypeError, "clock"),
    ({"exclude": [42]}, TypeError, "exclude"),
    ({"exclude": [int]}, TypeError, "exclude"),
    ({"exclude": 42}, TypeError, "exclude"),
]


@pytest.mark.parametrize("kwargs,exc,name", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_arguments_name_the_argument(kwargs: dict[str, Any], exc: type[Exception],
                                         name: str) -> None:
    with pytest.raises(exc, match=name):
        fusebox.CircuitBreaker("svc", **kwargs)


def test_bad_names() -> None:
    with pytest.raises(TypeError, match="name"):
        fusebox.CircuitBreaker(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        fusebox.CircuitBreaker("")
    with pytest.raises(ValueError, match="name"):
        fusebox.CircuitBreaker("x" * 300)
    with pytest.raises(TypeError):
        fusebox.CircuitBreaker()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        fusebox.CircuitBreaker("svc", 0.5)  # type: ignore[arg-type, misc]


def test_good_arguments_are_kept() -> None:
    b = fusebox.CircuitBreaker(
        "svc", failure_rate_threshold=0.25, consecutive_failures=None, min_calls=20,
        window=60, window_buckets=12, open_timeout=45.5, backoff_multiplier=2,
        backoff_max=300, jitter=0.1, half_open_max_calls=5, success_threshold=4,
        half_open_max_wait=90, slow_call_duration=2.5, slow_call_rate_threshold=0.8,
        max_open_for=120, cancellation="failure",
    )
    c = b.config()
    assert c == {
        "failure_rate_threshold": 0.25, "consecutive_failures": None, "min_calls": 20,
        "window": 60.0, "window_buckets": 12, "count_window": None, "open_timeout": 45.5,
        "backoff_multiplier": 2.0, "backoff_max": 300.0, "jitter": 0.1,
        "half_open_max_calls": 5, "success_threshold": 4, "half_open_max_wait": 90.0,
        "slow_call_duration": 2.5, "slow_call_rate_threshold": 0.8,
        "max_open_for": 120.0, "cancellation": "failure",
    }
    d = fusebox.CircuitBreaker("d").config()
    assert (d["failure_rate_threshold"], d["consecutive_failures"], d["min_calls"],
            d["window"], d["open_timeout"], d["half_open_max_calls"],
            d["success_threshold"], d["slow_call_duration"]) == (0.5, 5, 10, 10.0, 30.0, 3, 3, None)
    assert (d["max_open_for"], d["cancellation"]) == (300.0, "slow_if_overdue")
    assert fusebox.CircuitBreaker("c", count_window=50).config()["count_window"] == 50


def test_other_bad_inputs(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("svc", clock=clock)
    with pytest.raises(TypeError, match="callback"):
        b.on_state_change(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seconds"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="seconds"):
        clock.advance(math.nan)
    with pytest.raises(TypeError, match="seconds"):
        clock.advance("1")  # type: ignore[arg-type]
    p = b.acquire()
    with pytest.raises(ValueError, match="duration"):
        p.success(duration=-1)
    with pytest.raises(TypeError, match="duration"):
        p.success(duration="1")  # type: ignore[arg-type]
    p.success()
    with pytest.raises(RuntimeError, match="already"):
        p.failure()
    with pytest.raises(ValueError, match="timeout"):
        fusebox.flush_events(timeout=-1)
    with pytest.raises(TypeError):
        b.call()  # type: ignore[call-arg]
