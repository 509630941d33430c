"""The STATSIG_SOURCE chain in the client library, through real sockets against the fake
grok.com's builds: derivation, renewal and its single retry, the fallbacks, the TTL."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gevent
import pytest

from app.grok import errors as gerr
from app.grok.client import GrokClient
from app.grok.statsig.chain import StatsigUnavailable
from app.settings import Settings
from tests.fakegrok.statsig import sign
from tests.support.gunicorn import app_env
from tests.unit.test_statsig import X1_FALLBACK

PAGES = ("/", "/imagine", "/index")
LIST = "/rest/app-chat/conversations"


def client_for(fake, *, env_triple: bool = False, **overrides) -> GrokClient:
    """A client of the fake; `env_triple` keeps the fake's static pair as CHALLENGE_* values."""
    env = app_env(fake, **overrides)
    if not env_triple:
        for name in ("CHALLENGE_HEADER_HEX", "CHALLENGE_SUFFIX", "CHALLENGE_TRAILER"):
            env.pop(name)
    return GrokClient.from_settings(Settings.from_mapping(env))


def page_loads(fake) -> int:
    return sum(1 for e in fake.requests_log() if e["method"] == "GET" and e["path"] in PAGES)


def trail(fake, prefix: str = "/rest/") -> list[tuple[str, str, int, str]]:
    return [(e["method"], e["path"], e["status"], e["statsig"]) for e in fake.requests_log(prefix)]


def test_a_rejected_request_is_retried_once_with_new_values_and_not_counted_as_a_failure(fake):
    fake.configure(accept_static_pair=False)
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    first = client.config.signer.status()
    fake.rotate()
    fake.clear()
    client.list_conversations(page_size=1)
    assert trail(fake, LIST) == [("GET", LIST, 403, "stale_build"), ("GET", LIST, 200, "ok")]
    assert page_loads(fake) == 1
    assert client.state.last_failure is None and client.state.failures_by_class == {}
    now = client.config.signer.status()
    assert now["build"] == fake.build()["release"][:12] != first["build"] and now["derivations"] == 2


def test_streams_are_retried_too(fake):
    fake.configure(accept_static_pair=False)
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    fake.rotate()
    fake.clear()
    with client.new_conversation({"message": "hi", "temporary": True}) as stream:
        assert any(stream.events())
    statuses = [e["status"] for e in fake.requests_log("/rest/app-chat/conversations/new")]
    assert statuses == [403, 200]


def test_a_rejection_that_renewal_cannot_fix_is_raised_after_one_try(fake):
    fake.configure(accept_static_pair=False)
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    fake.configure(stale_build=True)  # every signed request is "out of date", whatever it carries
    fake.clear()
    with pytest.raises(gerr.AntiBotRejected) as err:
        client.list_conversations(page_size=1)
    assert err.value.failure_class == gerr.STALE_CHALLENGE
    assert [e["status"] for e in fake.requests_log(LIST)] == [403]
    assert page_loads(fake) == 1  # the renewal tried once (same build), and its canaries all failed
    assert client.state.failures_by_class == {gerr.STALE_CHALLENGE: 1}
    attempt = client.config.signer.status()["last_attempt"]
    assert attempt["ok"] is False and attempt["step"] == "canary"
    # Another rejection right away: no new derivation (a failure was just seen).
    with pytest.raises(gerr.AntiBotRejected):
        client.list_conversations(page_size=1)
    assert page_loads(fake) == 1


def test_auto_falls_back_to_the_env_triple_when_renewal_fails(fake):
    client = client_for(fake, STATSIG_SOURCE="auto", env_triple=True)  # the fake's static pair
    client.list_conversations(page_size=1)
    assert client.config.signer.source == "derived"
    fake.rotate()
    fake.configure(page="broken")
    fake.clear()
    client.list_conversations(page_size=1)
    assert [e["statsig"] for e in fake.requests_log(LIST)] == ["stale_build", "ok"]
    status = client.config.signer.status()
    assert status["source"] == "env" and "step 'seed'" in status["fallback_reason"]


def test_env_pinned_never_fetches_the_page(fake):
    client = client_for(fake, STATSIG_SOURCE="env", env_triple=True)
    fake.configure(stale_build=True)
    with pytest.raises(gerr.AntiBotRejected):
        client.list_conversations(page_size=1)
    assert page_loads(fake) == 0 and len(fake.requests_log(LIST)) == 1
    assert client.config.signer.status()["source"] == "env"


def test_derived_pinned_without_values_fails_before_sending(fake):
    fake.configure(page="broken")
    client = client_for(fake, STATSIG_SOURCE="derived")
    with pytest.raises(StatsigUnavailable) as err:
        client.list_conversations(page_size=1)
    assert err.value.failure_class == gerr.STATSIG_UNAVAILABLE
    assert "step 'seed' on " + fake.base_url in err.value.message
    assert fake.requests_log("/rest/") == []
    # Until the backoff passes, requests fail at once without another page load.
    loads = page_loads(fake)
    with pytest.raises(StatsigUnavailable):
        client.list_conversations(page_size=1)
    assert page_loads(fake) == loads


