"""The deploy/ examples agree with the app: nginx lets through every body the app accepts (so
the app, not nginx, answers an oversized request with its own problem), and compose starts
without a ../.env (the container then runs unconfigured and /setup says what is missing).
The several-replica example (docker-compose.scale.yml, nginx.scale.conf) needs an API key, puts
every replica on one Redis behind nginx, and leaves each replica its own run directory and
asset cache. No docker here: the files are read as compose and nginx would read them."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from app.media.services import media_request_limit
from app.native.files import UPLOAD_LIMIT
from app.native.raw import BODY_LIMIT
from app.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def test_compose_does_not_need_a_dotenv_file():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        entries = service.get("env_file") or []
        entries = [entries] if isinstance(entries, str) else entries
        required = [e for e in entries if isinstance(e, str) or e.get("required", True)]
        assert not required, f"service {name}: env_file {required} must be optional (required: false)"


# --- several replicas: deploy/docker-compose.scale.yml and deploy/nginx.scale.conf

SCALE = DEPLOY / "docker-compose.scale.yml"
VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value, env: dict[str, str]):
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} substitution, over a whole document."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match):
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise MissingVariable(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return VARIABLE.sub(one, value)


def scale_compose(**env) -> dict:
    return interpolate(yaml.safe_load(SCALE.read_text()), {"API_KEY": "k" * 64, **env})


def nginx_directives(path: Path) -> dict[str, list[list[str]]]:
    """Every directive of an nginx file by name, each occurrence's arguments (quotes dropped)."""
    text = re.sub(r"#[^\n]*", "", path.read_text())
    out: dict[str, list[list[str]]] = {}
    for statement in re.split(r"[;{}]", text):
        words = [w.strip("'\"") for w in statement.split()]
        if words:
            out.setdefault(words[0], []).append(words[1:])
    return out


