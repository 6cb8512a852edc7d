"""Codes and names the Python layer shares with the core.

Generated from the core's `fusebox::bindings` by core/tests/generated_codes.rs:
do not edit. `FUSEBOX_BLESS=1 cargo test -p fusebox --test generated_codes` rewrites it.
"""

from __future__ import annotations

from typing import Final, Literal

StateName = Literal["closed", "open", "half_open"]
PhaseName = Literal["closed", "open", "half_open", "forced_open", "disabled"]
RejectReason = Literal["open", "half_open_full", "forced_open"]
OutcomeName = Literal["success", "failure", "ignored"]
CancellationName = Literal["release", "slow_if_overdue", "failure"]

# By code: a state, a phase, a rejection's reason, an outcome.
STATES: Final = ("closed", "open", "half_open")
PHASES: Final = ("closed", "open", "half_open", "forced_open", "disabled")
REJECT_REASONS: Final = ("open", "half_open_full", "forced_open")
OUTCOMES: Final = ("success", "failure", "ignored")
CANCELLATIONS: Final = ("release", "slow_if_overdue", "failure")

REJECT_OPEN: Final = "open"
REJECT_HALF_OPEN_FULL: Final = "half_open_full"
REJECT_FORCED_OPEN: Final = "forced_open"

# The core's config fields (as its errors name them) and the keyword
# arguments that set them.
CONFIG_FIELDS: Final = {
    "failure_rate_threshold": "failure_rate_threshold",
    "consecutive_failures": "consecutive_failures",
    "min_calls": "min_calls",
    "window": "window",
    "window.buckets": "window_buckets",
    "window.size": "count_window",
    "open_timeout": "open_timeout",
    "backoff.multiplier": "backoff_multiplier",
    "backoff.max": "backoff_max",
    "jitter": "jitter",
    "half_open_max_calls": "half_open_max_calls",
    "success_threshold": "success_threshold",
    "half_open_max_wait": "half_open_max_wait",
    "slow_call_duration": "slow_call_duration",
    "slow_call_rate_threshold": "slow_call_rate_threshold",
    "max_open_for": "max_open_for",
    "cancellation": "cancellation",
}
