"""grok-web-api: a grok.com web session as OpenAI-compatible and typed REST APIs.

Importing the package (or the client library in app.grok) does not import Flask: the
web application is built only when `create_app` is called.
"""

from __future__ import annotations

__version__ = "0.1.0"


def create_app(settings=None, client=None):
    """Build the Flask application (app/factory.py)."""
    from .factory import create_app as build

    return build(settings, client)
