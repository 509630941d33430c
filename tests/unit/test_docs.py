"""The README is a short first page and docs/ holds the rest: every page is reachable from the
README's table of contents, every relative link and #anchor resolves, and no page points at
internal tracker numbers a reader cannot open."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
TRACKER_REFERENCE = re.compile(r"\bissues?\s*#?\d+|§\s*\d", re.I)


def prose(path: Path) -> str:
    """The page without its code blocks (links and anchors inside code are not links)."""
    return FENCE.sub("", path.read_text())


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose(path).splitlines():
        if m := re.match(r"#{1,6}\s+(.*)", line):
            slug = github_anchor(m.group(1))
            out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return out


def relative_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(prose(path)) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_docs_pages_exist():
    names = {p.name for p in PAGES}
    assert {"configuration.md", "api.md", "clients.md", "operations.md", "deployment.md"} <= names


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(path):
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(target)
    assert not broken, f"{path.name}: broken links {broken}"


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
def test_repository_paths_exist(path):
    """Paths a page names in backticks (`app/engine/usage.py`) exist, so readers find the code."""
    named = re.findall(r"`((?:app|tests|bench|deploy)/[\w./-]+)`", path.read_text())
    # The bench writes its results under bench/results/ (not in git): those are named, not kept.
    missing = [p for p in named if not (ROOT / p).exists()]
    assert not [p for p in missing if not re.fullmatch(r"bench/results/\w+\.json", p)]


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
def test_no_internal_tracker_references(path):
    assert not TRACKER_REFERENCE.findall(path.read_text())


def test_readme_is_a_first_page_with_a_table_of_contents():
    lines = README.read_text().splitlines()
    assert len(lines) < 150, "the README is what a newcomer reads first; details belong in docs/"
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    missing = [p.name for p in PAGES if p.resolve() not in linked]
    assert not missing, f"docs pages missing from the README's table of contents: {missing}"
    text = README.read_text()
    for must in ("make run", "make test", "GROK_SSO_COOKIE", "/v1"):
        assert must in text


CODE = sorted(p for folder in ("app", "tests", "bench") for p in (ROOT / folder).rglob("*.py"))
# Documents that live outside the repository (the project's input specs): a comment naming one
# cannot be followed by a reader of the code, so comments point at docs/ instead.
OUTSIDE_DOCUMENTS = re.compile(
    r"reference-behaviour|grok-wire|statsig-derivation|agent-apis|grok-mgw|gevent-curl|\bspec §|§\s*\d"
)
DOCS_REFERENCE = re.compile(r"\bdocs/([\w.-]+\.md)")


def test_code_comments_refer_only_to_documents_in_the_repository():
    outside, missing = [], []
    for path in CODE:
        if path == Path(__file__):
            continue
        text = path.read_text()
        where = path.relative_to(ROOT)
        outside += [f"{where}: {m.group(0)}" for m in OUTSIDE_DOCUMENTS.finditer(text)]
        missing += [
            f"{where}: docs/{name}" for name in DOCS_REFERENCE.findall(text) if not (ROOT / "docs" / name).exists()
        ]
    assert not outside, "comments citing documents outside the repository (write the note in docs/):\n" + "\n".join(
        outside
    )
    assert not missing, "comments citing docs pages that do not exist:\n" + "\n".join(missing)


def test_the_readme_gets_a_newcomer_running_with_the_two_cookies_only():
    """Until its "if derivation fails" part, the README asks for the two cookies and nothing of
    the anti-bot values; that part points at the browser values as the fallback they are."""
    text = prose(README)
    fallback = re.search(r"^#{2,4} .*derivation fails.*$", text, re.M | re.I)
    assert fallback, "the README has no 'if derivation fails' section"
    before, after = text[: fallback.start()], text[fallback.start() :]
    assert "GROK_SSO_COOKIE" in before and "GROK_SSO_RW_COOKIE" in before
    assert not re.search(r"CHALLENGE_|snippet|bookmarklet|TOKEN_PROVIDER_URL", before)
    assert "CHALLENGE_" in after and "docs/statsig.md#if-derivation-fails" in after
    example = (ROOT / ".env.example").read_text()
    assert not re.search(r"^(CHALLENGE_\w+|STATSIG_SOURCE)=\S", example, re.M)  # nothing pinned by default
