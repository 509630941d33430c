"""The native surface: one blueprint per grok.com endpoint group."""


def blueprints():
    from . import chat

    return [chat.blp]
