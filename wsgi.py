"""WSGI entry point for gunicorn: gevent monkey-patching first, then the app."""

from gevent import monkey

monkey.patch_all()

from app import create_app  # noqa: E402  (must follow patching)

app = create_app()
