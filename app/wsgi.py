"""WSGI entry point inside the package (used by `grok-web-api serve`)."""

from gevent import monkey

monkey.patch_all()

from . import create_app  # noqa: E402  (must follow patching)

app = create_app()
