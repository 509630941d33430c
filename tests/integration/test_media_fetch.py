"""The SSRF-guarded fetcher over real sockets (a local HTTP server as the remote host), and the
upload of chat media parts to the fake grok.com.

Every test server here is on loopback, which the guard refuses by default; tests that need a
successful fetch allow private addresses (or one exact host:port) explicitly.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse

import pytest

from app.grok.client import GrokClient
from app.media import addresses
from app.media.fetch import Fetcher, FetchError, FetchPolicy, FetchRefused, TooLarge
from app.media.inputs import MediaError, MediaLimits, UploadFailed, prepare_chat_media
from tests.fakegrok.media import jpeg
from tests.support.imageserver import PHOTO, PNG, other, remote  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _clear(remote, other):
    remote.requests.clear()
    other.requests.clear()


def redirect(remote, to: str, status: int = 302) -> str:
    return remote.url("/redirect?" + urllib.parse.urlencode({"to": to, "status": status}))


def test_loopback_and_private_targets_are_refused_by_default(remote):
    fetcher = Fetcher(FetchPolicy())
    with pytest.raises(FetchRefused, match="loopback address"):
        fetcher.fetch(remote.url("/img.png"), 10_000)
    with pytest.raises(FetchRefused, match="loopback address"):
        fetcher.fetch(f"http://localhost:{remote.port}/img.png", 10_000)  # by name: resolved and checked
    with pytest.raises(FetchRefused, match="private address"):
        fetcher.fetch("http://10.20.30.40/img.png", 10_000)
    assert remote.requests == []


def test_allowed_private_fetch_reads_the_body(remote):
    got = Fetcher(FetchPolicy(allow_private=True)).fetch(remote.url("/img.png"), 10_000)
    assert got.content == PNG and got.url == remote.url("/img.png")


@pytest.mark.parametrize(
    "target", ["other", "http://10.1.2.3/x.png", "http://169.254.169.254/latest/meta-data", "http://[::1]/x.png"]
)
def test_a_redirect_to_a_private_address_is_refused(remote, other, target):
    # Only the first hop's exact host:port is allowed, as a public host would be.
    policy = FetchPolicy(allowlist=frozenset({f"127.0.0.1:{remote.port}"}))
    to = other.url("/img.png") if target == "other" else target
    with pytest.raises(FetchRefused):
        Fetcher(policy).fetch(redirect(remote, to), 10_000)
    assert [r["path"] for r in remote.requests] == ["/redirect"]
    assert other.requests == []


def test_redirects_are_followed_and_relative_locations_resolved(remote):
    fetcher = Fetcher(FetchPolicy(allow_private=True))
    got = fetcher.fetch(redirect(remote, redirect(remote, "/img.png", 301), 307), 10_000)
    assert got.content == PNG
    assert got.url == remote.url("/img.png") and len(got.hops) == 3
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetcher.fetch(remote.url("/loop"), 10_000)


def test_the_vetted_address_is_pinned(remote):
    # "images.test" exists in no DNS: the fetch works only if libcurl connects to the address the
    # guard vetted instead of resolving the name again (which is what defeats DNS rebinding).
    seen = []

    def resolver(host, port):
        seen.append((host, port))
        return ["127.0.0.1"]

    fetcher = Fetcher(FetchPolicy(allow_private=True), resolver=resolver)
    got = fetcher.fetch(f"http://images.test:{remote.port}/img.png", 10_000)
    assert got.content == PNG
    assert seen == [("images.test", remote.port)]
    assert remote.requests[-1]["host"] == f"images.test:{remote.port}"


class PinnedOnly:
    """A stand-in in front of the fetch transport: a transfer whose host libcurl would have to
    resolve itself (its name not pinned exactly) is refused, so no test ever leaks a DNS lookup."""

    def __init__(self):
        self.transfers: list[tuple[str, tuple[str, ...]]] = []

    def stream(self, method, url, headers, body, idle_timeout=None, resolve=()):
        parts = urllib.parse.urlsplit(url)
        self.transfers.append((url, tuple(resolve)))
        pinned = {entry.rsplit(":", 2)[0] + ":" + entry.rsplit(":", 2)[1] for entry in resolve}
        literal = addresses.parse(parts.hostname) is not None  # an address: nothing to resolve
        assert literal or f"{parts.hostname}:{parts.port}" in pinned, f"{url} would be resolved by libcurl ({resolve})"
        return Fetcher(FetchPolicy()).transport.stream(method, url, headers, body, idle_timeout, resolve)


def system_like(table: dict[str, str]):
    """A resolver answering from `table`, spelling a Unicode name as the system resolver did
    (Python's IDNA 2003 codec: straße -> strasse)."""
    seen = []

    def resolve(host, port):
        seen.append(host)
        name = host if host.isascii() else host.encode("idna").decode()
        if name not in table:
            raise OSError(f"{name} not in the stand-in table")
        return [table[name]]

    resolve.seen = seen
    return resolve


def test_a_unicode_host_is_vetted_under_the_name_libcurl_uses(remote):
    # The bypass: IDNA 2003 spells straße.test as strasse.test (public here), libcurl as
    # xn--strae-oqa.test (loopback here). The guard must judge the second.
    resolver = system_like({"strasse.test": "93.184.216.34", "xn--strae-oqa.test": "127.0.0.1"})
    transport = PinnedOnly()
    with pytest.raises(FetchRefused, match="loopback address"):
        Fetcher(FetchPolicy(), transport, resolver).fetch(f"http://straße.test:{remote.port}/img.png", 10_000)
    assert resolver.seen == ["xn--strae-oqa.test"] and transport.transfers == [] and remote.requests == []


def test_a_unicode_host_is_fetched_through_its_pinned_ascii_name(remote):
    resolver = system_like({"xn--strae-oqa.test": "127.0.0.1"})
    transport = PinnedOnly()
    got = Fetcher(FetchPolicy(allow_private=True), transport, resolver).fetch(
        f"http://STRAẞE.test:{remote.port}/img.png", 10_000
    )
    assert got.content == PNG and got.url == f"http://xn--strae-oqa.test:{remote.port}/img.png"
    assert transport.transfers == [(got.url, (f"xn--strae-oqa.test:{remote.port}:127.0.0.1",))]
    assert remote.requests[-1]["host"] == f"xn--strae-oqa.test:{remote.port}"


def test_every_redirect_hop_is_spelled_and_pinned_the_same_way(remote, other):
    resolver = system_like({"strasse.test": "93.184.216.34", "xn--strae-oqa.test": "127.0.0.1"})
    transport = PinnedOnly()
    policy = FetchPolicy(allowlist=frozenset({f"127.0.0.1:{remote.port}"}))
    with pytest.raises(FetchRefused, match="loopback address"):
        Fetcher(policy, transport, resolver).fetch(redirect(remote, f"http://straße.test:{other.port}/img.png"), 10_000)
    assert resolver.seen == ["xn--strae-oqa.test"] and other.requests == []


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://[::1/x.png", "not valid"),
        ("http://%6c%6fcalhost/x.png", "not a valid host name"),
        ("http://exa mple.test/x.png", "not a valid host name"),
        ("http://\u2764\ufe0f.test/x.png", "not a valid international domain name"),
    ],
)
def test_hosts_without_one_spelling_are_refused_before_any_lookup(url, why):
    resolver = system_like({})
    with pytest.raises(FetchRefused, match=why):
        Fetcher(FetchPolicy(), PinnedOnly(), resolver).fetch(url, 1000)
    assert resolver.seen == []