def test_a_login_redirect_is_answered_by_the_anonymous_page(fake):
    fake.configure(page="login_redirect", accept_static_pair=False)
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    pages = [(e["path"], "sso=" in e["headers"].get("cookie", ""), e["status"]) for e in fake.requests_log()]
    assert pages[:2] == [("/", True, 307), ("/", False, 200)]
    assert client.config.signer.status()["source"] == "derived"


def test_page_requests_look_like_a_browser_navigation_and_scripts_carry_no_cookies(fake):
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    page = next(e for e in fake.requests_log() if e["path"] == "/")
    assert page["headers"]["sec-fetch-mode"] == "navigate" and page["headers"]["accept"].startswith("text/html")
    assert "Chrome/" in page["headers"]["user-agent"] and "x-statsig-id" not in page["headers"]
    scripts = [e for e in fake.requests_log("/_next/static/chunks/")]
    assert scripts and all("cookie" not in e["headers"] for e in scripts)
    assert all(e["headers"]["sec-fetch-dest"] == "script" for e in scripts)


def test_values_older_than_the_ttl_are_renewed_in_the_background(fake):
    client = client_for(fake, STATSIG_SOURCE="auto", STATSIG_TTL_SECS="1", GROK_WEB_API_TEST_MIN_INTERVAL="1")
    client.list_conversations(page_size=1)
    assert page_loads(fake) == 1
    gevent.sleep(1.1)
    client.list_conversations(page_size=1)  # signed with the old values while the refresh runs
    refresh = client.config.signer._refresh
    assert refresh is not None
    refresh.join(10)
    assert page_loads(fake) == 2 and client.config.signer.status()["derivations"] == 2
    # The same build: its scripts were not fetched again.
    assert len(fake.requests_log("/_next/static/chunks/")) == 6


def test_cloudflare_on_the_page_is_reported_as_such(fake):
    fake.configure(page="cloudflare")
    client = client_for(fake, STATSIG_SOURCE="auto", env_triple=True)
    client.list_conversations(page_size=1)  # signed with the env triple
    status = client.config.signer.status()
    assert status["source"] == "env"
    assert status["last_attempt"]["failure_class"] == gerr.CLOUDFLARE
    assert "HTTP 403" in status["fallback_reason"] and "Just a moment" in status["fallback_reason"]


