"""Type stubs for fusebox's native module (re-exported by ``fusebox``)."""

from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import (
    Any,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Final,
    Iterable,
    Literal,
    Optional,
    ParamSpec,
    TypeVar,
    Union,
    final,
)

from typing_extensions import disjoint_base

from ._types import CancellationName, Config, KeyedStats, Metrics, PhaseName, Reconfigured, StateName

_P = ParamSpec("_P")
_R = TypeVar("_R")
_F = TypeVar("_F", bound=Callable[..., Any])
_ExcludeEntry = Union[type[BaseException], Callable[[BaseException], object]]
_Exclude = Union[_ExcludeEntry, Iterable[_ExcludeEntry], None]

__all__ = [
    "AdminServer",
    "Bulkhead",
    "BulkheadPermit",
    "CircuitBreaker",
    "GuardedCoroutine",
    "GuardedFunction",
    "HedgeCall",
    "KeyedBreakers",
    "LatencyHistogram",
    "ManualClock",
    "Permit",
    "NativeHedgePolicy",
    "NativeRetryPolicy",
    "Registry",
    "RetryBudget",
    "RetryCall",
    "SharedManualClock",
    "SharedRegistry",
    "Shedder",
    "StateChange",
    "registry",
    "flush_events",
    "_shutdown",
    "_admin_serve",
    "__version__",
]

__version__: Final[str]

@final
class ManualClock:
    """A clock that moves only when told to, for deterministic tests."""

    def __new__(cls) -> ManualClock: ...
    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (≥ 0)."""
    def now(self) -> float:
        """The clock's time in seconds, from an arbitrary origin."""

@final
class LatencyHistogram:
    """A dependency's latencies over the last 10 s, by bucket (lock-free).
    Fed by a breaker made with ``latency_histogram=`` or by ``record``;
    the delay of a ``HedgePolicy`` made with ``histogram=``. Seconds."""

    def __new__(cls, *, clock: Optional[ManualClock] = None) -> LatencyHistogram: ...
    def record(self, seconds: float) -> None:
        """Record one latency of ``seconds`` (≥ 0)."""
    def quantile(self, q: float) -> Optional[float]:
        """The ``q`` quantile in seconds (``q`` clamped to [0, 1]); ``None``
        while the histogram is empty."""
    @property
    def count(self) -> int:
        """The number of latencies in the window."""

@final
class StateChange:
    """A state change, as passed to ``on_state_change`` callbacks."""

    @property
    def breaker(self) -> str: ...
    @property
    def from_state(self) -> StateName: ...
    @property
    def to_state(self) -> StateName: ...
    @property
    def from_phase(self) -> PhaseName: ...
    @property
    def to_phase(self) -> PhaseName: ...
    @property
    def generation(self) -> int: ...
    @property
    def at(self) -> float:
        """The breaker clock's time of the change, in seconds."""

@final
class Permit:
    """The right to make one call. Report its outcome exactly once; a permit
    garbage-collected without one gives back its half-open probe slot."""

    @property
    def is_probe(self) -> bool: ...
    @property
    def pending(self) -> bool: ...
    @property
    def breaker(self) -> CircuitBreaker: ...
    def success(self, duration: Optional[float] = None) -> None: ...
    def failure(self, duration: Optional[float] = None) -> None: ...
    def ignore(self) -> None: ...
    def release(self) -> None: ...
    def cancel(self) -> None: ...
    def finish(self, exc: Optional[BaseException] = None) -> None: ...

@final
class GuardedCoroutine(Coroutine[Any, Any, Any]):
    """A call of a guarded async function: await it. Its permit is taken when
    it starts; a cancellation is the breaker's ``cancellation`` policy's."""

    def __await__(self) -> Generator[Any, None, Any]: ...
    def __iter__(self) -> GuardedCoroutine: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any, /) -> Any: ...
    def throw(self, typ: Any, val: Any = None, tb: Any = None, /) -> Any: ...
    def close(self) -> None: ...

@final
class GuardedFunction:
    """What ``@breaker`` returns (for an async function, its calls return
    ``GuardedCoroutine`` objects)."""

    @property
    def breaker(self) -> CircuitBreaker: ...
    __wrapped__: Callable[..., Any]
    __name__: str
    __qualname__: str
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, obj: object, owner: Optional[type] = None, /) -> Any: ...

