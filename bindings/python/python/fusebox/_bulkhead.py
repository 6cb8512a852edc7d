"""Bulkheads' Python part: the exception, and the decorator's body."""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ._errors import FuseboxError

if TYPE_CHECKING:
    from ._fusebox import Bulkhead

T = TypeVar("T")


class BulkheadFullError(FuseboxError):
    """A call was refused because its bulkhead was full (too many calls in
    flight to that dependency); the function did not run. Distinct from
    ``CircuitOpenError``, which a bulkhead's breaker raises.

    ``BulkheadFullError(bulkhead, limit, in_flight, waited)``: the
    attributes are read from ``args``, so the exception pickles and compares
    like any other.
    """

    __slots__ = ()

    @property
    def bulkhead(self) -> str:
        """The name of the bulkhead that refused the call."""
        return self.args[0]  # type: ignore[no-any-return]

    @property
    def limit(self) -> int:
        """The bulkhead's limit when it refused the call."""
        return self.args[1]  # type: ignore[no-any-return]

    @property
    def in_flight(self) -> int:
        """Calls in flight when it refused the call."""
        return self.args[2]  # type: ignore[no-any-return]

    @property
    def waited(self) -> float:
        """Seconds the call waited for a slot (0.0 when it did not wait)."""
        return self.args[3]  # type: ignore[no-any-return]

    def __str__(self) -> str:
        try:
            name, limit, in_flight, waited = self.args
        except ValueError:
            return super().__str__()
        text = f"bulkhead {name!r} is full: {in_flight} calls in flight, limit {limit}"
        if waited:
            text += f" (waited {waited:.3f} s)"
        return text


def decorate(bulkhead: Bulkhead, func: Callable[..., Any]) -> Callable[..., Any]:
    """What ``@bulkhead`` returns for ``func``. A sync call waits up to the
    bulkhead's ``max_wait`` for a slot (without holding the GIL); an async
    call never blocks the event loop: it is refused at once when full."""
    if inspect.iscoroutinefunction(func):
        try_acquire = bulkhead.try_acquire

        @functools.wraps(func)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            permit = try_acquire()
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                permit.finish(exc)
                raise
            permit.success()
            return result

        guarded.bulkhead = bulkhead  # type: ignore[attr-defined]
        return guarded

    acquire = bulkhead.acquire

    @functools.wraps(func)
    def guarded_sync(*args: Any, **kwargs: Any) -> Any:
        permit = acquire()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            permit.finish(exc)
            raise
        permit.success()
        return result

    guarded_sync.bulkhead = bulkhead  # type: ignore[attr-defined]
    return guarded_sync


async def ready(value: T) -> T:
    """An awaitable that is done at once (``async with bulkhead``)."""
    return value
