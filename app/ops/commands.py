"""How this installation's command line is spelled, for the commands the server prints.

`make run` installs the package in a virtualenv without putting it on PATH, so a bare
`grok-web-api update-keys ...` printed by /setup or copied by the bookmarklet would fail
("command not found"); a Docker image or a `pip install` elsewhere may have it on PATH. The
prefix is the shortest spelling that works in a shell started in the server's directory:
`grok-web-api` when that name on PATH is this installation's script, else the script's
path (relative to the working directory when inside it, e.g. `.venv/bin/grok-web-api`),
else `python -m app` with this interpreter.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

SCRIPT = "grok-web-api"


@functools.lru_cache(maxsize=1)
def cli_prefix() -> str:
    here = Path.cwd()
    script = Path(sys.executable).parent / SCRIPT
    on_path = shutil.which(SCRIPT)
    if on_path and script.exists() and os.path.samefile(on_path, script):
        return SCRIPT
    if script.exists():
        return _shown(script, here)
    return f"{_shown(Path(sys.executable), here)} -m app"


def _shown(path: Path, here: Path) -> str:
    try:
        return str(path.relative_to(here))
    except ValueError:
        return str(path)
