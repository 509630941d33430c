"""Settings: read once from the environment (and ./.env) by environs, validated, redactable.

Precedence, lowest to highest: built-in defaults, the `.env` file in the working
directory (or ENV_FILE), the real process environment. An empty value means unset,
so an untouched copy of .env.example starts cleanly.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from dotenv import dotenv_values
from environs import Env, EnvValidationError
from marshmallow import ValidationError, validate

from .grok.statsig import parse_header_hex

# Every setting, in the order .env.example and /setup show them. Secret ones are
# never displayed, logged or echoed back in an error.
SECRET_SETTINGS = frozenset(
    {
        "GROK_SSO_COOKIE",
        "GROK_SSO_RW_COOKIE",
        "GROK_EXTRA_COOKIES",
        "CHALLENGE_HEADER_HEX",
        "CHALLENGE_SUFFIX",
        "API_KEY",
        "ASSET_SIGNING_KEY",
    }
)
# The settings update-keys and the /setup form may write.
REFERENCE_SETTINGS = (
    "GROK_SSO_COOKIE",
    "GROK_SSO_RW_COOKIE",
    "GROK_EXTRA_COOKIES",
    "CHALLENGE_HEADER_HEX",
    "CHALLENGE_SUFFIX",
    "CHALLENGE_TRAILER",
    "TOKEN_PROVIDER_URL",
    "API_KEY",
    "HOST",
    "PORT",
    "SESSION_CHECK_INTERVAL_SECS",
    "LOG_LEVEL",
    "GROK_BASE_URL",
)
MIN_SESSION_CHECK_INTERVAL = 30
# Test-only knob: lowers that minimum (whole seconds >= 1) so tests of the session
# watcher run in seconds. Not a setting; never set it in production.
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
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class SettingsError(Exception):
    """Invalid settings; `errors` maps each setting name to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        lines = "\n".join(f"  {name}: {msg}" for name, msg in self.errors.items())
        super().__init__(f"invalid settings:\n{lines}")


