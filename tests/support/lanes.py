"""Running a test module on both chat lanes (GROK_CHAT_LANE=rest and ws).

`server` here replaces the conftest's module server with one per lane; `upstream_chat` reads
the last chat request the fake received, whichever lane carried it, as the REST body it
stands for, so assertions about what was asked of grok.com hold on both lanes.
"""

from __future__ import annotations

import re

import pytest

from tests.support.gunicorn import GunicornServer, app_env

LANES = ("rest", "ws")
CHATS = "/rest/app-chat/conversations"
NEW = "/rest/app-chat/conversations/new"
GATEWAY = "/ws/mgw/"
_INSTRUCTIONS = re.compile(r"\A<custom_instructions>\n(.*)\n</custom_instructions>\n\n", re.S)
# On the WebSocket every mode is a session model; on the REST lane grok-43 alone was a `modelMode`.
_MODEL_MODES = ("grok-43",)


@pytest.fixture(scope="module", params=LANES)
def server(request, fake_module):
    """The app under gunicorn talking to the module's fake, once per chat lane."""
    with GunicornServer(app_env(fake_module, GROK_CHAT_LANE=request.param)) as srv:
        srv.fake = fake_module
        srv.lane = request.param
        yield srv


def upstream_chat(fake) -> dict:
    """The last chat request grok.com got, as the REST body it stands for."""
    return last_chat(fake)[1]


def last_chat(fake) -> tuple[bool, dict]:
    """(whether the last chat request continued a conversation, its REST body)."""
    rest = fake.requests_log(CHATS)
    rest = [e for e in rest if e["method"] == "POST" and (e["path"] == NEW or e["path"].endswith("/responses"))]
    ws = [e for e in fake.requests_log(GATEWAY) if e.get("ws")]
    if rest and (not ws or rest[-1]["seq"] > ws[-1]["seq"]):
        return rest[-1]["path"] != NEW, rest[-1]["body"]
    assert ws, "no chat request reached the fake"
    frames = ws[-1]["ws"]["frames"]
    continued = any(f["event"].get("session", {}).get("x_grok", {}).get("load_existing") for f in frames)
    return continued, rest_body(frames)


def chat_requests(fake) -> list[dict]:
    """Every chat request the fake received, on either lane."""
    return fake.requests_log(NEW) + [e for e in fake.requests_log(GATEWAY) if e.get("ws")]


def rest_body(frames: list[dict]) -> dict:
    events = {f["event"]["type"]: f["event"] for f in frames}
    session = events["session.create"]["session"]
    x_grok = session["x_grok"]
    item = events["conversation.item.create"]
    chunks = item["item"]["x_grok"]["input_chunks"]
    text = next(c["text"]["text"] for c in chunks if "text" in c)
    body: dict = {"temporary": x_grok.get("is_temporary"), "disableMemory": x_grok.get("disable_memory")}
    folded = _INSTRUCTIONS.match(text)
    if folded:
        body["customInstructions"] = folded.group(1)
        text = text[folded.end() :]
    body["message"] = text
    body["modelMode" if session["model"] in _MODEL_MODES else "modeId"] = session["model"]
    files = [c["mention"]["target"]["file_mention"]["file_id"] for c in chunks if "mention" in c]
    if files:
        body["fileAttachments"] = files
    if x_grok.get("tool_overrides"):
        body["toolOverrides"] = x_grok["tool_overrides"]
    if item.get("parent_response_id"):
        body["parentResponseId"] = item["parent_response_id"]
    return body
