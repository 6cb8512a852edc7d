"""fusebox.RetryPolicy and fusebox.RetryBudget: sync and async calls, the
decorator, the budget, the breaker's rejections, retry-after, bad input.
Back-offs move a ManualClock; nothing sleeps."""

from __future__ import annotations

import asyncio

import pytest

import fusebox
from conftest import Boom, NotFound


def rig(
    clock: fusebox.ManualClock, **kw: object
) -> tuple[fusebox.CircuitBreaker, fusebox.RetryBudget, list[float]]:
    breaker = fusebox.CircuitBreaker("dep", clock=clock, consecutive_failures=None)
    budget = fusebox.RetryBudget("dep", clock=clock, **kw)  # type: ignore[arg-type]
    return breaker, budget, []


def test_sync_call_retries_then_succeeds(clock: fusebox.ManualClock) -> None:
    breaker, budget, waits = rig(clock)

    def sleep(s: float) -> None:
        waits.append(s)
        clock.advance(s)

    policy = fusebox.RetryPolicy(
        breaker, budget, max_attempts=4, base_backoff=0.1, jitter=False, sleep=sleep
    )
    tries = []

    def flaky(x: int) -> int:
        tries.append(x)
        if len(tries) < 3:
            raise Boom()
        return x * 2

    assert policy.call(flaky, 21) == 42
    assert waits == [0.1, 0.2]
    assert breaker.metrics()["failures"] == 2
    assert breaker.metrics()["successes"] == 1
    m = policy.metrics()
    assert (m["calls"], m["attempts"], m["retries"], m["failed_calls"]) == (1, 3, 2, 0)
    assert budget.stats()["withdrawals"] == 2


def test_the_last_error_is_raised_after_max_attempts(clock: fusebox.ManualClock) -> None:
    breaker, budget, _ = rig(clock)
    ended: list[fusebox.RetryCall] = []
    policy = fusebox.RetryPolicy(
        breaker, budget, max_attempts=3, sleep=clock.advance, on_end=ended.append
    )

    def down() -> None:
        raise Boom()

    with pytest.raises(Boom):
        policy.call(down)
    (call,) = ended
    assert (call.attempt, call.retries, call.stop) == (3, 2, "max_attempts")


def test_not_retryable_errors_end_the_call(clock: fusebox.ManualClock) -> None:
    breaker, budget, _ = rig(clock)
    policy = fusebox.RetryPolicy(breaker, budget, retry_on=(Boom,), sleep=clock.advance)

    def missing() -> None:
        raise NotFound()

    with pytest.raises(NotFound):
        policy.call(missing)
    assert policy.metrics()["attempts"] == 1


def test_the_budget_refuses_retries(clock: fusebox.ManualClock) -> None:
    breaker, budget, _ = rig(clock, ratio=0.5, min_per_sec=0)
    policy = fusebox.RetryPolicy(breaker, budget, max_attempts=3, sleep=clock.advance)

    def down() -> None:
        raise Boom()

    for _ in range(4):
        with pytest.raises(Boom):
            policy.call(down)
    # 4 requests at 50 %: 2 retries in all; every call ended on a refusal.
    s = budget.stats()
    assert (s["deposits"], s["withdrawals"]) == (4, 2)
    assert policy.metrics()["budget_refusals"] == 4
    text = budget.prometheus()
    assert 'fusebox_retry_budget_withdrawals_total{budget="dep"} 2\n' in text


def test_a_forced_open_breaker_is_not_retried(clock: fusebox.ManualClock) -> None:
    breaker, budget, _ = rig(clock)
    policy = fusebox.RetryPolicy(breaker, budget, sleep=clock.advance)
    breaker.force_open()
    ran = []
    with pytest.raises(fusebox.CircuitOpenError):
        policy.call(lambda: ran.append(1))
    assert ran == []
    assert policy.metrics()["attempts"] == 1