def test_numeric_ipv4_forms_are_judged_as_the_address_they_are(remote):
    for host in ("0x7f.1", "2130706433", "127.1", "0177.0.0.1"):
        with pytest.raises(FetchRefused, match="loopback address"):
            Fetcher(FetchPolicy(), PinnedOnly(), system_like({})).fetch(f"http://{host}:{remote.port}/x", 1000)
    assert remote.requests == []


def test_size_caps_apply_while_streaming_and_to_a_declared_length(remote):
    fetcher = Fetcher(FetchPolicy(allow_private=True))
    with pytest.raises(TooLarge, match="exceeds the limit of 100000 bytes"):
        fetcher.fetch(remote.url("/big?n=300000"), 100_000)
    with pytest.raises(TooLarge, match="sends 5000000 bytes"):
        fetcher.fetch(remote.url("/declared?n=5000000"), 100_000)
    assert len(fetcher.fetch(remote.url("/big?n=50000"), 100_000).content) == 50_000


def test_http_errors_are_fetch_errors(remote):
    with pytest.raises(FetchError, match="answered HTTP 404"):
        Fetcher(FetchPolicy(allow_private=True)).fetch(remote.url("/missing"), 1000)


# -- chat media: uploads to the fake grok.com ------------------------------------------------------------
LIMITS = MediaLimits(max_image_bytes=1 << 20, max_request_bytes=4 << 20)


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_latest_turn_media_is_uploaded_concurrently_in_order_and_earlier_media_is_named(fake, settings_for, remote):
    client = GrokClient.from_settings(settings_for())
    first, second = jpeg("first"), jpeg("second")
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "old"},
                {"type": "image_url", "image_url": {"url": "https://x.test/old.png"}},
            ],
        },
        {"role": "assistant", "content": "seen"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": data_uri("image/jpeg", first)}},
                {"type": "text", "text": "compare with"},
                {"type": "image_url", "image_url": {"url": remote.url("/photo.jpg")}},
                {
                    "type": "file",
                    "file": {"filename": "report.pdf", "file_data": data_uri("application/pdf", b"%PDF-1.4 r")},
                },
                {"type": "image_url", "image_url": {"url": data_uri("image/jpeg", second)}},
            ],
        },
    ]
    fetcher = Fetcher(FetchPolicy(allow_private=True))
    media = prepare_chat_media(messages, client, fetcher, LIMITS)

    uploads = [e for e in fake.requests_log("/rest/app-chat/upload-file")]
    assert len(uploads) == 4 and all(e["status"] == 200 for e in uploads)
    by_name = {e["body"]["fileName"]: e["body"] for e in uploads}
    assert set(by_name) == {"image-2-0.jpg", "image-2-2.jpg", "report.pdf", "image-2-4.jpg"}
    assert base64.b64decode(by_name["image-2-0.jpg"]["content"]) == first
    assert base64.b64decode(by_name["image-2-2.jpg"]["content"]) == PHOTO
    assert by_name["image-2-2.jpg"]["fileMimeType"] == "image/jpeg"  # sniffed; the server claimed png
    assert by_name["report.pdf"]["fileMimeType"] == "application/pdf"
    # attachments follow the parts' order, whatever order the uploads finished in
    files = {f["fileMetadataId"]: f for f in fake.store()["files"]}
    assert [files[i]["fileName"] for i in media.file_ids] == [
        "image-2-0.jpg",
        "image-2-2.jpg",
        "report.pdf",
        "image-2-4.jpg",
    ]
    assert files[media.file_ids[3]]["sha256"] == hashlib.sha256(second).hexdigest()
    assert media.placeholder(0, 1) == "[image: image-0-1.png]"
    assert media.placeholder(2, 3) == "[file: report.pdf]"
    assert [r["path"] for r in remote.requests] == ["/photo.jpg"]  # the earlier turn's URL is not fetched


