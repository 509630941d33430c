"""Settings: every setting declared once, read once from the environment (and .env), validated.

The `Settings` dataclass below is the one table of settings: each field names its
environment variable, its reading (environs parses and validates the value), its
default and how the rest of the server treats it (secret, shown or editable on
/setup, applied by a reload or only by a restart). Everything else is derived from
that table: reading and validation (`Settings.from_env`), the redacted view,
the list of secrets the logs hide, the /setup page and form, the reload rules, the
keys update-keys accepts, and the test that .env.example documents every setting.
Adding a setting is one field plus its use (docs/development.md).

Precedence, lowest to highest: the defaults, the `.env` file in the working
directory (or ENV_FILE), the real process environment. An empty value means unset,
so an untouched copy of .env.example starts cleanly.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from environs import Env, EnvValidationError
from marshmallow import ValidationError, validate

from .grok.statsig import parse_header_hex
from .grok.statsig.chain import SOURCES as STATSIG_SOURCES

# Where the settings file is: read from the real environment before the file itself,
# so it is not a row of the table (a value inside the file could not move the file).
ENV_FILE_VARIABLE = "ENV_FILE"
MIN_SESSION_CHECK_INTERVAL = 30
MIN_STATSIG_TTL = 60
DEFAULT_ACCOUNTS_FILE = "accounts.json"
# Test-only knob: lowers those minimums (whole seconds >= 1) so tests of the session
# watcher and of statsig renewal run in seconds. Not a setting; never set it in production.
TEST_MIN_INTERVAL_ENV = "GROK_WEB_API_TEST_MIN_INTERVAL"
MIB = 1024 * 1024
MIN_SIGNING_KEY_CHARS = 16
LOG_LEVELS = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
}
REASONING_OUTPUTS = ("reasoning_content", "think_tags", "hidden")
CHAT_LANES = ("auto", "rest", "ws")  # app.grok.lanes
GROK_MODES = ("auto", "fast", "expert", "heavy", "grok-43")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_PROXY_URL = re.compile(r"^(https?|socks5h?|socks4a?)://[^\s]+$")
_ORIGIN = re.compile(r"^https?://(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")

# A reading gets one setting's value out of the environs `Env` (below) by its variable name:
# environs parses the type (env.int, env.float, env.bool, env.str, env.list), marshmallow
# validators check the range or the form, and the formats of our own (cookies, URLs, hosts, the
# challenge header, ...) are text checks run as an environs parser (`checked`). A reading runs
# only for a variable that is set (stripped, non-empty); it raises EnvValidationError or
# ValueError with a message that says what the value must be and never repeats it (it may be a
# secret). Returning None means "as if unset": the default applies.
Reading = Callable[[Env, str], Any]
# A text check: the (stripped) text to its value, or ValueError; also used for accounts.json.
TextCheck = Callable[[str], Any]


class SettingsError(Exception):
    """Invalid settings; `errors` maps each setting name to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        lines = "\n".join(f"  {name}: {msg}" for name, msg in self.errors.items())
        super().__init__(f"invalid settings:\n{lines}")


class SettingsEnv(Env):
    """environs over the given variables first (the process environment, or a test's mapping), then
    the .env file `read_env` loaded, which therefore never overrides them. Values are read stripped,
    and an empty value means unset, so an untouched copy of .env.example starts cleanly.

    environs itself looks in os.environ (`Env._get_value`, overridden here; the version is pinned
    in setup.cfg): settings are built from an explicit mapping so that a reload, a validation of
    /setup's form or a test never reads, nor writes, the process's globals."""

    def __init__(self, variables: Mapping[str, str]):
        super().__init__(eager=True, expand_vars=False)
        self._variables = variables
        self.add_parser("checked", _run_check)

    def given(self, name: str) -> str | None:
        """The variable's stripped text; None when it is unset or empty."""
        raw = self._variables[name] if name in self._variables else self._environ.get(name)
        return (raw or "").strip() or None

    def _get_value(self, env_key: str, default: Any) -> Any:
        value = self.given(env_key)
        return default if value is None else value


