"""The server with only the two cookies, under gunicorn with two workers, against the fake
grok.com's builds (tests/fakegrok/build.py): it derives the x-statsig-id values itself, keeps
every request working through a build change, falls back to the env triple when the page
cannot be read, and `grok-web-api statsig` prints values grok.com accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.fakegrok.statsig import sign
from tests.support.environ import hermetic_environ
from tests.support.gunicorn import ROOT, app_env
from tests.support.waiting import wait_for

STATIC = ("CHALLENGE_HEADER_HEX", "CHALLENGE_SUFFIX", "CHALLENGE_TRAILER", "STATSIG_SOURCE")


def cookies_only(fake, **extra) -> dict[str, str]:
    env = app_env(fake, **extra)
    for name in STATIC:
        if name not in extra:
            env.pop(name)
    return env


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def chat(base: str, text: str, *, stream: bool = False, timeout: float = 60) -> tuple[int, bytes]:
    body = json.dumps({"model": "fast", "stream": stream, "messages": [{"role": "user", "content": text}]}).encode()
    req = urllib.request.Request(
        base + "/v1/chat/completions", data=body, headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def page_loads(fake) -> list[dict]:
    return [e for e in fake.requests_log() if e["method"] == "GET" and e["path"] in ("/", "/imagine", "/index")]


def derived(srv) -> dict:
    return wait_for(
        lambda: (s := get_json(srv.url + "/status")["statsig"])["source"] == "derived" and s,
        what="derived statsig values",
    )


def test_a_server_with_only_the_cookies_chats(fake, start_server):
    fake.configure(accept_static_pair=False)  # grok.com accepts the current build's values only
    srv = start_server(cookies_only(fake), workers=2)
    status, body = chat(srv.url, "hello from a newcomer")
    assert status == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"]
    build = fake.build()
    statsig = get_json(srv.url + "/status")["statsig"]
    assert statsig["configured"] == "auto" and statsig["source"] == "derived"
    assert statsig["build"] == build["release"][:12] and statsig["index_set"] == build["index_set"]
    assert statsig["verified"] is True and statsig["fallback_reason"] is None
    # Two workers, one page load and one generator fetch for the host.
    assert len(page_loads(fake)) == 1
    generator = [e for e in fake.requests_log() if e["path"].endswith(build["generator_chunk"] + ".js")]
    assert len(generator) == 1
    signed = [e for e in fake.requests_log() if e["path"].startswith("/rest/")]
    assert signed and all(e["statsig"] == "ok" for e in signed), [(e["path"], e["statsig"]) for e in signed]
    assert "derived x-statsig-id values for grok.com build " + build["release"][:12] in srv.logs()


def test_a_build_change_during_200_streams_fails_none(fake, start_server):
    fake.configure(accept_static_pair=False)
    srv = start_server(cookies_only(fake), workers=2)
    first = derived(srv)
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        outcome = chat(srv.url, f"stream {i} #scenario:slow?n=8&delay=0.15", stream=True, timeout=120)
        with lock:
            results.append(outcome)

    with ThreadPoolExecutor(max_workers=200) as pool:
        futures = [pool.submit(one, i) for i in range(100)]
        wait_for(lambda: fake.stats()["active_streams"] >= 50, what="the first streams to start")
        rotated = fake.rotate()
        futures += [pool.submit(one, i) for i in range(100, 200)]
        for future in futures:
            future.result()
    assert len(results) == 200
    failed = [(status, body[-300:]) for status, body in results if status != 200 or not body.endswith(b"[DONE]\n\n")]
    assert failed == []
    assert all(b'"error"' not in body for _, body in results)
    # Requests did meet the new build with old values, and were retried with new ones.
    rejected = [e for e in fake.requests_log("/rest/app-chat/conversations/new") if e["reject"] == "stale_build"]
    assert rejected
    # One page load per build for the whole host: the first derivation and the renewal.
    assert len(page_loads(fake)) == 2
    now = get_json(srv.url + "/status")["statsig"]
    assert now["build"] == rotated["release"][:12] != first["build"]
    assert now["index_set"] == rotated["index_set"]


def test_a_broken_page_falls_back_to_the_env_triple(fake, start_server):
    fake.configure(page="broken")
    srv = start_server(app_env(fake, STATSIG_SOURCE="auto"), workers=2)
    status, body = chat(srv.url, "hi")
    assert status == 200, body
    statsig = wait_for(lambda: (s := get_json(srv.url + "/status")["statsig"])["last_attempt"] and s)
    assert statsig["configured"] == "auto" and statsig["source"] == "env"
    reason = statsig["fallback_reason"]
    assert reason.startswith("derivation failed: step 'seed' on " + fake.base_url + "/")
    assert "grok-site-verification" in reason and "titled 'Grok'" in reason
    assert statsig["last_attempt"]["step"] == "seed" and statsig["last_attempt"]["ok"] is False
    setup = get_json(srv.url + "/setup")
    assert setup["statsig_source"] == "env" and setup["statsig"]["fallback_reason"] == reason
    assert "signing with CHALLENGE_HEADER_HEX / CHALLENGE_SUFFIX meanwhile" in srv.logs()
    # One derivation attempt for the host: three page loads (cookies, anonymous, /imagine), once.
    assert len(page_loads(fake)) == 3


def run_cli(fake, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = hermetic_environ(**cookies_only(fake), **(env_extra or {}))
    env["ENV_FILE"] = os.devnull
    return subprocess.run(
        [sys.executable, "-m", "app", "statsig", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def pairs(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if line and not line.startswith("#"))


def accepted(fake, values: dict[str, str]) -> int:
    path = "/rest/app-chat/conversations/new"
    headers = fake.grok_headers("POST", path)
    headers["x-statsig-id"] = sign(
        "POST", path, values["CHALLENGE_HEADER_HEX"], values["CHALLENGE_SUFFIX"], int(values["CHALLENGE_TRAILER"])
    )
    body = json.dumps({"message": "hi", "modeId": "fast", "temporary": True}).encode()
    req = urllib.request.Request(fake.url(path), data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_statsig_command_prints_values_the_fake_accepts(fake):
    fake.configure(accept_static_pair=False)
    fake.rotate()  # a disguised build: its index set is nowhere in the server's known list
    done = run_cli(fake)
    assert done.returncode == 0, done.stderr
    values = pairs(done.stdout)
    build = fake.build()
    assert values["STATSIG_BUILD"] == build["release"][:12]
    assert values["STATSIG_INDEX_SET"] == ",".join(map(str, build["index_set"]))
    assert set(values) == {"STATSIG_BUILD", "STATSIG_INDEX_SET", *STATIC[:3]}
    assert "# canary: accepted" in done.stdout
    assert accepted(fake, values) == 200
    checked = run_cli(fake, "--check")
    assert checked.returncode == 0 and "# check: grok.com accepted" in checked.stdout
    fake.rotate()
    assert accepted(fake, values) == 403  # the next build refuses them: they were this build's


def test_statsig_command_says_which_step_failed(fake):
    fake.configure(page="broken")
    done = run_cli(fake)
    assert done.returncode == 1 and done.stdout == ""
    assert f"derivation failed at step 'seed' on {fake.base_url}/" in done.stderr
    assert "test-sso" not in done.stderr + done.stdout


def test_statsig_command_finds_a_hidden_index_set_by_canary(fake):
    fake.rotate(spec="2026-07-25", generator="obfuscated")
    done = run_cli(fake)
    assert done.returncode == 0, done.stderr
    assert "# index set (group, segment, 3 time bytes): the set grok.com used in 2026-07-25" in done.stdout
    assert "module 1645e3" not in done.stdout
    assert accepted(fake, pairs(done.stdout)) == 200
    canaries = fake.requests_log("/rest/rate-limits")
    assert [e["status"] for e in canaries] == [403, 403, 403, 403, 200]


def test_statsig_command_rejects_unknown_arguments(fake):
    done = run_cli(fake, "--bogus")
    assert done.returncode == 1 and "unknown argument '--bogus'" in done.stderr
    assert fake.requests_log() == []