def test_retry_after_is_waited_and_capped(clock: fusebox.ManualClock) -> None:
    breaker, budget, waits = rig(clock)

    def sleep(s: float) -> None:
        waits.append(s)
        clock.advance(s)

    class Busy(Exception):
        def __init__(self, after: float) -> None:
            super().__init__(after)
            self.after = after

    policy = fusebox.RetryPolicy(
        breaker,
        budget,
        base_backoff=0.001,
        max_backoff=0.001,
        retry_after_cap=5.0,
        classify=lambda e: e.after if isinstance(e, Busy) else "stop",
        sleep=sleep,
    )
    tries = []

    def busy_once() -> str:
        tries.append(1)
        if len(tries) == 1:
            raise Busy(2.0)
        return "ok"

    assert policy.call(busy_once) == "ok"
    assert waits == [2.0]

    def too_busy() -> None:
        raise Busy(6.0)

    with pytest.raises(Busy):
        policy.call(too_busy)
    assert waits == [2.0]


def test_async_calls_and_the_decorator(clock: fusebox.ManualClock) -> None:
    breaker, budget, waits = rig(clock)

    async def sleep(s: float) -> None:
        waits.append(s)
        clock.advance(s)

    policy = fusebox.RetryPolicy(
        breaker, budget, base_backoff=0.05, jitter=False, async_sleep=sleep, sleep=clock.advance
    )
    tries = []

    @policy
    async def flaky() -> str:
        tries.append(1)
        if len(tries) < 2:
            raise Boom()
        return "ok"

    assert asyncio.run(flaky()) == "ok"
    assert waits == [0.05]
    assert breaker.metrics()["failures"] == 1

    @policy
    def plain(x: int) -> int:
        return x + 1

    assert plain(1) == 2
    assert policy.metrics()["calls"] == 2


def test_jitter_stays_under_the_cap(clock: fusebox.ManualClock) -> None:
    breaker, budget, _ = rig(clock)
    policy = fusebox.RetryPolicy(breaker, budget, base_backoff=0.1, max_backoff=0.4, seed=7)
    draws = [policy.backoff(3) for _ in range(200)]
    assert all(0 <= d <= 0.4 for d in draws)
    assert min(draws) < 0.1 and max(draws) > 0.3


def test_bad_arguments_name_the_argument(clock: fusebox.ManualClock) -> None:
    breaker, budget, _ = rig(clock)
    with pytest.raises(ValueError, match="max_attempts"):
        fusebox.RetryPolicy(breaker, budget, max_attempts=0)
    with pytest.raises(ValueError, match="base_backoff"):
        fusebox.RetryPolicy(breaker, budget, base_backoff=0)
    with pytest.raises(ValueError, match="min_attempt"):
        fusebox.RetryPolicy(breaker, budget, deadline=1.0, min_attempt=2.0)
    with pytest.raises(ValueError, match="ratio"):
        fusebox.RetryBudget("b", ratio=11)
    with pytest.raises(ValueError, match="window"):
        fusebox.RetryBudget("b", window=0.01)
    with pytest.raises(ValueError, match="name"):
        fusebox.RetryBudget("")
    call = fusebox.RetryPolicy(breaker, budget).begin()
    with pytest.raises(ValueError, match="verdict"):
        call.failed("maybe")
    with pytest.raises(ValueError, match="reason"):
        call.rejected("closed")


def test_a_misspelt_keyword_is_a_type_error(clock: fusebox.ManualClock) -> None:
    breaker = fusebox.CircuitBreaker("misspelt", clock=clock)
    budget = fusebox.RetryBudget(clock=clock)
    with pytest.raises(TypeError, match="'max_atempts'"):
        fusebox.RetryPolicy(breaker, budget, max_atempts=3)
    # The Python part's own keywords still pass.
    fusebox.RetryPolicy(breaker, budget, retry_on=(OSError,), sleep=lambda s: None)
