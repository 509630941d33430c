"""Shared fixtures: the fake grok.com (a subprocess) and the app under real gunicorn.

The test process is NOT monkey-patched: the transport runs on gevent's hub without it,
and the servers under test run in their own processes.
"""

from __future__ import annotations

import pytest

from app.grok.client import GrokClient
from app.settings import Settings
from tests.fakegrok.harness import FakeGrok
from tests.support.environ import isolate_test_process
from tests.support.gunicorn import GunicornServer, app_env
from tests.support.redis import RedisServer

# Before any test module is imported: a library importing python-dotenv's load_dotenv (LiteLLM)
# must not copy the checkout's .env into this process, and the shell's settings stay out too.
isolate_test_process()


@pytest.fixture(scope="session")
def fake_session():
    with FakeGrok() as fake:
        fake.initial_config = fake.config()
        yield fake


def _restore(fake) -> None:
    fake.reset()
    if fake.config() != fake.initial_config:
        fake.configure(**fake.initial_config)


@pytest.fixture
def fake(fake_session):
    """The session's fake grok.com, reset (store, log, queue, config) for this test."""
    _restore(fake_session)
    yield fake_session
    _restore(fake_session)


@pytest.fixture
def settings_for(fake):
    """Settings of an app talking to the fake, with overrides: settings_for(API_KEY="k")."""

    def make(**overrides) -> Settings:
        return Settings.from_mapping(app_env(fake, **overrides))

    return make


@pytest.fixture
def grok_client(settings_for) -> GrokClient:
    return GrokClient.from_settings(settings_for())


@pytest.fixture
def flask_app(settings_for):
    """An in-process app (Flask test client) talking to the fake."""
    from app import create_app

    return create_app(settings_for())


@pytest.fixture
def client(flask_app):
    return flask_app.test_client()


@pytest.fixture(scope="module")
def fake_module():
    """A fake of the module's own, for module-scoped servers."""
    with FakeGrok() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(fake_module):
    """The app under gunicorn (1 gevent worker) talking to the module's fake."""
    with GunicornServer(app_env(fake_module)) as srv:
        srv.fake = fake_module
        yield srv


@pytest.fixture
def start_server():
    """Factory for servers with custom settings; each is stopped after the test."""
    started: list[GunicornServer] = []

    def start(env=None, **kw) -> GunicornServer:
        srv = GunicornServer(env, **kw)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


@pytest.fixture(scope="session")
def redis_session():
    """One real redis-server for the session; tests keep apart by key prefix (`redis_prefix`)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_prefix(request) -> str:
    """A key prefix of this test's own in the session's Redis."""
    import uuid

    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, which the test may kill and start again (outages)."""
    with RedisServer() as server:
        yield server
