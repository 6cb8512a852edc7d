"""fusebox.HedgePolicy: hedged asyncio calls through a breaker, paid from a
RetryBudget; the Prometheus text of hedge and retry policies.

The delays are waited out by a timer the test releases by hand (moving a
ManualClock); the test steps with asyncio events, never with time."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

import pytest
from prometheus_client.parser import text_string_to_metric_families

import fusebox
from conftest import Boom


async def settle() -> None:
    """Let the event loop run what is ready (no time passes)."""
    for _ in range(10):
        await asyncio.sleep(0)


class Timer:
    """An injectable sleep: each wait is held until ``fire()`` moves the
    clock by it and ends it."""

    def __init__(self, clock: fusebox.ManualClock) -> None:
        self.clock = clock
        self.waits: list[tuple[float, asyncio.Future[None]]] = []
        self.armed = asyncio.Event()

    async def sleep(self, s: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waits.append((s, fut))
        self.armed.set()
        await fut

    async def fire(self) -> float:
        """Wait for a delay to be armed, end it, and let the call go on."""
        await self.armed.wait()
        self.armed.clear()
        s, fut = self.waits.pop(0)
        self.clock.advance(s)
        fut.set_result(None)
        await settle()
        return s


class Attempts:
    """The dependency: attempt n (from 1) waits for ``release(n)``, then
    returns or raises what it was given; a cancelled one is noted."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.cancelled: list[int] = []
        self.gates: dict[int, asyncio.Future[Any]] = {}

    def gate(self, n: int) -> asyncio.Future[Any]:
        if n not in self.gates:
            self.gates[n] = asyncio.get_running_loop().create_future()
        return self.gates[n]

    def release(self, n: int, value: Any) -> None:
        gate = self.gate(n)
        if isinstance(value, BaseException):
            gate.set_exception(value)
        else:
            gate.set_result(value)

    async def __call__(self, key: str) -> Any:
        n = len(self.started) + 1
        self.started.append(n)
        try:
            return (await self.gate(n), key)
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise


def rig(
    clock: fusebox.ManualClock, budget: Optional[fusebox.RetryBudget] = None, **kw: Any
) -> tuple[fusebox.CircuitBreaker, fusebox.RetryBudget, fusebox.HedgePolicy, Timer]:
    breaker = fusebox.CircuitBreaker("search", clock=clock)
    budget = budget or fusebox.RetryBudget("search", clock=clock)
    timer = Timer(clock)
    policy = fusebox.HedgePolicy(name="search", sleep=timer.sleep, **kw)
    return breaker, budget, policy, timer


