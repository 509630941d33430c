"""Hypothesis strategies for requests to any route, derived from the app itself.

Every route comes from the Flask url_map; a route the OpenAPI document describes gets
strategies from its parameter and body schemas (the marshmallow schemas, as flask-smorest
publishes them), valid and invalid ones mixed; a route it does not describe (WebSockets,
passthroughs, pages) gets arbitrary paths, methods, queries and bodies. So routes that
land later are fuzzed without a change here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

# -- JSON values ---------------------------------------------------------------------------------
# Stands for a number Python will not read (more than 4300 digits) wherever a JSON value may go;
# `encode` writes it out as digits (json.dumps itself cannot).
HUGE_NUMBER = "\ue000huge-number\ue000"
_HUGE_NUMBER_JSON = json.dumps(HUGE_NUMBER)
# Strings that broke parsers before: an unterminated IPv6 literal (urlsplit raises), Unicode and
# percent-encoded host names, a header injection.
ODD_STRINGS = st.sampled_from(
    [
        "http://[::1",
        "http://[::1]:port/x.png",
        "https://straße.example/x.png",
        "http://%6c%6fcalhost/x.png",
        "http://0x7f.1/x.png",
        "data:",
        "data:image/png;base64,%%%",
        "x\r\nX-Injected: 1",
    ]
)
SHORT_TEXT = st.text(max_size=40)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | SHORT_TEXT
    | ODD_STRINGS
    | st.just(HUGE_NUMBER)
)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SHORT_TEXT, inner, max_size=4), max_leaves=12
)
# Printable ASCII: what an HTTP client can put in a header value.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
ID_TEXT = st.from_regex(r"\A[A-Za-z0-9_-]{1,40}\Z")


def encode(value: Any) -> bytes:
    """JSON text of a drawn value (HUGE_NUMBER written as 4400 digits)."""
    return json.dumps(value).replace(_HUGE_NUMBER_JSON, "9" * 4400).encode()


def resolve(schema: dict, doc: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def from_schema(schema: dict | bool | None, doc: dict, depth: int = 0) -> st.SearchStrategy:
    """Values valid for a JSON schema (the OpenAPI 3.0 subset flask-smorest emits)."""
    if not isinstance(schema, dict) or depth > 4:
        return JSON
    schema = resolve(schema, doc)
    strategy = _from_schema(schema, doc, depth)
    return strategy | st.none() if schema.get("nullable") else strategy


def _from_schema(schema: dict, doc: dict, depth: int) -> st.SearchStrategy:
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(s, doc, depth + 1) for s in schema[key]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v, doc, depth + 1) for k, v in props.items() if k in required},
            optional={k: from_schema(v, doc, depth + 1) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", low + 3), low + 3)
        return st.lists(from_schema(schema.get("items"), doc, depth + 1), min_size=low, max_size=high)
    if kind == "string":
        low = schema.get("minLength", 0)
        return st.text(min_size=low, max_size=max(low, min(schema.get("maxLength", 40), 40))) | ODD_STRINGS
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum")) | st.just(HUGE_NUMBER)
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    return JSON


def mutated(value: Any) -> st.SearchStrategy:
    """A JSON value a little wrong: a key dropped, a value of another type, a key added."""
    if not isinstance(value, dict) or not value:
        return JSON
    keys = sorted(value)

    def drop(key):
        return {k: v for k, v in value.items() if k != key}

    def replace(args):
        key, new = args
        return {**value, key: new}

    return st.one_of(
        st.sampled_from(keys).map(drop),
        st.tuples(st.sampled_from(keys), JSON).map(replace),
        st.tuples(SHORT_TEXT, JSON).map(lambda kv: {**value, kv[0]: kv[1]}),
    )


# Typed content parts as chat APIs take them (OpenAI, Anthropic), with odd URLs and payloads.
CONTENT_PARTS = st.lists(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": ODD_STRINGS})}),
        st.fixed_dictionaries({"type": st.just("image_url"), "image_url": ODD_STRINGS}),
        st.fixed_dictionaries({"type": st.just("file"), "file": st.fixed_dictionaries({"file_data": ODD_STRINGS})}),
        st.fixed_dictionaries(
            {"type": st.just("image"), "source": st.fixed_dictionaries({"type": st.just("url"), "url": ODD_STRINGS})}
        ),
    ),
    min_size=1,
    max_size=2,
)
# What `poisoned` puts in place of one value of a valid body.
POISON = st.one_of(st.just(HUGE_NUMBER), ODD_STRINGS, CONTENT_PARTS, st.just([[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]))


def _leaf_paths(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict) and value:
        return [p for key, inner in value.items() for p in _leaf_paths(inner, (*path, key))]
    if isinstance(value, list) and value:
        return [p for index, inner in enumerate(value) for p in _leaf_paths(inner, (*path, index))]
    return [path]


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    return [_replaced(item, rest, new) if index == head else item for index, item in enumerate(value)]


def poisoned(value: Any) -> st.SearchStrategy:
    """A valid body with one value, however deep, replaced by something that broke a parser once."""
    paths = _leaf_paths(value)
    return st.tuples(st.sampled_from(paths), POISON).map(lambda pair: _replaced(value, *pair))


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# Bodies no schema describes: the parser and the limits must cope.
ODD_BODIES = st.sampled_from(
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b'"text"',
        b"1e400",
        b"-0",
        b'{"a": NaN}',
        b'{"a":1,"a":2}',
        b"\xff\xfe\x00garbage",
        '{"message": "caf\u00e9"}'.encode("latin-1"),
        nested(128),
        nested(129),
        b"[" * 5000,
        b"9" * 4400,
        b'{"n":' + b"1" * 4301 + b"}",
    ]
) | st.binary(max_size=200)

CONTENT_TYPES = (
    st.sampled_from(
        [
            "application/json",
            "application/json",
            "application/json",
            "application/json; charset=utf-8",
            "application/problem+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
            "",
        ]
    )
    | HEADER_TEXT
)

EXTRA_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "Accept",
            "Authorization",
            "X-Api-Key",
            "X-Reasoning-Output",
            "Accept-Encoding",
            "X-Request-Id",
            "Origin",
            "Referer",
            "Range",
            "If-None-Match",
            "Cookie",
        ]
    ),
    st.sampled_from(["reasoning_content", "think_tags", "hidden", "Bearer x", "*/*", "gzip", "http://[::1", "null"])
    | HEADER_TEXT,
    max_size=3,
)


# -- routes ----------------------------------------------------------------------------------------
@dataclass
class Operation:
    """One method of one route, with what the OpenAPI document says about it (if anything)."""

    method: str
    rule: str  # the Flask rule, e.g. /v1/files/<gid:file_id>
    path_params: dict[str, dict] = field(default_factory=dict)  # name -> schema
    query: dict[str, dict] = field(default_factory=dict)  # name -> schema
    body: dict | None = None  # JSON schema of the body
    example: Any = None
    documented: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"

    @property
    def template(self) -> str:
        """The OpenAPI path of the rule: /v1/files/{file_id}."""
        return _RULE_ARG.sub(lambda m: "{" + m.group(1) + "}", self.rule)


_RULE_ARG = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def operations(app, doc: dict) -> list[Operation]:
    """Every method of every route of the app (HEAD/OPTIONS left to Flask)."""
    found = []
    for rule in app.url_map.iter_rules():
        item = doc.get("paths", {}).get(Operation("", rule.rule).template, {})
        shared = item.get("parameters", [])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op = Operation(method, rule.rule, {arg: {"type": "string"} for arg in rule.arguments})
            spec = item.get(method.lower())
            if spec is not None:
                op.documented = True
                for param in shared + spec.get("parameters", []):
                    target = {"path": op.path_params, "query": op.query}.get(param["in"])
                    if target is not None:
                        target[param["name"]] = param.get("schema", {})
                content = spec.get("requestBody", {}).get("content", {}).get("application/json")
                if content is not None:
                    op.body = resolve(content.get("schema", {}), doc)
                    op.example = content.get("example")
            found.append(op)
    return sorted(found, key=lambda op: op.id)


@dataclass
class FuzzRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        body = self.body if self.body is None or len(self.body) < 300 else self.body[:300] + b"..."
        return f"{self.method} {self.path} query={self.query} headers={self.headers} body={body!r}"


def _path_value(schema: dict) -> st.SearchStrategy:
    # Mostly plausible ids; sometimes anything at all (percent-encoded, so it stays one segment).
    return ID_TEXT | st.text(min_size=1, max_size=30).map(lambda s: quote(s, safe=""))


def _query_value(schema: dict, doc: dict) -> st.SearchStrategy:
    kind = resolve(schema, doc).get("type")
    if kind == "boolean":
        plausible = st.sampled_from(["true", "false", "1", "0"])
    elif kind == "integer":
        plausible = from_schema(schema, doc).map(str)
    else:
        plausible = ID_TEXT
    return plausible | SHORT_TEXT


def _query(op: Operation, doc: dict) -> st.SearchStrategy:
    pairs = [
        st.lists(st.tuples(st.just(name), _query_value(schema, doc)), max_size=2) for name, schema in op.query.items()
    ]
    pairs.append(st.lists(st.tuples(ID_TEXT, SHORT_TEXT), max_size=1))  # a parameter nobody reads
    return st.tuples(*pairs).map(lambda groups: [pair for group in groups for pair in group])


def _bodies(op: Operation, doc: dict) -> st.SearchStrategy:
    """Valid bodies half of the time (so requests get past validation), else broken ones."""
    valid, broken = [], [JSON]
    if op.body is not None:
        valid.append(from_schema(op.body, doc))
        broken.append(from_schema(op.body, doc).flatmap(mutated))
    if op.example is not None:
        valid.append(st.just(op.example))
        broken.append(mutated(op.example))
        broken.append(poisoned(op.example))
    as_json = (st.one_of(valid) if valid else JSON).map(encode)
    broken_json = st.one_of(broken).map(encode)
    return st.one_of(as_json, as_json, broken_json, ODD_BODIES)


@st.composite
def requests_for(draw, op: Operation, doc: dict) -> FuzzRequest:
    path = op.rule
    for name in _RULE_ARG.findall(op.rule):
        value = draw(_path_value(op.path_params.get(name, {})))
        path = re.sub(r"<(?:[^:>]+:)?" + re.escape(name) + ">", lambda _, value=value: value, path, count=1)
    headers = draw(EXTRA_HEADERS)
    body = None
    if op.method in ("POST", "PUT", "PATCH", "DELETE") or draw(st.booleans()):
        body = draw(_bodies(op, doc)) if draw(st.integers(0, 3)) else None
    if body is not None:
        headers["Content-Type"] = draw(st.just("application/json") | CONTENT_TYPES)
    return FuzzRequest(op.method, path, draw(_query(op, doc)), headers, body)
