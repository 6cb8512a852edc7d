"""Shared-memory breakers (`fusebox.SharedRegistry`): one breaker for every
process on the host.

Worker processes are real processes (`multiprocessing`, spawned: each opens
the file by its path, as gunicorn workers or a pool would; one test forks,
as a pre-forking server does). Time moves only through a
`SharedManualClock` where a test needs it to.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pathlib
import random
import signal
import time
from typing import Any, Iterator

import pytest

import fusebox
from conftest import SCENARIOS, NotFound

SPAWN = mp.get_context("spawn")


@pytest.fixture
def folder(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A fresh folder, on tmpfs when there is one (as in production)."""
    shm = pathlib.Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = shm / f"fusebox-py-{os.getpid()}-{time.monotonic_ns()}"
        d.mkdir()
        yield d
        for p in d.iterdir():
            p.unlink()
        d.rmdir()
    else:
        yield tmp_path


def pattern(i: int) -> str:
    """Call i's outcome in the hammer and kill tests."""
    return ("success", "success", "failure", "ignored")[i % 4]


def pattern_counts(n: int) -> tuple[int, int, int]:
    q, r = divmod(n, 4)
    return 2 * q + min(r, 2), q + (r >= 3), q


def record(b: fusebox.CircuitBreaker, outcome: str) -> None:
    p = b.acquire()
    {"success": p.success, "failure": p.failure, "ignored": p.ignore}[outcome]()


QUIET: dict[str, Any] = dict(consecutive_failures=None, failure_rate_threshold=0.9)
KILL: dict[str, Any] = dict(
    count_window=100,
    min_calls=100,
    failure_rate_threshold=0.9,
    consecutive_failures=None,
    open_timeout=10.0,
)


# ----- workers (top level: spawned children import them by name) ---------


def hammer_worker(path: str, calls: int, go: Any, out: Any) -> None:
    b = fusebox.SharedRegistry(path).get_or_create("hammer", **QUIET)
    go.wait()
    for i in range(calls):
        record(b, pattern(i))
    out.put(calls)


def trip_worker(path: str, go: Any, out: Any) -> None:
    b = fusebox.SharedRegistry(path).get_or_create("dependency")

    @b
    def call_dependency() -> None:
        raise ConnectionError("the dependency is down")

    go.wait()
    failures = 0
    while True:
        try:
            call_dependency()
        except ConnectionError:
            failures += 1
        except fusebox.CircuitOpenError as e:
            out.put((failures, e.reason))
            return


def kill_worker(
    path: str, clock: str, k: int, calls: int, ready: Any, go: Any, out: Any
) -> None:
    reg = fusebox.SharedRegistry(path, clock=fusebox.SharedManualClock(clock))
    b = reg.get_or_create("kill", **KILL)
    ack = reg.get_or_create(f"ack-{k}", **QUIET)
    ready.put(k)
    go.wait()
    for i in range(calls):
        record(b, pattern(i))
        ack.acquire().success()
    out.put(k)


def probe_worker(path: str, clock: str, ready: Any) -> None:
    reg = fusebox.SharedRegistry(path, clock=fusebox.SharedManualClock(clock))
    b = reg.get("probe")
    assert b is not None
    p = b.acquire()  # the only probe slot; never reported
    ready.put(p.is_probe)
    time.sleep(120)


def race_worker(path: str, k: int, ready: Any, go: Any, out: Any) -> None:
    ready.put(k)
    go.wait()
    reg = fusebox.SharedRegistry(path, capacity=8 + k)
    b = reg.get_or_create("race")
    for _ in range(1000):
        b.acquire().success()
    out.put((reg.created, reg.capacity))


def start(target: Any, *args: Any) -> Any:
    p = SPAWN.Process(target=target, args=args, daemon=True)
    p.start()
    return p


def join_ok(procs: list[Any]) -> None:
    for p in procs:
        p.join(120)
        assert p.exitcode == 0, f"worker exit code {p.exitcode}"


