"""The SQuAD metric against values worked out by hand from the official scripts' definitions."""

from __future__ import annotations

import pytest

from harness.suites.squad_metric import normalize_answer, score_answer, token_f1


@pytest.mark.parametrize(
    "text, normalised",
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("U.S.A.", "usa"),
        ("state-of-the-art", "stateoftheart"),  # punctuation is deleted, not replaced by a space
        ("An apple a day", "apple day"),
        ("Theatre of the other", "theatre of other"),  # articles only as whole words
        ("  many\t\nspaces  ", "many spaces"),
        ("new\u00a0york", "new york"),  # str.split() treats a no-break space as whitespace
        ("«Café»", "«café»"),  # only ASCII punctuation (string.punctuation) is removed
        ("1914\u20131918", "1914\u20131918"),  # an en dash is not ASCII punctuation
        ("thé a", "thé"),  # \b is Unicode-aware: "thé" is one word, not "the" + "é"
        ("The.", ""),
    ],
)
def test_normalisation(text: str, normalised: str) -> None:
    assert normalize_answer(text) == normalised


def test_multiset_overlap_not_set_overlap() -> None:
    # pred tokens [red, red, red], ref [red]: Counter overlap 1, P = 1/3, R = 1, F1 = 2PR/(P+R) = 0.5.
    # (Set overlap, as HELM and inspect compute it, would give 1.0.)
    assert token_f1("red red red", "red", "v1.1") == pytest.approx(0.5)
    # pred "cat cat sat" (articles gone), ref "cat sat on mat": overlap cat 1 + sat 1 = 2,
    # P = 2/3, R = 2/4, F1 = 2 * (1/3) / (7/6) = 4/7.
    assert token_f1("the cat the cat sat", "cat sat on the mat", "v1.1") == pytest.approx(4 / 7)


def test_punctuation_can_split_or_join_words() -> None:
    score = score_answer("state-of-the-art", ["state of the art"], "v1.1")
    assert (score.exact_match, score.f1) == (0.0, 0.0)  # "stateoftheart" vs "state of art"
    score = score_answer("U.S.A.", ["the USA"], "v1.1")
    assert (score.exact_match, score.f1) == (1.0, 1.0)


def test_unicode_strings() -> None:
    score = score_answer("café", ["«Café»"], "v1.1")
    assert (score.exact_match, score.f1) == (0.0, 0.0)
    # "Café de Flore" vs "cafe de flore": only "de" and "flore" shared: P = R = 2/3.
    assert score_answer("Café de Flore", ["cafe de flore"], "v1.1").f1 == pytest.approx(2 / 3)


def test_several_references_each_maximised_separately() -> None:
    # vs "1871": P = 1/2, R = 1 -> 2/3; vs "year 1871": P = R = 1/2 -> 1/2. No exact match.
    score = score_answer("in 1871", ["1871", "the year 1871"], "v1.1")
    assert score.exact_match == 0.0
    assert score.f1 == pytest.approx(2 / 3)
    # F1 is best against the longer reference (P = 1, R = 2/3 -> 0.8), EM against neither.
    score = score_answer("Paris, France", ["Paris", "Paris France capital"], "v1.1")
    assert score.exact_match == 0.0
    assert score.f1 == pytest.approx(0.8)
    # exact match on the second reference only
    score = score_answer("the waggle dance", ["a dance", "Waggle dance."], "v1.1")
    assert (score.exact_match, score.f1) == (1.0, 1.0)


def test_empty_predictions_v11() -> None:
    assert score_answer("", ["Paris"], "v1.1") == score_answer("", ["Paris"], "v2.0")
    assert (score_answer("", ["Paris"], "v1.1").exact_match, score_answer("", ["Paris"], "v1.1").f1) == (0.0, 0.0)
    # v1.1 quirk: both normalise to "" -> exact match 1 but F1 0 (no shared token).
    score = score_answer("The.", ["a"], "v1.1")
    assert (score.exact_match, score.f1) == (1.0, 0.0)


def test_v2_no_answer_rules() -> None:
    # An unanswerable question is scored against the single reference "".
    assert (score_answer("", [], "v2.0").exact_match, score_answer("", [], "v2.0").f1) == (1.0, 1.0)
    assert (score_answer("Paris", [], "v2.0").exact_match, score_answer("Paris", [], "v2.0").f1) == (0.0, 0.0)
    # A prediction that normalises to nothing is an abstention: F1 = EM = 1[reference empty too].
    assert (score_answer("the", [], "v2.0").exact_match, score_answer("the", [], "v2.0").f1) == (1.0, 1.0)
    assert score_answer("...", ["Paris"], "v2.0").f1 == 0.0
    # v2.0 drops references that normalise to ""; v1.1 keeps them.
    assert score_answer("", ["the", "Paris"], "v2.0").exact_match == 0.0
    assert score_answer("", ["the", "Paris"], "v1.1").exact_match == 1.0
    # On ordinary answers the two scripts agree.
    for pred, refs in [("in 1871", ["1871", "the year 1871"]), ("red red red", ["red"])]:
        assert score_answer(pred, refs, "v2.0") == score_answer(pred, refs, "v1.1")
