"""The ASGI middleware behind a real server (uvicorn on loopback), and the
shedder it uses. Breaker time is a manual clock."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator

import httpx
import pytest
import uvicorn

import fusebox
from fusebox.asgi import ShedMiddleware


class App:
    """An ASGI app the test commands: `status` for the next responses,
    `boom` to raise, and what it saw."""

    def __init__(self) -> None:
        self.status = 200
        self.headers: list[tuple[bytes, bytes]] = []
        self.boom = False
        self.hang: asyncio.Event | None = None
        self.started = threading.Event()
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.seen.append({"path": scope["path"], "degrade": scope.get("fusebox.degrade")})
        if self.boom:
            raise RuntimeError("boom")
        if self.hang is not None:
            self.started.set()
            await self.hang.wait()
        await send({"type": "http.response.start", "status": self.status,
                    "headers": self.headers})
        await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture
def app() -> App:
    return App()


class Running:
    def __init__(self, asgi: Any) -> None:
        config = uvicorn.Config(asgi, host="127.0.0.1", port=0, log_level="critical",
                                lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            self.thread.join(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)


def test_shedding_by_priority_header(app: App) -> None:
    shedder = fusebox.Shedder()
    with Running(ShedMiddleware(app, shedder=shedder)) as c:
        assert c.get("/", headers={"x-priority": "non_core"}).status_code == 200
        shedder.set_in_flight(85, 100)  # high: secondary degraded, non-core shed
        r = c.get("/a", headers={"x-priority": "non_core"})
        assert (r.status_code, r.headers["retry-after"], r.text) == (503, "1", "overloaded")
        assert c.get("/b", headers={"X-Priority": "Core"}).status_code == 200
        assert c.get("/c").status_code == 200  # no header: secondary
        assert c.get("/d", headers={"x-priority": "bogus"}).status_code == 200
    assert [s["path"] for s in app.seen] == ["/", "/b", "/c", "/d"]
    assert [s["degrade"] for s in app.seen] == [False, False, True, True]


def test_priority_from_a_callable(app: App) -> None:
    shedder = fusebox.Shedder()
    shedder.set_load(0.95)  # critical: only core
    mw = ShedMiddleware(app, shedder=shedder, retry_after=7,
                        priority=lambda scope: "core" if scope["path"] == "/pay" else None)
    with Running(mw) as c:
        assert c.get("/pay").status_code == 200
        r = c.get("/browse")
        assert (r.status_code, r.headers["retry-after"]) == (503, "7")


def test_the_breaker_trips_on_5xx_and_answers_503(app: App, clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("inbound", clock=clock, consecutive_failures=2, open_timeout=12.5,
                               half_open_max_calls=1, success_threshold=1)
    with Running(ShedMiddleware(app, breaker=b)) as c:
        app.status = 404
        assert c.get("/").status_code == 404  # ignored
        app.status = 500
        assert c.get("/").status_code == 500
        app.boom = True
        assert c.get("/").status_code == 500  # the app raised: uvicorn's 500
        assert b.state == "open"
        r = c.get("/")
        assert (r.status_code, r.headers["retry-after"]) == (503, "13")
        clock.advance(12.5)
        app.boom, app.status = False, 200
        assert c.get("/").status_code == 200  # the probe
        assert b.state == "closed"
        # The app's own 503 with Retry-After: the breaker keeps the pause.
        app.status, app.headers = 503, [(b"retry-after", b"20")]
        assert c.get("/").status_code == 503
        r = c.get("/")
        assert (r.status_code, r.headers["retry-after"]) == (503, "20")
    m = b.metrics()
    assert (m["failures"], m["ignored"], m["successes"], m["rejected"]) == (3, 1, 1, 2)


@pytest.mark.parametrize("policy, failures", [("slow_if_overdue", 0), ("failure", 1)])
def test_a_cancelled_request_is_the_policys(
    app: App, clock: fusebox.ManualClock, policy: str, failures: int
) -> None:
    b = fusebox.CircuitBreaker("inbound", clock=clock, cancellation=policy)  # type: ignore[arg-type]
    mw = ShedMiddleware(app, breaker=b)

    async def main() -> None:
        app.hang = asyncio.Event()  # never set
        sent: list[Any] = []

        async def send(m: Any) -> None:
            sent.append(m)

        task = asyncio.create_task(mw({"type": "http", "path": "/", "headers": []}, None, send))  # type: ignore[arg-type]
        while not app.started.is_set():
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sent == []

    asyncio.run(main())
    m = b.metrics()
    assert (m["failures"], m["successes"]) == (failures, 0)


def test_shedder_converts_and_the_core_decides() -> None:
    s = fusebox.Shedder((0.5, 0.7, 0.9))
    assert (s.level, s.load, s.thresholds) == ("normal", 0.0, (0.5, 0.7, 0.9))
    s.set_load(0.75)
    assert s.level == "high"
    assert [s.admit(p) for p in ("core", "secondary", "non_core")] == ["admit", "degrade", "shed"]
    with pytest.raises(ValueError, match='invalid priority: "urgent"'):
        s.admit("urgent")
    with pytest.raises(ValueError, match="invalid thresholds"):
        fusebox.Shedder((0.9, 0.8, 0.95))
    with pytest.raises(ValueError, match="invalid thresholds: 2 values"):
        fusebox.Shedder((0.5, 0.6))
    with pytest.raises(TypeError, match="load must be a number"):
        s.set_load("high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid default_priority"):
        ShedMiddleware(App(), default_priority="urgent")


def test_other_scopes_pass_through(app: App) -> None:
    seen = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    shedder = fusebox.Shedder()
    shedder.set_load(1.0)
    asyncio.run(ShedMiddleware(inner, shedder=shedder)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan"]