def seconds_of(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(s|m)?", value).groups()
    return int(number) * (60 if unit == "m" else 1)


@pytest.mark.parametrize("name", ["nginx.conf", "nginx.scale.conf"])
def test_every_nginx_example_accepts_the_largest_body_the_app_accepts(name):
    largest = max(media_request_limit(Settings.from_mapping({})), UPLOAD_LIMIT, BODY_LIMIT)
    [[size]] = nginx_directives(DEPLOY / name)["client_max_body_size"]
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()
    assert int(number) * UNITS[unit.lower()] >= largest


def test_the_scale_compose_refuses_to_start_without_an_api_key():
    raw = yaml.safe_load(SCALE.read_text())
    with pytest.raises(MissingVariable, match="API_KEY"):
        interpolate(raw, {})
    assert scale_compose()["services"]["grok-web-api"]["environment"]["API_KEY"] == "k" * 64


def test_the_scale_compose_runs_redis_several_replicas_and_nginx_in_front():
    services = scale_compose()["services"]
    assert set(services) == {"redis", "grok-web-api", "nginx"}
    app, redis, nginx = services["grok-web-api"], services["redis"], services["nginx"]
    assert int(app["deploy"]["replicas"]) >= 2
    assert int(scale_compose(GROK_WEB_API_REPLICAS="7")["services"]["grok-web-api"]["deploy"]["replicas"]) == 7
    # Every replica on the same Redis, by the redis service's name and its (default) port.
    environment = app["environment"]
    assert urlsplit(environment["REDIS_URL"]).hostname == "redis"
    assert urlsplit(environment["REDIS_URL"]).port == 6379 and "--port" not in redis["command"]
    # The settings the replicas start with are valid and need the key they were given.
    settings = Settings.from_mapping(environment)
    assert settings.redis_url and settings.api_keys and settings.host == "0.0.0.0"
    # nginx is the only way in: neither the replicas (a fixed host port would stop --scale) nor
    # Redis publish a port, and nginx publishes on loopback unless told otherwise.
    assert "ports" not in app and "ports" not in redis
    [published] = nginx["ports"]
    assert published.startswith("127.0.0.1:") and published.endswith(":80")
    assert "redis" in app["depends_on"] and "grok-web-api" in nginx["depends_on"]


def test_each_replica_keeps_its_own_run_directory_and_asset_cache():
    compose = scale_compose()
    app = compose["services"]["grok-web-api"]
    named = set(compose.get("volumes") or {})
    mounts = [m.split(":") for m in app["volumes"]]
    # The run directory is made under /tmp (app/ops/rundir.py): a tmpfs, which each container
    # has for itself, and nothing points it elsewhere.
    assert "/tmp" in app["tmpfs"]
    assert not [m for m in mounts if m[-1] == "/tmp" or (len(m) > 1 and m[1] == "/tmp")]
    assert not {"TMPDIR", "GROK_WEB_API_RUNTIME_DIR"} & set(app["environment"])
    # The asset cache sits on an anonymous volume: Docker makes one per container.
    cache = Path(app["environment"]["ASSET_CACHE_DIR"])
    [cache_mount] = [m for m in mounts if cache.is_relative_to(m[-1] if len(m) == 1 else m[1])]
    assert len(cache_mount) == 1, f"{cache_mount}: a named or host volume would be shared by the replicas"
    # What the replicas share on disk is configuration only: the accounts file's directory
    # (a directory, since the accounts command replaces the file) and the kept signing key.
    shared = {target: source for source, target, *_ in (m for m in mounts if len(m) > 1)}
    assert set(shared.values()) <= named
    assert set(shared) == {"/config"}
    for setting in ("ACCOUNTS_FILE", "ASSET_KEY_FILE"):
        assert Path(app["environment"][setting]).parent == Path("/config")


def test_the_image_makes_the_volume_directories_writable_by_its_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    user = re.search(r"^USER (\w+)", dockerfile, re.M).group(1)
    app = scale_compose()["services"]["grok-web-api"]
    for directory in ["/config", *(m for m in app["volumes"] if ":" not in m)]:
        assert re.search(rf"mkdir -p [^\n]*{re.escape(directory)}\b", dockerfile), directory
        assert re.search(rf"chown {user} [^\n]*{re.escape(directory)}\b", dockerfile), directory


def test_nginx_sends_to_every_replica_and_passes_streams_through():
    compose = scale_compose()
    app, nginx = compose["services"]["grok-web-api"], compose["services"]["nginx"]
    [conf_mount] = [m for m in nginx["volumes"] if m.split(":")[1].startswith("/etc/nginx/conf.d/")]
    conf = DEPLOY / conf_mount.split(":")[0]
    assert conf == DEPLOY / "nginx.scale.conf" and conf.exists()
    nginx_conf = nginx_directives(conf)
    # The upstream group is the service's name (resolved again as replicas come and go).
    [server] = [args for args in nginx_conf["server"] if args]  # not the server {} blocks
    assert server[0] == f"grok-web-api:{app['environment']['PORT']}" and "resolve" in server[1:]
    assert nginx_conf["resolver"][0][0] == "127.0.0.11"
    [[target]] = nginx_conf["proxy_pass"]
    assert target == "http://" + nginx_conf["upstream"][0][0]
    # Streams leave as they are written, and outlast grok.com's longest silences.
    assert nginx_conf["proxy_buffering"] == [["off"]] and nginx_conf["gzip"] == [["off"]]
    assert nginx_conf["proxy_http_version"] == [["1.1"]]
    heartbeat = Settings.from_mapping({}).heartbeat_interval
    assert seconds_of(nginx_conf["proxy_read_timeout"][0][0]) >= max(60, 4 * heartbeat)
    # WebSocket upgrade for /v1/chat/ws.
    headers = {args[0].lower(): args[1] for args in nginx_conf["proxy_set_header"]}
    assert headers["upgrade"] == "$http_upgrade"
    assert any(args[0] == "$http_upgrade" and args[1] == headers["connection"] for args in nginx_conf["map"])