def _run_check(value: str, check: TextCheck) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _reason(exc: EnvValidationError) -> str:
    """What environs and marshmallow found wrong, without the 'Environment variable X invalid' prefix."""
    messages = exc.error_messages
    if isinstance(messages, Mapping):
        messages = [m for found in messages.values() for m in (found if isinstance(found, list) else [found])]
    return "; ".join(str(m) for m in messages)


class OneOfAnyCase(validate.OneOf):
    """marshmallow's OneOf for lower-case choices, whatever the letter case of the value."""

    def __call__(self, value: str) -> str:
        return super().__call__(value.lower())


# ---------------------------------------------------------------------- readings
def text(env: Env, name: str) -> str:
    return env.str(name)


def checked(check: TextCheck) -> Reading:
    """Read the variable through one of our text checks (an environs parser)."""
    return lambda env, name: env.checked(name, check=check)


def integer(low: int | None = None, high: int | None = None, error: str | None = None) -> Reading:
    in_range = validate.Range(low, high, error=error or f"must be an integer from {low} to {high}")
    return lambda env, name: env.int(name, validate=in_range, error_messages={"invalid": "must be an integer"})


# float() reads "1e999" as infinity and accepts "nan": marshmallow calls both "special".
_NOT_A_NUMBER = {"invalid": "must be a number", "special": "must be a number", "too_large": "must be a number"}


def number(low: float, error: str) -> Reading:
    at_least = validate.Range(min=low, error=error)
    return lambda env, name: env.float(name, validate=at_least, error_messages=_NOT_A_NUMBER)


def seconds(low: float = 0.1) -> Reading:
    return number(low, f"must be a number of seconds >= {low}")


def boolean(env: Env, name: str) -> bool:
    # marshmallow's spellings: true/false, yes/no, on/off, y/n, t/f, 1/0 (lower, Title or UPPER case)
    return env.bool(name, error_messages={"invalid": "must be true or false"})


def choice(options: Mapping[str, str] | tuple[str, ...], error: str | None = None) -> Reading:
    """One of `options` (lower case, matched in any case); a mapping also gives each option's value."""
    values = options if isinstance(options, Mapping) else {o: o for o in options}
    one_of = OneOfAnyCase(tuple(values), error=error or f"must be one of {', '.join(values)}")
    return lambda env, name: values[env.str(name, validate=one_of).lower()]


def cookie(allow_separators: bool = False) -> TextCheck:
    def check(value: str) -> str:
        if any(ch in value for ch in "\r\n\0"):
            raise ValueError("must not contain CR, LF or NUL characters")
        if not allow_separators and (";" in value or any(ch.isspace() for ch in value)):
            raise ValueError("must be the bare cookie value (no ';' or spaces); copy only the Value column")
        return value

    return check


def url(base: bool = False) -> Reading:
    """An http(s) URL; a base URL has no query or fragment and loses its trailing slash.

    Checked with urlsplit, as libcurl reads it, rather than env.url: marshmallow's URL pattern
    refuses host names with '_', which Docker networks resolve (a signer in a compose file)."""

    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
            raise ValueError("must be an http:// or https:// URL")
        if base and (parts.query or parts.fragment):
            raise ValueError("must not have a query string or fragment")
        try:
            _ = parts.port  # raises on a port that is not a number
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value.rstrip("/") if base else value

    return checked(check)


def proxy_address(value: str) -> str:
    if not _PROXY_URL.match(value):
        raise ValueError("must be a proxy URL such as http://host:port or socks5h://host:port")
    return value


def host_name(value: str) -> str:
    if not valid_host(value):
        raise ValueError("must be an IP address or a hostname")
    return value


def _items(env: Env, name: str, lower: bool = False) -> list[str]:
    """A comma-separated variable's entries (env.list), trimmed, empty ones dropped."""
    return [item.strip().lower() if lower else item.strip() for item in env.list(name) if item.strip()]


