"""fusebox.KeyedBreakers: a bounded set of breakers by key. The core decides
what may be evicted; these tests check that the binding passes it through
(with a ManualClock: nothing sleeps)."""

from __future__ import annotations

import pickle
import re
import threading

import pytest

import fusebox
from conftest import Boom

FULL_1 = "keyed breakers full: all 1 hold history (open, failing or recently used)"


def fail() -> None:
    raise Boom()


def test_one_breaker_per_key_with_the_sets_config(clock: fusebox.ManualClock) -> None:
    hosts = fusebox.KeyedBreakers(
        "hosts", 4, clock=clock, consecutive_failures=2, open_timeout=5.0
    )
    assert (hosts.name, hosts.capacity, hosts.min_idle, len(hosts)) == ("hosts", 4, 10.0, 0)
    assert hosts.get("a.example") is None  # get creates nothing
    assert len(hosts) == 0
    a = hosts.get_or_create("a.example")
    a2 = hosts.get_or_create("a.example")
    assert a is not a2 and a.name == "a.example"  # two Python handles ...
    assert a.config()["consecutive_failures"] == 2 and a.config()["open_timeout"] == 5.0
    for _ in range(2):
        with pytest.raises(Boom):
            a.call(fail)
    assert a2.state == "open"  # ... on one breaker
    got = hosts.get("a.example")
    assert got is not None and got.state == "open"
    clock.advance(5.0)
    assert a.acquire().is_probe  # the set's clock is the manual one
    assert len(hosts) == 1
    assert repr(hosts) == '<fusebox.KeyedBreakers "hosts": 1 of 4 breakers>'


def test_exclude_applies_to_the_returned_object(clock: fusebox.ManualClock) -> None:
    hosts = fusebox.KeyedBreakers("hosts", 4, clock=clock)
    b = hosts.get_or_create("a.example", exclude=(KeyError,))
    assert b.exclude == (KeyError,)
    empty: dict[int, int] = {}
    with pytest.raises(KeyError):
        b.call(empty.__getitem__, 1)
    assert b.metrics()["ignored"] == 1
    got = hosts.get("a.example", exclude=KeyError)
    assert got is not None and got.exclude == (KeyError,)
    assert hosts.get_or_create("a.example").exclude == ()


def test_full_set_refuses_new_keys(clock: fusebox.ManualClock) -> None:
    hosts = fusebox.KeyedBreakers("hosts", 1, clock=clock)
    a = hosts.get_or_create("a.example")
    # a.example holds nothing, but was used within min_idle (10 s).
    with pytest.raises(fusebox.KeyedFullError) as info:
        hosts.get_or_create("b.example")
    e = info.value
    assert isinstance(e, fusebox.FuseboxError)
    assert not isinstance(e, ValueError)  # not bad input
    assert str(e) == FULL_1  # the core's message
    assert (e.keyed, e.capacity) == ("hosts", 1)
    copy = pickle.loads(pickle.dumps(e))
    assert type(copy) is fusebox.KeyedFullError and copy.args == e.args
    # The set is unchanged.
    assert hosts.get("b.example") is None and len(hosts) == 1
    assert hosts.get("a.example") is not None
    assert a.state == "closed"
    assert hosts.stats()["refusals"] == 1


def test_busy_breakers_are_never_evicted(clock: fusebox.ManualClock) -> None:
    hosts = fusebox.KeyedBreakers("hosts", 3, clock=clock, min_idle=1.0)
    hosts.get_or_create("forced").force_open()
    hosts.get_or_create("disabled").disable()
    failing = hosts.get_or_create("failing")
    with pytest.raises(Boom):
        failing.call(fail)  # a failure run: history
    clock.advance(60.0)  # past min_idle, and past the window
    for key in ("new-1", "new-2"):
        with pytest.raises(fusebox.KeyedFullError):
            hosts.get_or_create(key)
    s = hosts.stats()
    assert (s["len"], s["evictions"], s["refusals"]) == (3, 0, 2)
    for key in ("forced", "disabled", "failing"):
        assert hosts.get(key) is not None, key
    # Removed by hand, a busy breaker makes room at once.
    assert hosts.remove("forced") and not hosts.remove("forced")
    assert hosts.get_or_create("new-1").name == "new-1"
    assert hosts.stats()["removed"] == 1


def test_calls_in_the_window_are_history(clock: fusebox.ManualClock) -> None:
    hosts = fusebox.KeyedBreakers("hosts", 1, clock=clock, min_idle=1.0)
    a = hosts.get_or_create("a.example")
    assert a.call(lambda: 7) == 7
    clock.advance(5.0)  # idle, but a success is still in the 10 s window
    with pytest.raises(fusebox.KeyedFullError):
        hosts.get_or_create("b.example")
    clock.advance(6.0)  # the success left the window
    hosts.get_or_create("b.example")
    assert hosts.get("a.example") is None


def test_idle_breakers_are_evicted_after_min_idle(clock: fusebox.ManualClock) -> None:
    hosts = fusebox.KeyedBreakers("hosts", 2, clock=clock, min_idle=5.0)
    a = hosts.get_or_create("a.example")
    b = hosts.get_or_create("b.example")
    clock.advance(4.0)
    assert hosts.get("b.example") is not None  # a lookup is a use
    clock.advance(0.9)
    with pytest.raises(fusebox.KeyedFullError):
        hosts.get_or_create("c.example")
    clock.advance(0.1)  # a.example: 5 s without a lookup; b.example: 1 s
    c = hosts.get_or_create("c.example")
    assert hosts.get("a.example") is None
    assert hosts.get("b.example") is not None and hosts.get("c.example") is not None
    assert len(hosts) == 2
    # A breaker handed out keeps working for its holder after its eviction
    # (it is no longer in the set).
    assert a.call(lambda: 1) == 1
    with pytest.raises(Boom):
        a.call(fail)
    m = a.metrics()
    assert (m["successes"], m["failures"], m["state"]) == (1, 1, "closed")
    assert b.state == c.state == "closed"
    s = hosts.stats()
    assert s == {
        "name": "hosts",
        "len": 2,
        "capacity": 2,
        "created": 3,
        "evictions": 1,
        "refusals": 1,
        "removed": 0,
    }


