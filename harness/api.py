"""The model adapter contract: three batch methods and `info`.

Every method takes a list of requests and returns a list of results in the same order. Adapters
are free to reorder work internally (sort by length, batch, cache) but never the output.

Worked example, for a model whose tokenizer splits "The cat sat" as ["The", " cat", " sat"]:

    lm.loglikelihood([LoglikelihoodRequest(context="The cat", continuation=" sat")])
    -> [Loglikelihood(logprob=-2.31, is_greedy=True, n_tokens=1)]

`logprob` is log P(" sat" | "The cat"), natural log, summed over the continuation's tokens;
`is_greedy` says whether every continuation token was the argmax at its position.

    lm.loglikelihood_rolling(["The cat sat."])
    -> [RollingLoglikelihood(logprob=-14.2, n_tokens=4)]

is the log-probability of the whole text, every token predicted exactly once, the first one
conditioned on BOS (see harness.tokens.rolling_windows).

    lm.generate([GenerationRequest(prompt="Once upon", max_new_tokens=8, stop=("\\n",))])
    -> [Generation(texts=(" a time there was",))]

returns `n` continuations per request (the prompt not included), each cut before the first stop
sequence. Greedy decoding unless `temperature > 0`; sampling is seeded by `seed`, so the same
request gives the same texts whatever else is in the batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Exchange:
    """One earlier turn of a chat: a user message and the assistant's reply (e.g. a few-shot
    exemplar and its answer, harness.fewshot)."""

    user: str
    assistant: str


@dataclass(frozen=True)
class LoglikelihoodRequest:
    context: str
    continuation: str
    # Render the context through the tokenizer's chat template as one user turn, the continuation
    # being the start of the assistant's reply (its leading whitespace dropped). Adapters whose
    # tokenizer has no chat template score the plain text, as `ModelInfo.has_chat_template` says.
    chat: bool = False
    # With `chat`: earlier exchanges rendered before the context's user turn (multi-turn
    # few-shot). Suites send them only when `ModelInfo.chat` is set; a plain prompt carries its
    # examples in its text. Left out of the call cache's key when empty.
    history: tuple[Exchange, ...] = ()


@dataclass(frozen=True)
class Loglikelihood:
    logprob: float  # sum of natural-log probabilities of the continuation tokens
    is_greedy: bool  # every continuation token is the argmax at its position
    n_tokens: int  # number of continuation tokens scored


@dataclass(frozen=True)
class RollingLoglikelihood:
    logprob: float  # sum of natural-log probabilities of every token of the text
    n_tokens: int


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()
    temperature: float = 0.0  # 0 means greedy decoding
    top_p: float = 1.0
    n: int = 1  # continuations to draw for this prompt, in one batched call
    seed: int | None = None  # required when temperature > 0 for reproducible (and cacheable) samples
    # Render the prompt through the tokenizer's chat template as one user turn (models that have one).
    chat: bool = False
    # With `chat`: earlier exchanges before the prompt's user turn (as LoglikelihoodRequest.history).
    history: tuple[Exchange, ...] = ()

    @property
    def sampled(self) -> bool:
        return self.temperature > 0


@dataclass(frozen=True)
class Generation:
    texts: tuple[str, ...]  # `n` continuations, prompt excluded, cut at the first stop sequence


@dataclass(frozen=True)
class ModelInfo:
    name: str
    adapter: str
    n_parameters: int | None
    tokenizer: str
    max_length: int
    # Hash of the weights and config (and of settings that change outputs, such as dtype). Used as
    # the cache namespace and recorded in results; computing it must not load the model.
    fingerprint: str
    dtype: str | None = None
    device: str | None = None
    has_chat_template: bool = False
    # The preset asks for prompts to go through the chat template (GenerationRequest.chat and
    # suites that build prompts read this; it is part of their protocol id).
    chat: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class LanguageModel(Protocol):
    """What every model adapter implements. See the module docstring for worked examples."""

    @property
    def info(self) -> ModelInfo: ...

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]: ...

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]: ...

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]: ...


class RequestsFailed(Exception):
    """Some requests of a batch could not be answered (a served model's server refused them or
    never answered, after its retries). Raised by an adapter instead of returning a made-up value:
    a failure is never a score.

    `results` holds the answers in request order, None where the request failed; `errors` holds
    one message per failed request (by index), naming the server and what it returned. The call
    cache keeps the answers that did arrive, and the runner journals the items whose requests
    failed as errored records, which the next run of the same command retries.
    """

    def __init__(self, results: list[Any], errors: dict[int, str]) -> None:
        self.results = results
        self.errors = errors
        first = next(iter(errors.values()), "unknown error")
        super().__init__(f"{len(errors)} of {len(results)} requests failed; first: {first}")


@runtime_checkable
class ChecksSupport(Protocol):
    """Optional capability: an adapter that may be unable to serve a method (a served model whose
    server returns no prompt log-probabilities, a chat-only endpoint) says so before any item
    runs, and the runner refuses the suites that need that method with the reason."""

    def unsupported(self, method: str) -> str | None:
        """Why `method` ("loglikelihood", "loglikelihood_rolling" or "generate") cannot be served,
        or None when it can. May ask a server once (a start-up probe) and remember the answer."""
        ...


@dataclass(frozen=True)
class TokenLogprobs:
    """What `TokenScorer.score_tokens` returns for a sequence t_0 .. t_(n-1): one entry per
    position 1 .. n-1 (position 0 has nothing to condition on)."""

    logprobs: tuple[float, ...]  # log P(t_i | t_<i), natural log, float32 log-softmax
    top: tuple[tuple[tuple[int, float], ...], ...]  # per position: the top_k (token id, logprob), best first


@runtime_checkable
class TokenScorer(Protocol):
    """Optional capability: token-level access for `harness serve` (echoed prompt log-probs,
    /tokenize, /detokenize). The local adapters (hf, scratch, ngram) have it; a served model
    does not. Scoring must be the same forward-pass math as `loglikelihood`, so that summing a
    continuation's log-probs gives the in-process number."""

    @property
    def prefix_token(self) -> int:
        """The BOS (or EOS) token that text is conditioned on from its start."""
        ...

    @property
    def vocab_size(self) -> int:
        """Token ids are 0 .. vocab_size - 1."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, no special tokens added (the harness's own encoding)."""
        ...

    def token_bytes(self, ids: list[int]) -> list[bytes]:
        """The bytes each token contributes to decoded text (b"" for tokens decoding to nothing),
        so that joining them gives the decoded text, and offsets can be computed exactly even when
        a token holds part of a character."""
        ...

    def score_tokens(self, sequences: list[list[int]], top_k: int) -> list[TokenLogprobs]:
        """For each sequence (at most max_length + 1 tokens), log P(t_i | t_<i) for i >= 1 and the
        `top_k` most probable tokens at each of those positions; results in input order."""
        ...


@runtime_checkable
class ChatTemplate(Protocol):
    """Optional capability: render a whole conversation through the model's chat template (used
    by `harness serve` for chat requests with more than one message)."""

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The conversation's text, ending where the assistant's next reply starts."""
        ...
