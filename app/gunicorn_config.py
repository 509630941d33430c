"""gunicorn settings: gevent workers, bind from HOST/PORT, sized for long streams.

Settings are validated here, in the master, so a bad value stops startup with a
readable message instead of failing every worker.
"""

import multiprocessing
import os
import sys

from app.settings import Settings, SettingsError

try:
    _settings = Settings.load()
except SettingsError as _exc:
    sys.stderr.write(f"grok-web-api: cannot start, {_exc}\n")
    sys.exit(1)

_host = _settings.host
if ":" in _host and not _host.startswith("["):
    _host = f"[{_host}]"
bind = [f"{_host}:{_settings.port}"]

worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
# One gevent worker holds every stream, WebSocket and plain request of its clients.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS") or 4000)
# A responsive hub keeps the worker heartbeat going; long streams never trip this.
timeout = int(os.environ.get("WORKER_TIMEOUT") or 60)
# On SIGTERM/SIGHUP in-flight streams get this long to finish.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT") or 30)
keepalive = 75
# gunicorn 27 otherwise writes a control socket under $HOME.
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "grok-web-api"


def on_starting(server):
    from app import rundir
    from app.startup import report

    rundir.mark_started(rundir.create())
    report(_settings, server.log)


def post_worker_init(worker):
    # Once per worker, after fork and after the app is loaded: the session watcher.
    from app.system.lifecycle import start_background

    start_background(worker.wsgi, worker.log)


def child_exit(server, worker):
    # Keep a dead worker's request and failure counts in /status.
    from app import counters, rundir

    directory = rundir.shared()
    if directory is not None:
        counters.fold_dead(directory, pids={worker.pid})


def on_exit(server):
    import shutil

    from app import rundir

    shutil.rmtree(os.environ.get(rundir.ENV_VAR, ""), ignore_errors=True)
