"""The app factory: settings, extensions, blueprints, error handlers, in that order."""

from __future__ import annotations

import logging

from flask import Flask
from flask.sessions import NullSession, SessionInterface

from . import __version__, problems
from .grok import hooks
from .grok.client import GrokClient
from .grok.session import SessionState
from .ops import logs
from .runtime import EXTENSION, Runtime, reject_unconfigured
from .settings import Settings
from .web.admission import START_SLOTS, AdmissionMiddleware
from .web.body_guard import BodyGuard
from .web.extensions import init_extensions
from .web.request_limits import LimitedRequest

log = logging.getLogger(__name__)


class NoSessions(SessionInterface):
    """This server keeps no cookie sessions (clients send API keys): every request gets the
    same null session instead of a new one (half a KB for each start parked in a burst)."""

    def __init__(self):
        self._null = NullSession()

    def open_session(self, app, request):
        return self._null

    def save_session(self, app, session, response):
        pass


def create_app(settings: Settings | None = None, client: GrokClient | None = None) -> Flask:
    """The app factory: settings, extensions, blueprints, error handlers."""
    settings = settings or Settings.load()
    logs.configure(settings)
    app = Flask(__name__)
    app.request_class = LimitedRequest
    app.session_interface = NoSessions()
    app.config.update(
        API_TITLE="grok-web-api",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.json.sort_keys = False
    app.json.compact = True

    state = SessionState()
    client = client or GrokClient.from_settings(settings, state=state)
    runtime = app.extensions[EXTENSION] = Runtime(settings=settings, client=client, state=client.state)
    logs.redactor.follow(runtime)  # so reloaded secrets are redacted at once

    api = init_extensions(app)
    from .native import params
    from .web import access, auth, cors, telemetry

    # The client library waits for grok.com through the start slots (a start frees its slot).
    hooks.install_waits(START_SLOTS)
    # Inside the telemetry middleware, so a request's time waiting for a start slot is measured.
    # Each middleware goes in as its bound __call__: Python calls a bound method inline, but
    # calling an instance goes through C and nests another interpreter frame on the C stack,
    # which every greenlet parked in a chat start keeps a copy of (~0.7 KB per middleware).
    app.wsgi_app = AdmissionMiddleware(app, app.wsgi_app).__call__  # type: ignore[method-assign]
    # before_request order matters: telemetry notes the route first, then the settings
    # reload poll and request count (app/ops/lifecycle.py), CORS answers
    # preflights, the API key is checked before any validation (401 wins over 400/422).
    telemetry.register(app, client.state)
    # Outermost: it gets the server's own start_response (to close instead of draining a body).
    app.wsgi_app = BodyGuard(app, app.wsgi_app).__call__  # type: ignore[method-assign]
    from .ops import lifecycle

    lifecycle.init_app(app)  # applies a pending settings reload, so the key check uses the new keys
    access.register(app)  # who may connect at all (access mode, Origin, Host), before CORS answers anything
    cors.register(app)
    auth.register(app)
    params.register(app, api)
    app.before_request(reject_unconfigured)
    _register_blueprints(api)
    # After Api.init_app, so these handlers replace flask-smorest's JSON error handler.
    problems.register(app)
    return app


def _register_blueprints(api) -> None:
    # Each package lists its own blueprints, so a new route group touches one file.
    from . import anthropic, media, native, openai, responses, system

    for package in (system, native, openai, responses, anthropic, media):
        for blueprint in package.blueprints():
            api.register_blueprint(blueprint)
