"""``CircuitBreaker.open_for`` (a server's Retry-After) and the two settings
that go with it, ``max_open_for`` and ``cancellation``, on a manual clock."""

from __future__ import annotations

import math

import pytest

import fusebox
from fusebox import _codes


def retry_after(b: fusebox.CircuitBreaker) -> float | None:
    with pytest.raises(fusebox.CircuitOpenError) as info:
        b.call(lambda: None)
    return info.value.retry_after


def test_open_for_opens_capped_then_probes(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("api", clock=clock, max_open_for=120,
                               half_open_max_calls=1, success_threshold=1)
    assert b.open_for(90) is True
    assert b.state == "open"
    assert retry_after(b) == pytest.approx(90)
    # A shorter hint does not shorten it; a longer one is cut to 120 s.
    assert b.open_for(10) is False
    assert b.open_for(3600.5) is True
    assert retry_after(b) == pytest.approx(120)
    clock.advance(120)
    p = b.acquire()
    assert p.is_probe
    p.success()
    assert b.state == "closed"


def test_zero_means_a_probe_at_the_next_call(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("api", clock=clock)
    assert b.open_for(0) is True
    assert b.state == "open"
    p = b.acquire()
    assert p.is_probe and b.state == "half_open"
    p.release()


def test_manual_control_outranks_the_hint(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("api", clock=clock)
    b.force_open()
    assert b.open_for(5) is False
    assert b.phase == "forced_open"
    b.disable()
    assert b.open_for(5) is False
    assert b.phase == "disabled"


def test_bad_durations_are_refused(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("api", clock=clock)
    for bad in (-1, -0.001, math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match=r"^invalid seconds: .* \(expected a finite duration ≥ 0 seconds\)$"):
            b.open_for(bad)
    for wrong in ("5", None, True):
        with pytest.raises(TypeError, match="seconds"):
            b.open_for(wrong)  # type: ignore[arg-type]
    assert b.state == "closed" and b.metrics()["state_changes"] == 0


def test_settings_are_checked_by_the_core() -> None:
    with pytest.raises(ValueError, match=r"invalid max_open_for: 0 \(expected a duration"):
        fusebox.CircuitBreaker("a", max_open_for=0)
    with pytest.raises(ValueError, match="invalid cancellation: \"sometimes\" "
                       r"\(expected release, slow_if_overdue or failure\)"):
        fusebox.CircuitBreaker("a", cancellation="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cancellation must be a str"):
        fusebox.CircuitBreaker("a", cancellation=1)  # type: ignore[arg-type]
    for name in _codes.CANCELLATIONS:
        assert fusebox.CircuitBreaker("a", cancellation=name).config()["cancellation"] == name


def test_keyed_and_registry_breakers_take_the_settings(clock: fusebox.ManualClock) -> None:
    k = fusebox.KeyedBreakers("hosts", 4, clock=clock, max_open_for=30, cancellation="release")
    b = k.get_or_create("a")
    assert b.config()["max_open_for"] == 30.0 and b.config()["cancellation"] == "release"
    assert b.open_for(60) is True
    assert retry_after(b) == pytest.approx(30)
    r = fusebox.Registry(clock=clock, max_open_for=15)
    assert r.get_or_create("svc").config()["max_open_for"] == 15.0