@final
class CircuitBreaker:
    """A circuit breaker. Durations are in seconds."""

    def __new__(
        cls,
        name: str,
        *,
        clock: Optional[ManualClock] = None,
        exclude: _Exclude = (),
        latency_histogram: Optional[LatencyHistogram] = None,
        failure_rate_threshold: float = 0.5,
        consecutive_failures: Optional[int] = 5,
        min_calls: int = 10,
        window: Optional[float] = 10.0,
        window_buckets: Optional[int] = 10,
        count_window: Optional[int] = None,
        open_timeout: float = 30.0,
        backoff_multiplier: Optional[float] = None,
        backoff_max: Optional[float] = None,
        jitter: float = 0.0,
        half_open_max_calls: int = 3,
        success_threshold: int = 3,
        half_open_max_wait: float = 60.0,
        slow_call_duration: Optional[float] = None,
        slow_call_rate_threshold: float = 1.0,
        max_open_for: float = 300.0,
        cancellation: CancellationName = "slow_if_overdue",
    ) -> CircuitBreaker: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> StateName: ...
    @property
    def phase(self) -> PhaseName: ...
    @property
    def exclude(self) -> tuple[_ExcludeEntry, ...]: ...
    def config(self) -> Config: ...
    def reconfigure(self, **changes: Any) -> Reconfigured: ...
    def metrics(self) -> Metrics: ...
    def force_open(self) -> None: ...
    def disable(self) -> None: ...
    def reset(self) -> None: ...
    def open_for(self, seconds: float) -> bool: ...
    def on_state_change(self, callback: Callable[[StateChange], object]) -> Callable[[StateChange], object]: ...
    def acquire(self) -> Permit: ...
    def call(self, func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R: ...
    def __call__(self, func: _F) -> _F: ...
    def _guard(self, func: Callable[..., Any], is_async: bool = False) -> GuardedFunction: ...
    def __enter__(self) -> Permit: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]] = None,
        exc: Optional[BaseException] = None,
        tb: Optional[TracebackType] = None,
    ) -> bool: ...
    def __aenter__(self) -> Awaitable[Permit]: ...
    def __aexit__(
        self,
        exc_type: Optional[type[BaseException]] = None,
        exc: Optional[BaseException] = None,
        tb: Optional[TracebackType] = None,
    ) -> Awaitable[bool]: ...

@final
class Registry:
    """Breakers by name, created on first use."""

    def __new__(cls, *, clock: Optional[ManualClock] = None, **defaults: Any) -> Registry: ...
    def set_default(self, **config: Any) -> None: ...
    def configure(self, name: str, /, **config: Any) -> None: ...
    def get(
        self, name: str, /, *, exclude: _Exclude = None
    ) -> Optional[CircuitBreaker]: ...
    def get_or_create(
        self,
        name: str,
        /,
        *,
        exclude: _Exclude = None,
        **config: Any,
    ) -> CircuitBreaker: ...
    def remove(self, name: str) -> bool: ...
    def names(self) -> list[str]: ...
    def snapshot(self) -> list[Metrics]: ...
    def reconfigure(self, name: str, /, **config: Any) -> bool: ...
    def write_state(self, path: str | PathLike[str]) -> None: ...
    def restore_state(
        self, path: str | PathLike[str], /, *, elapsed: Optional[float] = None
    ) -> list[str]: ...
    def prometheus(self) -> str: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

@final
class KeyedBreakers:
    """Breakers by key, at most ``capacity`` of them, all with one
    configuration; only breakers that hold no history are evicted to make
    room (``KeyedFullError`` when none may go). Durations are in seconds."""

    def __new__(
        cls,
        name: str,
        capacity: int,
        *,
        min_idle: float = 10.0,
        clock: Optional[ManualClock] = None,
        failure_rate_threshold: float = 0.5,
        consecutive_failures: Optional[int] = 5,
        min_calls: int = 10,
        window: Optional[float] = 10.0,
        window_buckets: Optional[int] = 10,
        count_window: Optional[int] = None,
        open_timeout: float = 30.0,
        backoff_multiplier: Optional[float] = None,
        backoff_max: Optional[float] = None,
        jitter: float = 0.0,
        half_open_max_calls: int = 3,
        success_threshold: int = 3,
        half_open_max_wait: float = 60.0,
        slow_call_duration: Optional[float] = None,
        slow_call_rate_threshold: float = 1.0,
        max_open_for: float = 300.0,
        cancellation: CancellationName = "slow_if_overdue",
    ) -> KeyedBreakers: ...
    @property
    def name(self) -> str: ...
    @property
    def capacity(self) -> int: ...
    @property
    def min_idle(self) -> float: ...
    def get(
        self, key: str, /, *, exclude: _Exclude = None
    ) -> Optional[CircuitBreaker]: ...
    def get_or_create(
        self, key: str, /, *, exclude: _Exclude = None
    ) -> CircuitBreaker: ...
    def remove(self, key: str) -> bool: ...
    def stats(self) -> KeyedStats: ...
    def snapshot(self) -> list[Metrics]: ...
    def prometheus(self) -> str: ...
    def __len__(self) -> int: ...

