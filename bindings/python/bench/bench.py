"""Side-by-side micro-benchmark: fusebox vs pybreaker 1.4 vs circuitbreaker 2.1.

Run in a venv that has all three:

    python -m venv /tmp/bench && /tmp/bench/bin/pip install ./bindings/python \
        "pybreaker>=1.4,<1.5" "circuitbreaker>=2.1,<2.2"
    /tmp/bench/bin/python bindings/python/bench/bench.py

Every figure is the best (lowest) of several rounds, in ns per call, loop
included; "added" is that minus the direct call in the same loop shape. This
is a measurement, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import random
import sys
import threading
import time
from time import perf_counter_ns
from typing import Any, Callable

import fusebox

try:
    import pybreaker  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover
    pybreaker = None  # type: ignore[assignment]
try:
    import circuitbreaker  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # pragma: no cover
    circuitbreaker = None


def plain(x: Any) -> Any:
    return x


def loop_call(fn: Callable[[Any], Any], n: int) -> float:
    r = range(n)
    t0 = perf_counter_ns()
    for _ in r:
        fn(1)
    return (perf_counter_ns() - t0) / n


def loop_call_via(call: Callable[..., Any], fn: Callable[[Any], Any], n: int) -> float:
    """`call(fn, 1)` in the loop (the shape of `loop_call`, one call site)."""
    r = range(n)
    t0 = perf_counter_ns()
    for _ in r:
        call(fn, 1)
    return (perf_counter_ns() - t0) / n


def loop_catch(fn: Callable[[Any], Any], exc: type[BaseException], n: int) -> float:
    r = range(n)
    t0 = perf_counter_ns()
    for _ in r:
        try:
            fn(1)
        except exc:
            pass
    return (perf_counter_ns() - t0) / n


class Fresh(Exception):
    pass


def raise_fresh(x: Any) -> Any:
    raise Fresh(x)


def loop_inline_raise(n: int) -> float:
    r = range(n)
    t0 = perf_counter_ns()
    for _ in r:
        try:
            raise Fresh(1)
        except Fresh:
            pass
    return (perf_counter_ns() - t0) / n


async def plain_async(x: Any) -> Any:
    return x


def py_async_wrapper(f: Callable[..., Any]) -> Callable[..., Any]:
    """The cheapest async wrapper Python can write: no breaker at all."""

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await f(*args, **kwargs)

    return wrapper


def drive(coro: Any) -> Any:
    """Run a coroutine that never suspends, without an event loop (the
    loop's cost is the same for every case: left out)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine suspended")


def loop_await(fn: Callable[[Any], Any], n: int) -> float:
    async def body() -> float:
        r = range(n)
        t0 = perf_counter_ns()
        for _ in r:
            await fn(1)
        return (perf_counter_ns() - t0) / n

    return drive(body())  # type: ignore[no-any-return]


def loop_await_catch(fn: Callable[[Any], Any], exc: type[BaseException], n: int) -> float:
    async def body() -> float:
        r = range(n)
        t0 = perf_counter_ns()
        for _ in r:
            try:
                await fn(1)
            except exc:
                pass
        return (perf_counter_ns() - t0) / n

    return drive(body())  # type: ignore[no-any-return]


def interleaved(cases: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """The best round of each case, the cases taking turns round by round so
    that all of them see the same machine (a shared machine may be busy)."""
    best = {name: math.inf for name in cases}
    names = list(cases)
    gc.disable()
    try:
        for r in range(rounds):
            random.Random(r).shuffle(names)
            for name in names:
                best[name] = min(best[name], cases[name]())
    finally:
        gc.enable()
    return best


def concurrency(make: Callable[[Callable[[], None]], Callable[[], None]]) -> float:
    """Wall time of 4 threads each sleeping 0.2 s through one breaker."""

    def sleeper() -> None:
        time.sleep(0.2)

    guarded = make(sleeper)
    threads = [threading.Thread(target=guarded) for _ in range(4)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5_000, help="calls per round")
    ap.add_argument("--rounds", type=int, default=400)
    a = ap.parse_args()
    n, rounds = a.n, a.rounds

    fb = fusebox.CircuitBreaker("bench")
    fb_fn = fb(plain)
    fb_call = fb.call
    closed: dict[str, Callable[[], float]] = {
        "direct call": lambda: loop_call(plain, n),
        "fusebox @breaker": lambda: loop_call(fb_fn, n),
        "fusebox breaker.call(f, x)": lambda: loop_call_via(fb_call, plain, n),
    }
    if pybreaker is not None:
        pb_fn = pybreaker.CircuitBreaker()(plain)
        closed["pybreaker @breaker"] = lambda: loop_call(pb_fn, n)
    if circuitbreaker is not None:
        cb_fn = circuitbreaker.circuit(plain)
        closed["circuitbreaker @circuit"] = lambda: loop_call(cb_fn, n)
    closed_best = interleaved(closed, rounds)
    rows = list(closed_best.items())
    direct = closed_best["direct call"]

    # Rejections.
    fb_open = fusebox.CircuitBreaker("bench-open")
    fb_open.force_open()
    fb_open_fn = fb_open(plain)
    reject: dict[str, Callable[[], float]] = {
        "Python: call f() that raises a fresh exception, catch it":
            lambda: loop_catch(raise_fresh, Fresh, n),
        "Python: `raise E()` + catch, inline": lambda: loop_inline_raise(n),
        "fusebox: rejected call, catch CircuitOpenError":
            lambda: loop_catch(fb_open_fn, fusebox.CircuitOpenError, n),
    }
    if pybreaker is not None:
        pb_open = pybreaker.CircuitBreaker(reset_timeout=1e9)
        pb_open.open()
        pb_open_fn = pb_open(plain)
        reject["pybreaker: rejected call"] = lambda: loop_catch(
            pb_open_fn, pybreaker.CircuitBreakerError, n
        )
    if circuitbreaker is not None:
        cbo = circuitbreaker.CircuitBreaker(failure_threshold=1, recovery_timeout=10**6)
        cbo_fail = cbo(raise_fresh)
        try:
            cbo_fail(1)
        except Fresh:
            pass
        cbo_fn = cbo(plain)
        reject["circuitbreaker: rejected call"] = lambda: loop_catch(
            cbo_fn, circuitbreaker.CircuitBreakerError, n
        )
    fb_open_async = fb_open(plain_async)
    reject["fusebox: rejected async call, catch CircuitOpenError"] = (
        lambda: loop_await_catch(fb_open_async, fusebox.CircuitOpenError, n)
    )
    rej = list(interleaved(reject, rounds).items())

    fb_async = fb(plain_async)
    asyncs: dict[str, Callable[[], float]] = {
        "await f(x)": lambda: loop_await(plain_async, n),
        "cheapest pure-Python async wrapper": lambda: loop_await(py_async_wrapper(plain_async), n),
        "fusebox async @breaker": lambda: loop_await(fb_async, n),
        "await breaker.call(f, x)": lambda: loop_await(lambda x: fb_call(plain_async, x), n),
        "  (await (lambda x: f(x)), for the line above)":
            lambda: loop_await(lambda x: plain_async(x), n),
    }
    if circuitbreaker is not None:
        cb_async = circuitbreaker.circuit(plain_async)
        asyncs["circuitbreaker async @circuit"] = lambda: loop_await(cb_async, n)
    async_best = interleaved(asyncs, rounds)
    adirect = async_best["await f(x)"]
    alam = async_best["  (await (lambda x: f(x)), for the line above)"]
    base_call = rej[0][1]
    base_inline = rej[1][1]

    print(f"# {platform.python_implementation()} {platform.python_version()} on "
          f"{platform.machine()}, fusebox {fusebox.__version__}; n={n}, best of {rounds}")
    print()
    print("| closed call | ns/call | added over direct |")
    print("|---|---:|---:|")
    for name, v in rows:
        print(f"| {name} | {v:.0f} | {v - direct:+.0f} |")
    print()
    print("| async call (no event loop) | ns/call | added over await f(x) |")
    print("|---|---:|---:|")
    for name, v in async_best.items():
        if name.startswith("  ("):
            print(f"| {name} | {v:.0f} | |")
        elif name.startswith("await breaker.call"):
            print(f"| {name} | {v:.0f} | {v - alam:+.0f} (over the lambda) |")
        else:
            print(f"| {name} | {v:.0f} | {v - adirect:+.0f} |")
    print()
    print("| rejection | ns/call | × raise+catch via a call | × inline raise+catch |")
    print("|---|---:|---:|---:|")
    for name, v in rej:
        print(f"| {name} | {v:.0f} | {v / base_call:.2f} | {v / base_inline:.2f} |")
    print()
    print("| 4 threads × sleep(0.2 s) through one breaker | wall s |")
    print("|---|---:|")
    print(f"| fusebox | {concurrency(lambda f: fusebox.CircuitBreaker('conc')(f)):.2f} |")
    if pybreaker is not None:
        print(f"| pybreaker | {concurrency(lambda f: pybreaker.CircuitBreaker()(f)):.2f} |")
    if circuitbreaker is not None:
        print(f"| circuitbreaker | {concurrency(lambda f: circuitbreaker.circuit(f)):.2f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
