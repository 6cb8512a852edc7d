"""Real HTTP servers on loopback that the tests command: the next
responses' statuses and headers, a hang until released, a closed port."""

from __future__ import annotations

import collections
import http.server
import socket
import threading
from typing import Any, Iterator, Optional

import contextlib


class Plan:
    """What the server answers next: a queue of steps, then 200 "ok"."""

    def __init__(self) -> None:
        self.steps: collections.deque[tuple[Any, ...]] = collections.deque()
        self.lock = threading.Lock()
        self.received = threading.Semaphore(0)
        self.release = threading.Event()
        self.requests = 0

    def respond(self, status: int, times: int = 1, **headers: str) -> None:
        with self.lock:
            for _ in range(times):
                self.steps.append(("respond", status, headers))

    def hang(self) -> None:
        """The next request gets no answer until `release` is set."""
        with self.lock:
            self.steps.append(("hang",))

    def next(self) -> tuple[Any, ...]:
        with self.lock:
            self.requests += 1
            return self.steps.popleft() if self.steps else ("respond", 200, {})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response (flushed by the server after each), no Nagle:
    # else the headers and the body meet the client's delayed ACK (40 ms).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: "Server"

    def do_GET(self) -> None:
        step = self.server.plan.next()
        self.server.plan.received.release()
        if step[0] == "hang":
            self.server.plan.release.wait(30)
            self.close_connection = True
            return
        _, status, headers = step
        body = f"status {status}".encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.plan = Plan()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def serve() -> Iterator[Server]:
    s = Server()
    t = threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        yield s
    finally:
        s.plan.release.set()
        s.shutdown()
        s.server_close()
        t.join(10)


@contextlib.contextmanager
def closed_port_url() -> Iterator[str]:
    """A loopback URL nothing listens on, for as long as the block runs.

    The port stays bound (never listening) meanwhile: a connection to it is
    refused, and no other server, nor a client's own ephemeral port (a TCP
    self-connect), can take it, as one could once a probe socket closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def metrics(breakers: Any, url: str) -> Optional[dict[str, Any]]:
    b = breakers.get(url)
    return None if b is None else b.metrics()