@final
class BulkheadPermit:
    """A slot in a bulkhead, for one call. Report its outcome exactly once; a
    permit garbage-collected without one frees its slot."""

    @property
    def pending(self) -> bool: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def bulkhead(self) -> Bulkhead: ...
    def success(self) -> None: ...
    def failure(self) -> None: ...
    def ignore(self) -> None: ...
    def release(self) -> None: ...
    def finish(self, exc: Optional[BaseException] = None) -> None: ...

@final
class Bulkhead:
    """At most ``max_concurrent`` calls in flight; the others are refused with
    ``BulkheadFullError``. Durations are in seconds."""

    def __new__(
        cls,
        name: str,
        *,
        max_concurrent: Optional[int] = None,
        max_wait: Optional[float] = None,
        limit: Optional[Literal["aimd", "vegas", "gradient2"]] = None,
        min_limit: Optional[int] = None,
        initial_limit: Optional[int] = None,
        max_limit: Optional[int] = None,
        breaker: Optional[CircuitBreaker] = None,
        count_in_flight_slow: bool = False,
        clock: Optional[ManualClock] = None,
    ) -> Bulkhead: ...
    @property
    def name(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def peak_in_flight(self) -> int: ...
    @property
    def waiting(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def max_wait(self) -> float: ...
    @property
    def algorithm(self) -> Optional[str]: ...
    @property
    def breaker(self) -> Optional[CircuitBreaker]: ...
    def try_acquire(self) -> BulkheadPermit: ...
    def acquire(self, timeout: Optional[float] = None) -> BulkheadPermit: ...
    def set_limit(self, limit: int) -> None: ...
    def sweep(self) -> int: ...
    def metrics(self) -> dict[str, Any]: ...
    def prometheus(self) -> str: ...
    def __call__(self, func: _F) -> _F: ...
    def __enter__(self) -> BulkheadPermit: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]] = None,
        exc: Optional[BaseException] = None,
        tb: Optional[TracebackType] = None,
    ) -> bool: ...
    def __aenter__(self) -> Awaitable[BulkheadPermit]: ...
    def __aexit__(
        self,
        exc_type: Optional[type[BaseException]] = None,
        exc: Optional[BaseException] = None,
        tb: Optional[TracebackType] = None,
    ) -> Awaitable[bool]: ...

def registry() -> Registry:
    """The process-wide registry (system clock, default configuration)."""

def flush_events(timeout: Optional[float] = None) -> bool:
    """Wait until every state-change callback due so far has run."""

def _shutdown() -> None: ...

@final
class SharedManualClock:
    """A clock moved by hand that lives in a file: one time for every
    process that opens it, for tests of multi-process code."""

    def __new__(cls, path: Union[str, PathLike[str]]) -> SharedManualClock: ...
    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (≥ 0), for every process."""
    def now(self) -> float:
        """The clock's time in seconds, from an arbitrary origin."""

@final
class SharedRegistry:
    """Breakers in a memory-mapped file shared by every process that opens
    it (gunicorn workers, multiprocessing pools)."""

    def __new__(
        cls,
        path: Union[str, PathLike[str]],
        *,
        capacity: int = 64,
        data_bytes: Optional[int] = None,
        stripes: Optional[int] = None,
        clock: Optional[SharedManualClock] = None,
        mode: int = 0o600,
    ) -> SharedRegistry: ...
    @property
    def path(self) -> Path: ...
    @property
    def capacity(self) -> int: ...
    @property
    def created(self) -> bool: ...
    def get(
        self, name: str, /, *, exclude: _Exclude = None
    ) -> Optional[CircuitBreaker]: ...
    def get_or_create(
        self,
        name: str,
        /,
        *,
        exclude: _Exclude = None,
        **config: Any,
    ) -> CircuitBreaker: ...
    def names(self) -> list[str]: ...
    def snapshot(self) -> list[Metrics]: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

