"""Path plausibility rules shared by every native route (app/native/params.py)."""

from __future__ import annotations

import pytest

from app.native.params import id_problem, raw_path_problem


@pytest.mark.parametrize(
    "raw",
    [
        "/v1/conversations/a%2Fb",
        "/v1/conversations/a%2fb?x=1",
        "/v1/x/a%5Cb",
        "/v1/x/a%5cb",
        "/v1/x/%2e%2e/y",
        "/v1/x/%2E%2e",
        "/v1/x/./y",
        "/v1/x/..",
        "/v1/x/%2e/y",
    ],
)
def test_raw_paths_with_encoded_separators_or_dot_segments_are_refused(raw):
    assert raw_path_problem(raw) is not None


@pytest.mark.parametrize(
    "raw",
    [
        "/v1/conversations/8f1c2b1e-5a0b",
        "/v1/x/a..b",
        "/v1/x/.hidden",
        "/v1/x/a.b.c",
        "/v1/x?next=%2F..%2F",
        "/v1/x/a%20b",
    ],
)
def test_ordinary_raw_paths_pass(raw):
    assert raw_path_problem(raw) is None


@pytest.mark.parametrize("value", ["", "a/b", "a\\b", "..", "a..b", "a?b", "a#b", "a%b", "a b", "a\x00b", "x" * 257])
def test_implausible_ids(value):
    assert id_problem(value) is not None


@pytest.mark.parametrize("value", ["8f1c2b1e-5a0b-4a55-9a77-2f3f0f7d9c10", "mem-demo-1", "a.b", "x" * 256, "ab:c@d+e"])
def test_plausible_ids(value):
    assert id_problem(value) is None
