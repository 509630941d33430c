"""The environment a subprocess under test starts with: nothing from the developer's settings."""

from __future__ import annotations

import os

from app.settings import BY_ENV_NAME, ENV_FILE_VARIABLE


def hermetic_environ(**extra: str) -> dict[str, str]:
    """os.environ without any setting (or the settings file's location), plus `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in BY_ENV_NAME and name != ENV_FILE_VARIABLE and not name.startswith(("GROK_", "CHALLENGE_"))
    }
    env.update(extra)
    return env
