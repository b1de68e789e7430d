from harness.tokens import Span, cut_at_stop, encode_pair, pair_span, rolling_windows, split_trailing_space

import pytest


def test_rolling_windows_hand_worked_example():
    # L = 4, tokens a..f = 10..15, BOS = 1: the first window reads BOS a b c and predicts a b c d;
    # the second reads b c d e (the four tokens before e and f) and predicts e f.
    windows = rolling_windows([10, 11, 12, 13, 14, 15], prefix_token=1, max_length=4)
    assert [(w.inputs, w.targets) for w in windows] == [
        ((1, 10, 11, 12), (10, 11, 12, 13)),
        ((11, 12, 13, 14), (14, 15)),
    ]


def test_rolling_windows_predict_every_token_once_with_full_left_context():
    tokens = list(range(100, 123))  # 23 tokens
    for L in (1, 2, 5, 7, 23, 50):
        windows = rolling_windows(tokens, prefix_token=0, max_length=L)
        predicted = [t for w in windows for t in w.targets]
        assert predicted == tokens
        for w in windows:
            assert len(w.inputs) <= L
        for w in windows[1:]:
            assert len(w.inputs) == L  # later windows always see L tokens of context


def test_rolling_windows_short_and_empty_documents():
    assert rolling_windows([], prefix_token=0, max_length=4) == []
    (only,) = rolling_windows([7, 8], prefix_token=0, max_length=4)
    assert only.inputs == (0, 7) and only.targets == (7, 8)


def test_trailing_space_moves_to_the_continuation():
    assert split_trailing_space("The cat ", "sat") == ("The cat", " sat")
    assert split_trailing_space("The cat\n\n", "sat") == ("The cat", "\n\nsat")
    assert split_trailing_space("The cat", " sat") == ("The cat", " sat")


def test_encode_pair_tokenises_together_and_uses_bos_for_empty_context():
    def encode(text: str) -> list[int]:  # words with their leading space, as BPE tokenizers do
        import re

        return [hash(w) % 1000 for w in re.findall(r" ?\S+", text)]

    context, continuation = encode_pair(encode, "The cat ", "sat down", prefix_token=1)
    assert context == encode("The cat")
    assert continuation == encode(" sat down")[-2:]
    context, continuation = encode_pair(encode, "", "Hello there", prefix_token=1)
    assert context == [1] and continuation == encode("Hello there")


def test_pair_span_truncates_context_on_the_left():
    span = pair_span([1, 2, 3, 4, 5], [6, 7], max_length=4)
    assert span.inputs == (3, 4, 5, 6) and span.targets == (6, 7)
    with pytest.raises(ValueError):
        pair_span([1], [2, 3, 4, 5, 6], max_length=4)
    with pytest.raises(ValueError):
        pair_span([1], [], max_length=4)


def test_span_validates_target_count():
    with pytest.raises(ValueError):
        Span((1, 2), 2)


def test_cut_at_stop_takes_the_earliest_stop():
    assert cut_at_stop("an answer.\nQ: next", ["\n", "Q:"]) == "an answer."
    assert cut_at_stop("no stops here", ["\n"]) == "no stops here"
    assert cut_at_stop("abc", [""]) == "abc"
