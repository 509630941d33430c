"""The native surface: one blueprint per grok.com endpoint group."""


def blueprints():
    from . import chat, raw

    return [chat.blp, raw.blp]
