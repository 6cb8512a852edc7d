"""fusebox.Registry and the process-wide registry."""

from __future__ import annotations

import threading

import pytest

import fusebox
from conftest import Boom


def test_registry_creates_once_per_name(clock: fusebox.ManualClock) -> None:
    r = fusebox.Registry(clock=clock, consecutive_failures=2)
    r.configure("inventory:get", consecutive_failures=1, open_timeout=5.0)
    a = r.get_or_create("inventory:get")
    a2 = r.get_or_create("inventory:get")
    assert a is not a2  # two Python handles ...
    with pytest.raises(Boom):
        a.call(lambda: (_ for _ in ()).throw(Boom()))
    assert a2.state == "open"  # ... on one breaker
    assert a2.config()["open_timeout"] == 5.0
    p = r.get_or_create("payment:pay")
    assert p.config()["consecutive_failures"] == 2
    assert r.names() == ["inventory:get", "payment:pay"]
    assert len(r) == 2 and "payment:pay" in r and "nope" not in r
    assert r.get("nope") is None
    got = r.get("payment:pay")
    assert got is not None and got.name == "payment:pay"
    snap = r.snapshot()
    assert [m["name"] for m in snap] == ["inventory:get", "payment:pay"]
    assert snap[0]["failures"] == 1 and snap[0]["state"] == "open"
    clock.advance(5.0)
    assert a.acquire().is_probe  # the registry's clock is the manual one
    assert r.remove("payment:pay") and not r.remove("payment:pay")
    assert r.names() == ["inventory:get"]


def test_registry_config_on_creation_and_exclude(clock: fusebox.ManualClock) -> None:
    r = fusebox.Registry(clock=clock)
    b = r.get_or_create("svc", exclude=(KeyError,), min_calls=3)
    assert b.config()["min_calls"] == 3
    empty: dict[int, int] = {}
    with pytest.raises(KeyError):
        b.call(empty.__getitem__, 1)
    assert b.metrics()["ignored"] == 1
    # An existing breaker keeps its config.
    assert r.get_or_create("svc", min_calls=7).config()["min_calls"] == 3
    r.set_default(min_calls=4)
    assert r.get_or_create("other").config()["min_calls"] == 4


def test_registry_bad_input(clock: fusebox.ManualClock) -> None:
    r = fusebox.Registry(clock=clock)
    with pytest.raises(ValueError, match="name"):
        r.get_or_create("")
    with pytest.raises(ValueError, match="min_calls"):
        r.configure("x", min_calls=0)
    with pytest.raises(ValueError, match="min_calls"):
        r.get_or_create("y", min_calls=0)
    with pytest.raises(TypeError, match="clock"):
        fusebox.Registry(clock="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="open_timeout"):
        fusebox.Registry(open_timeout=0)


def test_racing_threads_get_one_breaker() -> None:
    r = fusebox.Registry()
    got: list[fusebox.CircuitBreaker] = []
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        b = r.get_or_create("race")
        b.call(lambda: None)
        got.append(b)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(r) == 1
    assert r.get_or_create("race").metrics()["successes"] == 4


def test_process_wide_registry() -> None:
    g = fusebox.registry()
    assert g is fusebox.registry()
    b = g.get_or_create("fusebox-tests:global")
    b.call(lambda: None)
    assert "fusebox-tests:global" in g
    assert g.get_or_create("fusebox-tests:global").metrics()["successes"] >= 1
    assert g.remove("fusebox-tests:global")
