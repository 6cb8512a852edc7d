"""`with breaker:` and `async with breaker:`."""

from __future__ import annotations

import asyncio
import threading

import pytest

import fusebox
from conftest import Boom, NotFound


def test_with_counts_success_failure_and_ignored(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("w", clock=clock, exclude=(NotFound,))
    with b as permit:
        assert isinstance(permit, fusebox.Permit)
        assert permit.pending
    assert not permit.pending
    with pytest.raises(Boom):
        with b:
            raise Boom()
    with pytest.raises(NotFound):
        with b:
            raise NotFound()
    m = b.metrics()
    assert (m["successes"], m["failures"], m["ignored"]) == (1, 1, 1)


def test_outcome_reported_inside_the_block_wins(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("w", clock=clock)
    with b as permit:
        permit.ignore()  # e.g. an HTTP 404
    with b as permit:
        permit.failure()  # e.g. an HTTP 503 that raised nothing
    m = b.metrics()
    assert (m["successes"], m["failures"], m["ignored"]) == (0, 1, 1)


def test_with_rejects_when_open(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("w", clock=clock)
    b.force_open()
    ran = False
    with pytest.raises(fusebox.CircuitOpenError) as info:
        with b:
            ran = True
    assert not ran
    assert info.value.reason == "forced_open"
    assert info.value.retry_after is None


def test_nested_blocks_of_two_breakers(clock: fusebox.ManualClock) -> None:
    a = fusebox.CircuitBreaker("a", clock=clock)
    b = fusebox.CircuitBreaker("b", clock=clock)
    with pytest.raises(Boom):
        with a:
            with b:
                with a:
                    pass
            raise Boom()
    assert (a.metrics()["successes"], a.metrics()["failures"]) == (1, 1)
    assert (b.metrics()["successes"], b.metrics()["failures"]) == (1, 0)


def test_exit_without_enter_is_an_error(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("w", clock=clock)
    with pytest.raises(RuntimeError):
        b.__exit__(None, None, None)


def test_blocks_in_threads_do_not_mix(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("w", clock=clock, consecutive_failures=None,
                               failure_rate_threshold=1.0)
    inside = threading.Barrier(2, timeout=10)

    def ok() -> None:
        with b:
            inside.wait()
            inside.wait()

    def bad() -> None:
        try:
            with b:
                inside.wait()
                inside.wait()
                raise Boom()
        except Boom:
            pass

    ts = [threading.Thread(target=ok), threading.Thread(target=bad)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    m = b.metrics()
    assert (m["successes"], m["failures"]) == (1, 1)


def test_async_with_and_interleaved_tasks(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("aw", clock=clock, consecutive_failures=None,
                               failure_rate_threshold=1.0)

    async def ok(ev: asyncio.Event) -> None:
        async with b as permit:
            assert isinstance(permit, fusebox.Permit)
            await ev.wait()

    async def bad(ev: asyncio.Event) -> None:
        async with b:
            ev.set()
            await asyncio.sleep(0)
            raise Boom()

    async def main() -> None:
        ev = asyncio.Event()
        r = await asyncio.gather(ok(ev), bad(ev), return_exceptions=True)
        assert r[0] is None and isinstance(r[1], Boom)

    asyncio.run(main())
    m = b.metrics()
    assert (m["successes"], m["failures"]) == (1, 1)


def test_cancelled_async_with_releases_the_probe(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("c", clock=clock, consecutive_failures=1, open_timeout=1.0,
                               half_open_max_calls=1, success_threshold=1)
    with pytest.raises(Boom):
        b.call(lambda: (_ for _ in ()).throw(Boom()))
    clock.advance(1.0)

    async def probe(started: asyncio.Event) -> None:
        async with b:
            started.set()
            await asyncio.sleep(3600)

    async def main() -> None:
        started = asyncio.Event()
        t = asyncio.ensure_future(probe(started))
        await started.wait()
        assert b.state == "half_open"
        with pytest.raises(fusebox.CircuitOpenError) as info:
            async with b:
                pass
        assert info.value.reason == "half_open_full"
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        async with b:  # the slot is free again
            pass

    asyncio.run(main())
    assert b.state == "closed"
