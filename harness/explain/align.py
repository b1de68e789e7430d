"""Token differences between two options: their token sequences aligned on what they share, so a
reviewer sees which tokens carry the difference in log-likelihood.

The alignment is difflib's longest-matching-blocks alignment of the two token-id sequences
(whole spans, context included). Every scored token of an option lies in exactly one segment, so
the segments' differences add up to LL(a) - LL(b) exactly.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.explain.compute import TextExplanation


@dataclass(frozen=True)
class Segment:
    same: bool  # the two options have the same tokens here
    a: tuple[int, int]  # [start, end) token positions in option a
    b: tuple[int, int]  # [start, end) token positions in option b


def segments(tokens_a: Sequence[int], tokens_b: Sequence[int]) -> list[Segment]:
    matcher = difflib.SequenceMatcher(a=list(tokens_a), b=list(tokens_b), autojunk=False)
    return [Segment(tag == "equal", (i1, i2), (j1, j2)) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]


def logprob_at(e: TextExplanation) -> list[float | None]:
    """Per token position of the span: its log-prob when it is scored, else None."""
    first = len(e.tokens) - e.n_targets
    return [None] * first + list(e.logprobs)


def segment_deltas(a: TextExplanation, b: TextExplanation, segs: Sequence[Segment]) -> list[float]:
    """Per segment: the sum of a's target log-probs in it minus b's."""
    lp_a, lp_b = logprob_at(a), logprob_at(b)
    return [
        math.fsum(x for x in lp_a[slice(*s.a)] if x is not None) - math.fsum(x for x in lp_b[slice(*s.b)] if x is not None)
        for s in segs
    ]


def token_differences(a: TextExplanation, b: TextExplanation, segs: Sequence[Segment]) -> list[float | None]:
    """Per token position of a: lp_a - lp_b of the aligned token of b when both are scored
    (shared tokens), else None (a differing span, or context)."""
    lp_a, lp_b = logprob_at(a), logprob_at(b)
    out: list[float | None] = [None] * len(a.tokens)
    for s in segs:
        if s.same:
            for i, j in zip(range(*s.a), range(*s.b)):
                x, y = lp_a[i], lp_b[j]
                if x is not None and y is not None:
                    out[i] = x - y
    return out


def aligned_baseline(n_inputs_a: int, tokens_b: Sequence[int], segs: Sequence[Segment]) -> list[int | None]:
    """The `other` baseline of a's input positions: b's aligned token where the texts align
    (shared tokens, and differing spans of the same length, token by token), else None (zero)."""
    tokens: list[int | None] = [None] * n_inputs_a
    for s in segs:
        if s.a[1] - s.a[0] == s.b[1] - s.b[0]:
            for i, j in zip(range(*s.a), range(*s.b)):
                if i < n_inputs_a:
                    tokens[i] = tokens_b[j]
    return tokens