def test_an_evicted_key_gets_a_fresh_breaker(clock: fusebox.ManualClock) -> None:
    hosts = fusebox.KeyedBreakers("hosts", 1, clock=clock, min_idle=0)
    assert hosts.min_idle == 0.0
    old = hosts.get_or_create("a.example")
    hosts.get_or_create("b.example")  # evicts a.example at once (min_idle 0)
    with pytest.raises(Boom):
        old.call(fail)  # counts in the old breaker only
    clock.advance(0.001)
    new = hosts.get_or_create("a.example")
    assert new.metrics()["failures"] == 0 and old.metrics()["failures"] == 1
    s = hosts.stats()
    assert (s["created"], s["evictions"], s["len"]) == (3, 2, 1)


def test_snapshot_and_prometheus(clock: fusebox.ManualClock) -> None:
    hosts = fusebox.KeyedBreakers("hosts", 2, clock=clock)
    with pytest.raises(Boom):
        hosts.get_or_create("b.example").call(fail)
    hosts.get_or_create("a.example")
    with pytest.raises(fusebox.KeyedFullError):
        hosts.get_or_create("c.example")
    snap = hosts.snapshot()
    assert [m["name"] for m in snap] == ["a.example", "b.example"]
    assert snap[1]["failures"] == 1
    text = hosts.prometheus()
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ")
            types[family] = kind
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP "), line
            continue
        m = re.fullmatch(r'([a-z_:]+)(\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})? (\S+)', line)
        assert m, line
        samples[m[1] + (m[2] or "")] = float(m[3])
    assert samples['fusebox_keyed_breakers{keyed="hosts"}'] == 2
    assert samples['fusebox_keyed_capacity{keyed="hosts"}'] == 2
    assert samples['fusebox_keyed_evictions_total{keyed="hosts"}'] == 0
    assert samples['fusebox_keyed_refusals_total{keyed="hosts"}'] == 1
    assert samples['fusebox_state{breaker="a.example",state="closed"}'] == 1
    assert types["fusebox_keyed_breakers"] == "gauge"
    assert types["fusebox_keyed_evictions_total"] == "counter"
    assert types["fusebox_keyed_refusals_total"] == "counter"


def test_bad_input_is_reported_as_by_circuit_breaker() -> None:
    def message(make: object) -> tuple[type[BaseException], str]:
        assert callable(make)
        with pytest.raises(Exception) as info:
            make()
        return type(info.value), str(info.value)

    long = "x" * 257
    for bad in ("", long):
        assert message(lambda: fusebox.KeyedBreakers(bad, 8)) == message(
            lambda: fusebox.CircuitBreaker(bad)
        )
    assert message(lambda: fusebox.KeyedBreakers(5, 8)) == message(  # type: ignore[arg-type]
        lambda: fusebox.CircuitBreaker(5)  # type: ignore[arg-type]
    )
    for kw in ({"min_calls": 0}, {"open_timeout": -1}, {"count_window": 10, "window": 5.0}):
        assert message(lambda: fusebox.KeyedBreakers("k", 8, **kw)) == message(
            lambda: fusebox.CircuitBreaker("k", **kw)
        )
    assert message(lambda: fusebox.KeyedBreakers("k", 8, nope=1)) == message(  # type: ignore[call-arg]
        lambda: fusebox.CircuitBreaker("k", nope=1)  # type: ignore[call-arg]
    )
    # Keys follow the name rule.
    hosts = fusebox.KeyedBreakers("hosts", 8)
    for bad in ("", long):
        assert message(lambda: hosts.get_or_create(bad)) == message(
            lambda: fusebox.CircuitBreaker(bad)
        )
    assert hosts.get("") is None and len(hosts) == 0


def test_bad_capacity_and_min_idle() -> None:
    for cap in (0, 10_000_001):
        with pytest.raises(ValueError) as info:
            fusebox.KeyedBreakers("k", cap)
        assert str(info.value) == f"invalid capacity: {cap} (expected 1..=10 000 000)"
    with pytest.raises(ValueError, match="capacity"):
        fusebox.KeyedBreakers("k", -1)
    for bad_cap in ("8", 8.0, True):
        with pytest.raises(TypeError, match="capacity"):
            fusebox.KeyedBreakers("k", bad_cap)  # type: ignore[arg-type]
    for idle in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="min_idle"):
            fusebox.KeyedBreakers("k", 8, min_idle=idle)
    with pytest.raises(TypeError, match="min_idle"):
        fusebox.KeyedBreakers("k", 8, min_idle="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="clock"):
        fusebox.KeyedBreakers("k", 8, clock="no")  # type: ignore[arg-type]
    assert fusebox.KeyedBreakers("k", 10_000_000).capacity == 10_000_000


def test_racing_threads_keep_the_bound(clock: fusebox.ManualClock) -> None:
    hosts = fusebox.KeyedBreakers("hosts", 10, clock=clock, min_idle=0)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        start.wait()
        try:
            for i in range(500):
                # Unused breakers hold nothing: always evictable (min_idle 0).
                assert hosts.get_or_create(f"{n}-{i % 25}").name == f"{n}-{i % 25}"
                assert len(hosts) <= 10
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    s = hosts.stats()
    assert s["len"] == len(hosts) <= 10
    assert s["created"] - s["evictions"] - s["removed"] == s["len"]
