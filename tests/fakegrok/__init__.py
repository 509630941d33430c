"""fakegrok: a strict test double of grok.com's web API (real HTTP/1.1 server, own process, stdlib only).

Run:  python -m tests.fakegrok --port 0   ->  prints ``FAKEGROK_READY port=<p>`` (flushed) once listening.
Use:  ``from tests.fakegrok.harness import FakeGrok`` (subprocess + control API client, see harness.py).

CLI options (all also settable later through ``POST /__fake/config``)
  --port N (0 = ephemeral)   --host (127.0.0.1)   --sso (test-sso)   --sso-rw (test-sso-rw)
  --header-hex (98 hex chars, default bytes 00..30)   --suffix (!test-suffix)   --trailer (3)
  --clock-window (30 s)   --auth-failure-status (401|403)   --stale-build   --verbose (access log on stderr)
  (config only) temporary_ttl: seconds a temporary conversation lives after its last message (3600)

Checks on every /rest/ request, in this order (the request log's ``reject`` says which one fired)
  1. ``user-agent`` contains ``Chrome/``              else 403 text/html Cloudflare "Just a moment..." page
  2. cookie ``sso`` and ``sso-rw`` equal the config  else 401 (or auth_failure_status) code 16 bad-credentials
  3. ``x-statsig-id`` valid for METHOD + path (no query), counter within ±clock_window, not reused
                                                      else 403 {"error":{"code":7,"message":"Request rejected by
                                                      anti-bot rules.","details":[]}}
     config ``stale_build: true`` -> 403 {"code":7,"message":"This page is out of date. Reload to continue.",...}
  4. ``x-xai-request-id`` is a UUID, ``origin`` == base URL, ``referer`` == base URL + "/" (or + "/imagine")
                                                      else 403 anti-bot body
     a non-empty body needs ``content-type: application/json`` and must parse  else 400 code 3
     "Invalid request. Please update your client."
  5. route: unknown path 404 {"code":5,"message":"Not found","details":[]}; wrong verb 405 (+Allow).
  Chat bodies are type-checked like proto3 JSON (e.g. ``temporary: "yes"`` -> 400 code 3) and an unknown
  ``modelName`` (config ``known_models``; null = any) gives 403 {"error":{"code":7,"message":"Model is not found"}}.
  Non-/rest/ paths (other than /__fake/ and /assets/) -> 404 HTML.
  ``fileAttachments`` ids must be files uploaded to this fake (else 400 code 3).

Asset host (assets.grok.com; tests set GROK_ASSETS_URL=<fake>/assets): GET/HEAD /assets/<path> needs a Chrome
UA (else the Cloudflare page) and the sso/sso-rw cookies (else auth_failure_status), no x-statsig-id;
unknown path -> 404 XML NoSuchKey. It serves every uploaded file at its ``fileUri`` (the uploaded bytes and
mime type) and every image the image scenarios emit (previews ``-part-0/1`` and unmoderated finals): real
8x8 baseline JPEGs whose COM segment names the image (media.py ``jpeg_comment``).
  Token reuse: a repeated token is rejected when it comes with an already-seen x-xai-request-id (replay) or
  was first seen more than ``reuse_grace`` s ago (default 10; 0 = every repeat). Honest signers collide with
  probability 1/256 for the same METHOD+path in the same second, hence the grace.

Endpoints (under /rest/app-chat unless noted), with non-200 successes
  POST conversations/new                        200 NDJSON stream (framing: result.response.*)
  POST conversations/{id}/responses             200 stream, continuation framing result.* (no "response"),
                                                answering the thread (threads.py); 404 unknown/soft-deleted/
                                                expired temporary conv or unknown parentResponseId; 400 code 3
                                                for a parent that is not an answer or a temporary flag change
  GET  conversations/{id}/responses[?includeThreads=true]   {"responses":[...]} (threaded ones only with flag)
  POST quick-answer {query}                     200 stream (result.response.*, no conversation/userResponse)
  GET  conversations/reconnect-response-v2/{rid} 200 stream replaying the stored answer; 404 unknown rid
  POST conversations/{id}/stop-inflight-responses  200 {} (ends in-flight streams: partial modelResponse)
  DELETE conversations/inflight-response/{rid}  204 empty (ends that stream)
  GET  conversations?pageSize&pageToken&filterIsStarred&workspaceId  {"conversations":[...],"nextPageToken"?}
       (temporary and soft-deleted ones are not listed; pageSize 1..100, bad token -> 400)
  DELETE conversations                          204 empty (deletes all)
  GET  conversations/deleted                    soft-deleted ones
  GET/PUT conversations/{id}                    conversation; PUT {title?, starred?}
  DELETE conversations/{id}[?deleteMedia=true]  204 empty
  DELETE conversations/soft/{id}                204 empty
  GET  conversations/exists/{id}                200 {"exists":true}; unknown id -> 404 code 5 (chosen behaviour)
  POST conversations/restore {conversationId}   200 {}
  POST conversations/{id}/title                 {"newTitle":...}
  POST conversations/{id}/artifacts_metadata    {"artifacts":[...]}
  POST upload-file {fileName,fileMimeType,content(base64)}  {fileMetadataId,fileUri,size,sha256,...}; bad base64
       -> 400; the bytes are then served by the asset host at fileUri
  POST file-metadata/{id}   POST run-code {language,code} (never executed)   POST tts {articles}
  GET  read-response/{rid}, read-response-audio/{rid}  200 chunked audio/mpeg bytes; 404 unknown rid
  POST voice/post-recording                     201 EMPTY body (Content-Length: 0)
  POST voice/share {videoBytes,text}
  GET  user-memory-blurb   GET memories_v2/{companionId}   PUT memory_v2/{memoryId} {content}
  DELETE memory_v2/{id}, memory_v2/soft/{id}, memories_v2/{companionId}, memories_v2/soft/{companionId}  204
  POST memory {conversationIds}                 {"memories":[...]}
  DELETE memory?conversationIds=a&conversationIds=b   204 (none given -> 400)
  POST artifacts/{id}   POST artifacts/{id}/update {fullArtifact|artifactDiff, artifactVersionId?}
  GET  artifact_content/{versionId}
  POST conversations/{id}/share                 201 {"shareLinkId":...,"shareLink":...}
  POST conversations/{id}/share_artifact {responseId,artifactId,artifactVersionId}
  GET  share_links   GET share_links_data/{id}   DELETE share_links/{id} 204
  POST share_links/{id}/clone                   201 {"conversation":{...},"responses":[...]}
  GET  shared_artifacts/{id}   GET suggestions?query&count   GET conversation-starters
  POST fetch-suggestions   GET image-generations   GET google-drive/files[?query]   GET google-drive/files/{id}
  POST /rest/livekit/tokens {"token":"<jwt>","url":"wss://livekit.grok.com"}   POST /rest/rate-limits
  Unknown ids -> 404 {"code":5,"message":"... not found","details":[]}.
  Seeded after every reset: artifact ``art-demo`` (version ``artv-demo-1``), shared artifact ``shared-art-demo``,
  memories ``mem-demo-1``/``mem-demo-2`` of companion ``companion-demo``, drive files ``gdrive-demo-1``/``-2``.

grok.com's frontend builds (build.py): GET /, /imagine (and /index, 404 with the page) serve the current build's page
(seed meta, release marker, the curve table in the flight data, script tags); GET /_next/static/chunks/<name>.js its
chunks (a loader pulling the generator chunk of module 1645e3, decoys; old builds' chunks stay). A token carrying a seed
of the current build must match that seed's L (the spec's browser-captured values, disguised per build); a retired
build's seed gets 403 "This page is out of date" (code 7). Config ``accept_static_pair`` (default true) also accepts the
header_hex/suffix pair; ``page``: ok | broken (no seed, no curves) | cloudflare | login_redirect (a cookie-carrying page
load is redirected) | not_found (every page load answers 404 with the full page). Control: GET /__fake/build
(release, index set, chunks, valid pairs), POST /__fake/build
{"spec"?, "generator": "plain"|"obfuscated", "form": "2026"|"turbopack"} ships a new build (``form``: the shapes its
page and chunks come in, build.py). POST /rest/modes lists config ``modes`` (default:
auto, fast, expert, heavy (available false), build (beta)).

Chat scenarios: put ``#scenario:<name>[?k=v&...]`` anywhere in ``message`` (``query`` for quick-answer); the
LAST marker wins; params end at whitespace or ``<``, URL-decoded (``%20``/``+`` = space). Unknown name -> 400.
  plain (default; text=, tokens=N; names the fileAttachments)  thinking (text=)  multi_agent (agents=Grok,Harper;
  text=)  search (query=, tool_card=0)  image (count=imageGenerationCount|2, moderated=1|all, bytes=N per image;
  default when toolOverrides.imageGen is true)  image_edit (count=imageGenerationCount|1, moderated=1, bytes=N;
  default for an image edit: body ``modelName: "imagine-image-edit"`` + ``mediaGenInput.imageToImage{prompt,
  inputAssets:[uploaded image fileMetadataIds], aspectRatio?}``, else 400 code 3; the results' JPEG comment is
  ``edit-of-<sha256 of the first input>:<imageId>``)  artifact (title=, content=)  tool_call (text=)
  slow (n=20, delay=0.1)  long (n=5000, size=8)  first_token_delay (delay=2)  idle (gap=600)
  empty_answer  inband_error (message=, code=8, where=response|top)  usage_limit (where=)
  too_long (where=status|response|top: 400 code 3 "…as expansive as the galaxy…", or that error in the stream)
  drop (rst=1 for RST instead of FIN)  malformed  huge_line (size=16 MiB+1)  invalid_utf8  gzip
  slow_headers (delay=2, then plain)
  status answers: rate_limited (retry_after=30, date=1)  expired (status=)  anti_bot  cloudflare  blocked
  outdated  model_not_found  server_error (status=500|502|503); on the WebSocket lane they refuse the turn
  with an error event, after refuse_after=S seconds of silence when given
Stream line order (new): conversation, userResponse, uiLayout, [scenario lines], modelResponse{responseId,
message, metadata.llm_info.modelHash, ...}, title{newTitle}, {"token":"","isSoftStop":true}. Streams use
``content-type: application/json`` + chunked encoding, one line per chunk (gzip: one sync-flushed chunk per line).

Control API (no auth): GET/DELETE /__fake/requests[?path_prefix=] (each entry: method, path, headers, body,
  bytes = the request body's size, status, scenario, reject, ...)  GET/POST /__fake/config  GET /__fake/asset?path=
  (raw asset bytes, not logged)
  POST/GET/DELETE /__fake/enqueue  GET /__fake/stats  POST /__fake/reset  GET /__fake/store  GET /__fake/health
  Enqueued canned responses ({path (prefix), method?, status, body?, body_base64?, headers?, times, delay?,
  lines?+line_delay?}) are served BEFORE the auth checks (they simulate upstream states; the log still records
  the statsig verdict and ``canned: true``). An item with ``scenario: "slow?n=3"`` instead forces the scenario of
  the next matching request, which goes through all checks normally.
  stats: connections_accepted/connections_open count TCP connections that carried >= 1 non-control request;
  requests counts non-control requests; streams_* and aborts describe chunked responses. A stream is aborted
  when a write fails or the client closes (EOF/RST seen by poll() between lines, within ~50 ms);
  streams_dropped counts the ``drop`` scenario.
"""

from .harness import FakeGrok

__all__ = ["FakeGrok"]
