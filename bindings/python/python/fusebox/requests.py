"""A requests transport adapter that guards each host with its own breaker
(``pip install "fusebox[requests]"``).

>>> import requests, fusebox
>>> from fusebox.requests import BreakerAdapter
>>> session = requests.Session()
>>> adapter = BreakerAdapter(breakers=fusebox.KeyedBreakers("api-hosts", 256))
>>> session.mount("https://", adapter)
>>> session.mount("http://", adapter)

As ``fusebox.httpx``: a breaker per origin from ``breakers``, the same
classification (``fusebox._http``), a request to an open host raises
``fusebox.CircuitOpenError`` without being sent.
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlsplit

import requests
import requests.adapters

from ._fusebox import KeyedBreakers
from ._http import end_with_error, end_with_response, host_key, per_host

__all__ = ["BreakerAdapter", "FAILURES"]

#: The requests errors that count as the host's failures: no connection
#: (including TLS and proxy errors), a timeout, a broken response.
FAILURES: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class BreakerAdapter(requests.adapters.HTTPAdapter):
    """``requests.adapters.HTTPAdapter`` (its keyword arguments as they are)
    behind a breaker per host."""

    def __init__(self, *, breakers: Optional[KeyedBreakers] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.breakers = per_host("requests", breakers)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        breaker = self.breakers.get_or_create(
            host_key(url.scheme, url.hostname or "", url.port)
        )
        permit = breaker.acquire()
        try:
            response = super().send(request, **kwargs)
        except BaseException as exc:
            end_with_error(permit, exc, FAILURES)
            raise
        end_with_response(breaker, permit, response.status_code, response.headers)
        return response
