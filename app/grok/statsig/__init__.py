"""grok.com's `x-statsig-id` anti-bot token: the generator, the derivation of its per-build
values from grok.com's own page, and the STATSIG_SOURCE chain (docs/statsig.md; how the
token is made: docs/grok-protocol.md).

  token        the 70-byte token from one build's values (seed, fingerprint L)
  fingerprint  L from the seed, the page's curve table and the build's index set
  page         reading the seed, the curve table, script URLs and build markers from the HTML
  chunks       finding the generator script and the index set it reads
  derive       fetching and putting it all together, validated by a live canary
  signers      env / provider / none signers
  chain        STATSIG_SOURCE=auto|derived|env|provider, cached per build, renewed on rejection
"""

from .signers import ChallengeSigner, NoSigner, ProviderSigner, Signature, Signer
from .token import EPOCH, HEADER_LEN, SALT, ChallengeValues, build_token, parse_header_hex

__all__ = [
    "EPOCH",
    "HEADER_LEN",
    "SALT",
    "ChallengeSigner",
    "ChallengeValues",
    "NoSigner",
    "ProviderSigner",
    "Signature",
    "Signer",
    "build_token",
    "parse_header_hex",
]
