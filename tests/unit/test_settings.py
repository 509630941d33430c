import os
from pathlib import Path

import pytest

from app.settings import Settings, SettingsError, validate_values

HEX = bytes(range(49)).hex()


def load(**env):
    return Settings.from_mapping(env)


def test_defaults_match_reference():
    s = load(API_KEY="a-key-for-the-defaults")
    assert (s.host, s.port, s.session_check_interval, s.log_level, s.grok_base_url, s.challenge_trailer) == (
        "0.0.0.0",
        3000,
        300,
        "INFO",
        "https://grok.com",
        3,
    )
    assert s.missing == ["GROK_SSO_COOKIE"] and not s.configured
    assert (s.statsig_mode, s.static_statsig_source, s.statsig_ttl) == ("auto", "none", 3600)
    assert s.grok_cdn_url == "https://cdn.grok.com"


def test_empty_values_mean_unset():
    env = {
        name: ""
        for name in (
            "GROK_SSO_COOKIE",
            "CHALLENGE_HEADER_HEX",
            "CHALLENGE_SUFFIX",
            "CHALLENGE_TRAILER",
            "TOKEN_PROVIDER_URL",
            "PORT",
            "HOST",
            "API_KEY",
        )
    }
    s = Settings.from_mapping(env)
    assert s.sso_cookie is None and s.challenge_header is None and s.token_provider_url is None
    assert s.port == 3000 and s.api_keys == ()


def test_cookie_header_rw_defaults_to_sso_and_extra_appended():
    assert load(GROK_SSO_COOKIE="abc").cookie_header == "sso=abc; sso-rw=abc"
    assert (
        load(GROK_SSO_COOKIE="a", GROK_SSO_RW_COOKIE="b", GROK_EXTRA_COOKIES="k=v; k2=v2").cookie_header
        == "sso=a; sso-rw=b; k=v; k2=v2"
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("GROK_SSO_COOKIE", "a\rb"),
        ("GROK_SSO_RW_COOKIE", "a\nb"),
        ("GROK_EXTRA_COOKIES", "a\0b"),
        ("GROK_SSO_COOKIE", "a;b"),
        ("GROK_SSO_COOKIE", "a b"),
    ],
)
def test_cookie_control_characters_rejected(name, value):
    with pytest.raises(SettingsError) as info:
        load(**{"GROK_SSO_COOKIE": "ok", name: value})
    assert name in info.value.errors
    assert value not in str(info.value), "the bad value must not be echoed"


@pytest.mark.parametrize(
    "value, fragment", [("00", "49 bytes"), ("0" * 97, "odd"), ("zz" * 49, "hex"), ("é" * 98, "hex")]
)
def test_header_hex_errors(value, fragment):
    with pytest.raises(SettingsError) as info:
        load(CHALLENGE_HEADER_HEX=value, CHALLENGE_SUFFIX="!x")
    assert fragment in info.value.errors["CHALLENGE_HEADER_HEX"]


@pytest.mark.parametrize("value", ["256", "-1", "three"])
def test_trailer_outside_byte_range(value):
    with pytest.raises(SettingsError) as info:
        load(CHALLENGE_TRAILER=value)
    assert "CHALLENGE_TRAILER" in info.value.errors


@pytest.mark.parametrize(
    "name, value",
    [
        ("GROK_BASE_URL", "grok.com"),
        ("GROK_BASE_URL", "ftp://grok.com"),
        ("GROK_BASE_URL", "https://x/?q=1"),
        ("TOKEN_PROVIDER_URL", "not a url"),
        ("PUBLIC_BASE_URL", "http://"),
        ("GROK_BASE_URL", "http://h:99999"),
    ],
)
def test_malformed_urls(name, value):
    with pytest.raises(SettingsError) as info:
        load(**{name: value})
    assert name in info.value.errors


def test_every_error_reported_at_once():
    with pytest.raises(SettingsError) as info:
        load(PORT="x", CHALLENGE_TRAILER="300", HOST="bad host!", LOG_LEVEL="loud")
    assert set(info.value.errors) == {"PORT", "CHALLENGE_TRAILER", "HOST", "LOG_LEVEL"}


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", "[::1]", "my-host.example.com", "0.0.0.0"])
def test_host_accepts_hostnames_and_ips(host):
    assert load(HOST=host, API_KEY="some-client-key").host == host


# Safe by default: without an API key the server is this machine's alone (docs/security.md).
def test_without_a_key_the_server_binds_loopback_and_allows_no_foreign_origin():
    s = load()
    assert (s.host, s.cors_origins, s.access_mode) == ("127.0.0.1", (), "local")


def test_with_a_key_it_binds_every_interface_and_any_origin_as_before():
    s = load(API_KEY="k-0123456789")
    assert (s.host, s.cors_origins, s.access_mode) == ("0.0.0.0", ("*",), "api_key")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "my-host.example.com"])
