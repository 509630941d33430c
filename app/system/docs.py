"""/docs: the API reference as one self-contained HTML page, rendered from /openapi.json.

No scripts, no external assets (offline installs and strict networks get the same
page); the Content-Security-Policy forbids loading anything.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, render_template_string

from ..web.blueprint import Blueprint

blp = Blueprint("docs", __name__, description="API reference")

METHOD_ORDER = ("get", "post", "put", "patch", "delete")
# No script at all; no framing either (a framed page invites clickjacking).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"


def spec() -> dict:
    return current_app.extensions["flask-smorest"]["blp_name_to_api"][blp.name].spec.to_dict()


class Resolver:
    """Reads `$ref`s of one spec document."""

    def __init__(self, document: dict):
        self.document = document

    def deref(self, node: Any) -> tuple[Any, str | None]:
        name = None
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            name = ref.rsplit("/", 1)[-1]
            target: Any = self.document
            for part in ref.lstrip("#/").split("/"):
                target = target.get(part, {})
            node = target
        return node, name

    def type_label(self, schema: Any) -> str:
        schema, name = self.deref(schema)
        if not isinstance(schema, dict):
            return "any"
        kind = schema.get("type")
        if kind == "array":
            return f"array of {self.type_label(schema.get('items', {}))}"
        label = kind or ("object" if "properties" in schema else "any")
        if schema.get("format"):
            label += f" ({schema['format']})"
        if name:
            label = f"{name} ({label})"
        return label

    def fields(self, schema: Any) -> list[dict]:
        schema, _ = self.deref(schema)
        if not isinstance(schema, dict):
            return []
        required = set(schema.get("required", []))
        rows = []
        for name, prop in schema.get("properties", {}).items():
            resolved, _ = self.deref(prop)
            rows.append(
                {
                    "name": name,
                    "type": self.type_label(prop),
                    "required": name in required,
                    "description": (resolved or {}).get("description", ""),
                }
            )
        return rows


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def _examples(media: dict) -> list[dict]:
    out = []
    if "example" in media:
        out.append({"title": "example", "text": _pretty(media["example"])})
    for key, example in media.get("examples", {}).items():
        out.append({"title": example.get("summary") or key, "text": _pretty(example.get("value"))})
    return out


def _content(resolver: Resolver, content: dict) -> list[dict]:
    return [
        {
            "type": media_type,
            "schema": resolver.type_label(media.get("schema", {})),
            "fields": resolver.fields(media.get("schema", {})),
            "examples": _examples(media),
        }
        for media_type, media in content.items()
    ]


def _status_order(item) -> tuple:
    status = item[0]
    if status == "default":
        return (2, 0)
    code = int(status) if str(status).isdigit() else 999
    return (0 if code < 300 else 1, code)


def operations(document: dict) -> list[dict]:
    """Every operation of the document, in path order, ready for the template."""
    resolver = Resolver(document)
    ops = []
    for path, item in document.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHOD_ORDER:
            op = item.get(method)
            if op is None:
                continue
            params = []
            for param in [*shared, *op.get("parameters", [])]:
                param, _ = resolver.deref(param)
                params.append(
                    {
                        "name": param.get("name"),
                        "in": param.get("in"),
                        "required": param.get("required", False),
                        "type": resolver.type_label(param.get("schema", {})),
                        "description": param.get("description", ""),
                        "example": _pretty(param["example"]) if "example" in param else "",
                    }
                )
            body, _ = resolver.deref(op.get("requestBody", {}))
            responses = []
            for status, response in sorted(op.get("responses", {}).items(), key=_status_order):
                response, _ = resolver.deref(response)
                responses.append(
                    {
                        "status": status,
                        "description": response.get("description", ""),
                        "content": _content(resolver, response.get("content", {})),
                    }
                )
            ops.append(
                {
                    "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tags": op.get("tags", []),
                    # Indented lines are a layout (a protocol table): keep their columns.
                    "preformatted": "\n  " in op.get("description", ""),
                    "params": params,
                    "body": _content(resolver, body.get("content", {})) if body else [],
                    "body_required": bool(body.get("required")) if body else False,
                    "responses": responses,
                }
            )
    return ops


def grouped(ops: list[dict]) -> list[tuple[str, list[dict]]]:
    groups: dict[str, list[dict]] = {}
    for op in ops:
        groups.setdefault((op["tags"] or ["other"])[0], []).append(op)
    return list(groups.items())


@blp.route("/docs", methods=["GET"])
@blp.doc(
    summary="API reference (this page)",
    description="Every route of /openapi.json as one HTML page.",
    responses={
        200: {
            "description": "an HTML page",
            "content": {
                "text/html": {"schema": {"type": "string"}, "example": '<!doctype html><html lang="en">...</html>'}
            },
        }
    },
)
def docs():
    document = spec()
    html = render_template_string(
        TEMPLATE,
        info=document.get("info", {}),
        groups=grouped(operations(document)),
        tags={t["name"]: t.get("description", "") for t in document.get("tags", [])},
    )
    return Response(
        html,
        mimetype="text/html",
        headers={"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"},
    )


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{ info.title }} {{ info.version }} — API reference</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
main{max-width:1100px;margin:0 auto;padding:1.5rem}
h1{margin:.2rem 0}h2{margin-top:2.5rem;border-bottom:2px solid #d8dee8;padding-bottom:.3rem}
nav ul{columns:2;padding-left:1.2rem}nav li{break-inside:avoid}
a{color:#1f5fbf;text-decoration:none}a:hover{text-decoration:underline}
.op{background:#fff;border:1px solid #d8dee8;border-radius:8px;margin:1rem 0;padding:.8rem 1rem}
.op h3{margin:0;font-size:1.05rem;font-family:ui-monospace,Menlo,Consolas,monospace}
.m{display:inline-block;min-width:4.2rem;text-align:center;border-radius:4px;color:#fff;font-size:.8rem;
padding:.1rem .3rem;margin-right:.4rem}
.GET{background:#1f7a4d}.POST{background:#1f5fbf}.PUT{background:#a86b00}.PATCH{background:#6b4fbf}
.DELETE{background:#b3261e}
.desc{white-space:pre-wrap}
table{border-collapse:collapse;width:100%;margin:.4rem 0;font-size:.9rem}
th,td{border:1px solid #e3e7ee;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f5f8}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f3f5f8;border-radius:6px;padding:.6rem;overflow:auto;max-height:26rem}
details{margin:.3rem 0}summary{cursor:pointer}
.req{color:#b3261e;font-weight:600}
</style></head>
<body><main>
<h1>{{ info.title }} <small>{{ info.version }}</small></h1>
<p>Every route of this server, generated from <a href="/openapi.json">/openapi.json</a>.
When <code>API_KEY</code> is set, <code>/v1/*</code> and <code>/raw/*</code> need
<code>Authorization: Bearer &lt;key&gt;</code> (or <code>x-api-key</code>). Errors are
<code>application/problem+json</code>.</p>
<nav><ul>
{% for tag, ops in groups %}{% for op in ops %}
<li><a href="#{{ op.id }}"><span class="m {{ op.method }}">{{ op.method }}</span>{{ op.path }}</a>
{% if op.summary %}— {{ op.summary }}{% endif %}</li>{% endfor %}{% endfor %}
</ul></nav>
{% for tag, ops in groups %}
<h2 id="tag-{{ tag }}">{{ tag }}</h2>{% if tags.get(tag) %}<p>{{ tags[tag] }}</p>{% endif %}
{% for op in ops %}
<section class="op" id="{{ op.id }}">
<h3><span class="m {{ op.method }}">{{ op.method }}</span>{{ op.path }}</h3>
{% if op.summary %}<p><strong>{{ op.summary }}</strong></p>{% endif %}
{% if op.description %}{% if op.preformatted %}<pre>{{ op.description }}</pre>{% else %}
<p class="desc">{{ op.description }}</p>{% endif %}{% endif %}
{% if op.params %}<h4>Parameters</h4>
<table><tr><th>name</th><th>in</th><th>type</th><th>description</th><th>example</th></tr>
{% for p in op.params %}<tr><td><code>{{ p.name }}</code>{% if p.required %} <span class="req">*</span>{% endif %}</td>
<td>{{ p.in }}</td><td>{{ p.type }}</td><td>{{ p.description }}</td>
<td><code>{{ p.example }}</code></td></tr>{% endfor %}
</table>{% endif %}
{% for c in op.body %}<h4>Request body{% if op.body_required %} <span class="req">*</span>{% endif %}
<code>{{ c.type }}</code>: {{ c.schema }}</h4>
{% if c.fields %}<details><summary>{{ c.fields|length }} fields</summary>
<table><tr><th>field</th><th>type</th><th>description</th></tr>
{% for f in c.fields %}<tr><td><code>{{ f.name }}</code>{% if f.required %} <span class="req">*</span>{% endif %}</td>
<td>{{ f.type }}</td><td>{{ f.description }}</td></tr>{% endfor %}</table></details>{% endif %}
{% for e in c.examples %}<p>{{ e.title }}:</p><pre>{{ e.text }}</pre>{% endfor %}
{% endfor %}
<h4>Responses</h4>
{% for r in op.responses %}<details{% if r.status.startswith('2') or r.status == '101' %} open{% endif %}>
<summary><strong>{{ r.status }}</strong> {{ r.description }}</summary>
{% for c in r.content %}<p><code>{{ c.type }}</code>: {{ c.schema }}</p>
{% for e in c.examples %}<p>{{ e.title }}:</p><pre>{{ e.text }}</pre>{% endfor %}{% endfor %}
</details>{% endfor %}
</section>
{% endfor %}{% endfor %}
</main></body></html>
"""
