"""What an HTTP exchange means to a breaker: the one classification the
HTTP adapters (``fusebox.httpx``, ``fusebox.requests``) share.

* connection errors and timeouts: failures;
* a 5xx response: a failure; a 4xx: ignored (the request's fault, not the
  host's); anything else: a success;
* a 429 or 503 with ``Retry-After`` (seconds or an HTTP-date): the host
  asked for a pause, so the breaker opens for that long
  (``CircuitBreaker.open_for``, which the breaker cuts to its
  ``max_open_for``);
* a cancellation (``asyncio.CancelledError``): the breaker's
  ``cancellation`` policy decides (``Permit.cancel``);
* any other exception (a bad URL, a bug) says nothing about the host:
  ignored.

>>> parse_retry_after("120")
120.0
>>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
10.0
>>> parse_retry_after("soon") is None
True
>>> host_key("https", "api.example.com", None)
'https://api.example.com:443'
"""

from __future__ import annotations

import email.utils
import time
from typing import Optional, Protocol

from ._fusebox import CircuitBreaker, KeyedBreakers, Permit

__all__ = ["DEFAULT_CAPACITY", "end_with_error", "end_with_response", "host_key",
           "parse_retry_after", "per_host"]

class _Headers(Protocol):
    def get(self, key: str, /) -> Optional[str]: ...


#: Hosts a client keeps breakers for when it is not given a ``KeyedBreakers``.
DEFAULT_CAPACITY = 1024

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

#: Statuses whose ``Retry-After`` opens the breaker.
PAUSE_STATUSES = frozenset({429, 503})


def host_key(scheme: str, host: str, port: Optional[int]) -> str:
    """The breaker key of an origin: ``scheme://host:port``, the port
    spelled out (``https://h`` and ``https://h:443`` share a breaker)."""
    scheme = scheme.lower()
    if port is None:
        port = _DEFAULT_PORTS.get(scheme, 0)
    return f"{scheme}://{host.lower()}:{port}"


def per_host(name: str, breakers: Optional[KeyedBreakers]) -> KeyedBreakers:
    """The adapter's breakers: the caller's, or a new set of
    ``DEFAULT_CAPACITY`` with the default configuration."""
    if breakers is None:
        return KeyedBreakers(name, DEFAULT_CAPACITY)
    if not isinstance(breakers, KeyedBreakers):
        raise TypeError(f"breakers must be a fusebox.KeyedBreakers, not {type(breakers).__name__}")
    return breakers


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds from a ``Retry-After`` value (delay-seconds or an HTTP-date,
    RFC 9110 §10.2.3), at least 0; ``None`` when absent or unreadable. ``now``
    (Unix seconds) is for an HTTP-date; the wall clock by default."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, as HTTP-dates are
        return None
    if now is None:
        now = time.time()
    return max(0.0, when.timestamp() - now)


def end_with_response(
    breaker: CircuitBreaker, permit: Permit, status: int, headers: _Headers
) -> None:
    """Report a response on ``permit``; a 429/503 with ``Retry-After`` (read
    from ``headers`` only then) opens ``breaker`` for that long."""
    if status >= 500:
        permit.failure()
    elif status >= 400:
        permit.ignore()
    else:
        permit.success()
    if status in PAUSE_STATUSES:
        seconds = parse_retry_after(headers.get("retry-after"))
        if seconds is not None:
            breaker.open_for(seconds)


def end_with_error(
    permit: Permit, exc: BaseException, failures: tuple[type[BaseException], ...]
) -> None:
    """Report an exception on ``permit``: one of ``failures`` (the client's
    connection errors and timeouts) is a failure, a cancellation is the
    breaker's cancellation policy's, anything else is ignored."""
    if isinstance(exc, failures):
        permit.failure()
    elif isinstance(exc, Exception):
        permit.ignore()
    else:
        permit.cancel()