def test_a_keyless_network_bind_needs_the_explicit_opt_in(host):
    with pytest.raises(SettingsError) as info:
        load(HOST=host)
    assert "API_KEY" in info.value.errors["HOST"] and "ALLOW_UNAUTHENTICATED_NETWORK" in info.value.errors["HOST"]
    opened = load(HOST=host, ALLOW_UNAUTHENTICATED_NETWORK="true")
    assert (opened.host, opened.access_mode) == (host, "open_network")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"])
def test_a_keyless_loopback_bind_needs_nothing(host):
    assert load(HOST=host).access_mode == "local"


@pytest.mark.parametrize("value", [",", " , ,", "  ,  "])
def test_an_api_key_value_without_a_key_is_refused(value):
    with pytest.raises(SettingsError) as info:
        load(API_KEY=value)
    assert "no key" in info.value.errors["API_KEY"]


def test_cors_star_without_a_key_is_refused_but_listed_origins_are_fine():
    with pytest.raises(SettingsError) as info:
        load(CORS_ORIGINS="*")
    assert "API_KEY" in info.value.errors["CORS_ORIGINS"]
    assert load(CORS_ORIGINS="https://chat.example/, http://localhost:5173").cors_origins == (
        "https://chat.example",
        "http://localhost:5173",
    )


@pytest.mark.parametrize("value", ["chat.example", "https://chat.example/path", "null", "ftp://x.example"])
def test_cors_origins_must_be_origins(value):
    with pytest.raises(SettingsError) as info:
        load(CORS_ORIGINS=value, API_KEY="k-0123456789")
    assert "CORS_ORIGINS" in info.value.errors


def test_trusted_proxies_are_addresses_or_networks():
    assert load(TRUSTED_PROXIES="10.0.0.5, 172.16.0.0/12,::1").trusted_proxies == (
        "10.0.0.5/32",
        "172.16.0.0/12",
        "::1/128",
    )
    with pytest.raises(SettingsError) as info:
        load(TRUSTED_PROXIES="proxy.lan")
    assert "TRUSTED_PROXIES" in info.value.errors


def test_interval_clamped_with_notice():
    s = load(SESSION_CHECK_INTERVAL_SECS="5")
    assert s.session_check_interval == 30
    assert any("clamped to 30" in n for n in s.notices)


def test_base_url_trailing_slash_trimmed():
    assert load(GROK_BASE_URL="http://127.0.0.1:9/").grok_base_url == "http://127.0.0.1:9"


def test_statsig_precedence_env_over_provider():
    both = load(CHALLENGE_HEADER_HEX=HEX, CHALLENGE_SUFFIX="!s", TOKEN_PROVIDER_URL="http://p/x")
    assert both.static_statsig_source == "env"
    assert load(TOKEN_PROVIDER_URL="http://p/x").static_statsig_source == "provider"
    half = load(CHALLENGE_HEADER_HEX=HEX)
    assert half.static_statsig_source == "none" and any("CHALLENGE_SUFFIX" in n for n in half.notices)


@pytest.mark.parametrize("mode", ["auto", "derived", "env", "provider", "AUTO"])
def test_statsig_source_values(mode):
    assert load(STATSIG_SOURCE=mode).statsig_mode == mode.lower()


def test_statsig_source_and_cdn_are_validated_and_a_short_ttl_is_clamped():
    with pytest.raises(SettingsError) as err:
        load(STATSIG_SOURCE="browser", STATSIG_TTL_SECS="x", GROK_CDN_URL="cdn.grok.com")
    assert set(err.value.errors) == {"STATSIG_SOURCE", "STATSIG_TTL_SECS", "GROK_CDN_URL"}
    assert "auto, derived, env, provider" in err.value.errors["STATSIG_SOURCE"]
    short = load(STATSIG_TTL_SECS="5")
    assert short.statsig_ttl == 60 and "STATSIG_TTL_SECS=5 too low, clamped to 60" in short.notices
    assert load(STATSIG_TTL_SECS="5", GROK_WEB_API_TEST_MIN_INTERVAL="1").statsig_ttl == 5


def test_pinned_statsig_source_without_its_values_is_a_notice():
    assert any("STATSIG_SOURCE=env" in n for n in load(STATSIG_SOURCE="env").notices)
    assert any("STATSIG_SOURCE=provider" in n for n in load(STATSIG_SOURCE="provider").notices)
    assert not load().notices


def test_api_keys_comma_separated():
    assert load(API_KEY=" k1, k2 ,,").api_keys == ("k1", "k2")


def test_redacted_view_never_shows_secrets():
    s = load(
        GROK_SSO_COOKIE="secret-sso",
        GROK_SSO_RW_COOKIE="secret-rw",
        CHALLENGE_HEADER_HEX=HEX,
        CHALLENGE_SUFFIX="!secret-suffix",
        API_KEY="secret-key",
        GROK_EXTRA_COOKIES="cf=secret-cf",
    )
    view = s.redacted()
    text = repr(view) + repr(s) + str(s)
    for secret in ("secret-sso", "secret-rw", HEX, "secret-suffix", "secret-key", "secret-cf"):
        assert secret not in text
    assert view["GROK_SSO_COOKIE"] == "<set>" and view["PORT"] == 3000


