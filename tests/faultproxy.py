"""A small HTTP proxy for tests: counts requests and injects faults for chosen ones.

Put it between a client and a DAV server on loopback::

    with FaultProxy("http://127.0.0.1:5232/") as proxy:
        proxy.fault = lambda req: "503" if req.method == "PUT" and req.n % 3 == 0 else None
        ... point the client at proxy.url (the upstream URL, path kept, via the proxy) ...
        proxy.count(method="PUT")

`fault` gets a `Seen` request and returns None (forward), a status such as "503" or "403"
(answer it without forwarding), "drop" (close the connection without an answer, before forwarding) or
"drop-after" (forward, then close the connection without passing the answer on, so the
server did the work but the client never hears of it), "drip" (forward, then pass the whole
answer on, status line and headers included, one byte every `drip_seconds`) or "drip-body"
(headers at once, then the body one byte every `drip_seconds`). `answer_sizes` holds the
size in bytes of each dripped answer, so a test can tell how long dripping it all would take.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


@dataclass(frozen=True)
class Seen:
    n: int  # 1-based order of arrival
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    action: str | None


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.upstream_path = parts.path or "/"
        self.fault: Callable[[Seen], str | None] | None = None
        self.seen: list[Seen] = []
        self.drip_seconds = 1.0
        self.answer_sizes: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:<port>` of the proxy, without a path."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The upstream URL with the proxy's address: the same path (a test's own prefix on a
        shared server carries over), requests are forwarded with their paths unchanged."""
        return self.origin + self.upstream_path

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()

    def count(self, method: str | None = None, *, faulted: bool | None = None) -> int:
        with self._lock:
            return sum(
                1
                for s in self.seen
                if (method is None or s.method == method)
                and (faulted is None or (s.action is not None) == faulted)
            )

    def writes(self) -> int:
        """Requests that change something on a DAV server and reached it."""
        with self._lock:
            return sum(
                1
                for s in self.seen
                if s.method in {"PUT", "DELETE", "MKCOL", "MKCALENDAR", "PROPPATCH", "MOVE"}
                and s.action in (None, "drop-after")
            )

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Seen:
        with self._lock:
            n = len(self.seen) + 1
            probe = Seen(n, method, path, headers, body, None)
            action = self.fault(probe) if self.fault else None
            seen = Seen(n, method, path, headers, body, action)
            self.seen.append(seen)
            return seen

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                seen = proxy._record(self.command, self.path, headers, body)
                if seen.action == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if seen.action and seen.action.isdigit():
                    payload = b"injected fault"
                    self.send_response(int(seen.action))
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if seen.action == "drop-after":
                        self.close_connection = True
                        self.connection.close()
                        return
                    if seen.action in ("drip", "drip-body"):
                        self._drip(resp, data, whole=seen.action == "drip")
                        return
                    self.send_response(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            def _drip(self, resp: http.client.HTTPResponse, data: bytes, *, whole: bool) -> None:
                head = f"HTTP/1.1 {resp.status} {resp.reason}\r\n"
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        head += f"{k}: {v}\r\n"
                head += f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
                answer = head.encode("latin-1") + data
                with proxy._lock:
                    proxy.answer_sizes.append(len(answer))
                self.close_connection = True
                start = 0
                if not whole:
                    self.wfile.write(head.encode("latin-1"))
                    self.wfile.flush()
                    start = len(head)
                try:
                    for i in range(start, len(answer)):
                        self.wfile.write(answer[i : i + 1])
                        self.wfile.flush()
                        time.sleep(proxy.drip_seconds)
                except OSError:
                    pass  # the client gave up, as it should

            def __getattr__(self, name: str) -> Any:
                if name.startswith("do_"):
                    return self._handle
                raise AttributeError(name)

        return Handler