# ---------------------------------------------------------------------- the chain's end
class TokenProvider:
    """A TOKEN_PROVIDER_URL on loopback that signs with the fake's static pair, as an external
    signer would, and counts what it was asked."""

    def __init__(self, fake):
        provider = self
        self.asked: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                provider.asked.append(body)
                token = sign(body["method"], body["path"], fake.header_hex, fake.suffix, fake.trailer)
                answer = json.dumps({"x-statsig-id": token}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/sign"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_auto_falls_back_to_the_token_provider_when_there_is_no_env_triple(fake):
    fake.configure(page="broken")
    provider = TokenProvider(fake)
    try:
        client = client_for(fake, STATSIG_SOURCE="auto", TOKEN_PROVIDER_URL=provider.url)
        client.list_conversations(page_size=1)
    finally:
        provider.close()
    assert trail(fake, LIST) == [("GET", LIST, 200, "ok")]
    assert provider.asked == [{"path": LIST, "method": "GET"}]
    status = client.config.signer.status()
    assert status["source"] == "provider" and status["fallback_reason"].startswith("derivation failed: step 'seed'")


def test_auto_with_nothing_left_sends_the_pages_error_value_and_says_why(fake, settings_for):
    """The chain's end: no derived values, no env triple, no provider. Requests carry the value
    grok.com's page sends when its generator fails (docs/statsig.md: nothing left), and /status
    and /setup say that and why."""
    from app import create_app

    fake.configure(page="broken")
    env = {"STATSIG_SOURCE": "auto", "CHALLENGE_HEADER_HEX": "", "CHALLENGE_SUFFIX": "", "CHALLENGE_TRAILER": ""}
    app = create_app(settings_for(**env))
    web = app.test_client()
    answer = web.get("/v1/models/fast")  # no upstream call; then a chat, which is signed
    assert answer.status_code == 200
    chat = web.post("/v1/chat/completions", json={"model": "fast", "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code >= 400 and "Traceback" not in chat.get_data(as_text=True)
    sent = fake.requests_log("/rest/app-chat/conversations/new")
    assert len(sent) == 1  # the fake refuses the value; nothing is retried with the same nothing
    assert sent[0]["headers"]["x-statsig-id"] == X1_FALLBACK and sent[0]["status"] == 403
    for page in ("/status", "/setup"):
        body = web.get(page, headers={"accept": "application/json"}).get_json()
        statsig = body["statsig"]
        assert body["statsig_source"] == statsig["source"] == "none" and statsig["configured"] == "auto"
        reason = statsig["fallback_reason"]
        assert reason.startswith(f"derivation failed: step 'seed' on {fake.base_url}/")
        assert "neither CHALLENGE_* values nor TOKEN_PROVIDER_URL are set" in reason and "degraded" in reason
    assert page_loads(fake) == 3  # one derivation: the page with cookies, without, /imagine


# ---------------------------------------------------------------------- the page's other form
def test_a_build_in_the_other_page_form_is_derived_and_read_from_its_generator(fake):
    """Seed only in the flight data, spinner paths, relative and flight-named chunks, Turbopack's
    flat chunks, a loader naming another chunk first, a generator shell with a body elsewhere
    and hex literals (tests/fakegrok/build.py, form "turbopack")."""
    fake.configure(accept_static_pair=False)
    build = fake.rotate(form="turbopack")
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    assert trail(fake, LIST) == [("GET", LIST, 200, "ok")]
    status = client.config.signer.status()
    assert status["source"] == "derived" and status["verified"] is True
    assert status["index_set"] == build["index_set"] and status["index_source"] == "read from the generator chunk"
    # No release marker: the build is named by its table and chunk names.
    assert build["release"] is None and status["build"].startswith("t") and status["release"] is None
    fetched = [e["path"].rsplit("/", 1)[-1].removesuffix(".js") for e in fake.requests_log("/_next/static/chunks/")]
    assert build["generator_chunk"] in fetched
    assert [e["status"] for e in fake.requests_log("/rest/rate-limits")] == [200]  # the first candidate held


def test_a_hidden_generator_in_the_other_page_form_is_found_by_canary(fake):
    fake.configure(accept_static_pair=False)
    build = fake.rotate(spec="2026-09-15", generator="obfuscated", form="turbopack")
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    status = client.config.signer.status()
    assert status["source"] == "derived" and status["index_source"] == "the set grok.com used in 2026-09-15"
    # The shell was followed to the (unreadable) body; the decoy's reads were never tried.
    fetched = [e["path"].rsplit("/", 1)[-1].removesuffix(".js") for e in fake.requests_log("/_next/static/chunks/")]
    assert build["generator_chunk"] in fetched
    assert [e["status"] for e in fake.requests_log("/rest/rate-limits")] == [200]


# ---------------------------------------------------------------------- which answers renew the values
CLOUDFLARE_PAGE = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>cf-chl</body></html>"


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": 7, "message": "This page is out of date. Reload to continue."}},
        {"code": 7, "message": "This page is out of date. Reload to continue.", "details": []},
        {"error": {"code": 7, "message": "Request rejected by anti-bot rules.", "details": []}},
    ],
    ids=["out-of-date", "out-of-date-root", "anti-bot"],
)
def test_stale_and_anti_bot_answers_renew_the_values_and_retry_once(fake, body):
    fake.configure(accept_static_pair=False)
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    fake.clear()
    fake.enqueue(LIST, method="GET", status=403, body=body)
    client.list_conversations(page_size=1)
    assert [e["status"] for e in fake.requests_log(LIST)] == [403, 200]
    assert page_loads(fake) == 1 and client.config.signer.status()["derivations"] == 2


@pytest.mark.parametrize(
    "body, headers, failure_class",
    [
        (
            {"code": 7, "message": "User is blocked [WKE=unauthorized:blocked-user]", "details": []},
            {},
            gerr.ACCOUNT_BLOCKED,
        ),
        (CLOUDFLARE_PAGE, {"content-type": "text/html; charset=UTF-8", "cf-mitigated": "challenge"}, gerr.CLOUDFLARE),
    ],
    ids=["blocked-user", "cloudflare"],
)
def test_a_blocked_account_or_a_cloudflare_page_never_renews_the_values(fake, body, headers, failure_class):
    fake.configure(accept_static_pair=False)
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    fake.clear()
    fake.enqueue(LIST, method="GET", status=403, body=body, headers=headers)
    with pytest.raises(gerr.GrokError) as err:
        client.list_conversations(page_size=1)
    assert err.value.failure_class == failure_class
    assert len(fake.requests_log(LIST)) == 1 and page_loads(fake) == 0
    assert client.config.signer.status()["derivations"] == 1


def test_a_404_that_still_carries_the_page_is_used(fake):
    fake.configure(page="not_found", accept_static_pair=False)
    client = client_for(fake, STATSIG_SOURCE="auto")
    client.list_conversations(page_size=1)
    assert [(e["path"], e["status"]) for e in fake.requests_log() if e["path"] in PAGES] == [("/", 404)]
    assert client.config.signer.status()["source"] == "derived"
