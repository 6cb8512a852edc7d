"""Hedging's Python part: the asyncio loop that runs a hedged call.

Every decision is the core's, through ``HedgeCall`` (``policy.begin()``):
when a hedge starts, whether the budget pays for it, which attempt's answer
the caller gets and when the call fails. This loop only runs the attempts
(asyncio tasks, each through the breaker), waits out the delays, and
``cancel()``s the losers, which the breaker ends as cancelled calls.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Optional, TypeVar

from ._errors import CircuitOpenError
from ._fusebox import NativeHedgePolicy

T = TypeVar("T")


class HedgePolicy(NativeHedgePolicy):
    """Hedged calls: if an attempt has not answered ``delay`` seconds
    after it started, another one starts (up to ``max_hedges``, each paid
    from the ``RetryBudget``); the first success wins and the other
    attempts are cancelled.

    ``HedgePolicy(*, delay=0.05, max_hedges=1, name='hedge',
    histogram=None, quantile=0.95, sleep=asyncio.sleep)``. With
    ``histogram`` (a ``LatencyHistogram``, e.g. the one the breaker records
    into: ``CircuitBreaker(..., latency_histogram=h)``) the delay is its
    ``quantile`` (the P95 by default) as each hedge is armed, and ``delay``
    is the wait while it is empty. ``sleep`` waits out a delay (tests pass
    one they release by hand); if it raises, the call ends with its error
    and the attempts are cancelled.

    >>> import asyncio, fusebox
    >>> breaker = fusebox.CircuitBreaker("search")
    >>> budget = fusebox.RetryBudget("search")
    >>> hedge = fusebox.HedgePolicy(delay=0.01, name="search")
    >>> async def lookup(key):
    ...     return key.upper()
    >>> asyncio.run(hedge.call(breaker, budget, lookup, "abc"))
    'ABC'
    >>> hedge.metrics()["calls"]
    1

    Hedging after the dependency's P95, learnt from the breaker's calls:

    >>> latencies = fusebox.LatencyHistogram()
    >>> breaker = fusebox.CircuitBreaker("search", latency_histogram=latencies)
    >>> hedge = fusebox.HedgePolicy(histogram=latencies, delay=0.05, name="search")
    >>> asyncio.run(hedge.call(breaker, budget, lookup, "abc"))
    'ABC'
    >>> latencies.count
    1
    """

    def __init__(
        self,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        **_config: Any,
    ) -> None:
        self.sleep = sleep

    async def call(
        self,
        breaker: Any,
        budget: Any,
        func: Callable[..., Awaitable[T]],
        /,
        *args: Any,
        **kwargs: Any,
    ) -> T:
        """Await ``func(*args, **kwargs)`` through ``breaker``, hedged:
        the first success is returned; when every attempt has failed, the
        last one's error is raised (the attempt's, or the breaker's
        ``CircuitOpenError``)."""

        async def attempt() -> T:
            async with breaker:
                return await func(*args, **kwargs)

        call, delay = self.begin(budget)
        running: dict[asyncio.Future[Any], int] = {asyncio.ensure_future(attempt()): 1}
        timer: Optional[asyncio.Future[Any]] = None
        if delay is not None:
            timer = asyncio.ensure_future(self.sleep(delay))
        try:
            while True:
                waiting = set(running) | ({timer} if timer is not None else set())
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                # The attempts that ended, in the order they started.
                for task in sorted(done - {timer}, key=running.__getitem__):
                    n = running.pop(task)
                    exc = task.exception()
                    if exc is None:
                        end = "succeeded"
                    elif isinstance(exc, CircuitOpenError) and exc.breaker == breaker.name:
                        end = "rejected"
                    else:
                        end = "failed"
                    verdict = call.ended(n, end)
                    if verdict == "answer":
                        return task.result()  # type: ignore[no-any-return]
                    if verdict == "fail":
                        assert exc is not None
                        raise exc
                if timer is not None and timer in done:
                    # A sleep that failed ends the call with its error.
                    timer.result()
                    timer = None
                    n_next, delay = call.due()
                    if n_next is not None:
                        running[asyncio.ensure_future(attempt())] = n_next
                    if delay is not None:
                        timer = asyncio.ensure_future(self.sleep(delay))
        finally:
            if timer is not None:
                timer.cancel()
            # The losers: cancelled, and awaited so that the breaker has
            # ended them when the call returns.
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
