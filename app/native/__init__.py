"""The native surface: one blueprint per grok.com endpoint group."""


def blueprints():
    from . import (
        artifacts,
        chat,
        chat_ws,
        conversations,
        files,
        google_drive,
        images,
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
        voice.blp,
        memory.blp,
        artifacts.blp,
        sharing.blp,
        suggestions.blp,
        images.blp,
        google_drive.blp,
        raw.blp,
    ]
