"""The HTTP adapters' added cost per request: a plain client and the same
client through fusebox, against one loopback server, in one run.

    python -m venv /tmp/bench && /tmp/bench/bin/pip install "./bindings/python[httpx,requests]"
    /tmp/bench/bin/python bindings/python/bench/bench_http.py

Each figure is the best (lowest) round's mean, in µs per request; rounds of
the cases take turns so that all see the same machine. A measurement, not
a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import math
import random
import threading
from time import perf_counter_ns
from typing import Any, Callable

import httpx
import requests

import fusebox
from fusebox.httpx import AsyncBreakerTransport, BreakerTransport
from fusebox.requests import BreakerAdapter


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response (flushed by the server after each), no Nagle:
    # else the headers and the body meet the client's delayed ACK (40 ms).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def timed(get: Callable[[], Any], n: int) -> float:
    t0 = perf_counter_ns()
    for _ in range(n):
        get()
    return (perf_counter_ns() - t0) / n / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200, help="requests per round")
    ap.add_argument("--rounds", type=int, default=15)
    a = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    hosts = fusebox.KeyedBreakers("bench", 64)
    plain_httpx = httpx.Client()
    fb_httpx = httpx.Client(transport=BreakerTransport(breakers=hosts))
    plain_req = requests.Session()
    fb_req = requests.Session()
    fb_req.mount("http://", BreakerAdapter(breakers=hosts))
    loop = asyncio.new_event_loop()
    plain_async = httpx.AsyncClient()
    fb_async = httpx.AsyncClient(transport=AsyncBreakerTransport(breakers=hosts))

    def async_round(client: httpx.AsyncClient) -> Callable[[], float]:
        async def body() -> float:
            t0 = perf_counter_ns()
            for _ in range(a.n):
                await client.get(url)
            return (perf_counter_ns() - t0) / a.n / 1000

        return lambda: loop.run_until_complete(body())

    # The adapter's own cost, without the network's noise: the same client
    # over httpx.MockTransport (an in-memory response), with and without it.
    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"ok")

    mock_url = "http://mock.internal/"
    plain_mock = httpx.Client(transport=httpx.MockTransport(ok))
    fb_mock = httpx.Client(
        transport=BreakerTransport(httpx.MockTransport(ok), breakers=hosts)
    )

    mock = httpx.MockTransport(ok)
    fb_transport = BreakerTransport(mock, breakers=hosts)
    req = httpx.Request("GET", mock_url)

    cases: dict[str, Callable[[], float]] = {
        "MockTransport.handle_request": lambda: timed(lambda: mock.handle_request(req), a.n),
        "+ BreakerTransport around it":
            lambda: timed(lambda: fb_transport.handle_request(req), a.n),
        "httpx.Client over MockTransport (no network)":
            lambda: timed(lambda: plain_mock.get(mock_url), a.n),
        "httpx.Client + BreakerTransport over MockTransport":
            lambda: timed(lambda: fb_mock.get(mock_url), a.n),
        "httpx.Client": lambda: timed(lambda: plain_httpx.get(url), a.n),
        "httpx.Client + BreakerTransport": lambda: timed(lambda: fb_httpx.get(url), a.n),
        "httpx.AsyncClient": async_round(plain_async),
        "httpx.AsyncClient + AsyncBreakerTransport": async_round(fb_async),
        "requests.Session": lambda: timed(lambda: plain_req.get(url), a.n),
        "requests.Session + BreakerAdapter": lambda: timed(lambda: fb_req.get(url), a.n),
    }
    best = {k: math.inf for k in cases}
    names = list(cases)
    for r in range(a.rounds):
        random.Random(r).shuffle(names)
        for name in names:
            best[name] = min(best[name], cases[name]())
    print(f"# loopback GET, n={a.n}, best of {a.rounds} rounds")
    print()
    print("| client | µs/request | added by fusebox |")
    print("|---|---:|---:|")
    base = 0.0
    for name in cases:
        v = best[name]
        if "+" in name:
            print(f"| {name} | {v:.1f} | {v - base:+.1f} |")
        else:
            base = v
            print(f"| {name} | {v:.1f} | |")
    server.shutdown()


if __name__ == "__main__":
    main()
