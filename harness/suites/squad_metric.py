"""SQuAD answer scoring, with the semantics of the official evaluation scripts.

`evaluate-v1.1.py` and `evaluate-v2.0.py` (Rajpurkar et al.) normalise an answer by lower-casing,
removing every character of `string.punctuation`, removing the words a/an/the and collapsing
whitespace. Exact match compares normalised strings; F1 is token F1 with *multiset* overlap
(`Counter` intersection), so a repeated word counts as often as it appears in both. HELM and
inspect use set overlap instead, which gives different numbers on repeated words.

The two scripts differ in three places, all on empty answers:
- v1.1: F1 is 0 whenever no token is shared, so an empty prediction scores F1 = 0 even against an
  empty reference (exact match is still 1 when both normalise to "").
- v2.0: when the reference or the prediction normalises to no tokens, F1 = 1[both are empty].
- v2.0: references that normalise to "" are dropped; a question left with none (an unanswerable
  one) is scored against the single reference "".
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Variant = Literal["v1.1", "v2.0"]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str, variant: Variant) -> float:
    pred, ref = answer_tokens(prediction), answer_tokens(reference)
    if variant == "v2.0" and (not pred or not ref):
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())  # multiset overlap
    if common == 0:
        return 0.0
    precision = common / len(pred)
    recall = common / len(ref)
    return 2 * precision * recall / (precision + recall)


def scored_references(references: Sequence[str], variant: Variant) -> list[str]:
    """The references a prediction is compared with (v2.0 drops those that normalise to "")."""
    if variant == "v1.1":
        return list(references)
    kept = [r for r in references if normalize_answer(r)]
    return kept or [""]


@dataclass(frozen=True)
class AnswerScore:
    exact_match: float  # 0 or 1
    f1: float  # in [0, 1]


def score_answer(prediction: str, references: Sequence[str], variant: Variant) -> AnswerScore:
    """Best exact match and best F1 over the references, each maximised separately."""
    refs = scored_references(references, variant)
    if not refs:
        raise ValueError("a v1.1 question needs at least one reference answer")
    return AnswerScore(
        exact_match=max(exact_match(prediction, r) for r in refs),
        f1=max(token_f1(prediction, r, variant) for r in refs),
    )
