"""Fixtures the integration tests share: the module server's fake grok.com reset around a test,
and for the native-route tests, upstream resources created directly on the fake."""

from __future__ import annotations

import json

import pytest

from app import create_app
from app.grok import events as ev
from app.settings import Settings
from tests.support.gunicorn import app_env

from .native_cases import UPLOAD


def start_conversation(grok_client, message: str = "Hello there") -> dict:
    """A saved conversation with one exchange: {"conv": id, "resp": assistant response id}."""
    ids: dict = {}
    with grok_client.new_conversation({"message": message, "temporary": False}) as stream:
        for event in stream.events():
            if isinstance(event, ev.ConversationCreated):
                ids["conv"] = event.conversation_id
            elif isinstance(event, ev.ModelResponse) and event.response_id:
                ids["resp"] = event.response_id
    assert {"conv", "resp"} <= set(ids), ids
    return ids


@pytest.fixture
def make_ids(fake, grok_client):
    """make_ids({"conv", "share", ...}) creates what a case names and clears the fake's log."""

    def make(needs: set[str]) -> dict:
        ids: dict = {}
        if needs & {"conv", "resp", "share"}:
            ids.update(start_conversation(grok_client))
        if "share" in needs:
            ids["share"] = json.loads(grok_client.share_conversation(ids["conv"], {}).content)["shareLinkId"]
        if "file" in needs:
            ids["file"] = json.loads(grok_client.upload_file(UPLOAD).content)["fileMetadataId"]
        fake.clear()
        return ids

    return make


@pytest.fixture(scope="module")
def native_app(fake_session):
    """One in-process app per module (building an app costs ~70 ms; the matrix has hundreds
    of cases). Tests still take `fake`, which resets the fake grok.com for each of them."""
    return create_app(Settings.from_mapping(app_env(fake_session)))


@pytest.fixture
def native_client(native_app, fake):
    return native_app.test_client()


@pytest.fixture
def upstream(server):
    """The module server's fake grok.com, reset before and after the test."""
    server.fake.reset()
    yield server.fake
    server.fake.reset()


@pytest.fixture
def clean_fake(server):
    """The module server's fake grok.com, reset before the test (modules that want it for every
    test say `pytestmark = pytest.mark.usefixtures("clean_fake")`)."""
    server.fake.reset()
    return server.fake
