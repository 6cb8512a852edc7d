"""Types of the values fusebox returns (for annotations)."""

from __future__ import annotations

from typing import Optional, TypedDict

# Generated from the core (fusebox::bindings): never retyped here.
from ._codes import CancellationName as CancellationName
from ._codes import PhaseName as PhaseName
from ._codes import StateName as StateName


class Metrics(TypedDict):
    """``CircuitBreaker.metrics()``: totals since creation, and the window now."""

    name: str
    state: StateName
    phase: PhaseName
    generation: int
    calls: int
    successes: int
    failures: int
    ignored: int
    slow: int
    rejected: int
    state_changes: int
    failure_rate: float
    slow_rate: float
    window_calls: int
    window_failures: int
    window_slow: int


class KeyedStats(TypedDict):
    """``KeyedBreakers.stats()``: the set's counters (all time, but ``len``)."""

    name: str
    len: int
    capacity: int
    created: int
    evictions: int
    refusals: int
    removed: int


class Config(TypedDict):
    """``CircuitBreaker.config()``: the keyword arguments in force (one per
    core field: ``_codes.CONFIG_FIELDS``, checked by the tests)."""

    failure_rate_threshold: float
    consecutive_failures: Optional[int]
    min_calls: int
    window: Optional[float]
    window_buckets: Optional[int]
    count_window: Optional[int]
    open_timeout: float
    backoff_multiplier: Optional[float]
    backoff_max: Optional[float]
    jitter: float
    half_open_max_calls: int
    success_threshold: int
    half_open_max_wait: float
    slow_call_duration: Optional[float]
    slow_call_rate_threshold: float
    max_open_for: float
    cancellation: CancellationName


class Reconfigured(TypedDict):
    """What ``CircuitBreaker.reconfigure`` did: the settings that changed,
    and whether the kept window, judged at once, tripped the breaker."""

    changed: list[str]
    tripped: bool