def forked_exit_code(pid: int, timeout: float = 120.0) -> int:
    """The exit code of forked child `pid`; a child still running after
    `timeout` s is killed and the test fails (a fork of this multi-threaded
    process that hangs must not hang the suite)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"forked child {pid} still running after {timeout} s: killed")
        time.sleep(0.01)  # polling the child, not moving any clock


# ----- across processes ---------------------------------------------------


def test_processes_hammering_one_breaker_add_up_to_exact_counts(folder: pathlib.Path) -> None:
    path = str(folder / "reg")
    go, out = SPAWN.Event(), SPAWN.Queue()
    calls = 20_000
    procs = [start(hammer_worker, path, calls, go, out) for _ in range(4)]
    go.set()
    assert sorted(out.get(timeout=120) for _ in procs) == [calls] * 4
    join_ok(procs)
    m = fusebox.SharedRegistry(path).get_or_create("hammer", **QUIET).metrics()
    ok, fail, ign = pattern_counts(calls)
    assert (m["successes"], m["failures"], m["ignored"]) == (4 * ok, 4 * fail, 4 * ign)
    assert m["state"] == "closed"


def test_a_failing_dependency_opens_the_breaker_for_all_four_workers_at_once(
    folder: pathlib.Path,
) -> None:
    path = str(folder / "reg")
    go, out = SPAWN.Event(), SPAWN.Queue()
    procs = [start(trip_worker, path, go, out) for _ in range(4)]
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    join_ok(procs)
    failures = sum(f for f, _ in results)
    # Every worker was stopped by the one open breaker...
    assert [r for _, r in results] == ["open"] * 4
    # ... after 5 failures in a row (the default), plus at most one call in
    # flight in each of the 3 other workers; 4 per-process breakers would
    # have let 4 x 5 = 20 calls fail.
    assert 5 <= failures <= 8, results
    m = fusebox.SharedRegistry(path).get_or_create("dependency").metrics()
    assert m["state"] == "open"
    assert m["failures"] == failures
    assert m["rejected"] == 4


def test_workers_killed_mid_call_leave_exact_counts_and_a_working_breaker(
    folder: pathlib.Path, request: pytest.FixtureRequest
) -> None:
    path, clock_path = str(folder / "reg"), str(folder / "clock")
    clock = fusebox.SharedManualClock(clock_path)
    reg = fusebox.SharedRegistry(path, clock=clock)
    b = reg.get_or_create("kill", **KILL)
    n, victims, calls = 6, 3, 500_000
    ready, go, out = SPAWN.Queue(), SPAWN.Event(), SPAWN.Queue()
    # Victims call until killed: however long this process is kept off the
    # CPU before it kills them, none can finish (and exit 0) first.
    procs = [
        start(kill_worker, path, clock_path, k, calls if k >= victims else 2**62, ready, go, out)
        for k in range(n)
    ]
    # Should the test fail before the kills, no victim outlives it.
    request.addfinalizer(lambda: [p.kill() for p in procs if p.is_alive()])
    for _ in procs:
        ready.get(timeout=120)
    go.set()
    # No victim dies before every worker is past `go`: a process killed
    # inside `Event.wait` can die holding the event's lock, and a worker
    # still waiting would then wait for ever. The ack breakers, in the
    # shared file, say who has started.
    acks = [reg.get_or_create(f"ack-{k}", **QUIET) for k in range(n)]
    deadline = time.monotonic() + 120
    while min(a.metrics()["successes"] for a in acks) == 0:
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.0005)
    # Each victim dies at a random moment within 30 ms, in turn.
    t0 = time.monotonic()
    for p, at in zip(procs[:victims], sorted(random.uniform(0.002, 0.03) for _ in range(victims))):
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        os.kill(p.pid, signal.SIGKILL)
    for p in procs[:victims]:
        p.join(60)
        assert p.exitcode == -signal.SIGKILL
    assert sorted(out.get(timeout=300) for _ in procs[victims:]) == list(range(victims, n))
    join_ok(procs[victims:])

    acked = [reg.get_or_create(f"ack-{k}", **QUIET).metrics()["successes"] for k in range(n)]
    assert acked[victims:] == [calls] * (n - victims), "survivors' counts are exact"
    # Victims call until killed, so any count is theirs to have reached;
    # each started (checked before the kills) and was killed (above).
    assert all(a > 0 for a in acked[:victims]), f"victims started: {acked}"
    lo = [0, 0, 0]
    for a in acked:
        for j, c in enumerate(pattern_counts(a)):
            lo[j] += c
    hi = list(lo)
    for a in acked[:victims]:
        # Killed after recording call `a`, before acknowledging it.
        hi[("success", "failure", "ignored").index(pattern(a))] += 1
    m: dict[str, Any] = dict(b.metrics())
    for j, key in enumerate(("successes", "failures", "ignored")):
        assert lo[j] <= m[key] <= hi[j], (key, m[key], lo[j], hi[j])
    assert (m["state"], m["state_changes"], m["rejected"]) == ("closed", 0, 0)

    # And it still goes through a whole cycle of transitions.
    while b.state == "closed":
        b.acquire().failure()
    with pytest.raises(fusebox.CircuitOpenError) as e:
        b.acquire()
    assert e.value.reason == "open"
    clock.advance(10)
    probes = [b.acquire() for _ in range(3)]
    assert all(p.is_probe for p in probes)
    for p in probes:
        p.success()
    assert b.state == "closed"
    assert b.metrics()["state_changes"] == 3


def test_a_probe_held_by_a_killed_worker_is_recovered_by_the_half_open_wait_limit(
    folder: pathlib.Path,
) -> None:
    path, clock_path = str(folder / "reg"), str(folder / "clock")
    clock = fusebox.SharedManualClock(clock_path)
    b = fusebox.SharedRegistry(path, clock=clock).get_or_create(
        "probe",
        consecutive_failures=1,
        open_timeout=10.0,
        half_open_max_calls=1,
        success_threshold=1,
        half_open_max_wait=30.0,
    )
    b.acquire().failure()
    clock.advance(10)
    ready = SPAWN.Queue()
    w = start(probe_worker, path, clock_path, ready)
    assert ready.get(timeout=120) is True
    os.kill(w.pid, signal.SIGKILL)
    w.join(60)
    assert b.state == "half_open"
    with pytest.raises(fusebox.CircuitOpenError) as e:
        b.acquire()
    assert e.value.reason == "half_open_full"
    clock.advance(30)
    with pytest.raises(fusebox.CircuitOpenError) as e:
        b.acquire()
    assert e.value.reason == "open" and e.value.retry_after == pytest.approx(10.0)
    clock.advance(10)
    p = b.acquire()
    assert p.is_probe
    p.success()
    assert b.state == "closed"


def test_workers_racing_to_create_the_file_agree_on_one(folder: pathlib.Path) -> None:
    for round in range(2):
        path = str(folder / f"reg{round}")
        ready, go, out = SPAWN.Queue(), SPAWN.Event(), SPAWN.Queue()
        procs = [start(race_worker, path, k, ready, go, out) for k in range(4)]
        for _ in procs:  # all at the start line: they race to create it
            ready.get(timeout=120)
        go.set()
        results = [out.get(timeout=120) for _ in procs]
        join_ok(procs)
        assert sum(created for created, _ in results) == 1, results
        assert len({cap for _, cap in results}) == 1, results
        reg = fusebox.SharedRegistry(path)
        assert reg.names() == ["race"]
        b = reg.get("race")
        assert b is not None and b.metrics()["successes"] == 4000
    assert sorted(p.name for p in folder.iterdir()) == ["reg0", "reg1"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_breakers_made_before_fork_are_shared_with_the_children(folder: pathlib.Path) -> None:
    """The pre-forking server's way: open the registry, fork the workers."""
    b = fusebox.SharedRegistry(str(folder / "reg")).get_or_create("pre-fork", **QUIET)
    pids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                for _ in range(1000):
                    b.acquire().success()
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        assert forked_exit_code(pid) == 0
    assert b.metrics()["successes"] == 3000


