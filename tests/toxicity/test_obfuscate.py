"""Obfuscation functions: exact outputs on words of at least four letters."""

from __future__ import annotations

from harness.toxicity.obfuscate import OBFUSCATIONS, homoglyphs, leetspeak, punctuated, spaced, zero_width


def test_each_obfuscation_exactly() -> None:
    text = "You are an idiot, Sir."
    assert leetspeak(text) == "You are an 1d107, Sir."
    assert spaced(text) == "You are an i d i o t, Sir."
    assert punctuated(text) == "You are an i.d.i.o.t, Sir."
    assert zero_width(text) == "You are an i\u200bd\u200bi\u200bo\u200bt, Sir."
    glyphs = homoglyphs("idiot loser")
    assert glyphs == "\u0456d\u0456\u043et l\u043es\u0435r"
    assert glyphs != "idiot loser" and len(glyphs) == len("idiot loser")


def test_obfuscations_keep_short_words_and_digits() -> None:
    for fn in OBFUSCATIONS.values():
        assert fn("go to bed 2024") == "go to bed 2024"
        assert fn("") == ""


def test_unicode_words_are_obfuscated_too() -> None:
    assert spaced("naïve café") == "n a ï v e c a f é"