def key_list(env: Env, name: str) -> tuple[str, ...]:
    if any(ch in item for item in env.list(name) for ch in "\r\n\0"):
        raise ValueError("must not contain CR, LF or NUL characters")
    keys = tuple(_items(env, name))
    if not keys:
        # e.g. "," — running without authentication would be the worst way to read it.
        raise ValueError("holds no key (only commas and spaces): set a key, or leave API_KEY empty")
    return keys


def origin_list(env: Env, name: str) -> tuple[str, ...]:
    """CORS_ORIGINS: `*` or origins as browsers send them (scheme://host[:port]; a trailing / is dropped)."""
    origins = tuple(o.rstrip("/") for o in _items(env, name))
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise ValueError(
                f"{origin[:80]!r} is not an origin: write scheme://host[:port] (no path), comma-separated, or *"
            )
    return origins


def networks(env: Env, name: str) -> tuple[str, ...]:
    """Addresses or networks (CIDR), normalised."""
    found = []
    for entry in _items(env, name):
        try:
            found.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"{entry[:80]!r} is not an IP address or network (e.g. 10.0.0.5, 172.16.0.0/12)") from None
    return tuple(found)


def host_ports(env: Env, name: str) -> tuple[str, ...]:
    entries = _items(env, name, lower=True)
    for entry in entries:
        host, sep, port = entry.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not valid_host(host):
            raise ValueError("must be comma-separated host:port entries, e.g. images.lan:8080")
    return tuple(entries)


def signing_key(env: Env, name: str) -> str:
    long_enough = validate.Length(
        min=MIN_SIGNING_KEY_CHARS,
        error=f"must be at least {MIN_SIGNING_KEY_CHARS} characters (use a long random string)",
    )
    return env.str(name, validate=long_enough)


