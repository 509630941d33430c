"""Every documented example body, with each of its values in turn replaced by each input that once
made a route answer 500 (a 4400-digit number, an unterminated IPv6 URL in an image part, a deep
nest, ...): exhaustive where the random fuzzing of test_fuzz_routes.py only samples. No answer
may be a server error; every error is a documented problem (checks.py)."""

from __future__ import annotations

import json

import pytest

from app import create_app
from app.settings import Settings
from tests.support.gunicorn import app_env

from .checks import violations
from .routes import OPERATIONS
from .strategies import HUGE_NUMBER, _leaf_paths, _replaced, encode

POISONS = [
    HUGE_NUMBER,
    "http://[::1",
    [{"type": "image_url", "image_url": {"url": "http://[::1"}}],
    [{"type": "image_url", "image_url": {"url": "https://straße.example/x.png"}}],
    [{"type": "file", "file": {"file_data": "data:application/pdf;base64,%%%"}}],
    [[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]],
]
WITH_EXAMPLES = [op for op in OPERATIONS if isinstance(op.example, (dict, list)) and "<" not in op.rule]


@pytest.fixture(scope="module")
def app_client(fake_session):
    settings = app_env(fake_session, LOG_LEVEL="critical", STREAM_IDLE_TIMEOUT_SECS="5", REQUEST_TIMEOUT_SECS="5")
    return create_app(Settings.from_mapping(settings)).test_client()


def test_there_are_examples_to_poison():
    assert len(WITH_EXAMPLES) > 10 and any(op.rule == "/v1/chat/completions" for op in WITH_EXAMPLES)


@pytest.mark.parametrize("op", WITH_EXAMPLES, ids=lambda op: op.id)
def test_no_poisoned_value_makes_a_server_error(app_client, fake, op):
    failures = []
    for path in _leaf_paths(op.example):
        for poison in POISONS:
            body = encode(_replaced(op.example, path, poison))
            resp = app_client.open(op.rule, method=op.method, data=body, content_type="application/json")
            found = violations(op.method, op.rule, resp.status_code, resp.headers.get("Content-Type"), resp.get_data())
            if found:
                failures.append(f"{'.'.join(map(str, path))} = {json.dumps(poison)[:60]} -> {found}")
    assert not failures, "\n".join(failures)
