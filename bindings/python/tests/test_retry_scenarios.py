"""The retry scenario files (scenarios/retry/*.json), run through
``fusebox.RetryPolicy``: sync calls and async calls in turn, the waits
moving a ManualClock (nothing sleeps)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

import pytest

import fusebox
from conftest import SCENARIOS
from test_scenarios import config_kwargs

FILES = sorted((SCENARIOS / "retry").glob("*.json"))


class Failed(Exception):
    """A retryable failure, maybe with the server's retry-after (seconds)."""

    def __init__(self, retry_after: Optional[float] = None) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class Fatal(Exception):
    """A failure not worth retrying."""


def classify(exc: BaseException) -> str | float:
    if isinstance(exc, Fatal):
        return "stop"
    if isinstance(exc, Failed) and exc.retry_after is not None:
        return exc.retry_after
    return "retry"


def secs(ms: Optional[float]) -> Optional[float]:
    return None if ms is None else ms / 1000


class Runner:
    def __init__(self, s: dict[str, Any]) -> None:
        self.clock = fusebox.ManualClock()
        self.breaker = fusebox.CircuitBreaker(
            s["name"], clock=self.clock, **config_kwargs(s.get("config", {}))
        )
        b = s.get("budget", {})
        self.budget = fusebox.RetryBudget(
            s["name"],
            ratio=b.get("ratio"),
            min_per_sec=b.get("min_per_sec"),
            window=secs(b.get("window_ms")),
            buckets=b.get("buckets"),
            clock=self.clock,
        )
        r = s.get("retry", {})
        kw: dict[str, Any] = {
            key[: -len("_ms")]: value / 1000 for key, value in r.items() if key.endswith("_ms")
        }
        for key in ("max_attempts", "jitter"):
            if key in r:
                kw[key] = r[key]
        self.waits: list[float] = []
        self.ended: list[fusebox.RetryCall] = []
        self.policy = fusebox.RetryPolicy(
            self.breaker,
            self.budget,
            seed=r.get("seed", 1),
            classify=classify,
            sleep=self.sleep,
            async_sleep=self.async_sleep,
            on_end=self.ended.append,
            **kw,
        )
        self.turn = 0

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds * 1000)
        self.clock.advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def rejected(self) -> int:
        return int(self.breaker.metrics()["rejected"])

    def call(self, attempts: list[Any], attempt_ms: float) -> str:
        """One logical call: 'success', 'failed' or 'rejected'."""
        ran = 0
        rejected_before = self.rejected()

        def body() -> str:
            nonlocal ran
            ran += 1
            self.clock.advance(attempt_ms / 1000)
            # The attempt's number counts rejected attempts too.
            n = ran + self.rejected() - rejected_before
            spec = attempts[min(n, len(attempts)) - 1]
            outcome = spec if isinstance(spec, str) else spec["outcome"]
            if outcome == "success":
                return "ok"
            if outcome == "fatal":
                raise Fatal()
            raise Failed(None if isinstance(spec, str) else secs(spec.get("retry_after_ms")))

        async def body_async() -> str:
            return body()

        # Sync and async calls in turn: both loops meet every scenario.
        self.turn += 1
        try:
            if self.turn % 2:
                self.policy.call(body)
            else:
                asyncio.run(self.policy.call_async(body_async))
        except fusebox.CircuitOpenError:
            return "rejected"
        except (Failed, Fatal):
            return "failed"
        return "success"


def check(what: str, want: Any, got: Any) -> None:
    assert want is None or want == got, f"{what}: {got!r} != {want!r}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_retry_scenario(path: Any) -> None:
    s = json.loads(path.read_text(encoding="utf-8"))
    r = Runner(s)
    for i, step in enumerate(s["steps"], 1):
        op = step["op"]
        where = f"{s['name']} step {i}"
        if op == "advance":
            r.clock.advance(step["ms"] / 1000)
        elif op == "retry_call":
            expect = step.get("expect", {})
            for _ in range(step.get("repeat", 1)):
                r.waits.clear()
                r.ended.clear()
                result = r.call(step["attempts"], step.get("attempt_ms", 0))
                (call,) = r.ended
                check(f"{where} result", expect.get("result"), result)
                check(f"{where} attempts", expect.get("attempts"), call.attempt)
                check(f"{where} retries", expect.get("retries"), call.retries)
                check(f"{where} rejections", expect.get("rejections"), call.rejections)
                check(f"{where} stop", expect.get("stop"), call.stop)
                if "waits_ms" in expect:
                    want = expect["waits_ms"]
                    assert len(r.waits) == len(want) and all(
                        abs(g - w) <= 1e-3 for g, w in zip(r.waits, want)
                    ), f"{where} waits_ms {r.waits} != {want}"
        elif op == "expect_budget":
            got = r.budget.stats()
            for key, want in step.items():
                if key != "op":
                    check(f"{where} {key}", want, got[key])
        elif op == "expect_retry_metrics":
            got = r.policy.metrics()
            for key, want in step.items():
                if key != "op":
                    check(f"{where} {key}", want, got[key])
        elif op == "expect_state":
            check(f"{where} state", step["state"], r.breaker.state)
        elif op == "expect_metrics":
            m: dict[str, Any] = dict(r.breaker.metrics())
            for key, want in step.items():
                if key != "op":
                    check(f"{where} {key}", want, m[key])
        else:
            raise AssertionError(f"unknown op {op!r}: teach this runner")


def test_the_retry_scenarios_are_found() -> None:
    assert len(FILES) >= 5
