"""fusebox: a lock-free circuit breaker (a Rust engine) for Python.

>>> import fusebox
>>> breaker = fusebox.CircuitBreaker("inventory:get", failure_rate_threshold=0.5,
...                                  open_timeout=30.0)
>>> @breaker
... def get_stock(sku):
...     return 42
>>> get_stock("A-1")
42
>>> breaker.state
'closed'
"""

from __future__ import annotations

import atexit as _atexit

from ._bulkhead import BulkheadFullError
from ._errors import CircuitOpenError, FuseboxError
from ._fusebox import (
    Bulkhead,
    BulkheadPermit,
    CircuitBreaker,
    GuardedCoroutine,
    GuardedFunction,
    HedgeCall,
    KeyedBreakers,
    LatencyHistogram,
    ManualClock,
    Permit,
    Registry,
    RetryBudget,
    RetryCall,
    SharedManualClock,
    SharedRegistry,
    Shedder,
    StateChange,
    __version__,
    _shutdown,
    flush_events,
    registry,
)

from ._hedge import HedgePolicy
from ._keyed import KeyedFullError
from ._retry import RetryPolicy
from ._shared import ConfigMismatchError, SharedRegistryError
from ._types import CancellationName, Config, KeyedStats, Metrics, PhaseName, Reconfigured, StateName

_atexit.register(_shutdown)

__all__ = [
    "Bulkhead",
    "BulkheadFullError",
    "BulkheadPermit",
    "CancellationName",
    "CircuitBreaker",
    "CircuitOpenError",
    "Config",
    "ConfigMismatchError",
    "FuseboxError",
    "GuardedCoroutine",
    "GuardedFunction",
    "HedgeCall",
    "HedgePolicy",
    "KeyedBreakers",
    "KeyedFullError",
    "KeyedStats",
    "LatencyHistogram",
    "ManualClock",
    "Metrics",
    "Permit",
    "PhaseName",
    "Reconfigured",
    "Registry",
    "RetryBudget",
    "RetryCall",
    "RetryPolicy",
    "SharedManualClock",
    "SharedRegistry",
    "SharedRegistryError",
    "Shedder",
    "StateChange",
    "StateName",
    "__version__",
    "flush_events",
    "registry",
]
