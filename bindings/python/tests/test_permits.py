"""The low-level permit API."""

from __future__ import annotations

import gc

import pytest

import fusebox
from conftest import Boom


def half_open_one_slot(clock: fusebox.ManualClock) -> fusebox.CircuitBreaker:
    b = fusebox.CircuitBreaker("p", clock=clock, consecutive_failures=1, open_timeout=1.0,
                               half_open_max_calls=1, success_threshold=1)
    b.acquire().failure()
    clock.advance(1.0)
    return b


def test_permit_outcomes(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("p", clock=clock, slow_call_duration=1.0,
                               consecutive_failures=None)
    b.acquire().success()
    b.acquire().failure()
    b.acquire().ignore()
    b.acquire().success(duration=2.0)  # slow
    p = b.acquire()
    clock.advance(1.5)
    p.success()  # measured on the breaker's clock: slow too
    b.acquire().release()
    m = b.metrics()
    assert (m["successes"], m["failures"], m["ignored"], m["slow"]) == (3, 1, 1, 2)
    assert m["window_calls"] == 4 and m["window_slow"] == 2


def test_dropped_permit_frees_the_probe_slot(clock: fusebox.ManualClock) -> None:
    b = half_open_one_slot(clock)
    p = b.acquire()
    assert p.is_probe and p.breaker is b
    with pytest.raises(fusebox.CircuitOpenError):
        b.acquire()
    del p
    gc.collect()
    q = b.acquire()  # the slot came back when the permit was dropped
    q.success()
    assert b.state == "closed"


def test_released_and_ignored_probes_free_the_slot(clock: fusebox.ManualClock) -> None:
    b = half_open_one_slot(clock)
    b.acquire().release()
    b.acquire().ignore()
    assert b.state == "half_open"
    b.acquire().success()
    assert b.state == "closed"


def test_finish_classifies_like_the_decorator(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("f", clock=clock, exclude=[KeyError],
                               consecutive_failures=None)
    b.acquire().finish(None)
    b.acquire().finish(Boom())
    b.acquire().finish(KeyError())
    b.acquire().finish(KeyboardInterrupt())  # released, not counted
    p = b.acquire()
    p.success()
    p.finish(Boom())  # already used: no effect
    m = b.metrics()
    assert (m["successes"], m["failures"], m["ignored"]) == (2, 1, 1)


def test_stale_permit_outcome_is_not_counted_against_the_new_state(
    clock: fusebox.ManualClock,
) -> None:
    b = fusebox.CircuitBreaker("s", clock=clock, consecutive_failures=2, open_timeout=1.0,
                               half_open_max_calls=1, success_threshold=1)
    slow = b.acquire()
    b.acquire().failure()
    b.acquire().failure()
    assert b.state == "open"
    clock.advance(1.0)
    probe = b.acquire()
    slow.failure()  # admitted while closed: does not re-open the half-open breaker
    assert b.state == "half_open"
    probe.success()
    assert b.state == "closed"
