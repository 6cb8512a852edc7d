"""The decorator's Python part: async functions, and function metadata.

Sync calls never come through here: ``@breaker`` on a sync function returns a
``GuardedFunction`` whose ``__call__`` is native code.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Awaitable, Callable, TypeVar

from ._fusebox import CircuitBreaker, Permit

T = TypeVar("T")


def decorate(breaker: CircuitBreaker, func: Callable[..., Any]) -> Callable[..., Any]:
    """What ``@breaker`` returns for ``func``."""
    if inspect.iscoroutinefunction(func):
        acquire = breaker.acquire

        @functools.wraps(func)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            # The permit is taken when the coroutine starts, not when it is
            # created; a coroutine closed before it ends (cancellation)
            # releases its permit through finish().
            permit = acquire()
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                permit.finish(exc)
                raise
            permit.success()
            return result

        guarded.breaker = breaker  # type: ignore[attr-defined]
        return guarded
    guarded_sync = breaker._guard(func)
    functools.update_wrapper(guarded_sync, func)
    return guarded_sync


async def finish(permit: Permit, coro: Awaitable[T]) -> T:
    """Await ``coro`` (a call admitted by ``permit``) and report its outcome."""
    try:
        result = await coro
    except BaseException as exc:
        permit.finish(exc)
        raise
    permit.success()
    return result


