"""The decorator's Python part: function metadata.

Calls never come through here: ``@breaker`` returns a ``GuardedFunction``
whose ``__call__`` is native code. On an async function, each call returns a
``GuardedCoroutine`` (native too), which takes its permit when it starts.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from ._fusebox import CircuitBreaker


def decorate(breaker: CircuitBreaker, func: Callable[..., Any]) -> Callable[..., Any]:
    """What ``@breaker`` returns for ``func``."""
    is_async = inspect.iscoroutinefunction(func)
    guarded = breaker._guard(func, is_async)
    functools.update_wrapper(guarded, func)
    if is_async:
        # Still a coroutine function to inspect and asyncio (frameworks ask
        # before they call): the code object's CO_COROUTINE flag is what
        # Python 3.11 reads (as for Cython's functions); 3.12 adds a marker.
        code = getattr(inspect.unwrap(func), "__code__", None)
        if code is not None:
            guarded.__code__ = code  # type: ignore[attr-defined]
            guarded.__defaults__ = getattr(func, "__defaults__", None)  # type: ignore[attr-defined]
            guarded.__kwdefaults__ = getattr(func, "__kwdefaults__", None)  # type: ignore[attr-defined]
        mark = getattr(inspect, "markcoroutinefunction", None)
        if mark is not None:
            mark(guarded)
    return guarded
