"""The two ways a chat reaches grok.com, and which one is used.

* `rest` (lanes/rest.py): `POST /rest/app-chat/conversations/new` and
  `…/conversations/{id}/responses`, answered with NDJSON: the lane this server was built on,
  legacy on grok.com since August 2026.
* `ws` (lanes/ws.py): the mgw WebSocket grok.com's own page chats over.

Both return a chat stream with the same interface (`events()`, `raw()`, `close()`) and the
same typed events, so nothing above the client library knows which lane served a chat.

GROK_CHAT_LANE pins a lane (`rest`, `ws`) or leaves the choice to `auto`: REST while it works;
when a REST chat answers the way a retired endpoint does (404/410, or an "update your client"
body), that same request is retried on the WebSocket before anything reached the client, and
once the WebSocket carried it the switch is recorded in a `LaneSwitch` shared by every worker
(the run directory's file, app/ops/lane_switch.py), logged once at WARNING by the worker that
made it, and shown on /status and /setup. A host stays switched until the server restarts.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

log = logging.getLogger("grok_web_api.lanes")

AUTO = "auto"
REST = "rest"
WS = "ws"
CHOICES = (AUTO, REST, WS)


class LaneSwitch(Protocol):
    """Where the auto choice is remembered (shared by the workers of a host, or of many hosts)."""

    def current(self) -> dict | None:
        """`{"lane": "ws", "at": <unix time>, "reason": <why>}` once switched, else None."""

    def switch(self, lane: str, reason: str) -> bool:
        """Record a switch to `lane`; True only for the call that changed the shared state."""


class MemoryLaneSwitch:
    """One process's memory: for the library used on its own, and for tests."""

    def __init__(self):
        self._state: dict | None = None

    def current(self) -> dict | None:
        return self._state

    def switch(self, lane: str, reason: str) -> bool:
        if self._state is not None and self._state.get("lane") == lane:
            return False
        self._state = {"lane": lane, "at": time.time(), "reason": reason}
        return True


def active_lane(setting: str, switch: LaneSwitch) -> str:
    """The lane a chat starts on now."""
    if setting in (REST, WS):
        return setting
    state = switch.current()
    return state["lane"] if state and state.get("lane") in (REST, WS) else REST


def describe(setting: str, switch: LaneSwitch) -> dict:
    """What /status and /setup show about the chat lane."""
    state = switch.current() if setting == AUTO else None
    return {
        "setting": setting,
        "active": active_lane(setting, switch),
        "switched_at": state.get("at") if state else None,
        "switch_reason": state.get("reason") if state else None,
    }


def announce_switch(reason: str) -> None:
    log.warning(
        "grok.com's REST chat endpoint answered like a retired endpoint (%s): chats now use the mgw "
        "WebSocket lane on this host (GROK_CHAT_LANE=auto; set GROK_CHAT_LANE=rest or ws to pin a lane)",
        reason,
    )


def open_chat(client, body: dict, conversation_id: str | None = None):
    """Start a chat turn on the lane GROK_CHAT_LANE and the shared switch choose (see above):
    a new conversation, or (with `conversation_id`) a new message in one."""
    from .rest import open_rest, rest_path
    from .ws import open_ws

    setting = client.config.chat_lane
    if active_lane(setting, client.lane_switch) == WS:
        return open_ws(client, body, conversation_id)
    if setting == REST:
        return open_rest(client, body, conversation_id)
    from ..drift import rest_lane_retired
    from ..errors import GrokError

    try:
        return open_rest(client, body, conversation_id)
    except GrokError as exc:
        if not rest_lane_retired(exc, rest_path(conversation_id)):
            raise
        reason = f"HTTP {getattr(exc, 'status', '?')}: {exc.message}"
    log.info("REST chat refused like a retired endpoint (%s); retrying this request on the WebSocket lane", reason)
    stream = open_ws(client, body, conversation_id)
    if client.lane_switch.switch(WS, reason):
        announce_switch(reason)
    return stream
