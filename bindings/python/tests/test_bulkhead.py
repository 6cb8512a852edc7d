"""`fusebox.Bulkhead`: limits, errors, decorator, context managers, waiting,
the breaker wiring (in-flight pile-ups), adaptive limits, metrics."""

from __future__ import annotations

import asyncio
import gc
import pickle
import threading
import time

import pytest

import fusebox
from conftest import Boom


def test_refuses_past_the_limit_with_its_own_error() -> None:
    b = fusebox.Bulkhead("inventory", max_concurrent=2)
    p1 = b.try_acquire()
    p2 = b.try_acquire()
    assert isinstance(p1, fusebox.BulkheadPermit)
    assert (b.in_flight, b.limit, p2.in_flight) == (2, 2, 2)
    with pytest.raises(fusebox.BulkheadFullError) as e:
        b.try_acquire()
    err = e.value
    assert isinstance(err, fusebox.FuseboxError)
    assert not isinstance(err, fusebox.CircuitOpenError)
    assert (err.bulkhead, err.limit, err.in_flight, err.waited) == ("inventory", 2, 2, 0.0)
    assert str(err) == "bulkhead 'inventory' is full: 2 calls in flight, limit 2"
    assert pickle.loads(pickle.dumps(err)).args == err.args
    p1.success()
    p2.release()
    assert b.in_flight == 0
    assert b.rejected == 1 and b.peak_in_flight == 2


def test_a_permit_is_used_once_and_frees_its_slot_when_collected() -> None:
    b = fusebox.Bulkhead("p", max_concurrent=1)
    p = b.try_acquire()
    p.failure()
    assert not p.pending
    with pytest.raises(RuntimeError, match="already"):
        p.success()
    q = b.try_acquire()
    del q
    gc.collect()
    assert b.in_flight == 0
    b.try_acquire().ignore()
    assert b.in_flight == 0


def test_decorator_runs_in_a_slot_and_frees_it_on_exceptions() -> None:
    b = fusebox.Bulkhead("d", max_concurrent=1)
    seen: list[int] = []

    @b
    def work(x: int) -> int:
        seen.append(b.in_flight)
        if x < 0:
            raise Boom()
        return x * 2

    assert work(21) == 42
    with pytest.raises(Boom):
        work(-1)
    assert seen == [1, 1]
    assert b.in_flight == 0
    assert work.__name__ == "work"
    held = b.try_acquire()
    with pytest.raises(fusebox.BulkheadFullError):
        work(1)
    assert seen == [1, 1], "the function did not run"
    held.release()


def test_async_decorator_and_async_with() -> None:
    b = fusebox.Bulkhead("a", max_concurrent=2)

    @b
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x

    async def main() -> None:
        assert await fetch(3) == 3
        async with b as permit:
            assert isinstance(permit, fusebox.BulkheadPermit)
            assert b.in_flight == 1
            async with b:
                assert b.in_flight == 2
                with pytest.raises(fusebox.BulkheadFullError):
                    await fetch(1)
        assert b.in_flight == 0
        # Cancellation frees the slot without an outcome.
        gate = asyncio.Event()

        @b
        async def hang() -> None:
            await gate.wait()

        t = asyncio.ensure_future(hang())
        await asyncio.sleep(0)
        assert b.in_flight == 1
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        assert b.in_flight == 0

    asyncio.run(main())


def test_with_block_reports_the_outcome() -> None:
    clock = fusebox.ManualClock()
    breaker = fusebox.CircuitBreaker("dep", clock=clock)
    b = fusebox.Bulkhead("w", max_concurrent=3, breaker=breaker)
    with b as permit:
        assert permit.pending
    with pytest.raises(Boom):
        with b:
            raise Boom()
    with b as permit:
        permit.ignore()
    m = breaker.metrics()
    assert (m["successes"], m["failures"], m["ignored"]) == (1, 1, 1)
    assert b.in_flight == 0


def test_an_open_breaker_refuses_first_with_circuit_open_error() -> None:
    clock = fusebox.ManualClock()
    breaker = fusebox.CircuitBreaker("dep", clock=clock)
    b = fusebox.Bulkhead("b", max_concurrent=1, breaker=breaker)
    assert b.breaker is breaker
    breaker.force_open()
    with pytest.raises(fusebox.CircuitOpenError):
        b.try_acquire()
    assert (b.in_flight, b.rejected) == (0, 0)


