"""Threads: exact counts, and no lock held across the user's call."""

from __future__ import annotations

import asyncio
import threading
from typing import Callable

import pytest

import fusebox
from conftest import Boom, NotFound

THREADS = 8
CALLS = 100_000


def test_eight_threads_exact_counts() -> None:
    b = fusebox.CircuitBreaker(
        "threads", consecutive_failures=None, failure_rate_threshold=1.0,
        exclude=(NotFound,),
    )

    def body(i: int) -> int:
        if i % 10 == 3:
            raise Boom()
        if i % 10 == 7:
            raise NotFound()
        return i

    guarded = b(body)
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            start.wait()
            # Half the threads use the decorator, the others breaker.call.
            call: Callable[[int], int] = guarded if k % 2 else (lambda i: b.call(body, i))
            for i in range(CALLS):
                try:
                    call(i)
                except (Boom, NotFound):
                    pass
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    m = b.metrics()
    total = THREADS * CALLS
    assert m["failures"] == total // 10
    assert m["ignored"] == total // 10
    assert m["successes"] == total - 2 * (total // 10)
    assert m["calls"] == total
    assert m["rejected"] == 0
    assert b.state == "closed"


def run_four(make_call: Callable[[Callable[[], None]], Callable[[], None]]) -> int:
    """Four threads enter one breaker's call and must all be inside at once.

    A barrier inside the call can only be passed when all four are inside:
    if the breaker serialised calls (held a lock across them), it would
    break on its timeout instead. Returns the most calls seen inside at once.
    """
    barrier = threading.Barrier(4, timeout=30)
    lock = threading.Lock()
    inside = 0
    most = 0

    def body() -> None:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        barrier.wait()  # raises BrokenBarrierError if the others cannot enter
        with lock:
            inside -= 1

    call = make_call(body)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            call()
        except BaseException as e:
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    return most


@pytest.mark.parametrize("style", ["decorator", "call", "with"])
def test_no_lock_is_held_across_the_call(style: str) -> None:
    b = fusebox.CircuitBreaker("overlap")

    def make(body: Callable[[], None]) -> Callable[[], None]:
        if style == "decorator":
            return b(body)
        if style == "call":
            return lambda: b.call(body)

        def with_block() -> None:
            with b:
                body()

        return with_block

    assert run_four(make) == 4
    assert b.metrics()["successes"] == 4


def test_half_open_probes_across_threads_are_bounded(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("probes", clock=clock, consecutive_failures=1, open_timeout=1.0,
                               half_open_max_calls=3, success_threshold=3)
    with pytest.raises(Boom):
        b.call(lambda: (_ for _ in ()).throw(Boom()))
    clock.advance(1.0)
    admitted = threading.Barrier(4, timeout=30)  # three probes + this thread
    release = threading.Event()
    results: list[str] = []
    lock = threading.Lock()

    def probe() -> None:
        admitted.wait()
        release.wait(30)

    def worker() -> None:
        try:
            b.call(probe)
            r = "ran"
        except fusebox.CircuitOpenError as e:
            r = e.reason
        with lock:
            results.append(r)

    ts = [threading.Thread(target=worker) for _ in range(3)]
    for t in ts:
        t.start()
    admitted.wait()  # the three probes are inside their calls
    with pytest.raises(fusebox.CircuitOpenError) as info:
        b.call(lambda: None)
    assert info.value.reason == "half_open_full"
    release.set()
    for t in ts:
        t.join()
    assert sorted(results) == ["ran"] * 3
    assert b.state == "closed"


def test_async_tasks_run_concurrently_through_one_breaker() -> None:
    b = fusebox.CircuitBreaker("tasks")

    @b
    async def call(barrier: asyncio.Barrier) -> int:
        await barrier.wait()  # all four tasks are inside at once
        return 1

    async def main() -> list[int]:
        barrier = asyncio.Barrier(4)
        return await asyncio.wait_for(
            asyncio.gather(*(call(barrier) for _ in range(4))), timeout=30
        )

    assert asyncio.run(main()) == [1, 1, 1, 1]
    assert b.metrics()["successes"] == 4
