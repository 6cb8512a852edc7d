"""Types of the values fusebox returns (for annotations)."""

from __future__ import annotations

from typing import Literal, Optional, TypedDict

StateName = Literal["closed", "open", "half_open"]
PhaseName = Literal["closed", "open", "half_open", "forced_open", "disabled"]


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


class Config(TypedDict):
    """``CircuitBreaker.config()``: the keyword arguments in force."""

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