_Priority = Literal["core", "secondary", "non_core"]

@final
class Shedder:
    """Sheds load by priority class (the core's tiered shedder)."""

    def __new__(cls, thresholds: Optional[Iterable[float]] = None) -> Shedder: ...
    def set_load(self, load: float) -> None: ...
    def set_in_flight(self, in_flight: int, capacity: int) -> None: ...
    @property
    def level(self) -> Literal["normal", "elevated", "high", "critical"]: ...
    @property
    def load(self) -> float: ...
    @property
    def thresholds(self) -> tuple[float, float, float]: ...
    def admit(self, priority: _Priority | str) -> Literal["admit", "degrade", "shed"]: ...

@final
class RetryBudget:
    """Retries allowed up to a ratio of recent requests plus a reserve per
    second, shared by every caller of a dependency. Durations in seconds."""

    def __new__(
        cls,
        name: str = "retry",
        *,
        ratio: Optional[float] = None,
        min_per_sec: Optional[int] = None,
        window: Optional[float] = None,
        buckets: Optional[int] = None,
        clock: Optional[ManualClock] = None,
    ) -> RetryBudget: ...
    def deposit(self) -> None: ...
    def try_withdraw(self) -> bool: ...
    def stats(self) -> dict[str, Any]: ...
    def prometheus(self) -> str: ...

@final
class RetryCall:
    """One logical call's progress (``RetryPolicy.begin``)."""

    @property
    def attempt(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def rejections(self) -> int: ...
    @property
    def slept(self) -> float: ...
    @property
    def stop(self) -> str: ...
    def succeeded(self) -> None: ...
    def failed(self, verdict: str = "retry", retry_after: Optional[float] = None) -> Optional[float]: ...
    def rejected(self, reason: str, retry_after: Optional[float] = None) -> Optional[float]: ...

@disjoint_base
class NativeRetryPolicy:
    """The native half of ``fusebox.RetryPolicy``."""

    def __new__(
        cls,
        breaker: CircuitBreaker,
        budget: RetryBudget,
        *,
        name: Optional[str] = None,
        max_attempts: Optional[int] = None,
        base_backoff: Optional[float] = None,
        max_backoff: Optional[float] = None,
        deadline: Optional[float] = None,
        min_attempt: Optional[float] = None,
        retry_after_cap: Optional[float] = None,
        jitter: bool = True,
        seed: Optional[int] = None,
        **_rest: Any,
    ) -> NativeRetryPolicy: ...
    @property
    def breaker(self) -> CircuitBreaker: ...
    @property
    def budget(self) -> RetryBudget: ...
    def metrics(self) -> dict[str, Any]: ...
    def prometheus(self) -> str: ...
    def backoff(self, retry: int) -> float: ...
    def begin(self) -> RetryCall: ...

@final
class HedgeCall:
    """One hedged call's progress (``HedgePolicy.begin``)."""

    @property
    def attempts(self) -> int: ...
    @property
    def hedges(self) -> int: ...
    @property
    def rejections(self) -> int: ...
    @property
    def budget_refused(self) -> bool: ...
    @property
    def answered_by(self) -> int: ...
    @property
    def running(self) -> int: ...
    @property
    def done(self) -> bool: ...
    def due(self) -> tuple[Optional[int], Optional[float]]: ...
    def ended(self, attempt: int, end: str) -> str: ...

@disjoint_base
class NativeHedgePolicy:
    """The native half of ``fusebox.HedgePolicy``."""

    def __new__(
        cls,
        *,
        delay: Optional[float] = None,
        max_hedges: Optional[int] = None,
        name: str = "hedge",
        histogram: Optional[LatencyHistogram] = None,
        quantile: Optional[float] = None,
        **_rest: Any,
    ) -> NativeHedgePolicy: ...
    def metrics(self) -> dict[str, Any]: ...
    def prometheus(self) -> str: ...
    def begin(self, budget: RetryBudget) -> tuple[HedgeCall, Optional[float]]: ...

@final
class AdminServer:
    """A running admin endpoint (``fusebox.admin.serve``): ``close()`` or
    leaving its ``with`` block stops it and frees the port."""

    @property
    def address(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def running(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> AdminServer: ...
    def __exit__(self, *_exc: object) -> bool: ...

def _admin_serve(registry: Registry, address: str, token: Optional[str] = None) -> AdminServer: ...
