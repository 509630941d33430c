"""/openapi.json and /docs: a valid OpenAPI 3 document covering every route, each with an example.

Expectations come from the app's url_map, so routes added later are held to the same rules.
"""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

UNDOCUMENTED = {"static", "api-docs.openapi_json"}  # Flask's static files; the document itself
IGNORED_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def routes(app) -> list[tuple[str, str]]:
    """(OpenAPI path, lower-case method) for every routed endpoint of the app."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - IGNORED_METHODS):
            out.append((path, method.lower()))
    return out


def test_the_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


def test_every_route_is_documented(flask_app, document):
    expected = routes(flask_app)
    assert ("/v1/chat", "post") in expected and ("/raw/{subpath}", "patch") in expected
    missing = [(path, method) for path, method in expected if method not in document["paths"].get(path, {})]
    assert missing == []


def _has_example(node) -> bool:
    if isinstance(node, dict):
        return "example" in node or "examples" in node or any(_has_example(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_example(v) for v in node)
    return False


def test_every_operation_shows_an_example_of_a_successful_exchange(document):
    """An example request body, success response or parameter; error examples do not count.
    An operation without inputs whose success has no body (DELETE /v1/conversations) has
    nothing to show."""
    without = []
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            op = item.get(method)
            if op is None:
                continue
            success = {s: r for s, r in op.get("responses", {}).items() if s[:1] in ("1", "2")}
            parameters = [*item.get("parameters", []), *op.get("parameters", [])]
            nothing_to_show = (
                not parameters
                and "requestBody" not in op
                and not any("content" in response for response in success.values())
            )
            if nothing_to_show:
                continue
            if not (_has_example(op.get("requestBody")) or _has_example(success) or _has_example(parameters)):
                without.append(f"{method.upper()} {path}")
    assert without == []


def test_error_responses_are_documented_as_problems(document):
    op = document["paths"]["/v1/chat/{conversation_id}/message"]["post"]
    for status in ("400", "404", "429", "502", "503"):
        media = op["responses"][status]["content"]["application/problem+json"]
        assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
        assert media["example"]["status"] == int(status)
    assert "detail" in document["components"]["schemas"]["Problem"]["properties"]


def test_path_ids_are_documented_as_bounded_strings(document):
    [param] = [
        p for p in document["paths"]["/v1/chat/{response_id}/reconnect"]["parameters"] if p["name"] == "response_id"
    ]
    assert param["in"] == "path" and param["example"] == "bbbb1111-2222-4333-8444-555566667777"
    assert param["schema"]["type"] == "string" and (param["schema"]["minLength"], param["schema"]["maxLength"]) == (
        1,
        256,
    )


# --------------------------------------------------------------------------- /docs
def test_the_docs_page_lists_every_operation(client, document):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                assert f'<span class="m {method.upper()}">{method.upper()}</span>{path}</h3>' in page, (method, path)
    # Examples and field tables are rendered (escaped) from the document.
    assert "Explain HTTP/2 multiplexing in two sentences." in page
    assert "<code>imageGenerationCount</code>" in page


def test_the_docs_page_is_self_contained_and_escaped(client):
    response = client.get("/docs")
    page = response.get_data(as_text=True)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    # The WebSocket description mentions "<name>": text from the document is escaped, never markup.
    assert "&lt;name&gt;" in page and "<name>" not in page


def test_views_carry_their_documentation_without_flask_smorests_forwarding_wrappers(flask_app, document):
    # flask-smorest's `arguments` and `doc` wrap a view in a call that only forwards it; each
    # is one more level of C stack for every request parked in its start (app/web/blueprint.py).
    # (Its `response` wrapper does work of its own: it stays.)
    operation = document["paths"]["/v1/chat/completions"]["post"]
    assert operation["summary"].startswith("Create a chat completion")
    assert "$ref" in str(operation["requestBody"]["content"]["application/json"]["schema"])
    assert "400" in operation["responses"]
    for endpoint, view in flask_app.view_functions.items():
        wrappers = []
        while hasattr(view, "__wrapped__"):
            wrappers.append(view.__code__.co_filename)  # functools.wraps copies the view's __module__
            view = view.__wrapped__
        forwarders = [
            path for path in wrappers if path.endswith(("flask_smorest/arguments.py", "flask_smorest/blueprint.py"))
        ]
        assert forwarders == [], endpoint
