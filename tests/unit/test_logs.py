import base64
import json
import logging
import sys
from urllib.parse import quote

import pytest

from app.ops import logs
from app.settings import Settings
from app.web.telemetry import request_id_from

SSO = "eyJhbGciOiJIUzI1NiJ9.sso-value-0123456789"
KEY = "sk-live-rotating-key-ABCDEFGH"


def settings(**env):
    base = {
        "GROK_SSO_COOKIE": SSO,
        "API_KEY": f"{KEY},second-key-0123456789",
        "GROK_EXTRA_COOKIES": "cf_clearance=clearance-secret-XYZ123456; other=plainvalue42",
    }
    base.update(env)
    return Settings.from_mapping(base)


@pytest.fixture
def redactor():
    r = logs.Redactor()
    r.learn(settings())
    return r


@pytest.mark.parametrize(
    "text",
    [
        f"cookie value {SSO} seen",
        f"encoded {quote(SSO + '/x', safe='')}",
        f"b64 {base64.b64encode(KEY.encode()).decode()}",
        f"truncated head {SSO[:14]}",
        f"case {KEY.upper()}",
        "extra cookie clearance-secret-XYZ123456 and plainvalue42",
        "second key second-key-0123456789",
    ],
)
def test_known_secret_values_are_redacted_in_any_form(redactor, text):
    out = redactor.redact(text)
    assert "[redacted]" in out
    for secret in (SSO, KEY, "clearance-secret-XYZ123456", "plainvalue42", "second-key-0123456789"):
        assert secret[:12].lower() not in out.lower()


@pytest.mark.parametrize(
    "text, kept",
    [
        ("Cookie: sso=unknown-jwt; sso-rw=other-jwt", "Cookie: "),
        ("Authorization: Bearer some-unconfigured-token", "Authorization: Bearer "),
        ("x-api-key: abc123", "x-api-key: "),
        ('{"x-statsig-id": "AAEC+token/="}', '{"x-statsig-id": "'),
    ],
)
def test_credential_shapes_are_redacted_whatever_the_value(text, kept):
    out = logs.Redactor().redact(text)
    assert out.startswith(kept) and "[redacted]" in out
    assert "unknown-jwt" not in out and "unconfigured" not in out and "abc123" not in out
    assert "AAEC" not in out


def test_ordinary_text_is_untouched(redactor):
    text = "GET /v1/models 200 in 3.2 ms; api_key=set"
    assert redactor.redact(text) == text


def test_followed_runtime_rotation_is_picked_up_and_old_values_stay_redacted():
    class Holder:
        settings = settings()

    r = logs.Redactor()
    holder = Holder()
    r.follow(holder)
    holder.settings = settings(API_KEY="brand-new-key-after-rotation")
    out = r.redact(f"new brand-new-key-after-rotation old {KEY}")
    assert "brand-new" not in out and KEY[:12] not in out


def test_filter_redacts_args_fields_and_traceback():
    logs.redactor.learn(settings())
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sent %s", (SSO,), None)
    record.fields = {"path": f"/v1/{KEY}", "status": 200}
    try:
        raise ValueError(f"boom {KEY}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert logs.RedactionFilter().filter(record)
    line = logs.JSONFormatter().format(record)
    assert SSO[:12] not in line and KEY[:12] not in line
    data = json.loads(line)
    assert data["message"] == "sent [redacted]" and data["status"] == 200
    assert "ValueError: boom [redacted]" in data["exc"]


def test_json_lines_have_stable_keys_and_plain_lines_key_value_pairs():
    record = logging.LogRecord("grok_web_api.request", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"request_id": "abc", "path": "/a b", "status": 200, "stream": True}
    record.request_id = "abc"
    data = json.loads(logs.JSONFormatter().format(record))
    assert list(data)[:5] == ["time", "level", "logger", "pid", "message"]
    assert data["time"].endswith("Z") and data["request_id"] == "abc" and data["stream"] is True
    plain = logs.PlainFormatter().format(record)
    assert plain.endswith('request request_id=abc path="/a b" status=200 stream=true')


FORGED = "2026-01-01 00:00:00,000 INFO [1] grok_web_api.request: request path=/v1/admin status=200"


def _emitted(record, formatter) -> str:
    assert logs.RedactionFilter().filter(record)
    return formatter.format(record)


def test_client_text_cannot_forge_a_plain_line():
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "unknown model %s", ("zq-model\n" + FORGED,), None)
    record.fields = {"model": "zq-model\r\n" + FORGED}
    line = _emitted(record, logs.PlainFormatter())
    assert "\n" not in line and "\r" not in line  # the forged text stays inside this one line
    assert "unknown model zq-model\\n2026-01-01" in line and 'model="zq-model\\r\\n2026-01-01' in line


def test_a_traceback_with_client_text_stays_inside_its_record():
    try:
        raise ValueError("bad value\n" + FORGED)
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    text = _emitted(record, logs.PlainFormatter())
    first, *rest = text.split("\n")
    assert " t: failed" in first and rest and all(line.startswith("    ") for line in rest)


def test_every_record_is_bounded():
    huge = "x" * 1_000_000
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "got %s", (huge,), None)
    record.fields = {"detail": huge, "status": 200}
    for formatter in (logs.PlainFormatter(), logs.JSONFormatter()):
        copy = logging.makeLogRecord(record.__dict__)
        out = _emitted(copy, formatter)
        assert len(out) < logs.MAX_MESSAGE_CHARS + logs.MAX_FIELD_CHARS + 500
        assert "more characters]" in out


@pytest.mark.parametrize(
    "incoming, kept",
    [
        ("trace-42", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ("line\nbreak", False),
        ("", False),
        (None, False),
        ("caf\u00e9", False),
    ],
)
def test_request_id_kept_only_when_printable_and_short(incoming, kept):
    out = request_id_from(incoming)
    assert (out == incoming) is kept
    assert 1 <= len(out) <= 128
