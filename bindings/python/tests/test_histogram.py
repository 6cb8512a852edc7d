"""fusebox.LatencyHistogram: fed by a breaker's calls (through its fastest
paths too), read as quantiles, and the delay of a HedgePolicy made with
``histogram=``: the fallback while it is empty, the P95 after. Time moves
only on a ManualClock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import fusebox
from test_hedge import Attempts, Timer


def test_an_empty_histogram_has_no_quantile(clock: fusebox.ManualClock) -> None:
    h = fusebox.LatencyHistogram(clock=clock)
    assert h.count == 0
    assert h.quantile(0.95) is None
    h.record(0.02)
    assert h.count == 1
    q = h.quantile(0.95)
    assert q is not None and abs(q / 0.02 - 1) < 0.02
    clock.advance(11.0)
    assert h.count == 0, "out of the 10 s window"


def test_a_breaker_records_every_call_into_its_histogram(clock: fusebox.ManualClock) -> None:
    h = fusebox.LatencyHistogram(clock=clock)
    breaker = fusebox.CircuitBreaker("search", clock=clock, latency_histogram=h)

    @breaker
    def work(ms: int) -> int:
        clock.advance(ms / 1000)
        return ms

    # The decorator: the fastest path (a closed breaker's calls that would
    # skip the core without a histogram).
    for ms in range(1, 51):
        assert work(ms) == ms
    # The context manager and an explicit permit.
    for ms in range(51, 101):
        if ms % 2:
            with breaker:
                clock.advance(ms / 1000)
        else:
            p = breaker.acquire()
            clock.advance(ms / 1000)
            p.success()
    assert h.count == 100
    p95, p50 = h.quantile(0.95), h.quantile(0.5)
    assert p95 is not None and abs(p95 / 0.095 - 1) < 0.02, p95
    assert p50 is not None and abs(p50 / 0.050 - 1) < 0.02, p50
    assert breaker.metrics()["successes"] == 100


def test_an_async_call_records_too(clock: fusebox.ManualClock) -> None:
    h = fusebox.LatencyHistogram(clock=clock)
    breaker = fusebox.CircuitBreaker("search", clock=clock, latency_histogram=h)

    @breaker
    async def work() -> None:
        clock.advance(0.03)

    asyncio.run(work())
    assert h.count == 1
    q = h.quantile(1.0)
    assert q is not None and abs(q / 0.03 - 1) < 0.02


def test_the_hedge_delay_is_the_fallback_then_the_p95(clock: fusebox.ManualClock) -> None:
    h = fusebox.LatencyHistogram(clock=clock)
    breaker = fusebox.CircuitBreaker("search", clock=clock)
    budget = fusebox.RetryBudget("search", clock=clock)
    timer = Timer(clock)
    policy = fusebox.HedgePolicy(name="search", delay=0.03, histogram=h, quantile=0.95, sleep=timer.sleep)

    async def one_call() -> tuple[float, Any]:
        dep = Attempts()
        call = asyncio.ensure_future(policy.call(breaker, budget, dep, "k"))
        waited = await timer.fire()
        assert dep.started == [1, 2]
        dep.release(2, "second")
        return waited, await call

    async def main() -> None:
        # Empty: the fallback.
        assert await one_call() == (0.03, ("second", "k"))
        for ms in range(1, 101):
            h.record(ms / 1000)
        waited, got = await one_call()
        assert got == ("second", "k")
        assert abs(waited / 0.095 - 1) < 0.02, waited
        # The step API reads the same delay.
        _, delay = policy.begin(budget)
        assert delay == waited

    asyncio.run(main())
    assert policy.metrics()["hedges"] == 2


def test_the_default_quantile_is_the_p95(clock: fusebox.ManualClock) -> None:
    h = fusebox.LatencyHistogram(clock=clock)
    for ms in range(1, 101):
        h.record(ms / 1000)
    budget = fusebox.RetryBudget("s", clock=clock)
    _, delay = fusebox.HedgePolicy(histogram=h).begin(budget)
    assert delay == h.quantile(0.95)
    _, delay = fusebox.HedgePolicy(histogram=h, quantile=0.5).begin(budget)
    assert delay == h.quantile(0.5)
    _, delay = fusebox.HedgePolicy(histogram=fusebox.LatencyHistogram(clock=clock)).begin(budget)
    assert delay == 0.05, "the default fallback"


@pytest.mark.parametrize(
    "kw, exc, needle",
    [
        ({"quantile": 0}, ValueError, "quantile"),
        ({"quantile": 1.5}, ValueError, "quantile"),
        ({"quantile": float("nan")}, ValueError, "quantile"),
        ({"quantile": "p95"}, TypeError, "quantile"),
        ({"delay": 0}, ValueError, "delay"),
    ],
)
def test_bad_quantile_delays(kw: dict[str, Any], exc: type[Exception], needle: str) -> None:
    with pytest.raises(exc, match=needle):
        fusebox.HedgePolicy(histogram=fusebox.LatencyHistogram(), **kw)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="needs histogram="):
        fusebox.HedgePolicy(quantile=0.9)
    with pytest.raises(TypeError, match="histogram must be a fusebox.LatencyHistogram"):
        fusebox.HedgePolicy(histogram=object())
    with pytest.raises(TypeError, match="latency_histogram must be a fusebox.LatencyHistogram"):
        fusebox.CircuitBreaker("x", latency_histogram=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="clock must be"):
        fusebox.LatencyHistogram(clock="now")  # type: ignore[arg-type]
    h = fusebox.LatencyHistogram()
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds"):
            h.record(bad)
    with pytest.raises(TypeError, match="seconds must be a number"):
        h.record("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="q must be a number"):
        h.quantile(None)  # type: ignore[arg-type]
    assert h.count == 0