# ----- one process --------------------------------------------------------


def test_two_handles_on_one_file_share_one_breaker(folder: pathlib.Path) -> None:
    clock = fusebox.SharedManualClock(folder / "clock")
    a = fusebox.SharedRegistry(folder / "reg", clock=clock)
    b = fusebox.SharedRegistry(folder / "reg", clock=clock)
    assert a.created and not b.created
    assert a.path == folder / "reg" and a.capacity == 64
    ba = a.get_or_create("db", consecutive_failures=3, open_timeout=10.0)
    bb = b.get("db")
    assert bb is not None
    assert bb.config()["consecutive_failures"] == 3
    assert "db" in b and "nope" not in b and len(b) == 1
    for _ in range(3):
        ba.acquire().failure()
    assert bb.state == "open"
    with pytest.raises(fusebox.CircuitOpenError):
        bb.call(lambda: None)
    clock.advance(10)
    assert bb.acquire().is_probe
    assert [m["name"] for m in a.snapshot()] == ["db"]
    assert "1 of 64" in repr(a)


def test_another_config_for_an_existing_breaker_is_refused(folder: pathlib.Path) -> None:
    reg = fusebox.SharedRegistry(folder / "reg")
    reg.get_or_create("db", min_calls=10)
    other = fusebox.SharedRegistry(folder / "reg")
    with pytest.raises(fusebox.ConfigMismatchError) as e:
        other.get_or_create("db", min_calls=20, window_buckets=5)
    assert isinstance(e.value, ValueError)
    assert isinstance(e.value, fusebox.SharedRegistryError)
    assert e.value.breaker == "db"
    assert e.value.fields == ["min_calls", "window"]
    assert "min_calls" in str(e.value) and '"db"' in str(e.value)
    assert other.get_or_create("db", min_calls=10).name == "db"


