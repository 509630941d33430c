"""`grok-web-api statsig [--check]`: derive the x-statsig-id values as the server would and print them.

The output is KEY=VALUE lines (the build and the index set, then the three CHALLENGE_*
values), with `#` comment lines saying where each came from, so it can be piped into
`grok-web-api update-keys --stdin` to pin the values, or read to debug a derivation.
With `--check` one more request, signed with the printed values, asks grok.com whether
it accepts them. Exit status: 0 derived (and accepted), 1 derivation failed or bad
settings, 2 grok.com rejected the values.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..grok import errors as gerr
from ..grok.client import GrokClient
from ..grok.statsig import ChallengeSigner
from ..grok.statsig.derive import DerivationError, Deriver
from ..settings import Settings, SettingsError

USAGE = "usage: grok-web-api statsig [--check]"


def run(argv: list[str], stdout: TextIO, stderr: TextIO) -> int:
    unknown = [a for a in argv if a != "--check"]
    if unknown:
        print(f"grok-web-api statsig: unknown argument '{unknown[0]}'\n{USAGE}", file=stderr)
        return 1
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"grok-web-api statsig: {exc}", file=stderr)
        return 1
    client = GrokClient.from_settings(settings)
    if not settings.cookie_header:
        print("# no GROK_SSO_COOKIE: reading grok.com's public page; no canary can confirm the values", file=stdout)
    try:
        derived = Deriver(client, cdn_url=settings.grok_cdn_url).run()
    except DerivationError as exc:
        print(f"grok-web-api statsig: derivation failed at {exc}", file=stderr)
        return 1
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(derived.derived_at))
    release = f" (release grok-web@{derived.release})" if derived.release else ""
    print(f"# grok.com build {derived.build_id}{release}, derived {when} from {derived.page_url}", file=stdout)
    where = f" {derived.generator_url}" if derived.generator_url and "generator" in derived.index_source else ""
    print(f"# index set (group, segment, 3 time bytes): {derived.index_source}{where}", file=stdout)
    print(f"# canary: {derived.canary}", file=stdout)
    for note in derived.notes:
        print(f"# note: {note}", file=stdout)
    print(f"STATSIG_BUILD={derived.build_id}", file=stdout)
    print(f"STATSIG_INDEX_SET={derived.index_set}", file=stdout)
    for line in derived.values.env_lines():
        print(line, file=stdout)
    if "--check" not in argv:
        return 0
    if not settings.cookie_header:
        print("grok-web-api statsig: --check needs GROK_SSO_COOKIE (the canary is a signed request)", file=stderr)
        return 1
    values = derived.values
    try:
        reply = client.canary(ChallengeSigner(values.header, values.suffix, values.trailer))
    except gerr.GrokError as exc:
        print(f"# check: grok.com did not accept the values: {exc.failure_class}, {exc.message}", file=stdout)
        return 2 if exc.failure_class in (gerr.STALE_CHALLENGE, gerr.ANTI_BOT) else 1
    print(f"# check: grok.com accepted a token signed with these values (HTTP {reply.status})", file=stdout)
    return 0


def main(argv: list[str]) -> int:
    return run(argv, sys.stdout, sys.stderr)
