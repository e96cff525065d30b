"""Serving a sandbox: on 127.0.0.1 in a thread (stdlib ``http.server``, HTTP/1.1 with
keep-alive), or in process as an httpx transport."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from ._transport import FAULT_EXTENSION, Fault
from ._wire import Dropped, Held, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from ._sandbox import Sandbox

#: The host every sandbox binds to: a sandbox is never reachable from another machine.
HOST = "127.0.0.1"
# How often the serving thread looks for a stop request, and how finely a held answer
# notices that the sandbox stops or the client left.
POLL = 0.02


class SandboxTransport(httpx.AsyncBaseTransport):
    """Answers httpx requests from a :class:`Sandbox` in process (see
    :meth:`Sandbox.transport`)."""

    def __init__(self, sandbox: Sandbox, *, sleep: Callable[[float], Any] | None = None) -> None:
        self.sandbox = sandbox
        self._sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        seen = SandboxRequest(
            request.method,
            request.url.path,
            query=dict(request.url.params),
            headers=request.headers,
            body=body,
        )
        plan = self.sandbox.admit(seen)
        injected = request.extensions.get(FAULT_EXTENSION)
        if isinstance(injected, Fault) and seen.fault is None and plan.route is not None:
            seen.fault = injected  # a partial fault from a FaultInjectingTransport in front
        if plan.delay and self._sleep is not None:
            await self._sleep(plan.delay)
        try:
            answer = self.sandbox.answer(seen, plan)
        except Held:
            self.sandbox.record(seen, None)
            raise httpx.ReadTimeout("read timed out (sandbox)", request=request) from None
        except Dropped:
            self.sandbox.record(seen, None)
            raise httpx.ConnectError("connection refused (sandbox)", request=request) from None
        self.sandbox.record(seen, answer.status)
        return httpx.Response(
            answer.status, headers=answer.headers, content=answer.body, request=request
        )


class Server(ThreadingHTTPServer):
    """A threading HTTP server for one sandbox, that can close its open connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        super().__init__(address, Handler)
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are in the sandbox's log; nothing goes to stderr."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _hold(self, seconds: float) -> None:
        """Wait, unless the sandbox stops or the client leaves first."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.server.stopping.wait(min(POLL, max(0.0, deadline - time.monotonic()))):
                return
            if self._client_gone():
                return

    def _serve(self) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        body = self._read_body()
        if parts.path.startswith("/_sandbox/"):
            self._send(self._builtin(sandbox, parts.path))
            return
        request = SandboxRequest(
            self.command,
            parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=dict(self.headers.items()),
            body=body,
            client_gone=self._client_gone,
        )
        plan = sandbox.admit(request)
        if plan.delay:
            self._hold(plan.delay)
        try:
            answer = sandbox.answer(request, plan)
        except Held:
            self._hold(sandbox.faults.timeout_seconds)
            answer = SandboxResponse.json({"message": "gateway timeout"}, status=504)
        except Dropped:
            sandbox.record(request, None)
            self.close_connection = True
            return
        sandbox.record(request, answer.status)
        self._send(answer)

    def _builtin(self, sandbox: Sandbox, path: str) -> SandboxResponse:
        if path == "/_sandbox/stats":
            return SandboxResponse.json(sandbox.stats())
        return SandboxResponse.json({"message": "unknown sandbox route"}, status=404)

    def _send(self, answer: SandboxResponse) -> None:
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve
