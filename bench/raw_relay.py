"""The raw relay baseline: the same upstream bytes through the same transport, no parsing.

Run under gunicorn with the gevent worker, exactly like the app:
    gunicorn -k gevent -w 1 -b 127.0.0.1:PORT bench.raw_relay:app
Environment: the same GROK_* / CHALLENGE_* settings as the app.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402

from app.grok.client import GrokClient  # noqa: E402
from app.settings import Settings  # noqa: E402

_client: GrokClient | None = None


def _grok() -> GrokClient:
    global _client
    if _client is None:  # one per worker, created after fork
        _client = GrokClient.from_settings(Settings.load())
    return _client


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    stream = _grok().new_conversation({"message": body.get("message", ""), "temporary": True})
    start_response("200 OK", [("Content-Type", "application/x-ndjson"), ("Cache-Control", "no-cache")])

    def relay():
        try:
            for chunk in stream.raw():
                if chunk:
                    yield chunk
        finally:
            stream.close()

    return relay()
