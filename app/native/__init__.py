"""The native surface: one blueprint per grok.com endpoint group."""


def blueprints():
    from . import chat, chat_ws, raw

    return [chat.blp, chat_ws.blp, raw.blp]