@dataclass(frozen=True)
class Settings:
    sso_cookie: str | None = None
    sso_rw_cookie: str | None = None
    extra_cookies: str | None = None
    challenge_header: bytes | None = field(default=None, repr=False)
    challenge_suffix: str | None = field(default=None, repr=False)
    challenge_trailer: int = 3
    token_provider_url: str | None = None
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    host: str = "0.0.0.0"
    port: int = 3000
    session_check_interval: int = 300
    log_level: str = "INFO"
    log_format: str = "plain"
    grok_base_url: str = "https://grok.com"
    connect_timeout: float = 10.0
    request_timeout: float = 120.0
    stream_idle_timeout: float = 120.0
    heartbeat_interval: float = 15.0
    reasoning_output: str = "reasoning_content"
    cors_origins: tuple[str, ...] = ("*",)
    metrics_public: bool = False
    public_base_url: str | None = None
    proxy_url: str | None = None
    chat_lane: str = "auto"
    # media: asset proxy, signed links, remote-image fetching, input limits
    grok_assets_url: str = "https://assets.grok.com"
    asset_signing_key: str | None = field(default=None, repr=False)
    asset_url_ttl: int = 7 * 24 * 3600
    asset_cache_dir: str | None = None
    asset_cache_max_mb: float = 512.0
    fetch_allow_private: bool = False
    fetch_private_allowlist: tuple[str, ...] = ()
    max_image_bytes: int = 20 * MIB
    max_request_media_bytes: int = 64 * MIB
    env_file: str | None = None
    # Not errors, but worth a startup warning (e.g. a clamped interval).
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
    def challenge_loaded(self) -> bool:
        return self.challenge_header is not None and self.challenge_suffix is not None

    @property
    def statsig_source(self) -> str:
        if self.challenge_loaded:
            return "env"
        if self.token_provider_url:
            return "provider"
        return "none"

    @property
    def missing(self) -> list[str]:
        """Settings without which Grok-backed routes cannot work."""
        return [] if self.sso_cookie else ["GROK_SSO_COOKIE"]

    @property
    def configured(self) -> bool:
        return not self.missing

    def redacted(self) -> dict[str, Any]:
        """Every setting by its environment name; secret ones only as set/unset."""
        out: dict[str, Any] = {}
        for name, value in self.by_env_name().items():
            if name in SECRET_SETTINGS:
                out[name] = "<set>" if value else None
            else:
                out[name] = value
        return out

    def by_env_name(self) -> dict[str, Any]:
        return {
            "GROK_SSO_COOKIE": self.sso_cookie,
            "GROK_SSO_RW_COOKIE": self.sso_rw_cookie,
            "GROK_EXTRA_COOKIES": self.extra_cookies,
            "CHALLENGE_HEADER_HEX": self.challenge_header.hex() if self.challenge_header else None,
            "CHALLENGE_SUFFIX": self.challenge_suffix,
            "CHALLENGE_TRAILER": self.challenge_trailer,
            "TOKEN_PROVIDER_URL": self.token_provider_url,
            "API_KEY": ",".join(self.api_keys) or None,
            "HOST": self.host,
            "PORT": self.port,
            "SESSION_CHECK_INTERVAL_SECS": self.session_check_interval,
            "LOG_LEVEL": self.log_level,
            "LOG_FORMAT": self.log_format,
            "GROK_BASE_URL": self.grok_base_url,
            "CONNECT_TIMEOUT_SECS": self.connect_timeout,
            "REQUEST_TIMEOUT_SECS": self.request_timeout,
            "STREAM_IDLE_TIMEOUT_SECS": self.stream_idle_timeout,
            "HEARTBEAT_SECS": self.heartbeat_interval,
            "REASONING_OUTPUT": self.reasoning_output,
            "CORS_ORIGINS": ",".join(self.cors_origins),
            "METRICS_PUBLIC": self.metrics_public,
            "PUBLIC_BASE_URL": self.public_base_url,
            "GROK_PROXY_URL": self.proxy_url,
            "GROK_CHAT_LANE": self.chat_lane,
            "GROK_ASSETS_URL": self.grok_assets_url,
            "ASSET_SIGNING_KEY": self.asset_signing_key,
            "ASSET_URL_TTL_SECS": self.asset_url_ttl,
            "ASSET_CACHE_DIR": self.asset_cache_dir,
            "ASSET_CACHE_MAX_MB": self.asset_cache_max_mb,
            "FETCH_ALLOW_PRIVATE": self.fetch_allow_private,
            "FETCH_PRIVATE_ALLOWLIST": ",".join(self.fetch_private_allowlist) or None,
            "MAX_IMAGE_BYTES": self.max_image_bytes,
            "MAX_REQUEST_MEDIA_BYTES": self.max_request_media_bytes,
        }

    def with_values(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, env_file: str | os.PathLike | None = "auto") -> "Settings":
        """Read and validate settings; raises SettingsError listing every bad value.

        `environ` defaults to os.environ; `env_file="auto"` means ENV_FILE or ./.env,
        None means no file.
        """
        real = dict(os.environ if environ is None else environ)
        path = None
        if env_file == "auto":
            path = real.get("ENV_FILE") or str(Path.cwd() / ".env")
        elif env_file is not None:
            path = os.fspath(env_file)
        file_values: dict[str, str] = {}
        if path and os.path.isfile(path):
            file_values = {k: v for k, v in dotenv_values(path).items() if v is not None}
        return cls.from_mapping({**file_values, **real}, env_file=path)

    @classmethod
    def from_mapping(cls, source: Mapping[str, str], env_file: str | None = None) -> "Settings":
        env = _MappingEnv(source)
        errors: dict[str, str] = {}
        notices: list[str] = []

        def read(name, method, *args, **kwargs):
            try:
                return getattr(env, method)(name, *args, **kwargs)
            except (EnvValidationError, ValidationError, ValueError) as exc:
                errors[name] = _message(exc)
                return kwargs.get("default")

        sso = _cookie(read("GROK_SSO_COOKIE", "str", default=None), "GROK_SSO_COOKIE", errors)
        sso_rw = _cookie(read("GROK_SSO_RW_COOKIE", "str", default=None), "GROK_SSO_RW_COOKIE", errors)
        extra = _cookie(
            read("GROK_EXTRA_COOKIES", "str", default=None), "GROK_EXTRA_COOKIES", errors, allow_separators=True
        )

        header = None
        header_hex = read("CHALLENGE_HEADER_HEX", "str", default=None)
        if header_hex is not None:
            try:
                header = parse_header_hex(header_hex)
            except ValueError as exc:
                errors["CHALLENGE_HEADER_HEX"] = str(exc)
        suffix = read("CHALLENGE_SUFFIX", "str", default=None)
        trailer = read(
            "CHALLENGE_TRAILER",
            "int",
            default=3,
            validate=validate.Range(0, 255, error="must be an integer from 0 to 255"),
        )
        if header is not None and suffix is None:
            notices.append(
                "CHALLENGE_HEADER_HEX is set but CHALLENGE_SUFFIX is not: the in-process "
                "statsig generator stays off until both are set"
            )
        elif suffix is not None and header_hex is None:
            notices.append(
                "CHALLENGE_SUFFIX is set but CHALLENGE_HEADER_HEX is not: the in-process "
                "statsig generator stays off until both are set"
            )

        provider = _url(read("TOKEN_PROVIDER_URL", "str", default=None), "TOKEN_PROVIDER_URL", errors)
        keys = read("API_KEY", "str", default=None)
        api_keys = tuple(k.strip() for k in (keys or "").split(",") if k.strip())
        if keys is not None and any(ch in keys for ch in "\r\n\0"):
            errors["API_KEY"] = "must not contain CR, LF or NUL characters"

        host = read("HOST", "str", default="0.0.0.0")
        if host is not None and not _valid_host(host):
            errors["HOST"] = "must be an IP address or a hostname"
        port = read(
            "PORT",
            "int",
            default=3000,
            validate=validate.Range(1, 65535, error="must be a port number from 1 to 65535"),
        )
        interval = read(
            "SESSION_CHECK_INTERVAL_SECS",
            "int",
            default=300,
            validate=validate.Range(min=0, error="must be a non-negative integer"),
        )
        minimum = _min_interval(source)
        if interval is not None and interval < minimum:
            notices.append(f"SESSION_CHECK_INTERVAL_SECS={interval} too low, clamped to {minimum}")
            interval = minimum
        level_name = (read("LOG_LEVEL", "str", default="info") or "info").strip().lower()
        level = LOG_LEVELS.get(level_name)
        if level is None:
            errors["LOG_LEVEL"] = f"must be one of {', '.join(LOG_LEVELS)}"
        log_format = (read("LOG_FORMAT", "str", default="plain") or "plain").lower()
        if log_format not in ("plain", "json"):
            errors["LOG_FORMAT"] = "must be plain or json"
        base_url = (
            _url(read("GROK_BASE_URL", "str", default="https://grok.com"), "GROK_BASE_URL", errors, base=True)
            or "https://grok.com"
        )

        def seconds(name, default, minimum=0.1):
            return read(
                name,
                "float",
                default=default,
                validate=validate.Range(min=minimum, error=f"must be a number of seconds >= {minimum}"),
            )

        reasoning = (read("REASONING_OUTPUT", "str", default="reasoning_content") or "").lower()
        if reasoning not in REASONING_OUTPUTS:
            errors["REASONING_OUTPUT"] = f"must be one of {', '.join(REASONING_OUTPUTS)}"
        cors = read("CORS_ORIGINS", "str", default="*") or "*"
        public_base = _url(read("PUBLIC_BASE_URL", "str", default=None), "PUBLIC_BASE_URL", errors, base=True)
        proxy = read("GROK_PROXY_URL", "str", default=None)
        if proxy is not None and not re.match(r"^(https?|socks5h?|socks4a?)://[^\s]+$", proxy):
            errors["GROK_PROXY_URL"] = "must be a proxy URL such as http://host:port or socks5h://host:port"

        chat_lane = (read("GROK_CHAT_LANE", "str", default="auto") or "auto").lower()
        if chat_lane not in CHAT_LANES:
            errors["GROK_CHAT_LANE"] = f"must be one of {', '.join(CHAT_LANES)}"

        media = _media_settings(read, errors)

        settings = cls(
            sso_cookie=sso,
            sso_rw_cookie=sso_rw,
            extra_cookies=extra,
            challenge_header=header,
            challenge_suffix=suffix,
            challenge_trailer=trailer if trailer is not None else 3,
            token_provider_url=provider,
            api_keys=api_keys,
            host=host or "0.0.0.0",
            port=port or 3000,
            session_check_interval=interval or 300,
            log_level=level or "INFO",
            log_format=log_format,
            grok_base_url=base_url,
            connect_timeout=seconds("CONNECT_TIMEOUT_SECS", 10.0) or 10.0,
            request_timeout=seconds("REQUEST_TIMEOUT_SECS", 120.0) or 120.0,
            stream_idle_timeout=seconds("STREAM_IDLE_TIMEOUT_SECS", 120.0) or 120.0,
            heartbeat_interval=seconds("HEARTBEAT_SECS", 15.0) or 15.0,
            reasoning_output=reasoning if reasoning in REASONING_OUTPUTS else "reasoning_content",
            cors_origins=tuple(o.strip() for o in cors.split(",") if o.strip()) or ("*",),
            metrics_public=bool(read("METRICS_PUBLIC", "bool", default=False)),
            public_base_url=public_base,
            proxy_url=proxy,
            chat_lane=chat_lane if chat_lane in CHAT_LANES else "auto",
            env_file=env_file,
            notices=tuple(notices),
            **media,
        )
        if errors:
            raise SettingsError(errors)
        return settings


