"""The REST chat lane: NDJSON answers to `POST /rest/app-chat/conversations/new` (a new
conversation) and `…/conversations/{id}/responses` (a new message in one)."""

from __future__ import annotations

from ..client import APP, ChatStream, seg


def open_rest(client, body: dict, conversation_id: str | None = None) -> ChatStream:
    return ChatStream(client.stream("POST", rest_path(conversation_id), body=dict(body)), state=client.state)


def rest_path(conversation_id: str | None = None) -> str:
    """The REST chat endpoint of a new conversation, or of a new message in one."""
    if conversation_id is None:
        return f"{APP}/conversations/new"
    return f"{APP}/conversations/{seg(conversation_id)}/responses"
