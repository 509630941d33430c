"""The native surface: one blueprint per grok.com endpoint group."""


def blueprints():
    from . import chat, chat_ws, raw
    from . import artifacts, conversations, files, google_drive, images, memory, sharing, suggestions, voice

    return [chat.blp, chat_ws.blp,
            conversations.blp, files.blp, voice.blp, memory.blp, artifacts.blp, sharing.blp,
            suggestions.blp, images.blp, google_drive.blp, raw.blp]
