"""The REST chat lane: NDJSON answers to `POST /rest/app-chat/conversations/new` (a new
conversation) and `…/conversations/{id}/responses` (a new message in one)."""

from __future__ import annotations

from ..client import APP, ChatStream, seg


def open_rest(client, body: dict, conversation_id: str | None = None) -> ChatStream:
    if conversation_id is None:
        path = f"{APP}/conversations/new"
    else:
        path = f"{APP}/conversations/{seg(conversation_id)}/responses"
    return ChatStream(client.stream("POST", path, body=dict(body)), state=client.state)
