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
import platform
import sys
import threading
import time
from time import perf_counter_ns
from typing import Any, Callable

import fusebox

try:
    import pybreaker
except ImportError:  # pragma: no cover
    pybreaker = None  # type: ignore[assignment]
try:
    import circuitbreaker  # type: ignore[import-untyped]
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


def best(f: Callable[[], float], rounds: int) -> float:
    return min(f() for _ in range(rounds))


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
    ap.add_argument("-n", type=int, default=200_000, help="calls per round")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    n, rounds = a.n, a.rounds

    rows: list[tuple[str, float]] = []
    direct = best(lambda: loop_call(plain, n), rounds)
    rows.append(("direct call", direct))

    fb = fusebox.CircuitBreaker("bench")
    fb_fn = fb(plain)
    rows.append(("fusebox @breaker", best(lambda: loop_call(fb_fn, n), rounds)))
    fb_call = fb.call
    rows.append(
        ("fusebox breaker.call(f, x)", best(lambda: loop_call(lambda x: fb_call(plain, x), n), rounds))
    )
    lam = best(lambda: loop_call(lambda x: plain(x), n), rounds)
    rows.append(("  (lambda x: f(x), for the line above)", lam))

    if pybreaker is not None:
        pb = pybreaker.CircuitBreaker()
        pb_fn = pb(plain)
        rows.append(("pybreaker @breaker", best(lambda: loop_call(pb_fn, n), rounds)))
    if circuitbreaker is not None:
        cb_fn = circuitbreaker.circuit(plain)
        rows.append(("circuitbreaker @circuit", best(lambda: loop_call(cb_fn, n), rounds)))

    # Rejections.
    rej: list[tuple[str, float]] = []
    base_call = best(lambda: loop_catch(raise_fresh, Fresh, n), rounds)
    base_inline = best(lambda: loop_inline_raise(n), rounds)
    rej.append(("Python: call f() that raises a fresh exception, catch it", base_call))
    rej.append(("Python: `raise E()` + catch, inline", base_inline))
    fb_open = fusebox.CircuitBreaker("bench-open")
    fb_open.force_open()
    fb_open_fn = fb_open(plain)
    rej.append(
        (
            "fusebox: rejected call, catch CircuitOpenError",
            best(lambda: loop_catch(fb_open_fn, fusebox.CircuitOpenError, n), rounds),
        )
    )
    if pybreaker is not None:
        pb_open = pybreaker.CircuitBreaker(reset_timeout=1e9)
        pb_open.open()
        pb_open_fn = pb_open(plain)
        rej.append(
            (
                "pybreaker: rejected call",
                best(lambda: loop_catch(pb_open_fn, pybreaker.CircuitBreakerError, n), rounds),
            )
        )
    if circuitbreaker is not None:
        cbo = circuitbreaker.CircuitBreaker(failure_threshold=1, recovery_timeout=10**6)
        cbo_fail = cbo(raise_fresh)
        try:
            cbo_fail(1)
        except Fresh:
            pass
        cbo_fn = cbo(plain)
        rej.append(
            (
                "circuitbreaker: rejected call",
                best(lambda: loop_catch(cbo_fn, circuitbreaker.CircuitBreakerError, n), rounds),
            )
        )

    print(f"# {platform.python_implementation()} {platform.python_version()} on "
          f"{platform.machine()}, fusebox {fusebox.__version__}; n={n}, best of {rounds}")
    print()
    print("| closed call | ns/call | added over direct |")
    print("|---|---:|---:|")
    for name, v in rows:
        if name.startswith("  ("):
            print(f"| {name} | {v:.0f} | |")
            continue
        if name.startswith("fusebox breaker.call"):
            print(f"| {name} | {v:.0f} | {v - lam:+.0f} (over the lambda) |")
            continue
        print(f"| {name} | {v:.0f} | {v - direct:+.0f} |")
    print()
    print("| rejection | ns/call | × Python's raise+catch via a call |")
    print("|---|---:|---:|")
    for name, v in rej:
        print(f"| {name} | {v:.0f} | {v / base_call:.2f} |")
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
