"""Every app has a run directory of its own: two apps in one process (in-process tests, a
script) share no file, and none exports its directory to the process."""

from __future__ import annotations

import os

from app import create_app
from app.media.services import services
from app.ops import rundir
from app.runtime import EXTENSION
from app.settings import Settings

ASSET = "users/u/generated/g/image.jpg"


def _app():
    return create_app(Settings.from_mapping({"GROK_SSO_COOKIE": "x", "GROK_BASE_URL": "http://127.0.0.1:9"}))


def _media(app):
    with app.app_context():
        return services()


def test_two_apps_in_one_process_do_not_share_files():
    # The second app is made after the first built its media (and so its asset cache): building
    # them once exported a run directory that every later app of the process then joined.
    first = _app()
    first_cache = _media(first).cache
    second = _app()
    second_cache = _media(second).cache
    first_dir, second_dir = first.extensions[EXTENSION].rundir, second.extensions[EXTENSION].rundir
    assert first_dir != second_dir
    assert first_cache.directory.is_relative_to(first_dir) and second_cache.directory.is_relative_to(second_dir)
    writer = first_cache.writer(ASSET)
    writer.write(b"\xff\xd8 a jpeg")
    assert writer.commit()
    assert first_cache.get(ASSET) is not None and second_cache.get(ASSET) is None
    first.extensions[EXTENSION].store.put("test", "k", "first's")
    assert second.extensions[EXTENSION].store.get("test", "k") is None
    assert rundir.ENV_VAR not in os.environ
