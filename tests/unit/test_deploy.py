"""The deploy/ examples agree with the app: nginx lets through every body the app accepts (so
the app, not nginx, answers an oversized request with its own problem), and compose starts
without a ../.env (the container then runs unconfigured and /setup says what is missing)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from app.media.services import media_request_limit
from app.native.files import UPLOAD_LIMIT
from app.native.raw import BODY_LIMIT
from app.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def nginx_body_limit() -> int:
    [(number, unit)] = re.findall(
        r"^\s*client_max_body_size\s+(\d+)([kKmMgG]?)\s*;", (DEPLOY / "nginx.conf").read_text(), re.M
    )
    return int(number) * UNITS[unit.lower()]


def test_nginx_accepts_the_largest_body_the_app_accepts_with_default_settings():
    largest = max(media_request_limit(Settings.from_mapping({})), UPLOAD_LIMIT, BODY_LIMIT)
    assert nginx_body_limit() >= largest


def test_compose_does_not_need_a_dotenv_file():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        entries = service.get("env_file") or []
        entries = [entries] if isinstance(entries, str) else entries
        required = [e for e in entries if isinstance(e, str) or e.get("required", True)]
        assert not required, f"service {name}: env_file {required} must be optional (required: false)"
