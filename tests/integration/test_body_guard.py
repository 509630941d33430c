"""Hostile request bodies over raw sockets against real gunicorn (docs/security.md): a client that
declares a body and trickles it (slowloris) is cut off after BODY_IDLE_TIMEOUT_SECS with 408, and
a client refused before its body is read (no API key) has its connection closed at once instead
of gunicorn reading the rest of the body first."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from tests.support.gunicorn import GunicornServer, app_env

KEY = "body-guard-key-0123456789"


@pytest.fixture(scope="module")
def guarded(fake_module):
    env = app_env(fake_module, API_KEY=KEY, BODY_IDLE_TIMEOUT_SECS="1", BODY_TIMEOUT_SECS="3", WORKER_CONNECTIONS="30")
    with GunicornServer(env) as srv:
        yield srv


def open_body(server, path: str, key: str | None, declared: int = 100_000, sent: bytes = b"{") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n".encode()
        + sent
    )
    return sock


def answer_then_close(sock: socket.socket, within: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after `within` s)."""
    sock.settimeout(within)
    data = b""
    while True:
        chunk = sock.recv(65536)  # socket.timeout (a failure) if the server keeps the connection open
        if not chunk:
            return data
        data += chunk


def health(server, timeout: float) -> int:
    with urllib.request.urlopen(server.url + "/health", timeout=timeout) as resp:
        return resp.status


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/chat", "/v1/files"])
def test_a_refused_client_is_disconnected_without_its_body_being_read(guarded, path):
    socks = [open_body(guarded, path, key=None) for _ in range(25)]
    try:
        for sock in socks:
            answer = answer_then_close(sock, within=5)
            assert answer.startswith(b"HTTP/1.1 401 ") and b"Connection: close" in answer
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/chat"])
def test_a_client_that_stops_sending_its_body_gets_408_and_is_disconnected(guarded, path):
    sock = open_body(guarded, path, key=KEY)
    try:
        answer = answer_then_close(sock, within=10)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in answer
    assert b"BODY_IDLE_TIMEOUT_SECS" in answer and b"request_timeout" in answer


def test_a_trickling_body_is_cut_off_at_the_total_limit(guarded):
    sock = open_body(guarded, "/v1/chat", key=KEY, declared=1000)
    try:
        started = time.monotonic()
        with pytest.raises((ConnectionError, BrokenPipeError, socket.timeout)):
            while time.monotonic() - started < 10:  # a byte every 0.5 s: never idle for 1 s
                sock.sendall(b" ")
                time.sleep(0.5)
        answer = answer_then_close(sock, within=5)
    except OSError:
        answer = b"(connection reset after the answer)"
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408 ") or answer.startswith(b"(connection reset")


def test_slow_clients_beyond_the_connection_limit_do_not_keep_health_away(guarded):
    # 40 trickling clients on a worker that holds 30 connections: the last ones wait in the
    # listen queue until the body timeouts free slots, and so would /health without them.
    socks = [open_body(guarded, "/v1/chat/completions", key=KEY) for _ in range(40)]
    try:
        assert health(guarded, timeout=15) == 200
    finally:
        for sock in socks:
            sock.close()
    assert health(guarded, timeout=5) == 200


def test_complete_bodies_still_work_and_keep_the_connection(guarded):
    body = b'{"message": "hi #scenario:plain?text=hello", "temporary": true}'
    sock = open_body(guarded, "/v1/chat", key=KEY, declared=len(body), sent=body)
    try:
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200 ") and b"Connection: keep-alive" in data
    finally:
        sock.close()
