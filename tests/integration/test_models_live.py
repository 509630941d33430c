"""/v1/models from grok.com's mode list (POST /rest/modes), in-process against the fake: new
modes appear, tier-locked ones are marked, vanished ones answer a clear 404, and the built-in
list serves when grok.com gives no list."""

from __future__ import annotations

import time

import pytest

from app import create_app

MODES = "/rest/modes"


@pytest.fixture
def make_app(settings_for, monkeypatch, tmp_path):
    """Apps with a runtime directory of this test's own: the mode list is cached there, and an
    earlier test of this process may have exported a shared one (media services do)."""
    monkeypatch.setenv("GROK_WEB_API_RUNTIME_DIR", str(tmp_path))

    def make(**overrides):
        return create_app(settings_for(**overrides))

    return make


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def models_of(client) -> dict[str, dict]:
    resp = client.get("/v1/models")
    assert resp.status_code == 200, resp.get_json()
    return {m["id"]: m for m in resp.get_json()["data"]}


def chat(client, model: str):
    return client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def test_the_list_is_the_accounts_modes(client, fake):
    models = models_of(client)
    assert list(models) == ["auto", "fast", "expert", "heavy", "build"]
    assert models["heavy"]["available"] is False and models["auto"]["available"] is True
    assert models["build"]["beta"] is True and "beta" not in models["fast"]
    assert models["fast"]["created"] == 1710000000  # known modes keep their built-in dates
    assert fake.requests_log(MODES)[0]["body"] == {"locale": "en"}
    one = client.get("/v1/models/build")
    assert one.status_code == 200 and one.get_json()["description"] == "Grok Build"


def test_the_list_is_fetched_once_and_shared(client, fake):
    models_of(client)
    models_of(client)
    client.get("/v1/models/fast")
    assert len(fake.requests_log(MODES)) == 1


def test_a_new_upstream_mode_runs_as_itself(client, fake):
    resp = chat(client, "build")
    assert resp.status_code == 200, resp.get_json()
    body = fake.requests_log("/rest/app-chat/conversations/new")[-1]["body"]
    assert body["modeId"] == "build" and "modelMode" not in body


def test_a_vanished_mode_is_a_clear_404_not_auto(client, fake):
    resp = client.get("/v1/models/grok-43")
    assert resp.status_code == 404
    assert "no longer offered by grok.com" in resp.get_json()["detail"]
    resp = chat(client, "grok-43")
    assert resp.status_code == 404 and resp.get_json()["error"]["param"] == "model"
    assert fake.requests_log("/rest/app-chat/conversations/new") == []


def test_core_modes_never_wait_for_the_list(client, fake):
    assert chat(client, "expert").status_code == 200
    assert fake.requests_log(MODES) == []
    # Another id may be a new mode: the list is read (once), then an unknown id runs as auto.
    assert chat(client, "gpt-4o").status_code == 200
    assert chat(client, "gpt-4o").status_code == 200
    assert len(fake.requests_log(MODES)) == 1
    assert fake.requests_log("/rest/app-chat/conversations/new")[-1]["body"]["modeId"] == "auto"


def test_without_an_answer_the_built_in_list_serves(client, fake, caplog):
    fake.enqueue(MODES, status=500, body={"code": 13, "message": "internal"})
    models = models_of(client)
    assert list(models) == ["auto", "fast", "expert", "heavy", "grok-43"]
    assert "mode list could not be read" in caplog.text
    models_of(client)  # a failure is not retried at once
    assert len(fake.requests_log(MODES)) == 1


def test_an_unreadable_answer_is_a_failure_too(client, fake):
    fake.configure(modes=[{"label": "no id here"}])
    assert "grok-43" in models_of(client)


def test_a_mode_that_disappears_between_fetches_is_retired(make_app, fake):
    app = make_app(STATSIG_TTL_SECS="1", GROK_WEB_API_TEST_MIN_INTERVAL="1")
    client = app.test_client()
    assert "build" in models_of(client)
    fake.configure(modes=[{"id": "auto"}, {"id": "fast"}, {"id": "expert"}, {"id": "reasoning", "locked": True}])
    time.sleep(1.1)
    models = models_of(client)
    assert list(models) == ["auto", "fast", "expert", "reasoning"] and models["reasoning"]["available"] is False
    resp = chat(client, "build")
    assert resp.status_code == 404 and "no longer offered" in resp.get_json()["detail"]
    assert chat(client, "heavy").status_code == 404  # built in, and gone from the list


def test_without_cookies_the_built_in_list_serves_without_asking(make_app, fake):
    app = make_app(GROK_SSO_COOKIE="", GROK_SSO_RW_COOKIE="")
    assert list(models_of(app.test_client())) == ["auto", "fast", "expert", "heavy", "grok-43"]
    assert fake.requests_log() == []


def test_the_list_is_read_again_when_grok_com_ships_a_new_build(make_app, fake):
    """Cached with the build: a new grok.com build (met by a chat, which renews the statsig
    values) brings a new read of the list at once, not after STATSIG_TTL_SECS."""
    fake.configure(accept_static_pair=False)
    client = make_app(STATSIG_SOURCE="auto").test_client()
    assert "build" in models_of(client)
    models_of(client)
    reads = len(fake.requests_log(MODES))
    fake.rotate()
    fake.configure(modes=[{"id": "auto"}, {"id": "fast"}, {"id": "expert"}, {"id": "reasoning"}])
    assert models_of(client).keys() >= {"build"}  # the same build as far as the server knows: cached
    assert len(fake.requests_log(MODES)) == reads
    assert chat(client, "fast").status_code == 200  # meets the new build: renewed and retried
    models = models_of(client)
    assert "reasoning" in models and "build" not in models
    assert len(fake.requests_log(MODES)) == reads + 1
