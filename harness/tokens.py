"""Token-level work shared by every adapter: pair encoding, rolling windows, scoring spans.

Plain functions over lists of token ids, no torch: the Hugging Face adapter, the from-scratch
adapter and the n-gram model all call these, so they cut text into tokens the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.api import Exchange, Loglikelihood, LoglikelihoodRequest, RollingLoglikelihood

Encode = Callable[[str], list[int]]


@dataclass(frozen=True)
class Span:
    """A stretch of tokens of which the last `n_targets` are scored.

    The model reads `tokens[:-1]` and the predictions at its last `n_targets` positions are scored
    against `tokens[-n_targets:]`. Every log-likelihood computation in the harness is a list of
    spans: one per request for `loglikelihood`, one per window for `loglikelihood_rolling`.
    """

    tokens: tuple[int, ...]
    n_targets: int

    def __post_init__(self) -> None:
        if not 0 < self.n_targets < len(self.tokens):
            raise ValueError(f"a span needs 1..{len(self.tokens) - 1} targets, got {self.n_targets}")

    @property
    def inputs(self) -> tuple[int, ...]:
        return self.tokens[:-1]

    @property
    def targets(self) -> tuple[int, ...]:
        return self.tokens[-self.n_targets :]


@dataclass(frozen=True)
class SpanScore:
    logprob: float  # sum of the natural-log probabilities of the span's targets
    is_greedy: bool  # every target was the argmax at its position (False when not checked)


# Scores spans, results in input order.
ScoreSpans = Callable[[Sequence[Span]], list[SpanScore]]


def pair_loglikelihoods(
    score: ScoreSpans,
    encode: Encode,
    prefix_token: int,
    max_length: int,
    requests: Sequence[LoglikelihoodRequest],
    render_chat: Callable[[str, Sequence[Exchange]], str] | None = None,
) -> list[Loglikelihood]:
    """The `loglikelihood` method of the contract, for any adapter that can score spans.

    `render_chat(context, history)` turns a context into the chat-template text of the earlier
    exchanges, a user turn and the assistant's turn opening; requests with `chat=True` use it
    when the adapter has one.
    """
    spans = []
    for r in requests:
        if r.chat and render_chat is not None:
            # The template ends where the reply starts (e.g. "<|im_start|>assistant\n"): its
            # trailing newline stays in the context and the reply starts without a space.
            context, continuation = encode_pair(
                encode, render_chat(r.context, r.history), r.continuation.lstrip(), prefix_token, move_space=False
            )
        else:
            context, continuation = encode_pair(encode, r.context, r.continuation, prefix_token)
        spans.append(pair_span(context, continuation, max_length))
    return [Loglikelihood(s.logprob, s.is_greedy, span.n_targets) for s, span in zip(score(spans), spans)]


def rolling_loglikelihoods(
    score: ScoreSpans, encode: Encode, prefix_token: int, max_length: int, texts: Sequence[str]
) -> list[RollingLoglikelihood]:
    """The `loglikelihood_rolling` method of the contract: all windows of all texts scored in one
    call (so they batch together), then summed per text. `score` need not check greediness."""
    windows = [rolling_windows(encode(t), prefix_token, max_length) for t in texts]
    scores = iter(score([w for ws in windows for w in ws]))
    return [
        RollingLoglikelihood(sum(next(scores).logprob for _ in ws), sum(w.n_targets for w in ws)) for ws in windows
    ]


def split_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """Move the context's trailing whitespace to the front of the continuation.

    Tokenizers glue a space to the word after it (" sat"), so "The cat " + "sat" must be scored as
    "The cat" + " sat" (lm-evaluation-harness `_encode_pair`).
    """
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def encode_pair(
    encode: Encode, context: str, continuation: str, prefix_token: int, move_space: bool = True
) -> tuple[list[int], list[int]]:
    """Context and continuation tokens, tokenised together so the boundary is what the model sees.

    An empty context is replaced by `prefix_token` (BOS, or EOS for models without BOS). The
    context's trailing whitespace moves to the continuation unless `move_space` is False.
    """
    if move_space:
        context, continuation = split_trailing_space(context, continuation)
    if not context:
        return [prefix_token], encode(continuation)
    whole = encode(context + continuation)
    context_tokens = encode(context)
    return context_tokens, whole[len(context_tokens) :]


def pair_span(context_tokens: Sequence[int], continuation_tokens: Sequence[int], max_length: int) -> Span:
    """The span that scores a continuation, its context truncated on the left to fit `max_length`.

    The model reads at most `max_length` tokens; a continuation longer than that cannot be scored
    in one pass and is an error rather than silently truncated.
    """
    if not continuation_tokens:
        raise ValueError("the continuation is empty after tokenisation; nothing to score")
    if len(continuation_tokens) > max_length:
        raise ValueError(
            f"the continuation has {len(continuation_tokens)} tokens, more than the model's "
            f"max length {max_length}"
        )
    tokens = (list(context_tokens) + list(continuation_tokens))[-(max_length + 1) :]
    return Span(tuple(tokens), len(continuation_tokens))


def rolling_windows(tokens: Sequence[int], prefix_token: int, max_length: int) -> list[Span]:
    """Disjoint windows that predict every token of a document exactly once.

    The first window reads [prefix] + t1..t(L-1) and predicts t1..tL. Each later window predicts
    the next at most L tokens and reads the L tokens that precede each prediction, so the last
    window has full left context (lm-evaluation-harness `get_rolling_token_windows` with
    context_len=1, followed by `make_disjoint_window`).

    Example, L = 4, tokens a b c d e f:
        [BOS a b c | a b c d]   reads BOS a b c, predicts a b c d
        [b c d e f | e f]       reads b c d e,   predicts e f
    """
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    tokens = list(tokens)
    if not tokens:
        return []
    first = min(max_length, len(tokens))
    windows = [Span(tuple([prefix_token] + tokens[:first]), first)]
    predicted = first
    while predicted < len(tokens):
        n_predict = min(len(tokens) - predicted, max_length)
        end = predicted + n_predict
        windows.append(Span(tuple(tokens[end - max_length - 1 : end]), n_predict))
        predicted = end
    return windows


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to (not including) the earliest occurrence of any stop sequence."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]
