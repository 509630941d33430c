"""The grok.com client: usable as a library, without Flask."""

from . import errors, events
from .client import ChatStream, ClientConfig, GrokClient
from .transport import Transport

__all__ = ["GrokClient", "ClientConfig", "ChatStream", "Transport", "errors", "events"]
