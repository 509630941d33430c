"""The app's routes and OpenAPI document, read once when the fuzz tests are collected."""

from app import create_app
from app.settings import Settings

from .strategies import operations

# Never serves a request: it only lists routes (the fuzzed apps talk to the fake grok.com).
_APP = create_app(Settings.from_mapping({"GROK_SSO_COOKIE": "collect-only", "GROK_BASE_URL": "http://127.0.0.1:9"}))
DOC = _APP.test_client().get("/openapi.json").get_json()
OPERATIONS = operations(_APP, DOC)