def test_max_open_for_and_cancellation_are_stored_and_compared(folder: pathlib.Path) -> None:
    clock = fusebox.SharedManualClock(folder / "clock")
    reg = fusebox.SharedRegistry(folder / "reg", clock=clock)
    a = reg.get_or_create("api", max_open_for=45, cancellation="failure")
    other = fusebox.SharedRegistry(folder / "reg", clock=clock)
    b = other.get("api")
    assert b is not None
    assert (b.config()["max_open_for"], b.config()["cancellation"]) == (45.0, "failure")
    assert a.open_for(3600) is True
    with pytest.raises(fusebox.CircuitOpenError) as info:
        b.call(lambda: None)
    assert info.value.retry_after == pytest.approx(45)
    with pytest.raises(fusebox.ConfigMismatchError) as e:
        other.get_or_create("api", max_open_for=45, cancellation="release")
    assert e.value.fields == ["cancellation"]
    with pytest.raises(fusebox.ConfigMismatchError) as e:
        other.get_or_create("api")
    assert e.value.fields == ["max_open_for", "cancellation"]


def test_files_that_are_not_registries_are_refused(folder: pathlib.Path) -> None:
    junk = folder / "junk"
    junk.write_text("not a registry at all\n" * 100)
    with pytest.raises(fusebox.SharedRegistryError, match="not a fusebox shared registry"):
        fusebox.SharedRegistry(junk)
    # Another layout version (the header's second word).
    fusebox.SharedRegistry(folder / "reg")
    with open(folder / "reg", "r+b") as f:
        f.seek(8)
        f.write((99).to_bytes(8, "little"))
    with pytest.raises(fusebox.SharedRegistryError, match="another fusebox layout"):
        fusebox.SharedRegistry(folder / "reg")


def test_capacity_is_fixed_at_creation(folder: pathlib.Path) -> None:
    reg = fusebox.SharedRegistry(folder / "reg", capacity=2)
    reg.get_or_create("a")
    reg.get_or_create("b")
    with pytest.raises(fusebox.SharedRegistryError, match="full"):
        reg.get_or_create("c")
    assert fusebox.SharedRegistry(folder / "reg", capacity=100).capacity == 2


def test_bad_arguments_are_clear_errors(folder: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="capacity"):
        fusebox.SharedRegistry(folder / "r1", capacity=0)
    with pytest.raises(ValueError, match="stripes"):
        fusebox.SharedRegistry(folder / "r2", stripes=0)
    with pytest.raises(TypeError, match="SharedManualClock"):
        fusebox.SharedRegistry(folder / "r3", clock=fusebox.ManualClock())  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        fusebox.SharedRegistry(folder / "no" / "such" / "reg")
    reg = fusebox.SharedRegistry(folder / "reg")
    with pytest.raises(ValueError, match="name"):
        reg.get_or_create("")
    with pytest.raises(ValueError, match="min_calls"):
        reg.get_or_create("x", min_calls=0)
    with pytest.raises(TypeError):
        reg.get_or_create("x", no_such_setting=1)
    with pytest.raises(ValueError, match="seconds"):
        fusebox.SharedManualClock(folder / "clock").advance(-1)


# ----- the shared scenarios, on shared breakers ---------------------------

FILES = sorted(SCENARIOS.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_on_a_shared_breaker(path: pathlib.Path, folder: pathlib.Path) -> None:
    """Every scenario file, through a breaker from a shared registry: the
    same states and counts as in-process."""
    import test_scenarios

    scenario = json.loads(path.read_text())

    class SharedRunner(test_scenarios.Runner):
        def __init__(self) -> None:
            super().__init__(scenario, folder / "snapshot.json")
            clock = fusebox.SharedManualClock(folder / "clock")
            self.clock = clock  # type: ignore[assignment]
            reg = fusebox.SharedRegistry(folder / "reg", clock=clock)
            self.breaker = reg.get_or_create(
                scenario["name"],
                exclude=(NotFound,),
                **test_scenarios.config_kwargs(scenario.get("config", {})),
            )
            self.guarded = self.breaker(self.body)

    r = SharedRunner()
    for i, s in enumerate(scenario["steps"], 1):
        try:
            r.step(s)
        except AssertionError as e:
            raise AssertionError(f"{path.name} step {i} {s}: {e}") from e