def _media_settings(read, errors: dict) -> dict[str, Any]:
    """The media settings (asset proxy, signed links, fetching of remote images, input limits)."""
    assets_url = (
        _url(read("GROK_ASSETS_URL", "str", default="https://assets.grok.com"), "GROK_ASSETS_URL", errors, base=True)
        or "https://assets.grok.com"
    )
    key = read("ASSET_SIGNING_KEY", "str", default=None)
    if key is not None and len(key) < MIN_SIGNING_KEY_CHARS:
        errors["ASSET_SIGNING_KEY"] = f"must be at least {MIN_SIGNING_KEY_CHARS} characters (use a long random string)"
        key = None
    ttl = read(
        "ASSET_URL_TTL_SECS",
        "int",
        default=7 * 24 * 3600,
        validate=validate.Range(min=60, error="must be a number of seconds >= 60"),
    )
    cache_max = read(
        "ASSET_CACHE_MAX_MB",
        "float",
        default=512.0,
        validate=validate.Range(min=0, error="must be a number of MiB >= 0 (0 disables the cache)"),
    )
    allowlist = []
    for entry in (read("FETCH_PRIVATE_ALLOWLIST", "str", default=None) or "").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not _valid_host(host):
            errors["FETCH_PRIVATE_ALLOWLIST"] = "must be comma-separated host:port entries, e.g. images.lan:8080"
            break
        allowlist.append(entry)

    def size(name, default):
        return (
            read(name, "int", default=default, validate=validate.Range(min=1, error="must be a number of bytes >= 1"))
            or default
        )

    return {
        "grok_assets_url": assets_url,
        "asset_signing_key": key,
        "asset_url_ttl": ttl or 7 * 24 * 3600,
        "asset_cache_dir": read("ASSET_CACHE_DIR", "str", default=None),
        "asset_cache_max_mb": cache_max if cache_max is not None else 512.0,
        "fetch_allow_private": bool(read("FETCH_ALLOW_PRIVATE", "bool", default=False)),
        "fetch_private_allowlist": tuple(allowlist),
        "max_image_bytes": size("MAX_IMAGE_BYTES", 20 * MIB),
        "max_request_media_bytes": size("MAX_REQUEST_MEDIA_BYTES", 64 * MIB),
    }


