"""The per-worker runtime: current settings, the one GrokClient, process counters.

Stored on the app (`app.extensions["grok_web_api"]`), created once per app in
`create_app`. Nothing here is per-request: request state lives in locals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from flask import current_app, request

from .grok.client import ClientConfig, GrokClient
from .grok.session import SessionState
from .problems import not_configured
from .settings import Settings

EXTENSION = "grok_web_api"


@dataclass
class Runtime:
    settings: Settings
    client: GrokClient
    state: SessionState
    started_at: float = field(default_factory=time.time)
    active_streams: int = 0

    def apply(self, settings: Settings) -> None:
        """Switch to new settings; in-flight requests finish with the old credentials."""
        self.settings = settings
        self.client.reconfigure(ClientConfig.from_settings(settings))


def runtime() -> Runtime:
    return current_app.extensions[EXTENSION]


def settings() -> Settings:
    return runtime().settings


def grok() -> GrokClient:
    """The upstream client, or a 503 not_configured problem when credentials are missing."""
    rt = runtime()
    if not rt.settings.configured:
        raise not_configured(rt.settings.missing)
    return rt.client


def no_upstream(view):
    """Mark a /v1 view that never calls grok.com (it works without cookies)."""
    view.uses_upstream = False
    return view


def reject_unconfigured() -> None:
    """Before any Grok-backed route runs: 503 not_configured while cookies are missing."""
    if not request.path.startswith(("/v1/", "/raw/")):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or not getattr(view, "uses_upstream", True):
        return
    rt = runtime()
    if not rt.settings.configured:
        raise not_configured(rt.settings.missing)
