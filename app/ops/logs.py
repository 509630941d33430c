"""Logging: one handler on the root logger, plain or JSON lines, secrets redacted.

Every record of the process goes through that handler: the app's loggers, and
gunicorn's own error log (app.ops.gunicorn_config routes it here). The handler's
`RedactionFilter` replaces every configured secret value (cookies, API keys,
challenge values; also percent-encoded and base64 forms, and their first 12
characters) and anything shaped like a credential (`sso=…`, `Bearer …`,
`x-api-key: …`, `x-statsig-id: …`) with `[redacted]` before a line is written.
The secrets come from the current settings of every app in the process, read
when a record is logged, so keys rotated in-process are covered at once (and
rotated-out values stay redacted).

Request logs carry their fields in `extra={"fields": {...}}`: JSON lines get
them as top-level keys, plain lines as ` key=value` pairs after the message.

Messages and fields often hold text a client chose (a model name, a field name, an
upstream error). Every record is bounded (MAX_MESSAGE_CHARS, MAX_FIELD_CHARS,
MAX_TRACE_CHARS), and a plain line cannot be split by such text: control characters in
the message are escaped (`\n`), field values with them are JSON-quoted, and the lines of
a traceback are indented, so every line that starts in column 0 is a record of its own.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import time
import weakref
from contextvars import ContextVar
from typing import Any, Iterable
from urllib.parse import quote

from flask import has_request_context, request

from ..settings import BY_ENV_NAME, Settings

REDACTED = "[redacted]"
PLAIN_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
# How much of a secret may never appear on its own (a truncated value is still a leak).
PREFIX_CHARS = 12
# A field value that would break `key=value` parsing is quoted in plain lines.
_NEEDS_QUOTES = re.compile(r'[\s"=]')
# Credentials by shape, whatever their value: cookies, bearer tokens, key and token headers.
# Every _CREDENTIAL_SHAPES match contains one of these (lower case): a cheap pre-check.
_CREDENTIAL_WORDS = ("sso", "bearer", "x-api-key", "x-statsig-id", "cookie")
_CREDENTIAL_SHAPES = re.compile(
    r"(?i)(\bsso(?:-rw)?=|\bbearer\s+|\b(?:x-api-key|x-statsig-id|cookie)[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"',;&]+"
)
REQUEST_ID_KEY = "grok_web_api.request_id"
MAX_MESSAGE_CHARS = 4000
MAX_FIELD_CHARS = 1000
MAX_TRACE_CHARS = 20000
# Control characters other than tab, escaped in plain lines.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...[{len(text) - limit} more characters]"


def one_line(text: str) -> str:
    """`text` with its line breaks and other control characters escaped."""
    return _CONTROL.sub(lambda m: _ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def secret_values(settings: Settings) -> set[str]:
    """Every secret string in `settings` (the table's rows say which part of a value is secret)."""
    values: set[str] = set()
    for name, value in settings.by_env_name().items():
        if value:
            values.update(part for part in BY_ENV_NAME[name].secrets_in(str(value)) if part)
    return values


def _forms(secret: str) -> Iterable[str]:
    yield secret
    if len(secret) < 8:
        return  # the encodings of a tiny value would match ordinary text
    encoded = quote(secret, safe="")
    if encoded != secret:
        yield encoded
    raw = secret.encode()
    yield base64.b64encode(raw).decode().rstrip("=")
    yield base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Redactor:
    """Replaces known secret values; learns new ones from the runtimes it follows."""

    def __init__(self):
        self._values: set[str] = set()
        self._pattern: re.Pattern | None = None
        # Lower-cased heads of every alternative: a match of the pattern contains one.
        self._needles: tuple[str, ...] = ()
        # (weak reference to an object with a `.settings`, the settings last learned from it)
        self._followed: list[list[Any]] = []

    def learn(self, settings: Settings) -> None:
        self.learn_values(secret_values(settings))

    def learn_values(self, values: Iterable[str]) -> None:
        """Secrets that are not settings (a pool account's cookies and proxy password)."""
        new = {v for v in values if v} - self._values
        if new:
            self._values |= new
            self._compile()

    def follow(self, holder: Any) -> None:
        """Track `holder.settings` (e.g. the app's Runtime) as it is replaced."""
        self._followed.append([weakref.ref(holder), None])
        self._refresh()

    def _refresh(self) -> None:
        for entry in list(self._followed):
            holder = entry[0]()
            if holder is None:
                self._followed.remove(entry)
                continue
            settings = holder.settings
            if settings is not entry[1]:
                entry[1] = settings
                self.learn(settings)

    def _compile(self) -> None:
        alternatives = set()
        needles = set()
        for secret in self._values:
            for form in _forms(secret):
                needles.add(form[:PREFIX_CHARS].lower())
                alternatives.add(re.escape(form))
                if len(form) > PREFIX_CHARS:
                    # A truncated copy still leaks: its head plus whatever follows it.
                    alternatives.add(re.escape(form[:PREFIX_CHARS]) + r"[^\s\"',;&]*")
        # Longest first, so a whole value wins over its prefix at the same position.
        ordered = sorted(alternatives, key=len, reverse=True)
        self._pattern = re.compile("|".join(ordered), re.IGNORECASE) if ordered else None
        self._needles = tuple(needles)

    def redact(self, text: str) -> str:
        # Runs on every field of every log line: substring pre-checks (C speed) keep the
        # regexes for the rare text that could hold a secret. Non-ASCII text always takes
        # the regexes, as str.lower and re.IGNORECASE may fold it differently.
        self._refresh()
        ascii_only = text.isascii()
        low = text.lower()
        if self._pattern is not None and (not ascii_only or any(n in low for n in self._needles)):
            text = self._pattern.sub(REDACTED, text)
        if not ascii_only or any(word in low for word in _CREDENTIAL_WORDS):
            text = _CREDENTIAL_SHAPES.sub(lambda m: m.group(1) + REDACTED, text)
        return text


redactor = Redactor()


class RedactionFilter(logging.Filter):
    """Rewrites a record's message, fields and traceback text with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # Redacted before it is cut: a secret across the cut would otherwise leave its head.
        record.msg = bounded(redactor.redact(message), MAX_MESSAGE_CHARS)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = bounded(redactor.redact(record.exc_text), MAX_TRACE_CHARS)
        if record.stack_info:
            record.stack_info = bounded(redactor.redact(record.stack_info), MAX_TRACE_CHARS)
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = {
                k: bounded(redactor.redact(v), MAX_FIELD_CHARS) if isinstance(v, str) else v for k, v in fields.items()
            }
        request_id = getattr(record, "request_id", None) or current_request_id()
        # A client-chosen id is echoed to that client, but logged like any other text.
        record.request_id = redactor.redact(request_id) if request_id else None
        return True


# The WSGI environ of the request this greenlet is handling (gevent gives each greenlet its own
# context). Set by app.web.telemetry for the request's whole life, streamed body included: a
# response body is iterated after Flask's request context is gone.
_current_environ: ContextVar[dict | None] = ContextVar("grok_web_api.environ", default=None)


def bind_request(environ: dict) -> None:
    _current_environ.set(environ)


def unbind_request(environ: dict) -> None:
    if _current_environ.get() is environ:
        _current_environ.set(None)


def current_environ() -> dict | None:
    environ = _current_environ.get()
    if environ is None and has_request_context():
        environ = request.environ
    return environ


def current_request_id() -> str | None:
    """The id of the request being handled by this greenlet, if any."""
    environ = current_environ()
    return environ.get(REQUEST_ID_KEY) if environ is not None else None


class PlainFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        line, _, trace = text.partition("\n")  # the message line has no raw line break left
        if not trace:
            return line
        return line + "".join(f"\n    {part}" for part in trace.split("\n"))

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        line = super().formatMessage(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += "".join(f" {k}={_plain(v)}" for k, v in fields.items() if v is not None)
        elif getattr(record, "request_id", None):
            line += f" request_id={record.request_id}"
        return line


def _plain(value: Any) -> str:
    text = "true" if value is True else "false" if value is False else str(value)
    return json.dumps(text) if _NEEDS_QUOTES.search(text) or not text else text


class JSONFormatter(logging.Formatter):
    """One JSON object per line. Keys: time, level, logger, pid, message, then request_id
    (inside a request), the record's fields, and exc (a traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            out["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if fields:
            for key, value in fields.items():
                out.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


def _iso_time(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def formatter_for(log_format: str) -> logging.Formatter:
    return JSONFormatter() if log_format == "json" else PlainFormatter()


def handler() -> logging.Handler:
    """The process's log handler (created on first use), attached to the root logger."""
    root = logging.getLogger()
    for existing in root.handlers:
        if getattr(existing, "_grok_web_api", False):
            return existing
    new = logging.StreamHandler(sys.stderr)
    new._grok_web_api = True  # type: ignore[attr-defined]
    new.addFilter(RedactionFilter())
    new.setFormatter(PlainFormatter())
    root.addHandler(new)
    return new


def route_gevent_errors() -> None:
    """Errors of crashed greenlets through logging (gevent prints them raw to stderr)."""
    import gevent

    errors = logging.getLogger("gevent")

    def print_exception(context, type_, value, tb):
        errors.error("unhandled error in %s", context, exc_info=(type_, value, tb))

    gevent.get_hub().print_exception = print_exception


def configure(settings: Settings) -> logging.Handler:
    """Level, format and secrets from `settings`; safe to call for every app created."""
    redactor.learn(settings)
    logging.captureWarnings(True)  # warnings as log records, not raw stderr lines
    current = handler()
    current.setFormatter(formatter_for(settings.log_format))
    logging.getLogger().setLevel(settings.log_level)
    return current
