"""schemathesis against /openapi.json of the app under gunicorn (one gevent worker) and the fake
grok.com: schema-valid (positive) and schema-violating (negative) requests for every
documented operation, the checks of checks.py on each answer, and the server still up
(and not restarted) afterwards.

The operations are read from the OpenAPI document of an in-process app at collection time
(one test per operation); the requests go to the gunicorn server over HTTP. Examples are
derandomized; `FUZZ_EXAMPLES` sets how many each operation gets per mode.
"""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from .checks import violations
from .routes import DOC

EXAMPLES = max(5, int(os.environ.get("FUZZ_EXAMPLES", "30")) // 2)

SCHEMA = schemathesis.openapi.from_dict(DOC)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


def _has_input(operation) -> bool:
    """Negative data needs a query parameter or a body to violate. (A path parameter is any
    non-empty string here, which schemathesis cannot break while keeping the URL valid; the
    in-process fuzzing sends arbitrary path values.)"""
    item = DOC["paths"][operation.path]
    spec = item[operation.method.lower()]
    params = item.get("parameters", []) + spec.get("parameters", [])
    return bool(spec.get("requestBody") or any(p["in"] != "path" for p in params))


CASES = [(label, GenerationMode.POSITIVE) for label in sorted(OPERATIONS)] + [
    (label, GenerationMode.NEGATIVE) for label in sorted(OPERATIONS) if _has_input(OPERATIONS[label])
]


@pytest.fixture(scope="module")
def http(server):
    # The cases come from the in-process app's document: the server must publish the same one.
    assert requests.get(server.url + "/openapi.json", timeout=10).json() == DOC
    with requests.Session() as session:
        yield session
    # The server answered everything without a worker dying: still up, same worker.
    health = requests.get(server.url + "/health", timeout=5)
    assert health.status_code == 200
    assert "WORKER TIMEOUT" not in server.logs() and "Booting worker" in server.logs()
    assert server.logs().count("Booting worker") == 1, "a worker died and was replaced"


def _content_type(headers) -> str | None:
    # schemathesis's Response keeps lower-case header names, each with a list of values.
    values = headers.get("content-type") or [None]
    return values[0] if isinstance(values, list) else values


@pytest.mark.parametrize("label,mode", CASES)
def test_schemathesis(server, http, label, mode):
    operation = OPERATIONS[label]

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        resp = case.call(base_url=server.url, session=http, timeout=15)
        found = violations(
            case.method.upper(), case.formatted_path, resp.status_code, _content_type(resp.headers), resp.content
        )
        assert not found, (
            f"{case.method} {case.formatted_path} query={case.query} body={case.body!r} -> {resp.status_code}: {found}"
        )

    run()
