"""The .env rewrite rules of update-keys (docs/configuration.md: update-keys; the reference
implementation's tests 33-38) and the pasted-snippet parser."""

from __future__ import annotations

import io

import pytest
from dotenv import dotenv_values

from app.ops import envfile
from app.ops.keys import allowed_keys


def test_replaces_existing_key_preserving_others():  # reference test 33
    text = "# grok settings\nPORT=3000\nGROK_SSO_COOKIE=old\n"
    assert envfile.rewrite(text, {"GROK_SSO_COOKIE": "new"}) == '# grok settings\nPORT=3000\nGROK_SSO_COOKIE="new"\n'


def test_appends_missing_key():  # reference test 34
    out = envfile.rewrite("PORT=3000\nGROK_SSO_COOKIE=a\n", {"CHALLENGE_SUFFIX": "!x"})
    assert out == 'PORT=3000\nGROK_SSO_COOKIE=a\nCHALLENGE_SUFFIX="!x"\n'


def test_trailer_written_unquoted_when_numeric():  # reference test 35
    assert envfile.rewrite("", {"CHALLENGE_TRAILER": "3"}) == "CHALLENGE_TRAILER=3\n"
    assert envfile.render("CHALLENGE_TRAILER", "x3") == 'CHALLENGE_TRAILER="x3"'
    assert envfile.render("PORT", "3000") == 'PORT="3000"'


def test_values_with_quotes_are_escaped():  # reference test 36
    assert envfile.rewrite("", {"CHALLENGE_SUFFIX": 'a"b\\c'}) == 'CHALLENGE_SUFFIX="a\\"b\\\\c"\n'


def test_defines_matches_only_exact_key():  # reference test 37
    assert envfile.defines("  PORT = 1", "PORT")
    assert envfile.defines("PORT=1", "PORT")
    assert not envfile.defines("PORTX=1", "PORT")
    assert not envfile.defines("API_KEYS=1", "API_KEY")
    assert not envfile.defines("# PORT=1", "PORT")
    assert not envfile.defines("export PORT=1", "PORT")


def test_unquote_strips_matching_quotes():  # reference test 38
    assert envfile.unquote('"x"') == "x"
    assert envfile.unquote("'x'") == "x"
    assert envfile.unquote("x") == "x"
    assert envfile.unquote("\"x'") == "\"x'"
    assert envfile.unquote('  "a\\"b"  ') == 'a\\"b'  # no unescaping


def test_every_matching_line_replaced_others_byte_for_byte_appended_in_order():
    text = "A=1\r\n#GROK_SSO_COOKIE=keep\nGROK_SSO_COOKIE=one\n  weird line ===\nGROK_SSO_COOKIE = two\nlast"
    out = envfile.rewrite(text, {"GROK_SSO_COOKIE": "n", "PORT": "1", "HOST": "h"})
    assert out == (
        'A=1\r\n#GROK_SSO_COOKIE=keep\nGROK_SSO_COOKIE="n"\n  weird line ===\nGROK_SSO_COOKIE="n"\n'
        'last\nPORT="1"\nHOST="h"\n'
    )


@pytest.mark.parametrize("value", ['a"b\\c', "a\\nb", "!abc#not-a-comment", "it's", " spaced "[1:-1]])
def test_written_values_read_back_unchanged(tmp_path, value):
    path = tmp_path / ".env"
    envfile.update(path, {"CHALLENGE_SUFFIX": value})
    assert dotenv_values(path)["CHALLENGE_SUFFIX"] == value


@pytest.mark.parametrize("value, fragment", [("a\nb", "CR, LF"), ("a\0b", "NUL"), ("x${HOME}", "${")])
def test_values_that_cannot_round_trip_are_refused(tmp_path, value, fragment):
    with pytest.raises(envfile.EnvFileError) as info:
        envfile.update(tmp_path / ".env", {"CHALLENGE_SUFFIX": value})
    assert fragment in str(info.value)
    assert not (tmp_path / ".env").exists()


def test_parse_assignment():
    assert envfile.parse_assignment(" PORT = '3000' ") == ("PORT", "3000")
    assert envfile.parse_assignment("CHALLENGE_SUFFIX=!a=b") == ("CHALLENGE_SUFFIX", "!a=b")
    with pytest.raises(ValueError, match="argument 'PORT' is not KEY=VALUE"):
        envfile.parse_assignment("PORT")


def test_parse_pasted_console_output():
    pasted = io.StringIO(
        "VM1234:1 CHALLENGE_HEADER_HEX=00ff\n"
        "CHALLENGE_SUFFIX=!obfiowerehiring abc\n"
        "\n"
        "CHALLENGE_TRAILER=3 VM1234:1\n"
        "undefined\n"
        "Promise {<pending>}\n"
    ).read()
    pairs, ignored = envfile.parse_pasted(pasted, allowed_keys())
    assert pairs == {
        "CHALLENGE_HEADER_HEX": "00ff",
        "CHALLENGE_SUFFIX": "!obfiowerehiring abc",
        "CHALLENGE_TRAILER": "3",
    }
    assert ignored == 2


def test_new_file_is_private_and_existing_mode_kept(tmp_path):
    fresh = tmp_path / "new.env"
    envfile.update(fresh, {"PORT": "1"})
    assert fresh.stat().st_mode & 0o777 == 0o600
    shared = tmp_path / "shared.env"
    shared.write_text("PORT=1\n")
    shared.chmod(0o640)
    envfile.update(shared, {"PORT": "2"})
    assert shared.stat().st_mode & 0o777 == 0o640
    assert list(tmp_path.glob("*.tmp")) == []


def test_symlinked_env_file_updates_the_target(tmp_path):
    target = tmp_path / "real.env"
    target.write_text("PORT=1\n")
    link = tmp_path / ".env"
    link.symlink_to(target)
    envfile.update(link, {"PORT": "2"})
    assert link.is_symlink() and target.read_text() == 'PORT="2"\n'


def test_reload_generation_and_acknowledgement(tmp_path):
    env = tmp_path / ".env"
    assert envfile.request_reload(env, "test") == 1
    assert envfile.request_reload(env, "test") == 2
    assert envfile.wait_applied(env, 2, timeout=0.1) is None
    envfile.acknowledge(env, 2, 1234)
    assert envfile.wait_applied(env, 2, timeout=0.1)["pid"] == 1234
    envfile.acknowledge(env, 1, 99)  # an older generation never overwrites a newer one
    assert envfile.wait_applied(env, 2, timeout=0.1)["pid"] == 1234
