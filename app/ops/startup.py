"""What the server says once at startup: what is missing and what to do about it."""

from __future__ import annotations

import logging

from ..settings import Settings


def report(settings: Settings, logger: logging.Logger | None = None) -> None:
    from .accounts import AccountsFileError, read_accounts

    log = logger or logging.getLogger("grok_web_api")
    for notice in settings.notices:
        log.warning(notice)
    try:
        accounts = read_accounts(settings.accounts_path) if settings.accounts_path else []
    except AccountsFileError as exc:
        log.error("%s", exc)
        accounts = []
    if accounts:
        enabled = [a.label for a in accounts if a.enabled]
        log.info(
            "accounts file %s: %d account(s), enabled: %s%s",
            settings.accounts_path,
            len(accounts),
            ", ".join(enabled) or "none",
            " (and 'default' from GROK_SSO_COOKIE)" if settings.sso_cookie else "",
        )
    if settings.missing and not any(a.enabled for a in accounts):
        log.warning(
            "not configured: %s is not set; Grok-backed routes answer 503 not_configured "
            "until it is. See http://%s:%s/setup",
            ", ".join(settings.missing),
            _display_host(settings.host),
            settings.port,
        )
    static = settings.static_statsig_source
    if settings.statsig_mode in ("env", "provider") and static != settings.statsig_mode:
        log.warning(
            "STATSIG_SOURCE=%s but its values are not set: grok.com's anti-bot check will reject POST "
            "requests. Set them, or STATSIG_SOURCE=auto to derive them: http://%s:%s/setup",
            settings.statsig_mode,
            _display_host(settings.host),
            settings.port,
        )
    from ..state.base import display_url  # not redis_store: redis-py stays out of the master

    log.info(
        "grok-web-api on %s:%s  statsig=%s  api_key=%s  access=%s  env_file=%s  shared_state=%s",
        settings.host,
        settings.port,
        statsig_line(settings),
        "set" if settings.api_keys else "unset",
        settings.access_mode,
        settings.env_file or "-",
        display_url(settings.redis_url) if settings.redis_url else "run directory",
    )
    access = access_report(settings)
    (log.warning if access["warning"] else log.info)("access: %s", access["summary"])


def access_report(settings: Settings) -> dict:
    """Who may use the server and why, for the startup log, /status and /setup (no secret)."""
    mode = settings.access_mode
    origins = ", ".join(settings.cors_origins) or "none besides this server's own pages"
    if mode == "api_key":
        summary = (
            f"API key required on every route but /health, /setup and the docs; "
            f"listening on {settings.host}; browser origins allowed: {origins}"
        )
    elif mode == "local":
        summary = (
            f"local only: no API_KEY is set, so the server listens on {settings.host} and serves only "
            "clients on this machine, addressed as localhost or by IP address; web pages of other "
            f"origins are refused (allowed: {origins}). Set API_KEY to serve other machines"
        )
    else:
        summary = (
            f"OPEN TO THE NETWORK WITHOUT AN API KEY (ALLOW_UNAUTHENTICATED_NETWORK=true): anyone who can "
            f"reach {settings.host}:{settings.port} can use the grok.com account. Set API_KEY unless "
            f"every machine on that network is trusted; browser origins allowed: {origins}"
        )
    return {"mode": mode, "summary": summary, "warning": mode == "open_network"}


def statsig_line(settings: Settings) -> str:
    """The statsig part of the startup line: the configured source and, for auto, its fallback.
    Each worker's first derivation logs the build it derived from (or why it fell back)."""
    if settings.statsig_mode == "auto":
        fallback = {"env": "CHALLENGE_* values", "provider": "TOKEN_PROVIDER_URL"}.get(
            settings.static_statsig_source, "none"
        )
        return f"auto (derived from grok.com's page; fallback: {fallback})"
    if settings.statsig_mode == "derived":
        return "derived (from grok.com's page; no fallback)"
    return f"{settings.statsig_mode} (pinned)"


def _display_host(host: str) -> str:
    return "localhost" if host in ("0.0.0.0", "::", "[::]") else host
