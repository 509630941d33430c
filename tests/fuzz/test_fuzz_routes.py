"""Every route of the app, fuzzed in-process against the fake grok.com with the strategies of
strategies.py (valid and invalid paths, queries, headers and bodies): no answer is a
server error, and every error is problem+json with a documented type (checks.py).

The routes are read from the app's url_map and OpenAPI document when the tests are
collected, so routes added later are fuzzed too. Examples are derandomized (the same on
every run); `FUZZ_EXAMPLES` sets how many each route gets.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.settings import Settings
from tests.support.gunicorn import app_env

from .checks import violations
from .routes import DOC, OPERATIONS
from .strategies import requests_for

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))


@pytest.fixture(scope="module")
def app_client(fake_session):
    app = create_app(
        Settings.from_mapping(
            app_env(fake_session, LOG_LEVEL="critical", STREAM_IDLE_TIMEOUT_SECS="5", REQUEST_TIMEOUT_SECS="5")
        )
    )
    return app.test_client()


def test_every_route_is_fuzzed():
    """The url_map drives the fuzzing: each documented operation is among the fuzzed ones."""
    documented = {
        (method.upper(), path) for path, item in DOC["paths"].items() for method in item if method != "parameters"
    }
    fuzzed = {(op.method, op.template) for op in OPERATIONS if op.documented}
    assert fuzzed == documented and len(documented) > 40
    assert any(not op.documented for op in OPERATIONS)  # e.g. /openapi.json itself


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.id)
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_no_server_error_and_only_documented_problems(app_client, op, data):
    request = data.draw(requests_for(op, DOC), label="request")
    resp = app_client.open(
        request.path, method=request.method, query_string=request.query, headers=request.headers, data=request.body
    )
    body = resp.get_data()
    found = violations(request.method, request.path, resp.status_code, resp.headers.get("Content-Type"), body)
    assert not found, f"{request!r} -> {resp.status_code}: {found}"


def test_the_app_still_answers(app_client):
    assert app_client.get("/health").status_code == 200
