import email.utils
import json
import time

import pytest

from app.grok import errors as e

EXPIRED = '{"code":16,"message":"Bad credentials. [WKE=unauthenticated:bad-credentials]"}'
ANTI_BOT = '{"error":{"code":7,"message":"Request rejected by anti-bot rules.","details":[]}}'
MODEL_NOT_FOUND = '{"error":{"code":7,"message":"Model is not found","details":[]}}'
BLOCKED = '{"code":7, "message":"User is blocked: Bot abuse - free tier account [WKE=unauthorized:blocked-user]", "details":[]}'
OUT_OF_DATE = '{"code":7,"message":"This page is out of date. Reload to continue.","details":[]}'
OUTDATED_CLIENT = '{"code":3,"message":"Invalid request. Please update your client.","details":[]}'
EMAIL_REJECTED = (
    '{"code":3, "message":"This email domain has been rejected. [WKE=account:email-domain-rejected]", "details":[]}'
)
TOO_LONG = (
    '{"code":3,"message":"Our apologies, your request is as expansive as the galaxy itself. '
    'Could you make it more terrestrial for us?","details":[]}'
)
CLOUDFLARE = "<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>"


@pytest.mark.parametrize(
    "status, body, cls, failure",
    [
        (401, EXPIRED, e.AuthExpired, e.AUTH_EXPIRED),
        (403, EXPIRED, e.AuthExpired, e.AUTH_EXPIRED),
        (403, ANTI_BOT, e.AntiBotRejected, e.ANTI_BOT),
        (403, "request blocked by anti-bot protection", e.AntiBotRejected, e.ANTI_BOT),
        (
            403,
            MODEL_NOT_FOUND,
            e.UpstreamHTTPError,
            e.MODEL_UNAVAILABLE,
        ),  # code 7, but not anti-bot (docs/grok-protocol.md: error answers)
        (403, '{"code":7,"message":"Permission denied"}', e.AntiBotRejected, e.ANTI_BOT),  # other code 7
        (400, EMAIL_REJECTED, e.AntiBotRejected, e.ACCOUNT_BLOCKED),
        (503, CLOUDFLARE, e.AntiBotRejected, e.CLOUDFLARE),
        (403, BLOCKED, e.AntiBotRejected, e.ACCOUNT_BLOCKED),
        (403, OUT_OF_DATE, e.AntiBotRejected, e.STALE_CHALLENGE),
        (403, CLOUDFLARE, e.AntiBotRejected, e.CLOUDFLARE),
        (400, OUTDATED_CLIENT, e.UpstreamHTTPError, e.PAYLOAD_OUTDATED),
        (400, TOO_LONG, e.UpstreamHTTPError, e.CONTEXT_TOO_LONG),
        (413, "<html>Request Entity Too Large</html>", e.UpstreamHTTPError, e.CONTEXT_TOO_LONG),
        (404, '{"code":5,"message":"Not found"}', e.NotFound, e.NOT_FOUND),
        (429, '{"error":{"code":8,"message":"Too many requests"}}', e.RateLimited, e.RATE_LIMITED),
        (500, "oops", e.UpstreamHTTPError, e.UPSTREAM),
        (502, "", e.UpstreamHTTPError, e.UPSTREAM),
        (401, "nope", e.UpstreamHTTPError, e.UPSTREAM),
    ],
)
def test_status_classification(status, body, cls, failure):
    err = e.error_for_status(status, body)
    assert type(err) is cls
    assert err.failure_class == failure
    assert err.status == status
    assert err.advice


def test_expired_is_not_anti_bot_and_model_not_found_not_auth():
    assert not isinstance(e.error_for_status(403, MODEL_NOT_FOUND), e.AuthExpired)
    assert not isinstance(e.error_for_status(403, ANTI_BOT), e.AuthExpired)


def test_retry_after_seconds_and_http_date():
    assert e.error_for_status(429, "x", {"retry-after": "30"}).retry_after == 30
    future = email.utils.formatdate(time.time() + 120, usegmt=True)
    wait = e.error_for_status(429, "x", {"retry-after": future}).retry_after
    assert 115 <= wait <= 121
    assert e.error_for_status(429, "x", {"retry-after": "soon"}).retry_after is None
    assert e.parse_retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0


def test_rate_limit_advice_points_at_a_delay_only_when_grok_com_gave_one():
    with_delay = e.error_for_status(429, "Too many requests", {"retry-after": "30"})
    assert "retry after 30 s" in with_delay.advice
    without = e.error_for_status(429, "Too many requests", {})
    assert "indicated delay" not in without.advice and "said not when" in without.advice
    inband = e.inband_error("Too many requests", 8)
    assert inband.failure_class == e.RATE_LIMITED and "said not when" in inband.advice


def test_usage_limit_text_is_rate_limit_class():
    err = e.error_for_status(429, '{"error":{"message":"You\'ve reached your usage limit."}}')
    assert err.failure_class == e.USAGE_LIMIT
    assert e.classify_text("You've reached your usage limit. Please try again later.") == e.USAGE_LIMIT


def test_stale_challenge_advice_points_to_setup():
    assert "/setup" in e.error_for_status(403, OUT_OF_DATE).advice
    assert "/setup" in e.error_for_status(403, ANTI_BOT).advice


def test_cloudflare_mitigation_header_wins_over_body():
    err = e.error_for_status(403, "<html>blocked</html>", {"cf-mitigated": "challenge"})
    assert err.failure_class == e.CLOUDFLARE and "Cloudflare" in err.advice


def test_every_failure_class_has_advice():
    for cls in e.FAILURE_CLASSES:
        assert e.ADVICE[cls]
    assert e.ConfigurationError("x").failure_class in e.FAILURE_CLASSES


def test_every_failure_class_has_one_row_in_the_failure_table():
    from app.problems import FAILURE_PROBLEMS

    assert set(FAILURE_PROBLEMS) == set(e.FAILURE_CLASSES)


@pytest.mark.parametrize(
    "text, failure",
    [
        ("This model's maximum prompt length is 131072 but the request contains 136973 tokens.", e.CONTEXT_TOO_LONG),
        ("The conversation is too long for this model", e.CONTEXT_TOO_LONG),
        ("context window exceeded", e.CONTEXT_TOO_LONG),
        ("Your message was too large", e.CONTEXT_TOO_LONG),
        ("Stream aborted: deadline exceeded, the request took too long", None),
        ("Too many requests", e.RATE_LIMITED),
        ("Invalid request. Please update your client.", e.PAYLOAD_OUTDATED),
    ],
)
def test_an_over_long_request_is_told_apart_from_other_failures(text, failure):
    assert e.classify_text(text) == failure


@pytest.mark.parametrize(
    "status, body",
    [
        (401, EXPIRED),
        (403, BLOCKED),
        (403, MODEL_NOT_FOUND),
        (403, OUT_OF_DATE),
        (400, OUTDATED_CLIENT),
        (400, TOO_LONG),
    ],
)
def test_an_inband_error_is_the_same_failure_class_as_its_http_twin(status, body):
    inner = json.loads(body)
    inner = inner.get("error", inner)
    assert (
        e.inband_error(inner["message"], inner["code"]).failure_class == e.error_for_status(status, body).failure_class
    )
