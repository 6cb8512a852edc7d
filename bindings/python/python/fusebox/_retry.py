"""Retries' Python part: the loops that run the attempts, sync and async.

Every decision is the core's, through ``RetryCall`` (``policy.begin()``):
whether to retry, how long to wait, the deadline, the budget. These loops
only run the attempt through the breaker, ask the classifier, and sleep.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from typing import Any, Awaitable, Callable, Optional, TypeVar, Union

from ._errors import CircuitOpenError
from ._fusebox import NativeRetryPolicy, RetryCall

T = TypeVar("T")

#: What a classifier says of an exception: ``'retry'``, ``'stop'``, or the
#: seconds the server asked to wait (a ``Retry-After``).
Verdict = Union[str, float]


class RetryPolicy(NativeRetryPolicy):
    """Retries through a breaker, paid from a ``RetryBudget``.

    ``RetryPolicy(breaker, budget, *, max_attempts=3, base_backoff=0.05,
    max_backoff=5.0, deadline=None, min_attempt=0.0, retry_after_cap=30.0,
    jitter=True, seed=None, name=None, retry_on=(Exception,),
    classify=None, sleep=time.sleep, async_sleep=asyncio.sleep,
    on_end=None)``.
    Durations are in seconds. ``classify(exc)`` returns ``'retry'``,
    ``'stop'`` or a float (the server's retry-after); without it an
    exception is retried when it is one of ``retry_on``. ``sleep`` and
    ``async_sleep`` wait out a back-off (tests pass a ManualClock's).
    ``on_end(call)`` sees each logical call's ``RetryCall`` when it ends
    (``attempt``, ``retries``, ``rejections``, ``slept``, ``stop``).

    >>> import fusebox
    >>> clock = fusebox.ManualClock()
    >>> breaker = fusebox.CircuitBreaker("db", clock=clock)
    >>> budget = fusebox.RetryBudget("db", clock=clock)
    >>> policy = fusebox.RetryPolicy(breaker, budget, max_attempts=3, sleep=clock.advance)
    >>> tries = []
    >>> def flaky():
    ...     tries.append(1)
    ...     if len(tries) < 3:
    ...         raise ConnectionError("reset")
    ...     return "ok"
    >>> policy.call(flaky)
    'ok'
    >>> policy.metrics()["retries"]
    2
    """

    def __init__(
        self,
        breaker: Any,
        budget: Any,
        *,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        classify: Optional[Callable[[BaseException], Verdict]] = None,
        sleep: Callable[[float], object] = time.sleep,
        async_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        on_end: Optional[Callable[[RetryCall], object]] = None,
        **_config: Any,
    ) -> None:
        self.retry_on = tuple(retry_on)
        self.classify = classify
        self.sleep = sleep
        self.async_sleep = async_sleep
        self.on_end = on_end

    def _end(self, call: RetryCall) -> None:
        if self.on_end is not None:
            self.on_end(call)

    def _next(self, call: RetryCall, exc: BaseException) -> Optional[float]:
        """The wait before the next attempt, or None: the call ends."""
        if isinstance(exc, CircuitOpenError) and exc.breaker == self.breaker.name:
            return call.rejected(exc.reason, exc.retry_after)
        if self.classify is not None:
            verdict = self.classify(exc)
        else:
            verdict = "retry" if isinstance(exc, self.retry_on) else "stop"
        if isinstance(verdict, str):
            return call.failed(verdict)
        return call.failed("retry_after", verdict)

    def call(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``func(*args, **kwargs)`` through the breaker until it
        succeeds or the policy stops; then raise the last error (the
        attempt's, or the breaker's ``CircuitOpenError``)."""
        call = self.begin()
        breaker = self.breaker
        while True:
            try:
                result = breaker.call(func, *args, **kwargs)
            except Exception as exc:
                wait = self._next(call, exc)
                if wait is None:
                    self._end(call)
                    raise
            else:
                call.succeeded()
                self._end(call)
                return result
            self.sleep(wait)

    async def call_async(
        self, func: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
    ) -> T:
        """As ``call``, awaiting ``func(*args, **kwargs)`` and the back-off
        (``async_sleep``, ``asyncio.sleep`` by default)."""
        call = self.begin()
        breaker = self.breaker
        while True:
            try:
                async with breaker:
                    result = await func(*args, **kwargs)
            except Exception as exc:
                wait = self._next(call, exc)
                if wait is None:
                    self._end(call)
                    raise
            else:
                call.succeeded()
                self._end(call)
                return result
            await self.async_sleep(wait)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate ``func`` (sync or ``async def``) to run through
        ``call`` / ``call_async``."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def retried(*args: Any, **kwargs: Any) -> Any:
                return await self.call_async(func, *args, **kwargs)

            return retried

        @functools.wraps(func)
        def retried_sync(*args: Any, **kwargs: Any) -> Any:
            return self.call(func, *args, **kwargs)

        return retried_sync
