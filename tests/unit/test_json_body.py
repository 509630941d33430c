"""Large JSON bodies parsed in paced steps give exactly json.loads' values and errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine import pacing
from app.engine.pacing import Pacer
from app.web import json_body
from tests.support.hub import turns_given_away


@pytest.fixture
def tiny_thresholds(monkeypatch):
    """Every body counts as large and runs of 8 bytes are lifted, so small examples take the steps."""
    monkeypatch.setattr(json_body, "LARGE_BODY", 0)
    monkeypatch.setattr(json_body, "PROBE_BYTES", 4)
    monkeypatch.setattr(json_body, "LIFT_BYTES", 8)
    monkeypatch.setattr(json_body, "CHUNK_BYTES", 5)


_TEXT = st.text(alphabet=st.sampled_from(list('ab /é"\\\x00\x1f\n') + ["😀", "\u2028"]), max_size=40)
_LONG = st.builds(lambda unit, n: unit * n, st.sampled_from(["xy", "é", "a/b", "😀z", "12"]), st.integers(4, 30))
_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT | _LONG,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT | _LONG, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_VALUE, ascii_only=st.booleans(), indent=st.sampled_from([None, 0, 9]))
def test_values_are_json_loads_values(tiny_thresholds, value, ascii_only, indent):
    data = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode()
    assert json_body.loads(data) == json.loads(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_VALUE, cut=st.integers(0, 200), junk=st.sampled_from(['"', "\\", "}", "x" * 20, "\x01", "\\u12", ",,"]))
def test_broken_bodies_raise_json_loads_errors(tiny_thresholds, value, cut, junk):
    text = json.dumps(value, ensure_ascii=False)
    data = (text[:cut] + junk + text[cut:]).encode()
    try:
        expected = json.loads(data.decode())
    except ValueError as exc:
        with pytest.raises(type(exc)) as raised:
            json_body.loads(data)
        assert str(raised.value) == str(exc)
    else:
        assert json_body.loads(data) == expected


@pytest.mark.parametrize(
    "text, lifted",
    [
        ('{"a": "' + "x" * 40 + '"}', True),  # one string, wholly lifted
        ('["pre\\n' + "x" * 40 + '\\tpost", 1]', True),  # a run between escapes, inside a longer string
        ('"\\u00e9' + "é" * 40 + '"', True),  # a run right after a \\uXXXX escape, multi-byte text
        ("[" + "1," * 40 + "2]", False),  # a long run outside any string: parsed whole
        ('{"' + "k" * 40 + '": 1}', False),  # a long key
        ("    " * 20 + "[]", False),  # whitespace
    ],
)
def test_shapes_around_long_runs(tiny_thresholds, text, lifted):
    assert json_body.loads(text.encode()) == json.loads(text)
    if lifted:
        assert json_body._parse_lifted(text.encode(), Pacer()) == json.loads(text)
    else:
        with pytest.raises(json_body._Unfit):
            json_body._parse_lifted(text.encode(), Pacer())


def test_a_control_character_inside_a_long_run_is_refused_as_json_loads_does(tiny_thresholds):
    data = ('{"a": "' + "x" * 40 + "\x01" + "x" * 40 + '"}').encode()
    with pytest.raises(json.JSONDecodeError, match="Invalid control character"):
        json_body.loads(data)


def test_a_body_that_is_not_utf8_is_a_json_error_that_does_not_quote_the_body(tiny_thresholds):
    data = b'{"secret": "' + b"s" * 40 + b'\xff"}'
    with pytest.raises(json.JSONDecodeError) as raised:
        json_body.loads(data)
    assert "not UTF-8" in str(raised.value) and b"secret" not in str(raised.value).encode()


def test_an_integer_python_refuses_is_a_value_error_not_a_syntax_error(tiny_thresholds):
    data = ('{"a": "' + "x" * 40 + '", "n": ' + "9" * 5000 + "}").encode()
    with pytest.raises(ValueError, match="digits") as raised:
        json_body.loads(data)
    assert not isinstance(raised.value, json.JSONDecodeError)


def test_client_text_that_looks_like_a_marker_is_left_alone(tiny_thresholds):
    value = {"a": "x" * 40, "b": "\x00deadbeefdeadbeef:0\x00", "c": ["\\u0000", "y" * 40]}
    assert json_body.loads(json.dumps(value).encode()) == value


def test_a_large_body_gives_the_hub_turns_while_it_is_parsed(monkeypatch):
    monkeypatch.setattr(pacing, "TURN_SECS", 0)
    image = "data:image/png;base64," + "QUJD" * (1024 * 1024)
    data = json.dumps({"messages": [{"content": [{"image_url": {"url": image}}, {"text": "hi"}]}]}).encode()
    assert len(data) > json_body.LARGE_BODY
    turns = turns_given_away(lambda: json_body.loads(data))
    assert turns >= len(data) // json_body.CHUNK_BYTES


def test_a_large_body_of_small_values_is_refused_before_it_is_parsed(monkeypatch):
    monkeypatch.setattr(json_body, "MAX_SEPARATORS", 1000)
    numbers = json.dumps({"messages": [], "numbers": [0] * 600_000}).encode()  # 1.8 MB of "0, "
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(json_body.json, "loads", lambda text: parsed.append(len(text)) or real_loads(text))
    with pytest.raises(json_body.TooComplex, match="more than 1,000 commas"):
        json_body.loads(numbers, plain_limit=1024 * 1024)
    assert all(size < 1000 for size in parsed)  # at most the short rest around a lifted run


def test_separators_inside_long_strings_do_not_count(monkeypatch):
    monkeypatch.setattr(json_body, "MAX_SEPARATORS", 1000)
    prose = "a, b: c, " * 200_000  # 1.8 MB, 400,000 separators, one string
    data = json.dumps({"messages": [{"content": prose}]}).encode()
    assert json_body.loads(data, plain_limit=1024 * 1024) == {"messages": [{"content": prose}]}
    # ... nor in a body no larger than any plain JSON body may be
    numbers = json.dumps([0] * 400_000).encode()
    assert json_body.loads(numbers, plain_limit=len(numbers)) == [0] * 400_000


def test_a_body_of_an_unfit_shape_is_counted_whole(monkeypatch):
    monkeypatch.setattr(json_body, "MAX_SEPARATORS", 1000)
    data = json.dumps({"k" * 70_000: [0] * 600_000}).encode()  # a long key: not lifted, parsed whole
    with pytest.raises(json_body.TooComplex):
        json_body.loads(data, plain_limit=1024 * 1024)
