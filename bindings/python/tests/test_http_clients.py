"""The HTTP client adapters (httpx sync and async transports, the requests
adapter) against real servers on loopback that fail, hang and send
Retry-After on command. Breaker time is a manual clock; the servers' I/O is
real, and nothing here depends on its speed."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any, Callable, Iterator

import httpx
import pytest
import requests

import fusebox
from fusebox.httpx import AsyncBreakerTransport, BreakerTransport
from fusebox.requests import BreakerAdapter
from loopback import Server, closed_port_url, serve


class Client:
    """One adapter behind one interface: `get(url)` → status."""

    def __init__(self, kind: str, hosts: fusebox.KeyedBreakers, timeout: float = 10.0) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop()
        if kind == "httpx":
            self.sync = httpx.Client(transport=BreakerTransport(breakers=hosts), timeout=timeout)
        elif kind == "httpx-async":
            self.aclient = httpx.AsyncClient(
                transport=AsyncBreakerTransport(breakers=hosts), timeout=timeout
            )
        else:
            self.session = requests.Session()
            self.session.mount("http://", BreakerAdapter(breakers=hosts))
            self.timeout = timeout

    def get(self, url: str) -> int:
        if self.kind == "httpx":
            return self.sync.get(url).status_code
        if self.kind == "httpx-async":
            return self.loop.run_until_complete(self.aclient.get(url)).status_code
        return self.session.get(url, timeout=self.timeout).status_code

    @property
    def failures(self) -> tuple[type[BaseException], ...]:
        if self.kind == "requests":
            return (requests.ConnectionError, requests.Timeout)
        return (httpx.TransportError,)

    def close(self) -> None:
        if self.kind == "httpx":
            self.sync.close()
        elif self.kind == "httpx-async":
            self.loop.run_until_complete(self.aclient.aclose())
        else:
            self.session.close()
        self.loop.close()


KINDS = ["httpx", "httpx-async", "requests"]


def hosts_on(clock: fusebox.ManualClock, **kw: Any) -> fusebox.KeyedBreakers:
    kw.setdefault("consecutive_failures", 2)
    kw.setdefault("open_timeout", 10.0)
    kw.setdefault("half_open_max_calls", 1)
    kw.setdefault("success_threshold", 1)
    kw.setdefault("max_open_for", 60.0)
    return fusebox.KeyedBreakers("hosts", 16, clock=clock, **kw)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def server() -> Iterator[Server]:
    with serve() as s:
        yield s


@pytest.fixture
def make_client(kind: str) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(hosts: fusebox.KeyedBreakers, **kw: Any) -> Client:
        c = Client(kind, hosts, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def rejected(client: Client, url: str) -> fusebox.CircuitOpenError:
    with pytest.raises(fusebox.CircuitOpenError) as info:
        client.get(url)
    return info.value


def test_trip_reject_probe_close(
    clock: fusebox.ManualClock, server: Server, make_client: Callable[..., Client]
) -> None:
    hosts = hosts_on(clock)
    client = make_client(hosts)
    assert client.get(server.url) == 200
    server.plan.respond(500, times=2)
    assert [client.get(server.url), client.get(server.url)] == [500, 500]
    breaker = hosts.get(server.url)
    assert breaker is not None and breaker.state == "open"
    sent = server.plan.requests
    e = rejected(client, server.url)
    assert (e.breaker, e.retry_after, e.reason) == (server.url, 10.0, "open")
    assert server.plan.requests == sent  # the request was not sent
    clock.advance(10)
    assert client.get(server.url) == 200  # the probe
    assert breaker.state == "closed"
    m = breaker.metrics()
    assert (m["successes"], m["failures"], m["rejected"]) == (2, 2, 1)


def test_retry_after_seconds_opens_for_that_long(
    clock: fusebox.ManualClock, server: Server, make_client: Callable[..., Client]
) -> None:
    hosts = hosts_on(clock, consecutive_failures=None)
    client = make_client(hosts)
    server.plan.respond(503, Retry_After="30")
    assert client.get(server.url) == 503
    assert rejected(client, server.url).retry_after == 30.0
    clock.advance(29)
    assert rejected(client, server.url).retry_after == 1.0
    clock.advance(1)
    assert client.get(server.url) == 200
    breaker = hosts.get(server.url)
    assert breaker is not None and breaker.state == "closed"
    # A 429 is the caller's: ignored, but its pause is kept, cut to max_open_for.
    server.plan.respond(429, Retry_After="3600")
    assert client.get(server.url) == 429
    assert rejected(client, server.url).retry_after == 60.0
    m = breaker.metrics()
    assert (m["failures"], m["ignored"]) == (1, 1)


def test_retry_after_as_an_http_date(
    clock: fusebox.ManualClock, server: Server, make_client: Callable[..., Client]
) -> None:
    client = make_client(hosts_on(clock))
    when = email.utils.formatdate(time.time() + 45, usegmt=True)
    server.plan.respond(503, Retry_After=when)
    assert client.get(server.url) == 503
    r = rejected(client, server.url).retry_after
    assert r is not None and 30 < r <= 45


def test_unreadable_retry_after_and_4xx_leave_it_closed(
    clock: fusebox.ManualClock, server: Server, make_client: Callable[..., Client]
) -> None:
    hosts = hosts_on(clock)
    client = make_client(hosts)
    server.plan.respond(429, Retry_After="later")
    server.plan.respond(404, times=5)
    assert [client.get(server.url) for _ in range(6)] == [429] + [404] * 5
    breaker = hosts.get(server.url)
    assert breaker is not None and breaker.state == "closed"
    assert breaker.metrics()["ignored"] == 6


def test_hosts_have_their_own_breakers(
    clock: fusebox.ManualClock, make_client: Callable[..., Client]
) -> None:
    hosts = hosts_on(clock)
    client = make_client(hosts)
    with serve() as a, serve() as b:
        a.plan.respond(500, times=2)
        client.get(a.url)
        client.get(a.url)
        rejected(client, a.url)
        assert client.get(b.url) == 200
        ba, bb = hosts.get(a.url), hosts.get(b.url)
        assert ba is not None and bb is not None
        assert (ba.state, bb.state) == ("open", "closed")
    assert len(hosts) == 2


def test_connection_errors_are_failures(
    clock: fusebox.ManualClock, make_client: Callable[..., Client]
) -> None:
    hosts = hosts_on(clock)
    client = make_client(hosts)
    with closed_port_url() as url:
        for _ in range(2):
            with pytest.raises(client.failures):
                client.get(url)
        e = rejected(client, url)
    assert e.retry_after == 10.0


def test_timeouts_are_failures(
    clock: fusebox.ManualClock, server: Server, make_client: Callable[..., Client]
) -> None:
    hosts = hosts_on(clock)
    client = make_client(hosts, timeout=0.2)
    server.plan.hang()
    with pytest.raises(client.failures):
        client.get(server.url)
    server.plan.release.set()
    breaker = hosts.get(server.url)
    assert breaker is not None
    assert breaker.metrics()["failures"] == 1


def cancel_during(
    hosts: fusebox.KeyedBreakers, server: Server, clock: fusebox.ManualClock, ran_for: float
) -> None:
    """A request through the async transport that hangs, cancelled after
    `ran_for` seconds of breaker time."""

    async def main() -> None:
        async with httpx.AsyncClient(transport=AsyncBreakerTransport(breakers=hosts)) as c:
            server.plan.hang()
            task = asyncio.create_task(c.get(server.url))
            await asyncio.get_running_loop().run_in_executor(None, server.plan.received.acquire)
            clock.advance(ran_for)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            server.plan.release.set()

    asyncio.run(main())


def test_a_cancelled_request_counts_nothing(clock: fusebox.ManualClock, server: Server) -> None:
    hosts = hosts_on(clock, slow_call_duration=5.0)
    cancel_during(hosts, server, clock, 1.0)
    breaker = hosts.get(server.url)
    assert breaker is not None
    m = breaker.metrics()
    assert (m["successes"], m["failures"], m["slow"], m["window_calls"]) == (0, 0, 0, 0)


def test_a_request_cancelled_after_the_slow_call_duration_is_slow(
    clock: fusebox.ManualClock, server: Server
) -> None:
    hosts = hosts_on(clock, slow_call_duration=5.0)
    cancel_during(hosts, server, clock, 6.0)
    breaker = hosts.get(server.url)
    assert breaker is not None
    m = breaker.metrics()
    assert (m["failures"], m["slow"], m["window_calls"]) == (0, 1, 1)


def test_a_cancelled_probe_frees_its_slot(clock: fusebox.ManualClock, server: Server) -> None:
    hosts = hosts_on(clock)
    b = hosts.get_or_create(server.url)
    b.open_for(1)
    clock.advance(1)
    cancel_during(hosts, server, clock, 0.0)
    assert b.state == "half_open"
    with httpx.Client(transport=BreakerTransport(breakers=hosts)) as c:
        assert c.get(server.url).status_code == 200
    assert b.state == "closed"


def test_a_full_set_of_hosts_refuses_a_new_one(
    clock: fusebox.ManualClock, make_client: Callable[..., Client]
) -> None:
    hosts = fusebox.KeyedBreakers("hosts", 1, clock=clock)
    client = make_client(hosts)
    with serve() as a, serve() as b:
        assert client.get(a.url) == 200  # a's breaker holds history: not evictable
        with pytest.raises(fusebox.KeyedFullError):
            client.get(b.url)
        assert b.plan.requests == 0


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="breakers must be a fusebox.KeyedBreakers"):
        BreakerTransport(breakers=fusebox.CircuitBreaker("x"))  # type: ignore[arg-type]
