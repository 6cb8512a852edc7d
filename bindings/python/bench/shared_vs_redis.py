"""One breaker for every worker process: fusebox's shared-memory breaker vs
pybreaker 1.4 with its Redis storage, per call, side by side.

    python -m venv /tmp/bench && /tmp/bench/bin/pip install ./bindings/python \\
        "pybreaker>=1.4,<1.5" "redis>=5"
    /tmp/bench/bin/python bindings/python/bench/shared_vs_redis.py

The script starts Debian's redis-server on 127.0.0.1 (a free port, no
persistence) for the run and stops it at the end; if it is missing and we
are root, it installs it first (apt-get install -y redis-server).

Measured, in ns per call (best of several rounds, loop included):

* a guarded call that succeeds, breaker closed;
* a rejected call, breaker open;
* the same closed call from 4 processes at once (aggregate wall time /
  total calls: the cost of the shared state under contention);

for fusebox in-process (`CircuitBreaker`), fusebox shared
(`SharedRegistry`: the state in a memory-mapped file), pybreaker in-process
(`CircuitMemoryStorage`) and pybreaker shared (`CircuitRedisStorage`: the
state in Redis, a round trip or more per call). This is a measurement, not a
test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pathlib
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from time import perf_counter_ns
from typing import Any, Callable

import fusebox

try:
    import pybreaker  # type: ignore[import-not-found, unused-ignore]
    import redis  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover
    sys.exit('needs pybreaker and redis: pip install "pybreaker>=1.4,<1.5" "redis>=5"')


def plain(x: Any) -> Any:
    return x


# ----- redis-server ------------------------------------------------------


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("redis-server missing: apt-get install -y redis-server", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "redis-server"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        found = shutil.which("redis-server")
        if found:
            return found
    sys.exit("redis-server not found (Debian: apt-get install redis-server)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on loopback, stopped on exit."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="fusebox-bench-redis-")
        self.proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.025)
        else:
            self.stop()
            sys.exit("redis-server did not start")
        self.version = str(client.info()["redis_version"])

    def client(self) -> Any:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# ----- the breakers ------------------------------------------------------

KINDS = ["fusebox", "fusebox shared", "pybreaker", "pybreaker redis"]


def make(kind: str, name: str, registry: pathlib.Path, port: int) -> Any:
    """One of the four breakers, made alike: closed, 5 failures in a row trip."""
    if kind == "fusebox":
        return fusebox.CircuitBreaker(name)
    if kind == "fusebox shared":
        return fusebox.SharedRegistry(registry).get_or_create(name)
    if kind == "pybreaker":
        return pybreaker.CircuitBreaker(fail_max=5, reset_timeout=3600, name=name)
    if kind == "pybreaker redis":
        storage = pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED,
            redis.Redis(host="127.0.0.1", port=port),
            namespace=name,
        )
        return pybreaker.CircuitBreaker(
            fail_max=5, reset_timeout=3600, state_storage=storage, name=name
        )
    raise ValueError(kind)


def rejected_error(kind: str) -> type[BaseException]:
    return fusebox.CircuitOpenError if kind.startswith("fusebox") else pybreaker.CircuitBreakerError


def open_it(kind: str, b: Any) -> None:
    if kind.startswith("fusebox"):
        b.force_open()
    else:
        b.open()


def closed_loop(fn: Callable[[Any], Any], n: int) -> float:
    r = range(n)
    t0 = perf_counter_ns()
    for _ in r:
        fn(1)
    return (perf_counter_ns() - t0) / n


def open_loop(fn: Callable[[Any], Any], exc: type[BaseException], n: int) -> float:
    r = range(n)
    t0 = perf_counter_ns()
    for _ in r:
        try:
            fn(1)
        except exc:
            pass
    return (perf_counter_ns() - t0) / n


def calls_for(kind: str, n: int) -> int:
    # A Redis round trip costs ~100x a local call: fewer calls, same rounds.
    return max(n // 50, 500) if kind.endswith("redis") else n


# ----- 4 processes at once -------------------------------------------------


def worker(kind: str, name: str, registry: str, port: int, n: int, go: Any, out: Any) -> None:
    fn = make(kind, name, pathlib.Path(registry), port)(plain)
    fn(1)
    go.wait()
    t0 = perf_counter_ns()
    for _ in range(n):
        fn(1)
    out.put((t0, perf_counter_ns()))


def parallel(kind: str, name: str, registry: pathlib.Path, port: int, n: int, procs: int) -> float:
    """Aggregate ns per call of `procs` processes calling at once (the
    clocks of one host's processes agree: perf_counter is CLOCK_MONOTONIC)."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    ps = [
        ctx.Process(target=worker, args=(kind, name, str(registry), port, n, go, out))
        for _ in range(procs)
    ]
    for p in ps:
        p.start()
    time.sleep(1.0)  # every worker at the start line
    go.set()
    spans = [out.get(timeout=600) for _ in ps]
    for p in ps:
        p.join()
    wall = max(e for _, e in spans) - min(s for s, _ in spans)
    return wall / (n * procs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=200_000, help="calls per round (Redis: / 50)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--procs", type=int, default=4)
    args = ap.parse_args()

    server = RedisServer()
    tmpfs = "/dev/shm" if os.path.isdir("/dev/shm") else None
    folder = pathlib.Path(tempfile.mkdtemp(prefix="fusebox-bench-", dir=tmpfs))
    registry = folder / "reg"
    try:
        print(
            f"python {platform.python_version()}, fusebox {fusebox.__version__}, "
            f"pybreaker {pybreaker.__version__ if hasattr(pybreaker, '__version__') else '1.4'}, "
            f"redis-server {server.version} on 127.0.0.1, {os.cpu_count()} CPUs"
        )
        print(f"ns per call, best of {args.rounds} rounds\n")
        base = min(closed_loop(plain, args.calls) for _ in range(args.rounds))
        rows = []
        for kind in KINDS:
            n = calls_for(kind, args.calls)
            b = make(kind, f"closed-{kind}", registry, server.port)
            fn = b(plain)
            closed = min(closed_loop(fn, n) for _ in range(args.rounds))
            b2 = make(kind, f"open-{kind}", registry, server.port)
            open_it(kind, b2)
            fn2 = b2(plain)
            exc = rejected_error(kind)
            opened = min(open_loop(fn2, exc, n) for _ in range(args.rounds))
            par = parallel(kind, f"par-{kind}", registry, server.port, n, args.procs)
            rows.append((kind, closed, opened, par))
        print(f"{'':18} {'closed call':>12} {'rejection':>12} {f'closed, {args.procs} procs':>16}")
        print(f"{'plain call':18} {base:12.0f}")
        for kind, closed, opened, par in rows:
            print(f"{kind:18} {closed:12.0f} {opened:12.0f} {par:16.0f}")
        shared = {k: c for k, c, _, _ in rows}
        print(
            f"\nshared breaker per call: fusebox {shared['fusebox shared']:.0f} ns "
            f"(in-process {shared['fusebox']:.0f} ns), pybreaker + Redis "
            f"{shared['pybreaker redis'] / 1000:.1f} µs: "
            f"{shared['pybreaker redis'] / shared['fusebox shared']:.0f}x"
        )
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
