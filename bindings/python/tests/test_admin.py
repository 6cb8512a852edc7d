"""fusebox.admin.serve: the admin endpoint over a registry, fetched with
urllib over loopback."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

import fusebox
import fusebox.admin


def fetch(url: str, *, method: str = "GET", token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_breakers_and_metrics_are_served() -> None:
    registry = fusebox.Registry()
    registry.get_or_create("payments").force_open()
    registry.get_or_create("stock").call(lambda: 1)
    with fusebox.admin.serve(registry) as admin:
        assert admin.address.startswith("127.0.0.1:")
        assert admin.url == f"http://{admin.address}/"
        status, body = fetch(f"http://{admin.address}/breakers")
        assert status == 200
        by_name = {b["name"]: b for b in json.loads(body)["breakers"]}
        assert sorted(by_name) == ["payments", "stock"]
        assert by_name["payments"]["phase"] == "forced_open"
        status, text = fetch(f"http://{admin.address}/metrics")
        assert status == 200
        assert 'fusebox_state{breaker="payments",state="open"} 1\n' in text
        assert 'fusebox_calls_total{breaker="stock",outcome="success"} 1\n' in text
        assert fetch(f"http://{admin.address}/nope")[0] == 404


def test_controls_need_the_token() -> None:
    registry = fusebox.Registry()
    db = registry.get_or_create("db")
    with fusebox.admin.serve(registry, token="s3cret") as admin:
        url = f"http://{admin.address}/breakers/db/force_open"
        assert fetch(url, method="POST")[0] == 401
        assert fetch(url, method="POST", token="wrong")[0] == 401
        assert fetch(url, method="POST", token="s3cret")[0] == 200
        assert db.phase == "forced_open"
    with fusebox.admin.serve(registry) as admin:
        url = f"http://{admin.address}/breakers/db/reset"
        assert fetch(url, method="POST", token="s3cret")[0] == 403


def test_close_frees_the_port() -> None:
    registry = fusebox.Registry()
    admin = fusebox.admin.serve(registry)
    port = int(admin.address.rsplit(":", 1)[1])
    assert admin.running
    admin.close()
    admin.close()  # again: nothing
    assert not admin.running
    assert "closed" in repr(admin)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
    # And the admin itself binds it again.
    with fusebox.admin.serve(registry, address=f"127.0.0.1:{port}") as again:
        assert again.address == f"127.0.0.1:{port}"


def test_the_global_registry_can_be_served() -> None:
    fusebox.registry().get_or_create("admin-test:global")
    with fusebox.admin.serve(fusebox.registry()) as admin:
        status, body = fetch(f"http://{admin.address}/breakers/admin-test:global")
        assert status == 200 and json.loads(body)["state"] == "closed"


def test_bad_addresses() -> None:
    registry = fusebox.Registry()
    with pytest.raises(ValueError, match=r'address "localhost" is not IP:PORT'):
        fusebox.admin.serve(registry, address="localhost")
    with pytest.raises(ValueError):
        fusebox.admin.serve(registry, address="127.0.0.1:99999")
    with fusebox.admin.serve(registry) as first:
        with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1:"):
            fusebox.admin.serve(registry, address=first.address)
    with pytest.raises(TypeError):
        fusebox.admin.serve("not a registry")  # type: ignore[arg-type]
