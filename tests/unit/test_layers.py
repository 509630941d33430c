"""The house rules of app/: the client library stands alone, layers import one way."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _imports(path: Path) -> set[str]:
    """Absolute names of the app modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(APP.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_client_library_imports_only_itself_from_app():
    for path in (APP / "grok").rglob("*.py"):
        outside = {m for m in _imports(path) if m.startswith("app.") and not m.startswith("app.grok")}
        assert not outside, f"{path.relative_to(APP.parent)} imports {sorted(outside)}"


def test_the_client_library_never_imports_flask():
    for path in (APP / "grok").rglob("*.py"):
        web = {m for m in _imports(path) if m.split(".")[0] in ("flask", "flask_smorest", "flask_sock", "werkzeug")}
        assert not web, f"{path.relative_to(APP.parent)} imports {sorted(web)}"


def test_importing_the_client_library_loads_no_web_framework():
    code = (
        "import sys, app.grok, app.grok.client, app.grok.events\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'flask_smorest', 'flask_sock', 'werkzeug', 'marshmallow'))\n"
        "others = sorted(m for m in sys.modules if m.startswith('app.') and not m.startswith('app.grok'))\n"
        "print(loaded, others)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=APP.parent
    ).stdout.strip()
    assert out == "[] []"


def test_operations_never_import_the_web_layer_or_route_groups():
    for path in (APP / "ops").rglob("*.py"):
        bad = {
            m
            for m in _imports(path)
            if m.startswith(("app.web", "app.openai", "app.native", "app.media", "app.system"))
        }
        assert not bad, f"{path.relative_to(APP.parent)} imports {sorted(bad)}"


def test_the_engine_imports_no_adapter_and_no_web_framework():
    for path in (APP / "engine").rglob("*.py"):
        imported = _imports(path)
        outside = {m for m in imported if m.startswith("app.") and not m.startswith(("app.engine", "app.grok"))}
        web = {m for m in imported if m.split(".")[0] in ("flask", "flask_smorest", "flask_sock", "werkzeug")}
        assert not outside and not web, f"{path.relative_to(APP.parent)} imports {sorted(outside | web)}"
