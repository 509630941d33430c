"""Logging setup: one handler on the root logger, level and format from settings."""

from __future__ import annotations

import logging
import sys

from .settings import Settings

_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def configure(settings: Settings) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_grok_web_api", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._grok_web_api = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    root.setLevel(settings.log_level)
