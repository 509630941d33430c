"""gunicorn configuration; the settings live in app/ops/gunicorn_config.py so an installed
package (`grok-web-api serve`) uses the same ones."""

from app.ops.gunicorn_config import *  # noqa: F401,F403
from app.ops.gunicorn_config import child_exit, logger_class, on_exit, on_starting, post_worker_init  # noqa: F401
