"""Token bytes -> text and offsets (harness.serve.text), and the byte-level table the hf and
scratch adapters read their pieces with, checked against independent references."""

from __future__ import annotations

import pytest

from harness.models.token_bytes import byte_level_alphabet, piece_bytes
from harness.serve.text import decode_with_offsets, token_string


def test_byte_level_table_is_gpt2s() -> None:
    from transformers.convert_slow_tokenizer import bytes_to_unicode  # the reference table

    assert byte_level_alphabet() == {symbol: byte for byte, symbol in bytes_to_unicode().items()}
    assert piece_bytes("Ġcaf" + "Ã©", byte_level=True) == " café".encode()
    assert piece_bytes("<0xE2>", byte_level=False) == b"\xe2"
    assert piece_bytes("\u2581the", byte_level=False) == b" the"


@pytest.mark.parametrize("text", ["plain ascii", "Héllo wörld", "emoji 😀 and ✓", "", "a\u0301 combining"])
def test_offsets_by_the_completing_token(text: str) -> None:
    data = text.encode()
    for cut in (1, 2, 3):  # tokens of 1, 2 or 3 bytes, splitting characters anywhere
        pieces = [data[i : i + cut] for i in range(0, len(data), cut)]
        decoded, offsets = decode_with_offsets(pieces)
        assert decoded == text
        bounds = offsets + [len(text)]
        assert all(a <= b for a, b in zip(bounds, bounds[1:]))
        # a token's slice is the characters whose last byte it holds
        ends = [len(text[: k + 1].encode()) for k in range(len(text))]  # byte end of each character
        start = 0
        for piece, a, b in zip(pieces, bounds, bounds[1:]):
            stop = start + len(piece)
            assert text[a:b] == "".join(c for c, end in zip(text, ends) if start < end <= stop)
            start = stop


def test_invalid_bytes_and_token_names() -> None:
    decoded, offsets = decode_with_offsets([b"ok", b"\xff", b"!"])
    assert decoded == "ok\ufffd!" and offsets == [0, 2, 3]
    assert token_string(b" the") == " the"
    assert token_string(b"\xe2\x80") == "bytes:\\xe2\\x80"
    assert token_string(b"") == ""
