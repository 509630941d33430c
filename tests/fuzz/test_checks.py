"""The fuzzers' answer checks flag what they must (so a passing fuzz run means something)."""

import json

import pytest

from app.problems import Problem

from .checks import violations


def problem(status, type_):
    resp = Problem(status, type_, "something").response()
    return resp.status_code, resp.headers["Content-Type"], resp.get_data()


@pytest.mark.parametrize(
    "answer,ok",
    [
        (problem(422, "invalid_request"), True),
        (problem(502, "upstream_error"), True),
        ((200, "application/json", b"{}"), True),
        (problem(500, "internal"), False),
        (problem(503, "upstream_unavailable"), False),  # the fake is up: never expected
        (problem(400, "made_up"), False),
        (problem(502, "not_found"), False),
        ((404, "text/html", b"<h1>Not Found</h1>"), False),
        ((400, "application/problem+json", b"not json"), False),
        (
            (
                400,
                "application/problem+json",
                json.dumps({"type": "bad_request", "title": "Bad Request", "status": 422, "detail": "x"}).encode(),
            ),
            False,
        ),
    ],
)
def test_violations(answer, ok):
    status, ctype, body = answer
    assert (violations("POST", "/v1/x", status, ctype, body) == []) is ok


def test_passthrough_routes_only_answer_for_our_own_failures():
    assert violations("GET", "/raw/rest/x", 404, "text/html", b"<h1>404</h1>") == []
    status, ctype, body = problem(500, "internal")
    assert violations("GET", "/raw/rest/x", status, ctype, body)
