"""State-change callbacks."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

import fusebox
from conftest import Boom


def trip(b: fusebox.CircuitBreaker) -> None:
    with pytest.raises(Boom):
        with b:
            raise Boom()


def test_callbacks_see_every_change_off_the_calling_thread(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("ev", clock=clock, consecutive_failures=1, open_timeout=2.0,
                               half_open_max_calls=1, success_threshold=1)
    seen: list[fusebox.StateChange] = []
    threads: list[int] = []

    @b.on_state_change
    def listener(change: fusebox.StateChange) -> None:
        seen.append(change)
        threads.append(threading.get_ident())

    assert callable(listener)  # on_state_change returns the callback
    trip(b)
    clock.advance(2.0)
    b.call(lambda: None)  # the probe: half_open, then closed
    b.force_open()
    b.reset()
    assert fusebox.flush_events(timeout=10)
    got = [(c.from_phase, c.to_phase) for c in seen]
    assert got == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
        ("closed", "forced_open"),
        ("forced_open", "closed"),
    ]
    assert [(c.from_state, c.to_state) for c in seen][3] == ("closed", "open")
    assert all(c.breaker == "ev" for c in seen)
    gens = [c.generation for c in seen]
    assert gens == sorted(gens) and len(set(gens)) == len(gens)
    assert seen[1].at == pytest.approx(seen[0].at + 2.0)
    assert threading.get_ident() not in threads
    assert "half_open" in repr(seen[1])
    assert b.metrics()["state_changes"] == 5


def test_several_callbacks_and_a_failing_one(clock: fusebox.ManualClock,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    b = fusebox.CircuitBreaker("ev2", clock=clock, consecutive_failures=1)
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    calls: list[str] = []

    def bad(change: fusebox.StateChange) -> None:
        calls.append("bad")
        raise ValueError("listener bug")

    b.on_state_change(bad)
    b.on_state_change(lambda c: calls.append(c.to_state))
    trip(b)
    assert fusebox.flush_events(timeout=10)
    assert calls == ["bad", "open"]
    assert len(unraisable) == 1
    assert isinstance(unraisable[0].exc_value, ValueError)


def test_a_callback_may_use_the_breaker(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("ev3", clock=clock, consecutive_failures=1)
    states: list[str] = []
    b.on_state_change(lambda c: states.append(b.state))
    trip(b)
    assert fusebox.flush_events(timeout=10)
    assert states == ["open"]
