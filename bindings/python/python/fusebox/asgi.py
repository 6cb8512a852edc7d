"""ASGI middleware that protects a service from its callers: load shedding
by priority class, and a breaker over the service's own health. A refused
request is answered ``503`` with ``Retry-After`` without reaching the app.
No dependency beyond fusebox (any ASGI server or framework).

>>> import fusebox
>>> from fusebox.asgi import ShedMiddleware
>>> async def app(scope, receive, send): ...
>>> shedder = fusebox.Shedder()  # feed it: shedder.set_in_flight(n, capacity)
>>> app = ShedMiddleware(app, shedder=shedder, priority="x-priority")

* ``shedder``: each request's priority class (``'core'``, ``'secondary'``,
  ``'non_core'``) is read from the header named by ``priority`` or returned
  by ``priority(scope)``; unknown or absent: ``default_priority``. A
  request the shedder sheds is answered 503; one it degrades runs with
  ``scope["fusebox.degrade"] = True`` (serve the cheap variant).
* ``breaker``: each admitted request holds a permit until its response
  starts; a 5xx response, an exception before it, or no response at all is
  a failure, a 4xx is ignored, a 429/503 with ``Retry-After``
  opens the breaker for that long (``fusebox._http``), a cancelled request
  is the breaker's ``cancellation`` policy's. While it is open, requests are
  answered 503 with the breaker's ``retry_after``.
"""

from __future__ import annotations

import math
from typing import Any, Awaitable, Callable, MutableMapping, Optional, Union

from ._errors import CircuitOpenError
from ._fusebox import CircuitBreaker, Shedder
from ._http import end_with_response

__all__ = ["ShedMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PRIORITIES = ("core", "secondary", "non_core")


class ShedMiddleware:
    """Shed by priority and guard with a breaker; see the module docs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        shedder: Optional[Shedder] = None,
        breaker: Optional[CircuitBreaker] = None,
        priority: Union[str, Callable[[Scope], Optional[str]]] = "x-priority",
        default_priority: str = "secondary",
        retry_after: float = 1.0,
    ) -> None:
        if default_priority not in _PRIORITIES:
            raise ValueError(
                f"invalid default_priority: {default_priority!r} "
                "(expected core, secondary or non_core)"
            )
        if not (math.isfinite(retry_after) and retry_after >= 0):
            raise ValueError(f"invalid retry_after: {retry_after!r} (expected seconds >= 0)")
        self.app = app
        self.shedder = shedder
        self.breaker = breaker
        self.default_priority = default_priority
        self.retry_after = retry_after
        if callable(priority):
            self._priority: Callable[[Scope], Optional[str]] = priority
        else:
            header = priority.lower().encode("latin-1")

            def from_header(scope: Scope) -> Optional[str]:
                for k, v in scope.get("headers", ()):
                    if k.lower() == header:
                        return v.decode("latin-1").strip().lower()  # type: ignore[no-any-return]
                return None

            self._priority = from_header

    def priority_of(self, scope: Scope) -> str:
        """The request's priority class."""
        p = self._priority(scope)
        return p if p in _PRIORITIES else self.default_priority  # type: ignore[return-value]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.shedder is not None:
            decision = self.shedder.admit(self.priority_of(scope))
            if decision == "shed":
                await _unavailable(send, self.retry_after, b"overloaded")
                return
            scope["fusebox.degrade"] = decision == "degrade"
        if self.breaker is None:
            await self.app(scope, receive, send)
            return
        breaker = self.breaker
        try:
            permit = breaker.acquire()
        except CircuitOpenError as e:
            wait = e.retry_after if e.retry_after is not None else self.retry_after
            await _unavailable(send, wait, b"circuit open")
            return
        reported = False

        async def watch(message: Message) -> None:
            # The status decides, as the client adapters' do: reported when
            # the response starts, before the caller can see it.
            nonlocal reported
            if message["type"] == "http.response.start" and not reported:
                reported = True
                headers = {k.lower(): v for k, v in message.get("headers", ())}
                retry_after = headers.get(b"retry-after")
                end_with_response(breaker, permit, message["status"], {
                    "retry-after": None if retry_after is None else retry_after.decode("latin-1")
                })
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BaseException as exc:
            if not reported:
                permit.finish(exc)
            raise
        if not reported:  # the app returned without a response
            permit.failure()


async def _unavailable(send: Send, seconds: float, body: bytes) -> None:
    await send({
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"retry-after", str(max(0, math.ceil(seconds))).encode()),
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ],
    })
    await send({"type": "http.response.body", "body": body})
