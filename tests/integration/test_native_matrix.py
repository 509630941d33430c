"""Per-route matrix for every typed native route (the tables are in native_cases.py):
the upstream request each produces, its success answer, its error mapping, and
that grok.com's JSON comes back byte for byte."""

from __future__ import annotations

import base64

import pytest

from tests.fakegrok.scenarios import ANTI_BOT, BAD_CREDENTIALS, TOO_MANY

from .native_cases import ALL, DUMMY_IDS, NO_BODY, fill

# upstream answer -> (our status, problem type)
ERRORS = {
    "404": (dict(status=404, body={"code": 5, "message": "Not found", "details": []}), 404, "not_found"),
    "429": (dict(status=429, body=TOO_MANY, headers={"Retry-After": "7"}), 429, "rate_limited"),
    "401-expired": (dict(status=401, body=BAD_CREDENTIALS), 503, "auth_expired"),
    "403-anti-bot": (dict(status=403, body=ANTI_BOT), 403, "anti_bot"),
    "500": (dict(status=500, body={"code": 13, "message": "internal", "details": []}), 502, "upstream_error"),
}


def only_request(fake) -> dict:
    log = fake.requests_log()
    assert len(log) == 1, [(e["method"], e["path"]) for e in log]
    return log[0]


@pytest.mark.parametrize("case", ALL, ids=str)
def test_upstream_request_and_success(case, native_client, fake, make_ids):
    ids = make_ids(case.needs)
    resp = case.send(native_client, ids)

    assert resp.status_code == case.status, resp.get_data(as_text=True)
    sent = only_request(fake)
    assert (sent["method"], sent["path"]) == (case.upstream_method, fill(case.upstream_path, ids))
    assert sent["query"] == fill(case.upstream_query, ids)
    if case.upstream_body is NO_BODY:
        assert sent["body"] is None
    else:
        assert sent["body"] == fill(case.upstream_body, ids)
    assert sent["statsig"] == "ok" and sent["reject"] is None
    if case.content_type is None:
        assert resp.data == b"" and "Content-Type" not in resp.headers
    else:
        assert resp.mimetype == case.content_type
        if case.content_type == "application/json":
            assert isinstance(resp.get_json(), dict)
    if case.answer is not None:
        assert resp.get_json() == case.answer


@pytest.mark.parametrize("error", list(ERRORS), ids=str)
@pytest.mark.parametrize("case", ALL, ids=str)
def test_error_mapping(case, error, native_client, fake):
    canned, status, type_ = ERRORS[error]
    fake.enqueue(fill(case.upstream_path, DUMMY_IDS), method=case.upstream_method, **canned)

    resp = case.send(native_client, DUMMY_IDS)

    if error == "404" and case.on_upstream_404 is not None:
        assert (resp.status_code, resp.get_json()) == (200, case.on_upstream_404)
        return
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"] == type_
    if status == 429:
        assert resp.headers["Retry-After"] == "7"
    assert only_request(fake)["canned"] is True


@pytest.mark.parametrize("case", [c for c in ALL if c.answer is not None], ids=str)
@pytest.mark.parametrize("upstream", ["empty-204", "json-200"])
def test_status_routes_answer_the_reference_body_whatever_grok_answered(case, upstream, native_client, fake):
    # Clients of the reference server read {"status": "deleted"} (stopped, restored, ...), not
    # grok.com's empty 204 or its JSON.
    canned = dict(status=204) if upstream == "empty-204" else dict(status=200, body={"memory": {"id": "x"}})
    fake.enqueue(fill(case.upstream_path, DUMMY_IDS), method=case.upstream_method, **canned)

    resp = case.send(native_client, DUMMY_IDS)

    assert (resp.status_code, resp.mimetype, resp.get_json()) == (200, "application/json", case.answer)
    assert only_request(fake)["canned"] is True


ODD_JSON = '{"zeta": 1,  "alpha": [1.0, 2e3, -0.0], "none": null, "text": "caf\\u00e9 \u2603"}'.encode()


@pytest.mark.parametrize("case", [c for c in ALL if c.passthrough and c.content_type == "application/json"], ids=str)
def test_json_comes_back_byte_for_byte(case, native_client, fake):
    fake.enqueue(
        fill(case.upstream_path, DUMMY_IDS),
        method=case.upstream_method,
        status=case.status,
        body_base64=base64.b64encode(ODD_JSON).decode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    resp = case.send(native_client, DUMMY_IDS)

    assert resp.status_code == case.status
    assert resp.data == ODD_JSON
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