def redis_address(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
        raise ValueError("must be a redis://, rediss:// or unix:// URL, e.g. redis://localhost:6379/0")
    return value


def key_prefix(env: Env, name: str) -> str:
    return env.str(
        name, validate=validate.Regexp(r"[A-Za-z0-9_.:-]{1,32}\Z", error="must be 1 to 32 letters, digits or _ . : -")
    )


# What in a secret setting's text is secret (Setting.secret).
def comma_parts(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")]


def cookie_values(text: str) -> list[str]:
    """The whole cookie string and each cookie's value."""
    return [text, *(cookie.partition("=")[2].strip() for cookie in text.split(";"))]


def url_password(text: str) -> list[str]:
    """Only a URL's password is secret: the address is what an error or a warning must name."""
    return [urlsplit(text).password or ""]


# ---------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Setting:
    """One row of the settings table (declared with `setting()` on a Settings field)."""

    env: str
    read: Reading = text
    # Never logged, shown or echoed back in an error. True: the whole value is the secret; a
    # function: the secret strings within the value's text (the log redactor hides those).
    secret: bool | Callable[[str], list[str]] = False
    setup: str | None = None  # shown on /setup with this description
    form: bool = False  # editable in the /setup form
    live: bool = True  # a reload applies it; False: only a restart does (read by gunicorn's master)
    attr: str = ""
    default: Any = None

    def secrets_in(self, text: str) -> list[str]:
        """The strings of this setting's value (as text) that must never appear in a log."""
        if not self.secret or not text:
            return []
        return [text] if self.secret is True else self.secret(text)

    def display(self, value: Any) -> Any:
        """The value as the environment would spell it (lists comma-joined, bytes in hex)."""
        if isinstance(value, tuple):
            return ",".join(value) or None
        if isinstance(value, bytes):
            return value.hex()
        return value


_ROW = "setting"


def setting(env: str, read: Reading = text, default: Any = None, **flags: Any) -> Any:
    return field(default=default, repr=False, metadata={_ROW: Setting(env, read, **flags)})


@dataclass(frozen=True)
class Settings:
    # --- the grok.com session
    sso_cookie: str | None = setting(
        "GROK_SSO_COOKIE", checked(cookie()), secret=True, form=True, setup="the grok.com sso cookie (required)"
    )
    sso_rw_cookie: str | None = setting(
        "GROK_SSO_RW_COOKIE",
        checked(cookie()),
        secret=True,
        form=True,
        setup="the sso-rw cookie (default: the sso value)",
    )
    extra_cookies: str | None = setting(
        "GROK_EXTRA_COOKIES",
        checked(cookie(True)),
        secret=cookie_values,
        form=True,
        setup="extra cookies, e.g. cf_clearance",
    )
    # --- the x-statsig-id token
    statsig_mode: str = setting(
        "STATSIG_SOURCE",
        choice(STATSIG_SOURCES),
        "auto",
        setup="auto (derive from grok.com, fall back to the values below), derived, env or provider",
    )
    statsig_ttl: int = setting("STATSIG_TTL_SECS", integer(1, error="must be a number of seconds >= 1"), 3600)
    grok_cdn_url: str = setting("GROK_CDN_URL", url(base=True), "https://cdn.grok.com")
    challenge_header: bytes | None = setting(
        "CHALLENGE_HEADER_HEX",
        checked(parse_header_hex),
        secret=True,
        form=True,
        setup="challenge header, 98 hex digits",
    )
    challenge_suffix: str | None = setting("CHALLENGE_SUFFIX", secret=True, form=True, setup="challenge suffix")
    challenge_trailer: int = setting(
        "CHALLENGE_TRAILER", integer(0, 255), 3, form=True, setup="challenge trailer byte (default 3)"
    )
    token_provider_url: str | None = setting(
        "TOKEN_PROVIDER_URL", url(), form=True, setup="external statsig signer (auto's last fallback)"
    )
    # --- this server
    api_keys: tuple[str, ...] = setting("API_KEY", key_list, (), secret=comma_parts, setup="client API key(s)")
    # Default 0.0.0.0 with an API key, 127.0.0.1 without (docs/security.md; _between_settings).
    host: str = setting("HOST", checked(host_name), "127.0.0.1", live=False, setup="bind address")
    # Serve other machines without an API key (docs/security.md).
    allow_unauthenticated_network: bool = setting("ALLOW_UNAUTHENTICATED_NETWORK", boolean, False)
    # Reverse proxies whose X-Forwarded-For is believed (app/web/access.py).
    trusted_proxies: tuple[str, ...] = setting("TRUSTED_PROXIES", networks, ())
    port: int = setting(
        "PORT", integer(1, 65535, "must be a port number from 1 to 65535"), 3000, live=False, setup="listen port"
    )
    web_concurrency: int | None = setting(  # None: one worker per CPU core
        "WEB_CONCURRENCY", integer(1, error="must be a number of processes >= 1"), live=False
    )
    worker_connections: int = setting(
        "WORKER_CONNECTIONS", integer(1, error="must be a number of connections >= 1"), 4000, live=False
    )
    graceful_timeout: int = setting(
        "GRACEFUL_TIMEOUT", integer(0, error="must be a whole number of seconds >= 0"), 30, live=False
    )
    worker_timeout: int = setting(
        "WORKER_TIMEOUT", integer(0, error="must be a whole number of seconds >= 0"), 60, live=False
    )
    session_check_interval: int = setting(
        "SESSION_CHECK_INTERVAL_SECS",
        integer(0, error="must be a non-negative integer"),
        300,
        setup="background session check interval",
    )
    log_level: str = setting("LOG_LEVEL", choice(LOG_LEVELS), "INFO", setup="log level")
    log_format: str = setting("LOG_FORMAT", choice(("plain", "json"), "must be plain or json"), "plain")
    grok_base_url: str = setting("GROK_BASE_URL", url(base=True), "https://grok.com", setup="upstream base URL")
    proxy_url: str | None = setting(
        "GROK_PROXY_URL", checked(proxy_address), secret=url_password, setup="outbound proxy"
    )
    chat_lane: str = setting("GROK_CHAT_LANE", choice(CHAT_LANES), "auto", setup="chat lane: auto, rest or ws")
    # --- timeouts
    connect_timeout: float = setting("CONNECT_TIMEOUT_SECS", seconds(), 10.0)
    request_timeout: float = setting("REQUEST_TIMEOUT_SECS", seconds(), 120.0)
    stream_idle_timeout: float = setting("STREAM_IDLE_TIMEOUT_SECS", seconds(), 120.0)
    heartbeat_interval: float = setting("HEARTBEAT_SECS", seconds(), 15.0)
    # Clients sending a request body (app/web/body_guard.py): the longest pause, the longest whole.
    body_idle_timeout: float = setting("BODY_IDLE_TIMEOUT_SECS", seconds(), 30.0)
    body_timeout: float = setting("BODY_TIMEOUT_SECS", seconds(), 300.0)
    # --- the OpenAI-compatible API
    reasoning_output: str = setting("REASONING_OUTPUT", choice(REASONING_OUTPUTS), "reasoning_content")
    # --- the Anthropic Messages API
    claude_model_mode: str = setting("CLAUDE_MODEL_MODE", choice(GROK_MODES), "expert")
    # --- conversations of the model APIs (docs/continuity.md)
    continuity: bool = setting("CONTINUITY", boolean, True)
    continuity_ttl: int = setting(
        "CONTINUITY_TTL_SECS", integer(60, error="must be a number of seconds >= 60"), 6 * 3600
    )
    continuity_max_entries: int = setting(
        "CONTINUITY_MAX_ENTRIES", integer(100, error="must be a number of entries >= 100"), 10_000
    )
    keep_conversations: bool = setting("KEEP_CONVERSATIONS", boolean, False)
    # --- operations
    # Default any origin with an API key, none without (docs/security.md; _between_settings).
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", origin_list, ())
    metrics_public: bool = setting("METRICS_PUBLIC", boolean, False)
    public_base_url: str | None = setting("PUBLIC_BASE_URL", url(base=True))
    # --- images and files: asset proxy, signed links, remote-image fetching, input limits
    grok_assets_url: str = setting("GROK_ASSETS_URL", url(base=True), "https://assets.grok.com")
    asset_signing_key: str | None = setting("ASSET_SIGNING_KEY", signing_key, secret=True)
    # Where a generated signing key is kept across restarts (default: beside the settings file).
    asset_key_file: str | None = setting("ASSET_KEY_FILE", live=False)
    asset_url_ttl: int = setting(
        "ASSET_URL_TTL_SECS", integer(60, error="must be a number of seconds >= 60"), 7 * 24 * 3600
    )
    asset_cache_dir: str | None = setting("ASSET_CACHE_DIR")
    asset_cache_max_mb: float = setting(
        "ASSET_CACHE_MAX_MB", number(0, "must be a number of MiB >= 0 (0 disables the cache)"), 512.0
    )
    fetch_allow_private: bool = setting("FETCH_ALLOW_PRIVATE", boolean, False)
    fetch_private_allowlist: tuple[str, ...] = setting("FETCH_PRIVATE_ALLOWLIST", host_ports, ())
    max_image_bytes: int = setting("MAX_IMAGE_BYTES", integer(1, error="must be a number of bytes >= 1"), 20 * MIB)
    max_request_media_bytes: int = setting(
        "MAX_REQUEST_MEDIA_BYTES", integer(1, error="must be a number of bytes >= 1"), 64 * MIB
    )
    # --- several accounts and several hosts (docs/scaling.md)
    accounts_file: str | None = setting("ACCOUNTS_FILE")  # default: see `accounts_path`
    account_retries: int = setting("ACCOUNT_RETRIES", integer(0, 10), 2)
    quota_sync_interval: int = setting("QUOTA_SYNC_SECS", integer(30, error="must be a number of seconds >= 30"), 600)
    # Secret for its password (app/ops/logs.py redacts only that part); read when a worker starts.
    redis_url: str | None = setting("REDIS_URL", checked(redis_address), secret=url_password, live=False)
    redis_prefix: str = setting("REDIS_PREFIX", key_prefix, "gwa:", live=False)

    # Not settings: where they were read from, and what startup should warn about
    # (e.g. a clamped interval).
    env_file: str | None = None
    notices: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never show secret values, even in a traceback
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.redacted().items())})"

    @property
    def cookie_header(self) -> str | None:
        if not self.sso_cookie:
            return None
        header = f"sso={self.sso_cookie}; sso-rw={self.sso_rw_cookie or self.sso_cookie}"
        if self.extra_cookies:
            header += f"; {self.extra_cookies}"
        return header

    @property
    def accounts_path(self) -> Path | None:
        """ACCOUNTS_FILE, else accounts.json beside the settings file (so the accounts command
        and the server agree without a setting); None for settings built without a file."""
        if self.accounts_file:
            return Path(self.accounts_file)
        return Path(self.env_file).with_name(DEFAULT_ACCOUNTS_FILE) if self.env_file else None

    @property
    def challenge_loaded(self) -> bool:
        return self.challenge_header is not None and self.challenge_suffix is not None

    @property
    def static_statsig_source(self) -> str:
        """What signs when nothing is derived: the env triple, else the provider, else none."""
        if self.challenge_loaded:
            return "env"
        if self.token_provider_url:
            return "provider"
        return "none"

    @property
    def access_mode(self) -> str:
        """Who may use the server (docs/security.md): `api_key` (clients need a key), `local`
        (no key: this machine only) or `open_network` (no key, other machines allowed by
        ALLOW_UNAUTHENTICATED_NETWORK)."""
        if self.api_keys:
            return "api_key"
        return "local" if is_loopback_host(self.host) else "open_network"

    @property
    def missing(self) -> list[str]:
        """Settings without which Grok-backed routes cannot work."""
        return [] if self.sso_cookie else ["GROK_SSO_COOKIE"]

    @property
    def configured(self) -> bool:
        return not self.missing

    def redacted(self) -> dict[str, Any]:
        """Every setting by its environment name; secret ones only as set/unset."""
        shown = self.by_env_name()
        return {row.env: ("<set>" if shown[row.env] else None) if row.secret else shown[row.env] for row in TABLE}

    def by_env_name(self) -> dict[str, Any]:
        """Every setting by its environment name, as the environment would spell it."""
        return {row.env: row.display(getattr(self, row.attr)) for row in TABLE}

    def as_source(self) -> dict[str, str]:
        """The settings as environment text that reads back to the same values."""
        return {name: str(value) for name, value in self.by_env_name().items() if value is not None}

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, env_file: str | os.PathLike | None = "auto") -> "Settings":
        """Read and validate settings; raises SettingsError listing every bad value.

        `environ` defaults to os.environ; `env_file="auto"` means ENV_FILE or ./.env,
        None means no file.
        """
        real = dict(os.environ if environ is None else environ)
        path = None
        if env_file == "auto":
            path = real.get(ENV_FILE_VARIABLE) or str(Path.cwd() / ".env")
        elif env_file is not None:
            path = os.fspath(env_file)
        env = SettingsEnv(real)
        if path and os.path.isfile(path):
            env.read_env(path, recurse=False)
        return cls.from_env(env, env_file=path)

    @classmethod
    def from_mapping(cls, source: Mapping[str, str], env_file: str | None = None) -> "Settings":
        """Settings from these variables alone (no .env file)."""
        return cls.from_env(SettingsEnv(source), env_file=env_file)

    @classmethod
    def from_env(cls, env: SettingsEnv, env_file: str | None = None) -> "Settings":
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for row in TABLE:
            if env.given(row.env) is None:
                continue
            try:
                value = row.read(env, row.env)
            except EnvValidationError as exc:
                errors[row.env] = _reason(exc)
                continue
            except ValueError as exc:
                errors[row.env] = str(exc)
                continue
            if value is not None:
                values[row.attr] = value
        notices = _between_settings(values, env, errors)
        if errors:
            raise SettingsError(errors)
        return cls(**values, env_file=env_file, notices=tuple(notices))


