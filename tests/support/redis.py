"""A real Redis for tests: Debian's `redis-server` on a free loopback port, no persistence.

`make test` installs it (as root, like chromium); elsewhere the fixtures fail with the
command to run. `kill()` and `start()` again on the same port make an outage.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from .gunicorn import free_port

REDIS_SERVER = "redis-server"
MISSING = (
    "the shared-state tests need Debian's redis-server: `apt-get install -y redis-server` "
    "(make test does it when run as root)"
)


def require_redis_server() -> str:
    path = shutil.which(REDIS_SERVER) or shutil.which("/usr/bin/" + REDIS_SERVER)
    if path is None:
        pytest.fail(MISSING, pytrace=False)
    return path


class RedisServer:
    def __init__(self, port: int | None = None):
        self.binary = require_redis_server()
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="grok-web-api-redis-")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        """Stop at once, as a crash would (the data is gone: nothing is persisted)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def close(self) -> None:
        self.kill()
        self._dir.cleanup()

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