def test_env_file_loaded_without_overriding_real_environment(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text('PORT=4000\nGROK_SSO_COOKIE="from-file"\nHOST=\n')
    s = Settings.load(environ={"PORT": "5000"}, env_file=env_file)
    assert s.port == 5000 and s.sso_cookie == "from-file" and s.host == "127.0.0.1"
    assert s.env_file == str(env_file)


def test_env_file_auto_uses_working_directory(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("PORT=4100\n")
    monkeypatch.chdir(tmp_path)
    assert Settings.load(environ={}).port == 4100
    assert Settings.load(environ={"ENV_FILE": str(tmp_path / "missing")}).port == 3000


def test_validate_values_reports_only_given_keys():
    assert validate_values({"CHALLENGE_TRAILER": "7"}) == {}
    assert set(validate_values({"CHALLENGE_TRAILER": "700", "GROK_SSO_COOKIE": "a\nb"})) == {
        "CHALLENGE_TRAILER",
        "GROK_SSO_COOKIE",
    }


def test_pool_and_redis_settings(tmp_path):
    s = load()
    assert (s.accounts_file, s.account_retries, s.quota_sync_interval, s.redis_url, s.redis_prefix) == (
        None,
        2,
        600,
        None,
        "gwa:",
    )
    # Beside the settings file by default, so the accounts command and the server agree.
    env_file = tmp_path / ".env"
    env_file.write_text("")
    assert Settings.load(environ={}, env_file=env_file).accounts_path == tmp_path / "accounts.json"
    assert load(ACCOUNTS_FILE="/etc/grok/accounts.json").accounts_path == Path("/etc/grok/accounts.json")
    assert load().accounts_path is None
    s = load(REDIS_URL="redis://:pw@cache:6379/1", ACCOUNT_RETRIES="0", REDIS_PREFIX="prod:")
    assert (s.redis_url, s.account_retries, s.redis_prefix) == ("redis://:pw@cache:6379/1", 0, "prod:")
    assert "pw" not in repr(s) and s.redacted()["REDIS_URL"] == "<set>"
    with pytest.raises(SettingsError) as info:
        load(REDIS_URL="http://cache", ACCOUNT_RETRIES="11", QUOTA_SYNC_SECS="5", REDIS_PREFIX="a b")
    assert set(info.value.errors) == {"REDIS_URL", "ACCOUNT_RETRIES", "QUOTA_SYNC_SECS", "REDIS_PREFIX"}


def test_only_the_redis_password_is_redacted_in_logs():
    from app.ops.logs import secret_values

    assert secret_values(load(REDIS_URL="redis://:hunter2-long@cache:6379/0")) == {"hunter2-long"}
    assert secret_values(load(REDIS_URL="redis://cache:6379/0")) == set()


def test_reading_the_env_file_leaves_the_process_environment_alone(tmp_path, monkeypatch):
    # environs reads .env into its own Env, never into os.environ (which every request shares).
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=4000\nGROK_SSO_COOKIE=from-file\n")
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.delenv("GROK_SSO_COOKIE", raising=False)
    s = Settings.load(env_file=env_file)
    assert (s.port, s.sso_cookie) == (5000, "from-file")
    assert "GROK_SSO_COOKIE" not in os.environ


@pytest.mark.parametrize(
    "name, value, reason",
    [
        ("CONNECT_TIMEOUT_SECS", "nan", "must be a number"),
        ("HEARTBEAT_SECS", "1e999", "must be a number"),
        ("ASSET_CACHE_MAX_MB", "-1", "must be a number of MiB >= 0 (0 disables the cache)"),
        ("PORT", "3000.5", "must be an integer"),
        ("CONTINUITY", "maybe", "must be true or false"),
        ("LOG_FORMAT", "xml", "must be plain or json"),
        ("ASSET_SIGNING_KEY", "too-short", "must be at least 16 characters (use a long random string)"),
    ],
)
def test_typed_values_fail_with_our_message_not_the_libraries(name, value, reason):
    with pytest.raises(SettingsError) as info:
        load(**{name: value})
    assert info.value.errors == {name: reason}
    assert value not in str(info.value)


@pytest.mark.parametrize("value, expected", [("TRUE", True), ("Yes", True), ("on", True), ("0", False), ("Off", False)])
def test_booleans_accept_the_usual_spellings(value, expected):
    assert load(CONTINUITY=value).continuity is expected


def test_a_docker_service_name_with_an_underscore_is_a_valid_url_host():
    assert (
        load(TOKEN_PROVIDER_URL="http://token_signer:8080/sign").token_provider_url == "http://token_signer:8080/sign"
    )
