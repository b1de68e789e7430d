"""From token bytes to text: the decoded text, each token's character offset, its display string.

A byte-level token may hold part of a character. The rule here is the one of streaming
detokenisation: a character belongs to the token that completes it. Token i starts at the number
of complete characters decoded from the tokens before it, so offsets never decrease, and
`text[offset_i:offset_(i+1)]` is the text token i completes: the token's own text when it holds
whole characters, "" for a token holding only the leading bytes of a character (the token that
completes the character gets all of it).
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


def decode_with_offsets(pieces: Sequence[bytes]) -> tuple[str, list[int]]:
    """(text, character offset of each token) for the tokens whose bytes are `pieces`. Bytes that
    are not UTF-8 decode to U+FFFD, as they do when a tokenizer decodes them."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts: list[str] = []
    offsets: list[int] = []
    length = 0
    for piece in pieces:
        offsets.append(length)
        part = decoder.decode(piece)
        parts.append(part)
        length += len(part)
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts), offsets


def token_string(piece: bytes) -> str:
    """A token as `tokens` and `top_logprobs` name it: its text, or, when its bytes are not whole
    UTF-8 characters, "bytes:" and the escaped bytes (OpenAI's convention)."""
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in piece)
