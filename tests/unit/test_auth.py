import pytest

from app.settings import Settings
from app.web.auth import key_is_valid, path_needs_key
from app.web.cors import allowed_origin


@pytest.mark.parametrize(
    "presented, ok",
    [
        ("k1", True),
        ("k2", True),
        ("k3", False),
        ("k1,k2", False),
        ("", False),
        (None, False),
        ("K1", False),
    ],
)
def test_any_configured_key_is_valid(presented, ok):
    assert key_is_valid(presented, ("k1", "k2")) is ok


@pytest.mark.parametrize(
    "path, public",
    [
        ("/health", True),
        ("/health/session", True),
        ("/setup", True),
        ("/docs", True),
        ("/docs/x.css", True),
        ("/openapi.json", True),
        ("/status", False),
        ("/metrics", False),
        ("/v1/models", False),
        ("/raw/rest/app-chat/conversations", False),
        ("/health/", False),
        ("/nope", False),
    ],
)
def test_public_paths(path, public):
    assert path_needs_key(path, Settings()) is not public


def test_metrics_public_setting_opens_only_metrics():
    s = Settings.from_mapping({"METRICS_PUBLIC": "true"})
    assert not path_needs_key("/metrics", s) and path_needs_key("/status", s)


@pytest.mark.parametrize(
    "origin, origins, expected",
    [
        ("https://a.example", ("*",), "*"),
        (None, ("*",), "*"),
        ("https://a.example", ("https://a.example", "https://b.example"), "https://a.example"),
        ("https://evil.example", ("https://a.example",), None),
        (None, ("https://a.example",), None),
    ],
)
def test_allowed_origin(origin, origins, expected):
    assert allowed_origin(origin, origins) == expected
