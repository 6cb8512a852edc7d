"""Live reconfiguration and snapshot/restore through the Python API
(docs/semantics.md#live-reconfiguration, #snapshot-and-restore)."""

from __future__ import annotations

import pathlib

import pytest

import fusebox


def test_reconfigure_keeps_the_window_and_judges_it(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker(
        "db", clock=clock, count_window=20, min_calls=10, consecutive_failures=None
    )
    for _ in range(4):
        b.acquire().failure()
    assert b.state == "closed"
    done = b.reconfigure(min_calls=4, open_timeout=5)
    assert done == {"changed": ["min_calls", "open_timeout"], "tripped": True}
    assert b.state == "open"
    assert b.config()["open_timeout"] == 5.0
    assert b.config()["count_window"] == 20, "the rest kept"
    assert b.metrics()["failures"] == 4


def test_reconfigure_refuses_another_window_and_bad_values(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("db", clock=clock, count_window=20)
    before = b.config()
    with pytest.raises(ValueError, match=r"invalid window: time 10 in 10 buckets \(expected the breaker's own window"):
        b.reconfigure(window=10)
    with pytest.raises(ValueError, match="invalid window: count 30"):
        b.reconfigure(count_window=30)
    with pytest.raises(ValueError, match=r"invalid min_calls: 0 \(expected 1..=1 000 000 000\)"):
        b.reconfigure(min_calls=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'min_call'"):
        b.reconfigure(min_call=3)
    assert b.config() == before
    assert b.reconfigure(backoff_multiplier=2, backoff_max=60)["changed"] == ["backoff"]
    assert b.reconfigure(backoff_multiplier=None)["changed"] == ["backoff"]
    assert b.config()["backoff_max"] is None


def test_registry_reconfigure(clock: fusebox.ManualClock) -> None:
    r = fusebox.Registry(clock=clock)
    db = r.get_or_create("db")
    assert r.reconfigure("db", min_calls=50) is False
    assert db.config()["min_calls"] == 50
    assert r.reconfigure("later", min_calls=7) is False
    assert r.get_or_create("later").config()["min_calls"] == 7


def test_snapshot_keeps_an_open_breaker_open_across_a_restart(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state.json"
    clock = fusebox.ManualClock()
    r = fusebox.Registry(clock=clock)
    db = r.get_or_create("db", consecutive_failures=1, open_timeout=60)
    db.acquire().failure()
    r.get_or_create("cache").force_open()
    clock.advance(15)
    r.write_state(path)

    clock2 = fusebox.ManualClock()
    r2 = fusebox.Registry(clock=clock2)
    assert r2.restore_state(path, elapsed=5) == ["cache", "db"]
    db2 = r2.get("db")
    assert db2 is not None and db2.state == "open"
    with pytest.raises(fusebox.CircuitOpenError) as info:
        db2.acquire()
    assert info.value.retry_after == pytest.approx(40.0)
    assert db2.config()["open_timeout"] == 60.0
    cache = r2.get("cache")
    assert cache is not None and cache.phase == "forced_open"
    clock2.advance(40)
    p = db2.acquire()
    assert p.is_probe
    p.release()
    # Wall time by default: written just now, nearly all of it left.
    r3 = fusebox.Registry(clock=fusebox.ManualClock())
    r3.restore_state(path)
    db3 = r3.get("db")
    assert db3 is not None and db3.state == "open"


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"format": "fusebox.snapshot", "version": 1, "bre', "snapshot is damaged or truncated: EOF while parsing"),
        ("[1, 2", "snapshot is damaged or truncated"),
        ('{"format": "other", "version": 1}', 'not a fusebox snapshot: format "other"'),
        ('{"version": 1}', "not a fusebox snapshot: format none"),
        ('{"format": "fusebox.snapshot", "version": 9, "written_at_unix_ms": 0, "breakers": []}',
         "snapshot version 9 is newer than this fusebox reads (up to 1)"),
    ],
)
def test_a_bad_file_is_refused_with_nothing_applied(
    tmp_path: pathlib.Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    r = fusebox.Registry()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        r.restore_state(path)
    assert len(r) == 0
    with pytest.raises(OSError, match="missing.json"):
        r.restore_state(tmp_path / "missing.json")
