"""httpx transports that guard each host with its own breaker
(``pip install "fusebox[httpx]"``).

>>> import httpx, fusebox
>>> from fusebox.httpx import BreakerTransport
>>> hosts = fusebox.KeyedBreakers("api-hosts", 256, consecutive_failures=5)
>>> client = httpx.Client(transport=BreakerTransport(breakers=hosts))
>>> client.close()

Each request takes a permit from the breaker of its origin
(``scheme://host:port``) in ``breakers``, a bounded ``KeyedBreakers``; the
response or error is classified as ``fusebox._http`` says (5xx and
connection errors and timeouts fail, 4xx are ignored, a 429/503's
``Retry-After`` opens the breaker for that long). A request to an open
host raises ``fusebox.CircuitOpenError`` at once, its ``retry_after`` the
breaker's; the request is not sent.
"""

from __future__ import annotations

from typing import Optional

import httpx

from ._fusebox import KeyedBreakers
from ._http import end_with_error, end_with_response, host_key, per_host

__all__ = ["AsyncBreakerTransport", "BreakerTransport", "FAILURES"]

#: The httpx errors that count as the host's failures: no connection, a
#: broken one, a timeout.
FAILURES: tuple[type[BaseException], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def _key(request: httpx.Request) -> str:
    url = request.url
    return host_key(url.scheme, url.host, url.port)


class BreakerTransport(httpx.BaseTransport):
    """A sync transport: ``transport`` (``httpx.HTTPTransport()`` by
    default) behind a breaker per host."""

    def __init__(
        self,
        transport: Optional[httpx.BaseTransport] = None,
        *,
        breakers: Optional[KeyedBreakers] = None,
    ) -> None:
        self.transport = transport if transport is not None else httpx.HTTPTransport()
        self.breakers = per_host("httpx", breakers)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        breaker = self.breakers.get_or_create(_key(request))
        permit = breaker.acquire()
        try:
            response = self.transport.handle_request(request)
        except BaseException as exc:
            end_with_error(permit, exc, FAILURES)
            raise
        end_with_response(breaker, permit, response.status_code, response.headers)
        return response

    def close(self) -> None:
        self.transport.close()


class AsyncBreakerTransport(httpx.AsyncBaseTransport):
    """An async transport: ``transport`` (``httpx.AsyncHTTPTransport()`` by
    default) behind a breaker per host. A cancelled request (its task
    cancelled) is the breaker's ``cancellation`` policy's: by default
    neither success nor failure."""

    def __init__(
        self,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        *,
        breakers: Optional[KeyedBreakers] = None,
    ) -> None:
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()
        self.breakers = per_host("httpx", breakers)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        breaker = self.breakers.get_or_create(_key(request))
        permit = breaker.acquire()
        try:
            response = await self.transport.handle_async_request(request)
        except BaseException as exc:
            end_with_error(permit, exc, FAILURES)
            raise
        end_with_response(breaker, permit, response.status_code, response.headers)
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()
