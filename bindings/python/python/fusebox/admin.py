"""The admin endpoint: every breaker of a registry, live, over HTTP.

``/metrics`` (Prometheus text), ``/breakers`` (JSON), ``/events``
(server-sent events, one per state change) and ``/`` (the dashboard page),
served from the Rust core's threads (the same server as Rust, C and Node).
Bound to loopback unless told otherwise; the manual controls
(``POST /breakers/{name}/force_open|disable|reset``) need
``Authorization: Bearer TOKEN`` and are refused (403) without a token.

>>> import fusebox, fusebox.admin, json, urllib.request
>>> registry = fusebox.Registry()
>>> registry.get_or_create("payments").force_open()
>>> with fusebox.admin.serve(registry, address="127.0.0.1:0") as admin:
...     with urllib.request.urlopen(f"http://{admin.address}/breakers") as r:
...         [b["name"] for b in json.load(r)["breakers"]]
['payments']
"""

from __future__ import annotations

from typing import Optional

from ._fusebox import AdminServer, Registry, _admin_serve

__all__ = ["AdminServer", "serve"]


def serve(registry: Registry, address: str = "127.0.0.1:0", token: Optional[str] = None) -> AdminServer:
    """Serve ``registry`` (a ``Registry`` or ``fusebox.registry()``) on
    ``address`` (``"IP:PORT"``; port 0 picks a free port, ``.address`` says
    which). ``ValueError`` for an address that is not ``IP:PORT``,
    ``OSError`` when it cannot listen there. Use it as a context manager or
    call ``.close()``."""
    return _admin_serve(registry, address, token)
