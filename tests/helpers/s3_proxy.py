"""A fault-injecting HTTP proxy for S3 tests: it forwards to an upstream (moto) and answers
the first N requests that match a method and a path pattern with `503 SlowDown`, S3's
throttling error, to prove the client retries; or flips one byte in the body of the first N
matching responses, as a faulty network or middlebox would. It also records every request it
sees, so a test can count what an operation cost, and can record each request's headers and
body (`keep_bodies`), to check what reached the server.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>ci-ml-test</RequestId><HostId>ci-ml-test</HostId></Error>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length"}


@dataclass(frozen=True)
class Sent:
    """One request as the proxy received it: headers with lower-case names, the body whole."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FaultProxy:
    """Proxy state: what to fail, and what was seen (method, path) in arrival order."""

    upstream: str
    method: str = "PUT"
    path: str = ".*"
    failures: int = 0
    flips: int = 0  # the first response for each of `flips` matching paths gets a byte flipped
    flip_every_read: bool = False  # flip every matching response: a really corrupt object
    status: int = 503  # what the `failures` get: 503 SlowDown, or another status
    keep_bodies: bool = False  # record every request whole in `sent`
    url: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    faults_served: int = 0
    flips_served: int = 0
    flipped_paths: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, method: str, path: str) -> bool:
        """Record the request; True if it should get a 503."""
        with self._lock:
            self.requests.append((method, path))
            if (
                self.faults_served < self.failures
                and method == self.method
                and re.search(self.path, path)
            ):
                self.faults_served += 1
                return True
            return False

    def should_flip(self, method: str, path: str) -> bool:
        with self._lock:
            if method != self.method or not re.search(self.path, path):
                return False
            if self.flip_every_read or (
                path not in self.flipped_paths and len(self.flipped_paths) < self.flips
            ):
                self.flipped_paths.add(path)
                self.flips_served += 1
                return True
            return False

    def count(self, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for m, _ in self.requests if method is None or m == method)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects

        def _forward(self) -> None:
            body = self._read_body()
            if proxy.keep_bodies:
                headers = {k.lower(): v for k, v in self.headers.items()}
                with proxy._lock:
                    proxy.sent.append(Sent(self.command, self.path, headers, body))
            if proxy.decide(self.command, self.path):
                self._reply(proxy.status, {"Content-Type": "application/xml"}, SLOW_DOWN)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream = http.client.HTTPConnection(target.netloc, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
                if self.command == "HEAD":
                    kept["Content-Length"] = response.getheader("Content-Length") or "0"
                elif data and response.status == 200 and proxy.should_flip(self.command, self.path):
                    middle = len(data) // 2
                    data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
                self._reply(response.status, kept, data)
            finally:
                upstream.close()

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: pytest shows failures, not traffic

    return Handler


@contextmanager
def fault_proxy(
    upstream: str,
    *,
    method: str = "PUT",
    path: str = ".*",
    failures: int = 0,
    flips: int = 0,
    flip_every_read: bool = False,
    status: int = 503,
    keep_bodies: bool = False,
) -> Iterator[FaultProxy]:
    """Run a proxy to `upstream` on a free port of 127.0.0.1 for the `with` block."""
    proxy = FaultProxy(
        upstream=upstream,
        method=method,
        path=path,
        failures=failures,
        flips=flips,
        flip_every_read=flip_every_read,
        status=status,
        keep_bodies=keep_bodies,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
