"""The async path: ``@breaker`` on an async function returns native
coroutines (``GuardedCoroutine``); they must behave as an ``async def``
wrapper would, to asyncio and to the breaker, including cancellation."""

from __future__ import annotations

import asyncio
import collections.abc
import gc
import inspect
import warnings
from typing import Any

import pytest

import fusebox
from conftest import Boom, NotFound


def make(clock: fusebox.ManualClock, **kw: Any) -> fusebox.CircuitBreaker:
    kw.setdefault("consecutive_failures", 2)
    kw.setdefault("open_timeout", 10.0)
    return fusebox.CircuitBreaker("svc", clock=clock, **kw)


def counts(b: fusebox.CircuitBreaker) -> tuple[int, int, int, int, int]:
    m = b.metrics()
    return (m["successes"], m["failures"], m["ignored"], m["slow"], m["rejected"])


def test_a_guarded_async_function_is_a_coroutine_function(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    @b
    async def fetch(x: int, y: int = 2, *, z: int = 3) -> int:
        """Docs."""
        return x + y + z

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.iscoroutinefunction(fetch)
    assert inspect.signature(fetch) == inspect.signature(fetch.__wrapped__)  # type: ignore[attr-defined]
    assert list(inspect.signature(fetch).parameters) == ["x", "y", "z"]
    assert (fetch.__name__, fetch.__doc__) == ("fetch", "Docs.")
    coro = fetch(1)
    assert isinstance(coro, fusebox.GuardedCoroutine)
    assert isinstance(coro, collections.abc.Coroutine)
    assert asyncio.iscoroutine(coro) and inspect.isawaitable(coro)
    assert asyncio.run(coro) == 6
    assert counts(b) == (1, 0, 0, 0, 0)


def test_tasks_gather_and_arguments(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    @b
    async def add(x: int, y: int = 1, **kw: int) -> tuple[int, int, dict[str, int]]:
        await asyncio.sleep(0)
        return (x, y, kw)

    async def main() -> None:
        t = asyncio.create_task(add(1, 2, k=3))
        assert await t == (1, 2, {"k": 3})
        r = await asyncio.gather(*(add(i) for i in range(5)))
        assert r == [(i, 1, {}) for i in range(5)]
        assert await asyncio.wait_for(add(x=7), 10) == (7, 1, {})

    asyncio.run(main())
    assert counts(b) == (7, 0, 0, 0, 0)


def test_returned_values_of_every_shape_come_back(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    @b
    async def echo(v: Any) -> Any:
        return v

    for v in [None, (1, 2), (), StopIteration(5), [1]]:
        r = asyncio.run(echo(v))
        assert r == v or r is v


def test_errors_are_classified_as_for_sync_calls(clock: fusebox.ManualClock) -> None:
    b = make(clock, exclude=NotFound, consecutive_failures=3)

    @b
    async def f(e: BaseException | None) -> None:
        await asyncio.sleep(0)
        if e is not None:
            raise e

    async def main() -> None:
        with pytest.raises(NotFound):
            await f(NotFound())
        with pytest.raises(Boom):
            await f(Boom())
        with pytest.raises(TypeError):
            await f()  # type: ignore[call-arg]  # raised by the call: counted when awaited

    asyncio.run(main())
    assert counts(b) == (0, 2, 1, 0, 0)


def test_a_call_that_raises_is_rejected_uncounted_when_open(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    @b
    async def f() -> None:
        pass

    coro = f(1)  # type: ignore[call-arg]
    b.force_open()
    with pytest.raises(fusebox.CircuitOpenError):
        asyncio.run(coro)
    assert counts(b) == (0, 0, 0, 0, 1)


def test_rejection_closes_the_coroutine_without_a_warning(clock: fusebox.ManualClock) -> None:
    b = make(clock)
    ran = []

    @b
    async def f() -> None:
        ran.append(1)

    b.force_open()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            with pytest.raises(fusebox.CircuitOpenError) as info:
                asyncio.run(f())
            assert info.value.reason == "forced_open"
        gc.collect()
    assert ran == []


def test_a_coroutine_runs_once(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    @b
    async def f() -> int:
        return 1

    async def main() -> None:
        c = f()
        assert await c == 1
        with pytest.raises(RuntimeError, match="already awaited"):
            await c

    asyncio.run(main())
    assert counts(b) == (1, 0, 0, 0, 0)


def test_send_throw_close_by_hand(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    class Yield:
        def __await__(self) -> Any:
            v = yield "suspended"
            return v

    @b
    async def f() -> Any:
        try:
            return await Yield()
        except KeyError:
            return "caught"

    c = f()
    assert c.send(None) == "suspended"
    with pytest.raises(StopIteration) as stop:
        c.send(41)
    assert stop.value.value == 41
    c = f()
    assert c.send(None) == "suspended"
    with pytest.raises(StopIteration) as stop:
        c.throw(KeyError("k"))
    assert stop.value.value == "caught"
    c = f()
    assert c.send(None) == "suspended"
    with pytest.raises(Boom):
        c.throw(Boom())
    c = f()
    assert c.send(None) == "suspended"
    c.close()
    c.close()  # twice: nothing more
    never = f()
    never.close()  # not started: no permit, nothing counted
    with pytest.raises(Boom):
        f().throw(Boom)  # not started: raised at once, uncounted
    assert counts(b) == (2, 1, 0, 0, 0)


def test_breaker_call_on_an_async_function_admits_when_called(clock: fusebox.ManualClock) -> None:
    b = make(clock, half_open_max_calls=1, success_threshold=1)

    async def f(x: int) -> int:
        await asyncio.sleep(0)
        return x

    b.open_for(1)
    clock.advance(1)
    coro = b.call(f, 5)  # the probe: taken now
    with pytest.raises(fusebox.CircuitOpenError) as info:
        _ = b.call(f, 6)
    assert info.value.reason == "half_open_full"
    assert asyncio.run(coro) == 5
    assert b.state == "closed"


# ----- cancellation -----------------------------------------------------------


def cancel_after(b: fusebox.CircuitBreaker, clock: fusebox.ManualClock, ran_for: float) -> None:
    """Start a guarded call that hangs, let `ran_for` seconds pass on the
    breaker's clock, cancel its task."""

    @b
    async def hang(started: asyncio.Event) -> None:
        started.set()
        await asyncio.Event().wait()

    async def main() -> None:
        started = asyncio.Event()
        t = asyncio.create_task(hang(started))
        await started.wait()
        clock.advance(ran_for)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    asyncio.run(main())


def test_a_cancelled_call_is_neither_success_nor_failure(clock: fusebox.ManualClock) -> None:
    b = make(clock, slow_call_duration=2.0)
    cancel_after(b, clock, 1.0)
    assert counts(b) == (0, 0, 0, 0, 0)
    assert b.metrics()["window_calls"] == 0


def test_a_call_cancelled_after_the_slow_call_duration_counts_slow(
    clock: fusebox.ManualClock,
) -> None:
    b = make(clock, slow_call_duration=2.0)
    cancel_after(b, clock, 3.0)
    m = b.metrics()
    assert (m["slow"], m["failures"], m["window_calls"]) == (1, 0, 1)


def test_the_cancellation_policy_is_the_breakers(clock: fusebox.ManualClock) -> None:
    released = make(clock, slow_call_duration=2.0, cancellation="release")
    cancel_after(released, clock, 3.0)
    assert released.metrics()["window_calls"] == 0
    strict = make(clock, cancellation="failure")
    cancel_after(strict, clock, 0.0)
    assert counts(strict) == (0, 1, 0, 0, 0)


def test_a_cancelled_probe_frees_its_slot(clock: fusebox.ManualClock) -> None:
    b = make(clock, half_open_max_calls=1, success_threshold=1, slow_call_duration=2.0)
    b.open_for(1)
    clock.advance(1)
    cancel_after(b, clock, 5.0)  # a probe: released all the same
    assert b.state == "half_open"

    @b
    async def ok() -> int:
        return 1

    assert asyncio.run(ok()) == 1
    assert b.state == "closed"


def test_a_coroutine_dropped_while_it_runs_is_cancelled(clock: fusebox.ManualClock) -> None:
    b = make(clock, cancellation="failure")

    class Yield:
        def __await__(self) -> Any:
            yield

    @b
    async def f() -> None:
        await Yield()

    c = f()
    c.send(None)
    del c
    gc.collect()
    assert counts(b) == (0, 1, 0, 0, 0)


def test_permit_cancel_and_finish_follow_the_policy(clock: fusebox.ManualClock) -> None:
    b = make(clock, slow_call_duration=1.0)
    p = b.acquire()
    clock.advance(2)
    p.cancel()
    assert not p.pending
    p = b.acquire()
    clock.advance(2)
    p.finish(asyncio.CancelledError())
    m = b.metrics()
    assert (m["slow"], m["failures"], m["successes"]) == (2, 0, 2)


def test_breaker_call_on_a_guarded_async_function_counts_once_each(
    clock: fusebox.ManualClock,
) -> None:
    inner = make(clock)
    outer = fusebox.CircuitBreaker("outer", clock=clock)

    @inner
    async def f(x: int) -> int:
        await asyncio.sleep(0)
        return x

    class C:
        @inner
        async def m(self, x: int) -> int:
            return x

    assert inspect.iscoroutinefunction(C().m)
    assert asyncio.run(outer.call(f, 3)) == 3
    assert asyncio.run(C().m(4)) == 4
    assert (outer.metrics()["successes"], inner.metrics()["successes"]) == (1, 2)