def _between_settings(values: dict[str, Any], env: SettingsEnv, errors: dict[str, str]) -> list[str]:
    """The rules that involve more than one value; returns notices, may adjust `values` and add `errors`."""
    notices = []
    # Safe by default (docs/security.md): without a key, this machine only and no foreign web page.
    keyed = bool(values.get("api_keys"))
    host = values.get("host")
    if host is None:
        values["host"] = "0.0.0.0" if keyed else "127.0.0.1"
    elif not keyed and not values.get("allow_unauthenticated_network") and not is_loopback_host(host):
        errors["HOST"] = (
            f"{host} would let other machines use the grok.com account without an API key: set API_KEY "
            "(recommended), or bind 127.0.0.1, or set ALLOW_UNAUTHENTICATED_NETWORK=true to accept that"
        )
    origins = values.get("cors_origins")
    if origins is None:
        values["cors_origins"] = ("*",) if keyed else ()
    elif "*" in origins and not keyed:
        errors["CORS_ORIGINS"] = (
            "* without API_KEY would let every web page you visit use the grok.com account: "
            "set API_KEY, or list the origins you trust"
        )
    pair = {"CHALLENGE_HEADER_HEX": "challenge_header" in values, "CHALLENGE_SUFFIX": "challenge_suffix" in values}
    if len(set(pair.values())) == 2:
        present = next(name for name, given in pair.items() if given)
        absent = next(name for name, given in pair.items() if not given)
        notices.append(
            f"{present} is set but {absent} is not: the in-process statsig generator stays off until both are set"
        )
    mode = values.get("statsig_mode", "auto")
    if mode == "env" and not all(pair.values()):
        notices.append(
            "STATSIG_SOURCE=env but CHALLENGE_HEADER_HEX / CHALLENGE_SUFFIX are not both set: "
            "requests go out unsigned and grok.com rejects POSTs"
        )
    elif mode == "provider" and "token_provider_url" not in values:
        notices.append("STATSIG_SOURCE=provider but TOKEN_PROVIDER_URL is not set: requests go out unsigned")
    for name, attr, normal in (
        ("SESSION_CHECK_INTERVAL_SECS", "session_check_interval", MIN_SESSION_CHECK_INTERVAL),
        ("STATSIG_TTL_SECS", "statsig_ttl", MIN_STATSIG_TTL),
    ):
        value = values.get(attr)
        minimum = _min_interval(env, normal)
        if value is not None and value < minimum:
            notices.append(f"{name}={value} too low, clamped to {minimum}")
            values[attr] = minimum
    return notices


