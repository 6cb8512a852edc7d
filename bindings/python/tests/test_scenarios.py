"""The shared scenario files (scenarios/*.json), run through the Python API.

Each `call` step goes through one of the public ways to call (the decorator,
`breaker.call`, `with breaker:`), in turn, so every way meets every scenario.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Callable

import pytest

import fusebox
from conftest import SCENARIOS, Boom, NotFound

FILES = sorted(SCENARIOS.glob("*.json")) + sorted((SCENARIOS / "ops").glob("*.json"))


def test_the_scenario_folder_is_found() -> None:
    assert len(FILES) >= 16, f"expected the shared scenarios in {SCENARIOS}"


def config_kwargs(c: dict[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for key, value in c.items():
        if key == "window":
            if value["type"] == "time":
                kw["window"] = value["duration_ms"] / 1000
                kw["window_buckets"] = value["buckets"]
            elif value["type"] == "count":
                kw["count_window"] = value["size"]
            else:
                raise AssertionError(f"unknown window type {value}")
        elif key == "backoff":
            kw["backoff_multiplier"] = value["multiplier"]
            kw["backoff_max"] = value["max_ms"] / 1000
        elif key.endswith("_ms"):
            kw[key[: -len("_ms")]] = value / 1000
        elif key in (
            "failure_rate_threshold",
            "consecutive_failures",
            "min_calls",
            "jitter",
            "half_open_max_calls",
            "success_threshold",
            "slow_call_rate_threshold",
            "cancellation",
        ):
            kw[key] = value
        else:
            raise AssertionError(f"unknown config key {key!r}")
    return kw


class Runner:
    def __init__(self, scenario: dict[str, Any], snapshot: pathlib.Path) -> None:
        self.name = scenario["name"]
        self.path = snapshot
        self.clock = fusebox.ManualClock()
        # In a registry, so that `snapshot` and `restore` steps can write and
        # read it.
        self.registry = fusebox.Registry(clock=self.clock)
        self.breaker = self.registry.get_or_create(
            self.name,
            exclude=(NotFound,),
            **config_kwargs(scenario.get("config", {})),
        )
        self.held: dict[str, fusebox.Permit] = {}
        self.turn = 0
        self.ran = 0

        def body(outcome: str) -> str:
            self.ran += 1
            if outcome == "failure":
                raise Boom()
            if outcome == "ignored":
                raise NotFound()
            return "ok"

        self.body = body
        self.guarded = self.breaker(body)

    def styles(self) -> list[Callable[[str], Any]]:
        def with_block(outcome: str) -> Any:
            with self.breaker:
                return self.body(outcome)

        return [self.guarded, lambda o: self.breaker.call(self.body, o), with_block]

    def one_call(self, outcome: str) -> None:
        style = self.styles()[self.turn % 3]
        self.turn += 1
        if outcome == "success":
            assert style(outcome) == "ok"
        elif outcome == "failure":
            with pytest.raises(Boom):
                style(outcome)
        else:
            with pytest.raises(NotFound):
                style(outcome)

    def step(self, s: dict[str, Any]) -> None:
        op = s["op"]
        b = self.breaker
        if op == "advance":
            self.clock.advance(s["ms"] / 1000)
        elif op == "call":
            outcome = s["outcome"]
            for _ in range(s.get("repeat", 1)):
                if "duration_ms" in s:
                    p = b.acquire()
                    d = s["duration_ms"] / 1000
                    {"success": lambda: p.success(duration=d),
                     "failure": lambda: p.failure(duration=d),
                     "ignored": p.ignore}[outcome]()
                else:
                    before = self.ran
                    self.one_call(outcome)
                    assert self.ran == before + 1
        elif op == "reject":
            for _ in range(s.get("repeat", 1)):
                style = self.styles()[self.turn % 3]
                self.turn += 1
                before = self.ran
                with pytest.raises(fusebox.CircuitOpenError) as info:
                    style("success")
                assert self.ran == before, "a rejected call must not run"
                e = info.value
                assert e.breaker == b.name
                if "reason" in s:
                    assert e.reason == s["reason"]
                if "retry_after_ms" in s:
                    assert e.retry_after is not None
                    assert abs(e.retry_after * 1000 - s["retry_after_ms"]) <= 1.0
        elif op == "acquire":
            p = b.acquire()
            if "probe" in s:
                assert p.is_probe == s["probe"]
            self.held[s["id"]] = p
        elif op == "record":
            p = self.held.pop(s["id"])
            d = s["duration_ms"] / 1000 if "duration_ms" in s else None
            if s["outcome"] == "success":
                p.success(duration=d)
            elif s["outcome"] == "failure":
                p.failure(duration=d)
            else:
                p.ignore()
        elif op == "release":
            self.held.pop(s["id"]).release()
        elif op == "expect_state":
            assert b.state == s["state"]
        elif op == "expect_metrics":
            m: dict[str, Any] = dict(b.metrics())
            for key, want in s.items():
                if key != "op":
                    assert key in m, f"unknown metric {key!r}"
                    assert m[key] == want, f"{key}: {m[key]} != {want}"
        elif op == "force_open":
            b.force_open()
        elif op == "disable":
            b.disable()
        elif op == "reset":
            b.reset()
        elif op == "open_for":
            opened = b.open_for(s["ms"] / 1000)
            if "opened" in s:
                assert opened == s["opened"], f"open_for answered {opened}"
        elif op == "reconfigure":
            kw = config_kwargs(s["config"])
            if "error_field" in s:
                config = b.config()
                with pytest.raises(ValueError) as refused:
                    b.reconfigure(**kw)
                assert f"invalid {s['error_field']}" in str(refused.value), str(refused.value)
                assert b.config() == config, "refused, yet the config changed"
            else:
                done = b.reconfigure(**kw)
                if "changed" in s:
                    assert done["changed"] == s["changed"], done
                if "tripped" in s:
                    assert done["tripped"] == s["tripped"], done
        elif op == "snapshot":
            self.registry.write_state(self.path)
        elif op == "restore":
            # A restart: a new process, clock and registry; held permits gone.
            self.clock = fusebox.ManualClock()
            self.registry = fusebox.Registry(clock=self.clock)
            restored = self.registry.restore_state(self.path, elapsed=s["elapsed_ms"] / 1000)
            assert restored == [self.name]
            restarted = self.registry.get(self.name, exclude=(NotFound,))
            assert restarted is not None
            self.breaker = restarted
            self.guarded = restarted(self.body)
            self.held.clear()
        else:
            raise AssertionError(f"unknown op {op!r}")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    scenario = json.loads(path.read_text())
    r = Runner(scenario, tmp_path / "snapshot.json")
    for i, s in enumerate(scenario["steps"], 1):
        try:
            r.step(s)
        except AssertionError as e:
            raise AssertionError(f"{path.name} step {i} {s}: {e}") from e
