"""The bytes a tokenizer's vocabulary piece stands for.

`harness serve` reports where each token starts in the text (`text_offset`). Decoding tokens one
at a time cannot say that exactly: a byte-level token may hold part of a character ("é" can be
two tokens of one byte each) and decodes alone to U+FFFD. The raw bytes of each piece can, so the
adapters with a `tokenizers` vocabulary (hf, scratch) turn their pieces into bytes here.
"""

from __future__ import annotations

import functools
import re

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")  # SentencePiece byte fallback, e.g. <0xE2>
_SPACE = "\u2581"  # SentencePiece's visible space


@functools.cache
def byte_level_alphabet() -> dict[str, int]:
    """The symbol -> byte table of byte-level BPE (GPT-2's): bytes that are printable Latin-1
    characters stand for themselves; the other 68 (control characters, space, soft hyphen...)
    are shifted to code points 256 and up, in byte order."""
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
    table: dict[str, int] = {}
    shifted = 0
    for byte in range(256):
        if byte in printable:
            table[chr(byte)] = byte
        else:
            table[chr(256 + shifted)] = byte
            shifted += 1
    return table


def piece_bytes(piece: str, byte_level: bool) -> bytes:
    """The bytes of one vocabulary piece (not an added or special token: those are literal text).

    Byte-level pieces map symbol by symbol; other vocabularies (SentencePiece) spell a space as
    U+2581 and a raw byte as <0xNN>.
    """
    if byte_level:
        table = byte_level_alphabet()
        if all(c in table for c in piece):
            return bytes(table[c] for c in piece)
        return piece.encode("utf-8")
    match = _BYTE_TOKEN.fullmatch(piece)
    if match:
        return bytes([int(match.group(1), 16)])
    return piece.replace(_SPACE, " ").encode("utf-8")
