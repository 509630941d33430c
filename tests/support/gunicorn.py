"""Run the real app under real gunicorn with the gevent worker, for integration tests
and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .environ import hermetic_environ

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(fake, **overrides) -> dict[str, str]:
    """Environment for a server that talks to the given fake grok.com."""
    env = {
        "GROK_BASE_URL": fake.base_url,
        "GROK_ASSETS_URL": fake.base_url + "/assets",
        # grok.com's script CDN is the fake too: nothing a page names can reach the real one.
        "GROK_CDN_URL": fake.base_url,
        "GROK_SSO_COOKIE": fake.sso,
        "GROK_SSO_RW_COOKIE": fake.sso_rw,
        "CHALLENGE_HEADER_HEX": fake.header_hex,
        "CHALLENGE_SUFFIX": fake.suffix,
        "CHALLENGE_TRAILER": str(fake.trailer),
        # The fake's static pair, pinned: tests of other features never fetch grok.com's page.
        # The statsig tests (tests/integration/test_statsig_*.py) set STATSIG_SOURCE themselves.
        "STATSIG_SOURCE": "env",
        # No background session checks: their requests would land in other tests' fake logs.
        # The session watcher's own tests pass GROK_WEB_API_TEST_NO_WATCHER="".
        "GROK_WEB_API_TEST_NO_WATCHER": "1",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class GunicornServer:
    """`gunicorn -c gunicorn.conf.py wsgi:app` in a subprocess, with its own environment.

    The server never reads the developer's .env: ENV_FILE points at a file of its own.
    """

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        workers: int = 1,
        extra_args: list[str] | None = None,
        gevent_monitor: bool = False,
        cwd: Path = ROOT,
        app_module: str = "wsgi:app",
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="grok-web-api-test-")
        self.tmp = Path(self._tmp.name)
        self.env_file = self.tmp / ".env"
        self.env_file.write_text("")
        self.log_path = self.tmp / "server.log"
        full_env = hermetic_environ()
        full_env.update(
            {
                "ENV_FILE": str(self.env_file),
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "WEB_CONCURRENCY": str(workers),
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(cwd),
            }
        )
        if gevent_monitor:
            full_env.update({"GEVENT_MONITOR_THREAD_ENABLE": "true", "GEVENT_MAX_BLOCKING_TIME": "0.1"})
        full_env.update(env or {})
        self.env = full_env
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *(extra_args or []), app_module]
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        logs = self.logs()
        self.stop()
        raise RuntimeError(f"gunicorn did not become ready:\n{logs}")

    def logs(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> "GunicornServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def live_server_fixtures(**overrides):
    """Fixtures for a test module: `module_server` (gunicorn with these settings, talking to the
    module's fake, started once) and `live` (that server, its fake reset around each test).

        module_server, live = live_server_fixtures(HEARTBEAT_SECS="0.2")
    """
    import pytest

    @pytest.fixture(scope="module", name="module_server")
    def module_server(fake_module):
        with GunicornServer(app_env(fake_module, **overrides)) as srv:
            srv.fake = fake_module
            yield srv

    @pytest.fixture(name="live")
    def live(module_server):
        module_server.fake.reset()
        yield module_server
        module_server.fake.reset()

    return module_server, live