def validate_values(values: Mapping[str, str], base: Settings | None = None) -> dict[str, str]:
    """Check KEY=VALUE pairs as startup would; returns {name: error} (empty when all valid)."""
    merged = (
        {}
        if base is None
        else {k: str(v) for k, v in base.by_env_name().items() if v is not None and k != "CHALLENGE_HEADER_HEX"}
    )
    if base is not None and base.challenge_header is not None:
        merged["CHALLENGE_HEADER_HEX"] = base.challenge_header.hex()
    merged.update(values)
    try:
        Settings.from_mapping(merged)
    except SettingsError as exc:
        return {k: v for k, v in exc.errors.items() if k in values}
    return {}


def _min_interval(source: Mapping[str, str]) -> int:
    value = (source.get(TEST_MIN_INTERVAL_ENV) or "").strip()
    return max(1, int(value)) if value.isdigit() else MIN_SESSION_CHECK_INTERVAL


class _MappingEnv(Env):
    """environs reading from a given mapping, where an empty value means unset."""

    def __init__(self, source: Mapping[str, str]):
        super().__init__(eager=True)
        self._source = source

    def _get_value(self, env_key, default):
        value = self._source.get(env_key)
        if value is None or value.strip() == "":
            return default
        return value.strip()


def _message(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, EnvValidationError) and getattr(exc, "error_messages", None):
        msgs = exc.error_messages
        if isinstance(msgs, dict):
            msgs = [m for v in msgs.values() for m in (v if isinstance(v, list) else [v])]
        text = "; ".join(str(m) for m in msgs)
    text = re.sub(r"^Environment variable \S+ invalid: ", "", text)
    if "Not a valid integer" in text:
        return "must be an integer"
    if "Not a valid number" in text:
        return "must be a number"
    if "Not a valid boolean" in text:
        return "must be true or false"
    return text


def _cookie(value: str | None, name: str, errors: dict, allow_separators: bool = False) -> str | None:
    if value is None:
        return None
    if any(ch in value for ch in "\r\n\0"):
        errors[name] = "must not contain CR, LF or NUL characters"
        return None
    if not allow_separators and (";" in value or any(ch.isspace() for ch in value)):
        errors[name] = "must be the bare cookie value (no ';' or spaces); copy only the Value column"
        return None
    return value


def _url(value: str | None, name: str, errors: dict, base: bool = False) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        errors[name] = "must be an http:// or https:// URL"
        return None
    if base and (parts.query or parts.fragment):
        errors[name] = "must not have a query string or fragment"
        return None
    try:
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        errors[name] = "has an invalid port"
        return None
    return value.rstrip("/") if base else value


def _valid_host(host: str) -> bool:
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host))