def test_a_refused_url_fails_the_request_naming_the_part_and_uploads_nothing(fake, settings_for, remote):
    client = GrokClient.from_settings(settings_for())
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": data_uri("image/png", PNG)}},
                {"type": "image_url", "image_url": {"url": remote.url("/img.png")}},
            ],
        }
    ]
    with pytest.raises(MediaError) as info:
        prepare_chat_media(messages, client, Fetcher(FetchPolicy()), LIMITS)
    assert info.value.where == "messages[0].content[1]"
    assert "loopback" in info.value.message
    assert remote.requests == []


def test_an_upstream_upload_failure_names_the_part(fake, settings_for):
    client = GrokClient.from_settings(settings_for())
    fake.enqueue(
        "/rest/app-chat/upload-file",
        status=403,
        body={"error": {"code": 7, "message": "Request rejected by anti-bot rules."}},
    )
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_uri("image/png", PNG)}}]}]
    with pytest.raises(UploadFailed) as info:
        prepare_chat_media(messages, client, Fetcher(FetchPolicy()), LIMITS)
    assert info.value.where == "messages[0].content[0]"
    assert info.value.error.failure_class == "anti_bot"


def test_uploads_of_one_request_run_concurrently(fake, settings_for):
    # Each upload is answered after 1 s: all three must have reached grok.com before the first answer.
    fake.enqueue("/rest/app-chat/upload-file", body={"fileMetadataId": "slow-upload"}, delay=1.0, times=3)
    messages = [
        {
            "role": "user",
            "content": [
                image_part
                for image_part in (
                    {"type": "image_url", "image_url": {"url": data_uri("image/jpeg", jpeg(f"img{i}"))}}
                    for i in range(3)
                )
            ],
        }
    ]
    media = prepare_chat_media(messages, GrokClient.from_settings(settings_for()), Fetcher(FetchPolicy()), LIMITS)
    assert media.file_ids == ["slow-upload"] * 3
    arrivals = [e["time"] for e in fake.requests_log("/rest/app-chat/upload-file")]
    assert len(arrivals) == 3 and max(arrivals) - min(arrivals) < 1.0
