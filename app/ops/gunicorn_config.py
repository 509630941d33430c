"""gunicorn settings: gevent workers, bind from HOST/PORT, sized for long streams.

Every value comes from the app's Settings (so .env works for these too), validated
here, in the master, so a bad value stops startup with a readable message instead of
failing every worker.
"""

import gc
import multiprocessing
import os
import sys

from gunicorn import glogging

from app.ops.accounts import AccountsFileError, read_accounts
from app.settings import Settings, SettingsError

try:
    _settings = Settings.load()
    # An accounts file the server could not use stops startup too (a running server keeps
    # its accounts when the file goes bad later).
    read_accounts(_settings.accounts_path) if _settings.accounts_path else None
except (SettingsError, AccountsFileError) as _exc:
    sys.stderr.write(f"grok-web-api: cannot start, {_exc}\n")
    sys.exit(1)

_host = _settings.host
if ":" in _host and not _host.startswith("["):
    _host = f"[{_host}]"
bind = [f"{_host}:{_settings.port}"]

worker_class = "gevent"
workers = _settings.web_concurrency or multiprocessing.cpu_count()
# One gevent worker holds every stream, WebSocket and plain request of its clients.
worker_connections = _settings.worker_connections
# A responsive hub keeps the worker heartbeat going; long streams never trip this.
timeout = _settings.worker_timeout
# On SIGTERM/SIGHUP in-flight streams get this long to finish.
graceful_timeout = _settings.graceful_timeout
keepalive = 75
# gunicorn 27 otherwise writes a control socket under $HOME.
control_socket_disable = True
accesslog = None  # the app writes one line per request itself (app.web.telemetry)
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "grok-web-api"


class Logger(glogging.Logger):
    """gunicorn's error log through the app's log handler: the same format (LOG_FORMAT)
    and the same secret redaction. setup() runs again on every SIGHUP reload."""

    def setup(self, cfg):
        super().setup(cfg)
        from app.ops import logs

        try:
            settings = Settings.load()
        except SettingsError:
            settings = _settings
        handler = logs.configure(settings)
        for log in (self.error_log, self.access_log):
            for own in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
                log.removeHandler(own)
            log.addHandler(handler)


logger_class = Logger


def on_starting(server):
    from app.ops import rundir
    from app.ops.startup import report

    path = rundir.create()
    rundir.mark_started(path)
    # Before any worker imports prometheus_client: workers then write file-backed samples here.
    metrics_dir = path / "metrics"
    metrics_dir.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    report(_settings, server.log)


def post_worker_init(worker):
    # Once per worker, after fork and after the app is loaded.
    import gevent

    from app.ops import logs, shutdown
    from app.ops.lifecycle import start_background

    # gevent records, for every greenlet (one per connection), the ten frames that spawned
    # it and its spawner; nothing here reads them, and with 1000 streams open they were
    # 0.3 KB of RSS per stream (docs/benchmarks.md, "Where a burst's peak is").
    gevent.config.track_greenlet_tree = False
    logs.route_gevent_errors()
    shutdown.watch(worker)
    start_background(worker.wsgi, worker.log)  # the session watcher
    # The ~100,000 objects of the loaded app live as long as the worker: moved out of the
    # collector's sight, they no longer lengthen every full collection (each one a pause of
    # every stream of the worker) once a thousand streams hold objects of their own.
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    # The one dead-worker rule (app/ops/metrics.py): its counts stay in the totals, its live
    # gauges (the worker itself, its active streams, session validity) go.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    import shutil

    from app.ops import rundir

    shutil.rmtree(os.environ.get(rundir.ENV_VAR, ""), ignore_errors=True)
