"""The ``cancellation`` setting: an async call cancelled before it ended
(``asyncio.CancelledError``, or its coroutine closed) is ended as the
setting says, by the core (``Breaker::cancel_raw``): ``'slow_if_overdue'``
(default: nothing, or one slow call once past ``slow_call_duration``),
``'release'`` (nothing), ``'failure'``. A manual clock moves time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import fusebox


def run_cancelled(b: fusebox.CircuitBreaker, clock: fusebox.ManualClock, style: str,
                  ran_for: float) -> None:
    """Start one async call through ``b``, let it run ``ran_for`` seconds (on
    the manual clock), then cancel it."""
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    async def through_breaker() -> Any:
        if style == "decorator":
            return await b(hang)()
        async with b:
            return await hang()

    async def main() -> None:
        task = asyncio.ensure_future(through_breaker())
        await started.wait()
        clock.advance(ran_for)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


@pytest.mark.parametrize("style", ["decorator", "async with"])
@pytest.mark.parametrize(
    ("policy", "ran_for", "slow", "failures", "calls"),
    [
        ("slow_if_overdue", 1.0, 0, 0, 0),  # given up quickly: nothing
        ("slow_if_overdue", 3.0, 1, 0, 1),  # a hung call given up: one slow call
        ("release", 3.0, 0, 0, 0),
        ("failure", 1.0, 0, 1, 1),
    ],
)
def test_a_cancelled_call_counts_as_the_setting_says(
    clock: fusebox.ManualClock, style: str, policy: str, ran_for: float, slow: int,
    failures: int, calls: int,
) -> None:
    b = fusebox.CircuitBreaker("api", clock=clock, slow_call_duration=2.0,
                               cancellation=policy)  # type: ignore[arg-type]
    run_cancelled(b, clock, style, ran_for)
    m = b.metrics()
    assert (m["slow"], m["failures"], m["window_calls"]) == (slow, failures, calls)
    assert m["successes"] == slow  # a slow cancelled call is a slow success in the totals


def test_a_cancelled_probe_gives_its_slot_back(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("api", clock=clock, half_open_max_calls=1,
                               success_threshold=1, slow_call_duration=2.0)
    b.open_for(0)
    run_cancelled(b, clock, "decorator", 3.0)
    assert b.state == "half_open"
    p = b.acquire()  # the one probe slot is free again
    assert p.is_probe
    p.success()
    assert b.state == "closed"


def test_keyboard_interrupt_is_a_cancellation(clock: fusebox.ManualClock) -> None:
    # Any BaseException that is not an Exception ends the call as the
    # `cancellation` setting says (docs/semantics.md#cancelled-calls): with
    # "failure", a failure; with the default, nothing.
    b = fusebox.CircuitBreaker("api", clock=clock, cancellation="failure")
    p = b.acquire()
    p.finish(KeyboardInterrupt())
    assert b.metrics()["failures"] == 1 and not p.pending
    d = fusebox.CircuitBreaker("api2", clock=clock)
    q = d.acquire()
    q.finish(KeyboardInterrupt())
    m = d.metrics()
    assert (m["failures"], m["successes"], m["ignored"]) == (0, 0, 0) and not q.pending
