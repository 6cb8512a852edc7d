"""The shared table of bad inputs (scenarios/bad_input/cases.json), run
through the Python API: each kind is an exception class, the message names
the argument, and a duration out of range is quoted in seconds."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import fusebox
from conftest import SCENARIOS

TABLE = json.loads((SCENARIOS / "bad_input" / "cases.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = [c for c in TABLE["cases"] if "python" not in c.get("not_in", {})]

# The table's kinds as Python exceptions.
EXCEPTION: dict[str, type[Exception]] = {
    "invalid_config": ValueError,
    "invalid_name": ValueError,
    "outcome_already_recorded": RuntimeError,
    "invalid_argument": ValueError,
}

# The table's (core) field names as Python spells them.
ARG = {
    "window.buckets": "window_buckets",
    "window.size": "count_window",
    "backoff.multiplier": "backoff_multiplier",
    "backoff.max": "backoff_max",
    "duration": "seconds",
}


SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def num(v: Any) -> Any:
    """A neutral number: JSON's, or "NaN", "Infinity", "-Infinity"."""
    return SPECIAL[v] if isinstance(v, str) else v


def kwargs(config: dict[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for key, v in config.items():
        if key == "window":
            if v["type"] == "time":
                kw["window"] = num(v["duration_ms"]) / 1000
                kw["window_buckets"] = v["buckets"]
            else:
                kw["count_window"] = v["size"]
        elif key == "backoff":
            kw["backoff_multiplier"] = num(v["multiplier"])
            kw["backoff_max"] = num(v["max_ms"]) / 1000
        elif key.endswith("_ms"):
            kw[key[: -len("_ms")]] = num(v) / 1000
        elif key == "cancellation":
            kw[key] = v
        else:
            kw[key] = num(v)
    return kw


def retry_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """Retry policy, budget or hedge keys (as in scenarios/retry) → kwargs, s."""
    return {
        (k[: -len("_ms")] if k.endswith("_ms") else k): (num(v) / 1000 if k.endswith("_ms") else num(v))
        for k, v in spec.items()
    }


def name(v: Any) -> str:
    return v if isinstance(v, str) else v["repeat"] * v["times"]


def test_the_table_is_found() -> None:
    assert len(CASES) >= 40
    assert set(TABLE["kinds"]) == set(EXCEPTION)


@pytest.mark.parametrize("case", CASES, ids=[c["what"] for c in CASES])
def test_bad_input(case: dict[str, Any], clock: fusebox.ManualClock) -> None:
    exc = EXCEPTION[case["kind"]]
    field = ARG.get(case["field"], case["field"])
    if "name" in case:
        with pytest.raises(exc) as info:
            fusebox.CircuitBreaker(name(case["name"]))
        with pytest.raises(exc) as again:
            fusebox.Registry().get_or_create(name(case["name"]))
        assert str(again.value) == str(info.value)
    elif "permit" in case:
        b = fusebox.CircuitBreaker("bad-input", clock=clock)
        p = b.acquire()
        *first, last = case["permit"]
        for step in first:
            do(p, step)
        with pytest.raises(exc) as info:
            do(p, last)
        m = b.metrics()
        assert m["successes"] + m["failures"] + m["ignored"] <= 1
    elif "retry" in case:
        b = fusebox.CircuitBreaker("bad-input", clock=clock)
        budget = fusebox.RetryBudget("bad-input", clock=clock)
        with pytest.raises(exc) as info:
            fusebox.RetryPolicy(b, budget, **retry_kwargs(case["retry"]))
    elif "hedge" in case:
        # A quantile is a quantile delay's: over an empty histogram.
        extra: dict[str, Any] = {}
        if "quantile" in case["hedge"]:
            extra["histogram"] = fusebox.LatencyHistogram()
        with pytest.raises(exc) as info:
            fusebox.HedgePolicy(**retry_kwargs(case["hedge"]), **extra)
    elif "retry_budget" in case:
        with pytest.raises(exc) as info:
            fusebox.RetryBudget("bad-input", clock=clock, **retry_kwargs(case["retry_budget"]))
    elif "open_for" in case:
        b = fusebox.CircuitBreaker("bad-input", clock=clock)
        with pytest.raises(exc) as info:
            b.open_for(num(case["open_for"]) / 1000)
        assert b.state == "closed", "nothing changed"
    else:
        with pytest.raises(exc) as info:
            fusebox.CircuitBreaker("bad-input", clock=clock, **kwargs(case["config"]))
    message = str(info.value)
    assert type(info.value) is exc, message
    assert field in message, f"{message!r} does not name {field}"
    if case.get("duration"):
        assert message.endswith("] seconds)"), f"{message!r} is not in seconds"


def do(p: fusebox.Permit, step: str) -> None:
    {"success": p.success, "failure": p.failure, "ignored": p.ignore,
     "release": p.release}[step]()
