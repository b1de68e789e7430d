"""Obfuscations a writer uses to slip past a filter, for the robustness part of filter evaluation.

Each is a deterministic `str -> str` applied to every word of at least MIN_WORD letters (the
words that carry an insult are rarely shorter; short function words stay readable). Robustness
is recall on toxic items after the obfuscation divided by recall on the clean text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MIN_WORD = 4
ZERO_WIDTH_SPACE = "\u200b"

LEET = str.maketrans({"a": "4", "A": "4", "e": "3", "E": "3", "i": "1", "I": "1", "o": "0", "O": "0", "s": "5", "S": "5", "t": "7", "T": "7"})
# Latin letters and the Cyrillic letters drawn the same in most fonts.
HOMOGLYPHS = str.maketrans({
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445", "y": "\u0443", "i": "\u0456",
    "A": "\u0410", "C": "\u0421", "E": "\u0415", "O": "\u041e", "P": "\u0420", "X": "\u0425", "H": "\u041d", "K": "\u041a",
})
_WORD = re.compile(r"[^\W\d_]{%d,}" % MIN_WORD)


def _per_word(transform: Callable[[str], str]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        return _WORD.sub(lambda m: transform(m.group(0)), text)

    return apply


def leetspeak(text: str) -> str:
    """idiot -> 1d107"""
    return _per_word(lambda w: w.translate(LEET))(text)


def spaced(text: str) -> str:
    """idiot -> i d i o t"""
    return _per_word(lambda w: " ".join(w))(text)


def punctuated(text: str) -> str:
    """idiot -> i.d.i.o.t"""
    return _per_word(lambda w: ".".join(w))(text)


def homoglyphs(text: str) -> str:
    """idiot -> іdіоt (Cyrillic і and о): looks the same, different code points."""
    return _per_word(lambda w: w.translate(HOMOGLYPHS))(text)


def zero_width(text: str) -> str:
    """idiot -> i\u200bd\u200bi\u200bo\u200bt: invisible, but splits the word for a tokenizer."""
    return _per_word(lambda w: ZERO_WIDTH_SPACE.join(w))(text)


OBFUSCATIONS: dict[str, Callable[[str], str]] = {
    "leetspeak": leetspeak,
    "spaces": spaced,
    "punctuation": punctuated,
    "homoglyphs": homoglyphs,
    "zero_width": zero_width,
}