def samples(text: str) -> dict[str, float]:
    """The text parsed back: sample name (with its labels) → value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def test_the_hedge_wins_and_the_loser_is_cancelled(clock: fusebox.ManualClock) -> None:
    breaker, budget, policy, timer = rig(clock, delay=0.02, max_hedges=2)
    dep = Attempts()

    async def main() -> Any:
        call = asyncio.ensure_future(policy.call(breaker, budget, dep, "k"))
        assert await timer.fire() == 0.02
        assert dep.started == [1, 2]
        dep.release(2, "second")
        return await call

    assert asyncio.run(main()) == ("second", "k")
    assert dep.cancelled == [1]
    m = breaker.metrics()
    assert (m["successes"], m["failures"]) == (1, 0), "the loser is neither"
    pm = policy.metrics()
    assert (pm["calls"], pm["attempts"], pm["hedges"], pm["failed_calls"]) == (1, 2, 1, 0)
    assert budget.stats()["withdrawals"] == 1
    got = samples(policy.prometheus())
    assert got['fusebox_retry_hedges_total{retry="search"}'] == 1
    assert got['fusebox_retry_attempts_total{retry="search"}'] == 2
    assert got['fusebox_retry_calls_total{retry="search"}'] == 1
    assert got['fusebox_retry_retries_total{retry="search"}'] == 0


def test_a_quick_answer_starts_no_hedge(clock: fusebox.ManualClock) -> None:
    breaker, budget, policy, timer = rig(clock)
    dep = Attempts()

    async def main() -> Any:
        call = asyncio.ensure_future(policy.call(breaker, budget, dep, "k"))
        await timer.armed.wait()
        dep.release(1, "first")
        return await call

    assert asyncio.run(main()) == ("first", "k")
    assert dep.started == [1] and dep.cancelled == []
    assert timer.waits[0][1].cancelled(), "the delay is given up"
    assert policy.metrics()["hedges"] == 0
    assert budget.stats()["withdrawals"] == 0


def test_every_attempt_failing_raises_the_last_error(clock: fusebox.ManualClock) -> None:
    breaker, budget, policy, timer = rig(clock, delay=0.05)
    dep = Attempts()

    async def main() -> Any:
        call = asyncio.ensure_future(policy.call(breaker, budget, dep, "k"))
        await timer.fire()
        dep.release(2, Boom("second"))
        await settle()
        assert breaker.metrics()["failures"] == 1
        assert not call.done(), "attempt 1 still runs"
        dep.release(1, Boom("first"))
        return await call

    with pytest.raises(Boom, match="first"):
        asyncio.run(main())
    assert policy.metrics()["failed_calls"] == 1
    assert breaker.metrics()["failures"] == 2


def test_a_rejected_attempt_ends_the_call_when_nothing_else_runs(
    clock: fusebox.ManualClock,
) -> None:
    breaker, budget, policy, timer = rig(clock, max_hedges=3)
    breaker.force_open()
    dep = Attempts()
    with pytest.raises(fusebox.CircuitOpenError) as info:
        asyncio.run(policy.call(breaker, budget, dep, "k"))
    assert info.value.reason == "forced_open"
    assert dep.started == []
    assert budget.stats()["withdrawals"] == 0
    assert policy.metrics()["failed_calls"] == 1


def test_the_budget_refuses_the_hedge(clock: fusebox.ManualClock) -> None:
    empty = fusebox.RetryBudget("search", ratio=0.0, min_per_sec=0, clock=clock)
    breaker, budget, policy, timer = rig(clock, budget=empty, max_hedges=3)
    dep = Attempts()

    async def main() -> Any:
        call = asyncio.ensure_future(policy.call(breaker, budget, dep, "k"))
        await timer.fire()
        dep.release(1, "only")
        return await call

    assert asyncio.run(main()) == ("only", "k")
    assert dep.started == [1]
    assert timer.waits == [], "no more delays after a refusal"
    m = policy.metrics()
    assert (m["budget_refusals"], m["hedges"], m["attempts"]) == (1, 0, 1)


def test_cancelling_the_call_cancels_every_attempt(clock: fusebox.ManualClock) -> None:
    breaker, budget, policy, timer = rig(clock)
    dep = Attempts()

    async def main() -> None:
        call = asyncio.ensure_future(policy.call(breaker, budget, dep, "k"))
        await timer.fire()
        assert dep.started == [1, 2]
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(main())
    assert sorted(dep.cancelled) == [1, 2]
    m = breaker.metrics()
    assert (m["successes"], m["failures"]) == (0, 0)


def test_a_sleep_that_fails_ends_the_call_with_its_error(clock: fusebox.ManualClock) -> None:
    breaker, budget, policy, timer = rig(clock)
    dep = Attempts()

    async def broken(s: float) -> None:
        raise RuntimeError("no timers")

    policy.sleep = broken
    with pytest.raises(RuntimeError, match="no timers"):
        asyncio.run(policy.call(breaker, budget, dep, "k"))
    assert dep.cancelled == [1]
    m = breaker.metrics()
    assert (m["successes"], m["failures"]) == (0, 0)


def test_the_step_api(clock: fusebox.ManualClock) -> None:
    budget = fusebox.RetryBudget("s", clock=clock)
    policy = fusebox.HedgePolicy(delay=0.01, max_hedges=2)
    call, delay = policy.begin(budget)
    assert delay == 0.01
    assert call.due() == (2, 0.01)
    assert call.due() == (3, None)
    assert call.ended(3, "failed") == "wait"
    assert call.ended(1, "succeeded") == "answer"
    assert (call.answered_by, call.attempts, call.hedges, call.done) == (1, 3, 2, True)
    assert call.ended(2, "succeeded") == "wait", "after the end: nothing"
    with pytest.raises(ValueError, match="invalid end"):
        call.ended(1, "maybe")


@pytest.mark.parametrize(
    "kw, exc, needle",
    [
        ({"max_hedges": 0}, ValueError, "max_hedges"),
        ({"max_hedges": 11}, ValueError, "max_hedges"),
        ({"delay": 0}, ValueError, "delay"),
        ({"delay": -1.0}, ValueError, "delay"),
        ({"delay": "soon"}, TypeError, "delay"),
        ({"max_hedges": 1.5}, TypeError, "max_hedges"),
        ({"name": ""}, ValueError, "name"),
        ({"dealy": 0.1}, TypeError, "'dealy'"),
    ],
)
def test_bad_arguments(kw: dict[str, Any], exc: type[Exception], needle: str) -> None:
    with pytest.raises(exc, match=needle):
        fusebox.HedgePolicy(**kw)


def test_a_retry_policy_has_prometheus_text_too(clock: fusebox.ManualClock) -> None:
    breaker = fusebox.CircuitBreaker("db", clock=clock)
    budget = fusebox.RetryBudget("db", clock=clock)
    policy = fusebox.RetryPolicy(breaker, budget, max_attempts=2, sleep=clock.advance)

    def boom() -> None:
        raise Boom()

    with pytest.raises(Boom):
        policy.call(boom)
    got = samples(policy.prometheus())
    assert got['fusebox_retry_calls_total{retry="db"}'] == 1
    assert got['fusebox_retry_attempts_total{retry="db"}'] == 2
    assert got['fusebox_retry_retries_total{retry="db"}'] == 1
    assert got['fusebox_retry_failed_calls_total{retry="db"}'] == 1
