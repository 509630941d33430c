"""Follow-ups in a conversation (``POST conversations/{id}/responses``): what the fake enforces.

grok.com keeps a conversation as a tree of responses: each user message names the response it
follows (``parentResponseId``), and the model answers from the thread that leads to it. The
fake holds a follow-up to these rules (the answer and the request log's ``reject`` say which
one fired):

* the conversation must exist and not be deleted (soft or hard): else 404 code 5
  "Conversation not found";
* a temporary conversation lives ``temporary_ttl`` seconds (config, default 3600) after its
  last message: then it is gone (404 like a deleted one). Chosen behaviour: grok.com drops
  private chats after a while and does not say when;
* a follow-up that sends ``temporary`` must send the conversation's own value (a private chat
  cannot be made a saved one by a later message, nor the reverse): else 400 code 3
  (``reject`` ``temporary_mismatch``). Chosen behaviour, not observed;
* ``parentResponseId`` must be a response of this conversation (else 404 "Parent response not
  found") written by the assistant (a user message follows an answer; else 400 code 3,
  ``reject`` ``parent_not_assistant``);
* the model reads the thread: the messages on the parent chain, then the new one
  (``thread_text``); the custom instructions are the request's own (grok.com takes them per
  request: a follow-up without them gets an answer without them).
"""

from __future__ import annotations

import time

from .scenarios import INVALID_REQUEST, not_found
from .wire import Resp

DEFAULT_TEMPORARY_TTL = 3600.0


def touch(conv: dict) -> None:
    conv["_active"] = time.time()


def expired(conv: dict, ttl: float, now: float | None = None) -> bool:
    if not conv.get("temporary"):
        return False
    return (time.time() if now is None else now) - conv.get("_active", 0.0) > ttl


def purge_expired(state) -> None:
    """Temporary conversations idle for longer than temporary_ttl are gone."""
    ttl = float(state.config.get("temporary_ttl", DEFAULT_TEMPORARY_TTL))
    store = state.store
    for cid in [cid for cid, conv in store.conversations.items() if expired(conv, ttl)]:
        store.delete_conversation(cid)


def check_follow_up(req, conv: dict | None, body: dict) -> Resp | None:
    """The rules of the module docstring, in order; None when the follow-up may go on."""
    if conv is None:
        req.entry["reject"] = "conversation_not_found"
        return not_found("Conversation not found")
    temporary = body.get("temporary")
    if temporary is not None and bool(temporary) != bool(conv.get("temporary")):
        req.entry["reject"] = "temporary_mismatch"
        return Resp(400, INVALID_REQUEST)
    parent = body.get("parentResponseId")
    if parent:
        if parent not in conv["_responses"]:
            req.entry["reject"] = "parent_not_found"
            return not_found("Parent response not found")
        if req.state.store.responses[parent]["sender"] != "ASSISTANT":
            req.entry["reject"] = "parent_not_assistant"
            return Resp(400, INVALID_REQUEST)
    return None


def thread_text(store, parent: str | None, message: str) -> str:
    """What the model reads for a follow-up: the thread's messages, oldest first, then `message`."""
    said: list[str] = []
    seen: set[str] = set()
    while parent and parent not in seen and parent in store.responses:
        seen.add(parent)
        response = store.responses[parent]
        said.append(response.get("message") or "")
        parent = response.get("parentResponseId")
    return "\n".join([*reversed(said), message])