def test_a_hung_dependency_trips_the_breaker_before_any_call_returns() -> None:
    clock = fusebox.ManualClock()
    breaker = fusebox.CircuitBreaker(
        "inventory",
        clock=clock,
        min_calls=5,
        slow_call_duration=2.0,
        slow_call_rate_threshold=0.5,
    )
    b = fusebox.Bulkhead(
        "inventory", max_concurrent=5, breaker=breaker, count_in_flight_slow=True
    )
    hung = [b.try_acquire() for _ in range(5)]
    clock.advance(2.5)
    with pytest.raises(fusebox.BulkheadFullError):
        b.try_acquire()  # its sweep counts the five as slow
    assert breaker.state == "open"
    assert b.metrics()["in_flight_slow"] == 5
    with pytest.raises(fusebox.CircuitOpenError):
        b.try_acquire()
    for p in hung:
        p.failure()  # not counted again
    m = breaker.metrics()
    assert (m["successes"], m["failures"], m["slow"]) == (5, 0, 5)
    with pytest.raises(ValueError, match="count_in_flight_slow"):
        fusebox.Bulkhead("x", count_in_flight_slow=True)


def test_a_waiting_caller_gets_the_freed_slot() -> None:
    b = fusebox.Bulkhead("wait", max_concurrent=1, max_wait=30.0)
    assert b.max_wait == 30.0
    held = b.try_acquire()
    got: list[int] = []

    def worker() -> None:
        with b:  # waits, without the GIL
            got.append(b.in_flight)

    t = threading.Thread(target=worker)
    t.start()
    deadline = time.monotonic() + 30
    while b.waiting == 0 and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)
    held.success()
    t.join()
    assert got == [1]
    assert (b.in_flight, b.waiting, b.rejected) == (0, 0, 0)


def test_a_bounded_wait_ends_in_bulkhead_full() -> None:
    b = fusebox.Bulkhead("wait", max_concurrent=1)
    held = b.try_acquire()
    with pytest.raises(fusebox.BulkheadFullError) as e:
        b.acquire(timeout=0.02)
    assert e.value.waited >= 0.02
    assert "waited" in str(e.value)
    held.release()


def test_threads_never_exceed_the_limit() -> None:
    b = fusebox.Bulkhead("t", max_concurrent=3)
    inside = 0
    most = 0
    lock = threading.Lock()
    admitted = 0

    def worker() -> None:
        nonlocal inside, most, admitted
        for _ in range(2000):
            try:
                p = b.try_acquire()
            except fusebox.BulkheadFullError:
                continue
            with lock:
                inside += 1
                most = max(most, inside)
                admitted += 1
            with lock:
                inside -= 1
            p.success()

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert most <= 3
    assert b.in_flight == 0
    assert admitted + b.rejected == 8000


def test_adaptive_limit_backs_off_on_slow_calls() -> None:
    clock = fusebox.ManualClock()
    b = fusebox.Bulkhead(
        "adaptive", limit="aimd", min_limit=2, initial_limit=20, max_limit=50, clock=clock
    )
    assert (b.algorithm, b.limit) == ("aimd", 20)
    for _ in range(2):
        ps = [b.try_acquire() for _ in range(20)]
        clock.advance(6.0)  # over AIMD's 5 s timeout
        for p in ps:
            p.success()
    assert b.limit == 18  # ⌊20 × 0.9⌋
    assert b.metrics()["limit_updates"] == 1


def test_metrics_and_prometheus() -> None:
    b = fusebox.Bulkhead("inventory", max_concurrent=2)
    p = b.try_acquire()
    m = b.metrics()
    assert m == {
        "name": "inventory",
        "limit": 2,
        "in_flight": 1,
        "peak_in_flight": 1,
        "waiting": 0,
        "rejected": 0,
        "in_flight_slow": 0,
        "algorithm": None,
        "limit_updates": 0,
    }
    text = b.prometheus()
    assert 'fusebox_bulkhead_in_flight{bulkhead="inventory"} 1' in text
    assert 'fusebox_bulkhead_limit{bulkhead="inventory"} 2' in text
    assert "# TYPE fusebox_bulkhead_rejected_total counter" in text
    p.release()
    b.set_limit(1)
    assert b.limit == 1
    assert repr(b) == '<fusebox.Bulkhead "inventory" in_flight=0 limit=1>'


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        fusebox.Bulkhead("x", max_concurrent=0)
    with pytest.raises(TypeError, match="max_concurrent"):
        fusebox.Bulkhead("x", max_concurrent="3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_wait"):
        fusebox.Bulkhead("x", max_wait=-1.0)
    with pytest.raises(ValueError, match="limit"):
        fusebox.Bulkhead("x", limit="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_limit"):
        fusebox.Bulkhead("x", min_limit=3)
    with pytest.raises(ValueError, match="initial_limit"):
        fusebox.Bulkhead("x", limit="vegas", min_limit=10, initial_limit=5)
    with pytest.raises(TypeError, match="breaker"):
        fusebox.Bulkhead("x", breaker=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        fusebox.Bulkhead("x", max_concurrent=2).set_limit(3)
    with pytest.raises(TypeError, match="callable"):
        fusebox.Bulkhead("x")(3)  # type: ignore[type-var]
    with pytest.raises(RuntimeError, match="__exit__"):
        fusebox.Bulkhead("x").__exit__(None, None, None)
