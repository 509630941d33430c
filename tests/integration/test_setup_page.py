"""The /setup page in a real headless Chromium (Debian's chromium driven by playwright), plus the
form's access rules over plain HTTP."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
import urllib.request
from urllib.parse import unquote

import pytest
from dotenv import dotenv_values

from app.settings import Settings
from app.system.snippet import SNIPPET
from tests.support.environ import hermetic_environ
from tests.support.gunicorn import ROOT, app_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A stand-in for grok.com's page: the Void client mod's findByProps and a request middleware that
# signs like grok's (docs/grok-protocol.md: the token), using Math.random, Date.now and crypto.subtle.digest.
FAKE_GROK_PAGE_JS = """([headerHex, suffix, trailer]) => {
  const header = Uint8Array.from(headerHex.match(/../g).map(h => parseInt(h, 16)));
  const pre = async (ctx) => {
    const counter = Math.floor(Date.now() / 1000) - 1682924400;
    const path = new URL(ctx.url).pathname;
    const input = `${ctx.init.method}!${path}!${counter}${suffix}`;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(input)));
    const raw = new Uint8Array(70);
    raw.set(header, 0);
    new DataView(raw.buffer).setUint32(49, counter >>> 0, true);
    raw.set(digest.slice(0, 16), 53);
    raw[69] = trailer;
    const key = Math.floor(Math.random() * 256);
    for (let i = 0; i < 70; i++) raw[i] ^= key;
    ctx.init.headers["x-statsig-id"] = btoa(String.fromCharCode(...raw)).replace(/=+$/, "");
    return ctx;
  };
  window.Void = {findByProps: (name) => name === "chatApi" ?
    {chatApi: {configuration: {middleware: [{pre}]}}} : undefined};
}"""


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            "the /setup browser tests need Debian's chromium at /usr/bin/chromium: "
            "`apt-get install -y chromium` (make test does it when run as root)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # launch() gives every run a fresh temporary profile (user-data-dir).
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    tab = context.new_page()
    yield tab
    context.close()


def file_backed_server(fake, start_server, tmp_path, file_lines: list[str], drop=(), env=None, **kw):
    """A server whose settings file holds `file_lines`; `drop` removes keys from its environment
    (the environment would override the file)."""
    env_file = tmp_path / ".env"
    env_file.write_text("".join(line + "\n" for line in file_lines))
    env = {k: v for k, v in app_env(fake, **(env or {})).items() if k not in drop}
    env["ENV_FILE"] = str(env_file)
    srv = start_server(env, **kw)
    srv.settings_file = env_file
    return srv


def states(page) -> dict[str, str]:
    return {
        row.get_attribute("data-name"): row.get_attribute("data-state")
        for row in page.locator("#settings tbody tr").all()
    }


def test_page_shows_states_never_values_and_copies_the_snippet(fake, start_server, tmp_path, page):
    srv = file_backed_server(
        fake, start_server, tmp_path, ["# settings"], drop=("GROK_SSO_COOKIE", "GROK_SSO_RW_COOKIE")
    )
    # A bad manual edit after startup: the page must call it invalid (without its value).
    with open(srv.settings_file, "a") as f:
        f.write("LOG_LEVEL=loudest\n")
    page.goto(srv.url + "/setup")
    assert page.title() == "grok-web-api setup"
    seen = states(page)
    assert seen["GROK_SSO_COOKIE"] == "missing"
    assert seen["CHALLENGE_HEADER_HEX"] == "set" and seen["CHALLENGE_SUFFIX"] == "set"
    assert seen["LOG_LEVEL"] == "invalid" and seen["API_KEY"] == "default"
    assert "must be one of" in page.locator('tr[data-name="LOG_LEVEL"]').inner_text()
    assert page.inner_text("#session-state") == "not configured"
    assert page.inner_text("#statsig-source") == "env"
    html = page.content()
    for value in (fake.header_hex, fake.suffix, "loudest"):
        assert value not in html
    assert page.inner_text("#snippet") == SNIPPET
    page.click("#copy-snippet")
    _wait_until(lambda: page.inner_text("#copy-status") == "Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == SNIPPET
    assert "update-keys" in page.inner_text("#update-keys")
    # A bad value is refused with the reason, never echoed, and nothing is written.
    page.fill("#CHALLENGE_HEADER_HEX", "abc-not-hex")
    page.click("#save")
    page.wait_for_selector("#form-errors")
    assert "CHALLENGE_HEADER_HEX" in page.inner_text("#form-errors")
    assert "abc-not-hex" not in page.content()
    assert srv.settings_file.read_text() == "# settings\nLOG_LEVEL=loudest\n"
    # The same information for scripts.
    req = urllib.request.Request(srv.url + "/setup", headers={"Accept": "application/json"})
    info = json.loads(urllib.request.urlopen(req).read())
    assert {s["name"]: s["state"] for s in info["settings"]} == seen
    assert info["snippet"] == SNIPPET and info["session"]["session"] == "not_configured"
    assert info["instructions"].endswith("\n\n" + SNIPPET)


def test_snippet_and_bookmarklet_extract_the_challenge_values(fake, start_server, tmp_path, page):
    srv = start_server(app_env(fake))
    header_hex = bytes(range(100, 149)).hex()
    suffix, trailer = "!obfiowerehiring'x$y \"z", 7
    page.goto(srv.url + "/setup")
    page.evaluate(FAKE_GROK_PAGE_JS, [header_hex, suffix, trailer])
    # The snippet exactly as the page shows it, evaluated the way the devtools console does.
    printed = []
    page.on("console", lambda msg: printed.append(msg.text))
    cdp = page.context.new_cdp_session(page)
    result = cdp.send(
        "Runtime.evaluate", {"expression": page.inner_text("#snippet"), "replMode": True, "awaitPromise": True}
    )
    assert "exceptionDetails" not in result, result
    # Console events reach the test while it calls into the page.
    _wait_until(lambda: page.evaluate("true") and any(m.startswith("CHALLENGE_HEADER_HEX=") for m in printed))
    assert printed[-1] == (f"CHALLENGE_HEADER_HEX={header_hex}\nCHALLENGE_SUFFIX={suffix}\nCHALLENGE_TRAILER={trailer}")
    assert page.evaluate("Date.now() > 1e12"), "the snippet restores Date.now"
    # The bookmarklet puts a ready-to-run update-keys command on the clipboard.
    href = page.get_attribute("#bookmarklet", "href")
    assert href.startswith("javascript:")
    page.evaluate(unquote(href[len("javascript:") :]))
    _wait_until(lambda: " update-keys CHALLENGE_" in page.evaluate("navigator.clipboard.readText()"))
    command = page.evaluate("navigator.clipboard.readText()")
    # Run exactly as copied, in the server's directory, with the server's PATH: after `make run`
    # the command line is not on PATH, so the copied command names the script's path.
    with urllib.request.urlopen(srv.url + "/setup", timeout=10) as resp:
        cli = json.loads(resp.read())["cli"]
    assert command.startswith(cli + " update-keys ")
    env_file = tmp_path / ".env"
    run = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        env=hermetic_environ(ENV_FILE=str(env_file)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    settings = Settings.load(environ={}, env_file=env_file)
    assert settings.challenge_header.hex() == header_hex
    assert settings.challenge_suffix == suffix and settings.challenge_trailer == trailer


def test_form_rotates_cookies_without_restart_or_dropped_streams(fake, start_server, tmp_path, page):
    srv = file_backed_server(
        fake,
        start_server,
        tmp_path,
        [f"GROK_SSO_COOKIE={fake.sso}", f"GROK_SSO_RW_COOKIE={fake.sso_rw}"],
        drop=("GROK_SSO_COOKIE", "GROK_SSO_RW_COOKIE"),
        workers=2,
    )
    # A 3 s stream is in flight with the old cookies while they are rotated.
    streamed = {}

    def long_stream():
        req = urllib.request.Request(
            srv.url + "/v1/chat",
            method="POST",
            data=b'{"message":"hi #scenario:slow?n=30&delay=0.1"}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            streamed["lines"] = resp.read().decode().splitlines()

    reader = threading.Thread(target=long_stream)
    reader.start()
    fake.wait_stats(lambda s: s["active_streams"] == 1, timeout=5)
    # The worker counts the stream once its response starts, a moment after grok.com sees it.
    deadline = time.monotonic() + 5
    while (status := json.loads(urllib.request.urlopen(srv.url + "/status").read()))["active_streams"] != 1:
        assert time.monotonic() < deadline, f"the stream in flight is not counted: {status}"
        time.sleep(0.02)
    assert status["streams_started"] == 1
    fake.configure(sso="rotated-sso", sso_rw="rotated-rw")  # grok.com now only accepts the new ones
    page.goto(srv.url + "/setup")
    page.fill("#GROK_SSO_COOKIE", "rotated-sso")
    page.fill("#GROK_SSO_RW_COOKIE", "rotated-rw")
    page.click("#save")
    page.wait_for_selector("#saved-notice")
    assert "GROK_SSO_COOKIE, GROK_SSO_RW_COOKIE" in page.inner_text("#saved-notice")
    assert page.inner_text("#session-state") == "valid"
    reader.join(30)
    assert streamed["lines"] and '"isSoftStop":true' in streamed["lines"][-1], "the stream was not dropped"
    deadline = time.monotonic() + 5
    while json.loads(urllib.request.urlopen(srv.url + "/status").read())["active_streams"] != 0:
        assert time.monotonic() < deadline, "the finished stream is still counted as active"
        time.sleep(0.05)
    # Every later upstream request, on either worker, carries the new cookies.
    fake.clear()
    for _ in range(8):
        req = urllib.request.Request(
            srv.url + "/v1/chat",
            method="POST",
            data=b'{"message":"hi"}',
            headers={"Content-Type": "application/json", "Connection": "close"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
            resp.read()
    cookies = {r["headers"]["cookie"] for r in fake.requests_log("/rest/app-chat/conversations/new")}
    assert cookies == {"sso=rotated-sso; sso-rw=rotated-rw"}
    assert dotenv_values(srv.settings_file)["GROK_SSO_COOKIE"] == "rotated-sso"
    assert "rotated-sso" not in srv.logs() and "rotated-sso" not in page.content()


def post(srv, body: bytes, content_type: str, headers: dict | None = None, host: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    all_headers = {"Content-Type": content_type, "Accept": "application/json", **(headers or {})}
    if host:
        all_headers["Host"] = host
    conn.request("POST", "/setup", body=body, headers=all_headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, json.loads(payload) if payload else None


def test_form_access_rules(fake, start_server, tmp_path):
    srv = file_backed_server(fake, start_server, tmp_path, [], env={"API_KEY": "ops-key"})
    good = json.dumps({"CHALLENGE_TRAILER": "5"}).encode()
    origin = f"http://127.0.0.1:{srv.port}"
    # A script on the server itself (no Origin) may; the value is validated first.
    status, body = post(srv, json.dumps({"CHALLENGE_TRAILER": "256"}).encode(), "application/json")
    assert status == 422 and body["errors"] == {"CHALLENGE_TRAILER": "must be an integer from 0 to 255"}
    status, body = post(srv, json.dumps({"GROK_SSO_COOKIE": "x", "nonsense": "1"}).encode(), "application/json")
    assert status == 422 and "nonsense" in body["errors"]
    status, body = post(srv, good, "application/json")
    # The test environment sets CHALLENGE_TRAILER too, and wins: saved, but not applied.
    assert status == 200 and body["updated"] == ["CHALLENGE_TRAILER"] and body["applied"] is False
    assert body["shadowed"] == ["CHALLENGE_TRAILER"]
    assert body["results"]["CHALLENGE_TRAILER"].startswith("NOT applied: the server's process environment")
    # A page on another origin, even from this machine, may not.
    assert post(srv, good, "application/json", {"Origin": "http://evil.example"})[0] == 403
    # A form post needs the page's token (cookie + field).
    assert post(srv, b"CHALLENGE_TRAILER=5", "application/x-www-form-urlencoded", {"Origin": origin})[0] == 403
    # DNS rebinding (a foreign host name resolving to 127.0.0.1) and proxied clients are not local...
    assert post(srv, good, "application/json", host="evil.example")[0] == 403
    assert post(srv, good, "application/json", {"X-Forwarded-For": "203.0.113.9"})[0] == 403
    # ...but may use the API key.
    status, _ = post(
        srv, good, "application/json", {"Authorization": "Bearer ops-key", "X-Forwarded-For": "203.0.113.9"}
    )
    assert status == 200
    assert (
        post(srv, good, "application/json", {"Authorization": "Bearer wrong", "X-Forwarded-For": "203.0.113.9"})[0]
        == 403
    )
    assert dotenv_values(srv.settings_file) == {"CHALLENGE_TRAILER": "5"}


# -- what the pages let other sites do -------------------------------------------------------------
def test_the_saved_banner_shows_setting_names_only(client):
    html = {"Accept": "text/html"}
    forged = client.get("/setup?saved=Your+account+is+locked%2C+call+555-0100", headers=html).get_data(as_text=True)
    assert "saved-notice" not in forged and "555-0100" not in forged
    mixed = client.get("/setup?saved=GROK_SSO_COOKIE,Call+555-0100&shadowed=Evil+text", headers=html)
    text = mixed.get_data(as_text=True)
    assert 'id="saved-notice"' in text and "GROK_SSO_COOKIE" in text
    assert "555-0100" not in text and "Evil text" not in text


def test_setup_and_docs_cannot_be_framed_and_setup_runs_only_its_own_script(client):
    setup = client.get("/setup", headers={"Accept": "text/html"})
    policy = setup.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
    nonce = policy.split("script-src 'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">' in setup.get_data(as_text=True)
    assert client.get("/setup", headers={"Accept": "text/html"}).headers["Content-Security-Policy"] != policy
    docs = client.get("/docs")
    assert (
        docs.headers["X-Frame-Options"] == "DENY"
        and "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
    )


def test_an_unwritable_settings_file_is_a_clear_refusal_not_a_500(settings_for, tmp_path):
    # As in a container or a hardened unit: the file's directory cannot be written.
    from app import create_app

    folder = tmp_path / "conf"
    folder.mkdir()
    settings = Settings.from_mapping(
        {k: v for k, v in settings_for().as_source().items()}, env_file=str(folder / ".env")
    )
    client = create_app(settings).test_client()
    folder.rmdir()
    resp = client.post("/setup", json={"CHALLENGE_TRAILER": "5"})
    assert resp.status_code == 409 and resp.headers["Content-Type"] == "application/problem+json"
    problem = resp.get_json()
    assert problem["type"] == "settings_not_writable" and "nothing was saved" in problem["detail"]
    assert str(folder / ".env") in problem["detail"] and "Traceback" not in resp.get_data(as_text=True)


def _wait_until(condition, timeout: float = 10.0) -> None:
    """Poll from the test: Playwright's wait_for_function evaluates its text inside the page, where
    the page's own CSP (no eval) refuses it whenever the first check is not already true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
