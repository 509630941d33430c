"""The native surface: one blueprint per grok.com endpoint group."""


def blueprints():
    from . import (
        artifacts,
        chat,
        chat_ws,
        code,
        conversations,
        files,
        google_drive,
        memory,
        raw,
        sharing,
        suggestions,
        voice,
    )

    return [
        chat.blp,
        chat_ws.blp,
        conversations.blp,
        files.blp,
        code.blp,
        voice.blp,
        memory.blp,
        artifacts.blp,
        sharing.blp,
        suggestions.blp,
        google_drive.blp,
        raw.blp,
    ]
