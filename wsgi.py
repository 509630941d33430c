"""gunicorn's entry point (`wsgi:app`); the application and its gevent patching live in
app/wsgi.py, which the installed console script serves too."""

from app.wsgi import app  # noqa: F401