# Derived from the Settings fields, in their (and .env.example's) order.
TABLE: tuple[Setting, ...] = tuple(
    replace(f.metadata[_ROW], attr=f.name, default=f.default) for f in fields(Settings) if _ROW in f.metadata
)
BY_ENV_NAME: dict[str, Setting] = {row.env: row for row in TABLE}
SECRET_SETTINGS = frozenset(row.env for row in TABLE if row.secret)
RESTART_ONLY = tuple(row.env for row in TABLE if not row.live)


def validate_values(values: Mapping[str, str], base: Settings | None = None) -> dict[str, str]:
    """Check KEY=VALUE pairs as startup would; returns {name: error} (empty when all valid)."""
    merged = {} if base is None else base.as_source()
    merged.update(values)
    try:
        Settings.from_mapping(merged)
    except SettingsError as exc:
        return {k: v for k, v in exc.errors.items() if k in values}
    return {}


def _min_interval(env: SettingsEnv, normal: int) -> int:
    value = env.given(TEST_MIN_INTERVAL_ENV) or ""
    return max(1, int(value)) if value.isdigit() else normal


@functools.lru_cache(maxsize=256)  # asked on every request (the access mode, the Host header)
def is_loopback_host(host: str) -> bool:
    """Whether a host name or address only ever means this machine (localhost, 127/8, ::1)."""
    name = host.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def valid_host(name: str) -> bool:
    candidate = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        ipaddress.ip_address(candidate)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(name))
