"""Slow and stalled clients against a live server: a request whose body stalls holds no
writer back and is cut off after its body timeout; half-sent headers are cut off after
the header timeout; a client that hangs up is one debug line.

The server runs in a thread of this process with the daemon's uvicorn configuration, and
the pipeline in the test's thread, on one SQLite file: both use the same writers' gate,
whose counters say whether a background writer ever held back."""

from __future__ import annotations

import base64
import logging
import socket
import time

import orjson
import pytest
from structlog.testing import capture_logs

from spokehub.pipeline import Pipeline
from spokehub.registry import Registry
from spokehub.store.gate import gate_of

from .live import KEY, live_server

EVENTS = 5000
#: Long enough that the pipeline has processed every event before it runs out.
BODY_TIMEOUT = 20.0


def post(port: int, body: bytes) -> bytes:
    """One POST /v1/batch with the key in the header; the status line."""
    auth = base64.b64encode(f"{KEY}:".encode()).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(
            (
                f"POST /v1/batch HTTP/1.1\r\nHost: hub\r\nAuthorization: Basic {auth}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            + body
        )
        return read_all(s).split(b"\r\n", 1)[0]


def read_all(s: socket.socket) -> bytes:
    parts = []
    while chunk := s.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


def still_open(s: socket.socket) -> bool:
    """Whether the server has neither answered nor closed ``s`` yet."""
    s.setblocking(False)
    try:
        s.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        s.setblocking(True)
    return False


@pytest.mark.slow
def test_a_stalled_unauthenticated_body_holds_no_writer_back_and_is_cut_off(sqlite_engine):
    http = {"unauthenticated_body_timeout_seconds": BODY_TIMEOUT}
    with live_server(sqlite_engine, {"http": http}) as (
        port,
        project,
    ):
        # analytics.js style: no credential in the headers, the key would be in the body,
        # of which only the first byte ever comes.
        stalled = socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT * 3)
        stalled.sendall(
            b"POST /v1/batch HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 100000\r\n\r\n{"
        )
        opened = time.monotonic()
        for start in range(0, EVENTS, 250):
            batch = [
                {"type": "track", "userId": f"u{n % 50}", "event": "E", "messageId": f"m{n}"}
                for n in range(start, start + 250)
            ]
            assert post(port, orjson.dumps({"batch": batch})) == b"HTTP/1.1 200 OK"

        gate = gate_of(sqlite_engine)
        before = gate.counters.waits_for_other_processes, gate.counters.deferrals
        # The stalled request is not an urgent writer: nothing is announced for it.
        assert gate.announced == 0
        stats = Pipeline(sqlite_engine, project, Registry.load(allow=())).drain()
        assert stats.processed == EVENTS
        assert (gate.counters.waits_for_other_processes, gate.counters.deferrals) == before
        assert gate.counters.background_turns >= EVENTS // 200
        assert still_open(stalled), "the body timeout ran out before the pipeline finished"

        # Cut off once its body timeout has passed: answered 408, and closed.
        answer = read_all(stalled)
        stalled.close()
        assert time.monotonic() - opened >= BODY_TIMEOUT * 0.9
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"body_timeout" in answer
        assert b"connection: close" in answer.lower()


def test_half_sent_headers_are_cut_off_after_the_header_timeout(sqlite_engine):
    with live_server(sqlite_engine, {"http": {"header_timeout_seconds": 0.5}}) as (port, _project):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: hub\r\nContent-Le")
            assert read_all(s) == b""  # closed, without an answer
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            assert read_all(s) == b""  # a connection that never says anything, too
        # A request that takes less than that is served as usual.
        assert post(port, b'{"batch":[{"type":"track","userId":"u","event":"E"}]}') == (
            b"HTTP/1.1 200 OK"
        )


def test_a_client_that_hangs_up_mid_body_is_one_debug_line(sqlite_engine, caplog):
    with live_server(sqlite_engine, {}) as (port, _project), capture_logs() as logs:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(
                b"POST /v1/batch HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\n"
                b'Content-Length: 1000\r\n\r\n{"batch":'
            )
            time.sleep(0.2)  # the request is being read when the client goes
        # The next request is served as usual (and shows the first one was handled).
        assert post(port, b'{"batch":[{"type":"track","userId":"u","event":"E"}]}') == (
            b"HTTP/1.1 200 OK"
        )
    assert [e["event"] for e in logs if e["log_level"] != "info"] == ["client disconnected"]
    assert [e["log_level"] for e in logs if e["event"] == "client disconnected"] == ["debug"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
