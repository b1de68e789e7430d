"""Everything the server asks of the adapter. Every method runs on the one model thread
(harness.serve.batcher.ModelThread): adapters and their tokenizers are not thread-safe.

Prompts: a string is tokenised by the adapter's own `encode`, which adds no special tokens (as
the harness does in-process), so its first token has nothing to condition on; a client that wants
every token scored sends the prefix (BOS) token id itself, or sets `add_special_tokens`. A list of
token ids is taken as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.api import ChatTemplate, Generation, GenerationRequest, ModelInfo, TokenLogprobs, TokenScorer
from harness.serve.errors import APIError
from harness.serve.text import decode_with_offsets, token_string

# log P of a token the model rules out entirely; JSON has no -Infinity (vLLM uses the same value).
FLOOR_LOGPROB = -9999.0


@dataclass(frozen=True)
class EncodedPrompt:
    ids: tuple[int, ...]
    text: str  # what `offsets` point into: the prompt string, or the decoded text of an id prompt
    offsets: tuple[int, ...]  # character offset of each token in `text`


@dataclass(frozen=True)
class ScoreJob:
    """One sequence to score: log P(t_i | t_<i) for i >= 1, with `top_k` alternatives."""

    ids: tuple[int, ...]
    top_k: int


@dataclass(frozen=True)
class EchoJob:
    """A prompt to encode and, when `top_k` is given, to score: one item of a micro-batch, so a
    request costs one trip to the model thread."""

    prompt: str | tuple[int, ...]
    limit: int  # the most tokens the prompt may have
    top_k: int | None = None  # None: encode only
    add_special: bool = False
    as_ids: bool = False  # name tokens "token_id:N"


@dataclass(frozen=True)
class Echo:
    prompt: EncodedPrompt
    scores: TokenLogprobs | None  # when the job asked for them
    block: dict[str, Any] | None  # the prompt's OpenAI `logprobs` object, when scored


class Engine:
    def __init__(self, adapter: TokenScorer, info: ModelInfo) -> None:
        self.adapter = adapter
        self.info = info
        # Read once here, so the event loop can check requests without touching the tokenizer.
        self.prefix_token = adapter.prefix_token
        self.vocab_size = adapter.vocab_size

    @property
    def max_length(self) -> int:
        return self.info.max_length

    @property
    def has_chat_template(self) -> bool:
        return self.info.has_chat_template and isinstance(self.adapter, ChatTemplate)

    def warm_up(self) -> None:
        """Load the weights now (a missing file fails the start, not the first request)."""
        self.adapter.score_tokens([[self.prefix_token, self.prefix_token]], 1)

    # ---- tokens and text -------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        return list(self.adapter.encode(text))

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        return decode_with_offsets(self.adapter.token_bytes(list(ids)))[0]

    def encode_prompt(self, prompt: str | Sequence[int], add_special: bool) -> EncodedPrompt:
        """Token ids, text and offsets. String prompts: offsets point into the string itself (the
        adapters' tokenizers are lossless; one that normalises text gets offsets into its decoded
        text, returned as `text`). An added prefix token takes no room: its offset is 0."""
        if not isinstance(prompt, str):
            ids = list(prompt)
            text, offsets = decode_with_offsets(self.adapter.token_bytes(ids))
            return EncodedPrompt(tuple(ids), text, tuple(offsets))
        ids = self.encode(prompt)
        text, offsets = decode_with_offsets(self.adapter.token_bytes(ids))
        if add_special:
            ids, offsets = [self.prefix_token, *ids], [0, *offsets]
        return EncodedPrompt(tuple(ids), text, tuple(offsets))

    def token_names(self, ids: Sequence[int], as_ids: bool) -> list[str]:
        if as_ids:
            return [f"token_id:{i}" for i in ids]
        return [token_string(b) for b in self.adapter.token_bytes(list(ids))]

    # ---- model calls (one adapter call per micro-batch) ------------------------------------

    def echo(self, jobs: Sequence[EchoJob]) -> list[Echo | APIError]:
        """Encode every prompt, then score those that ask for it in one adapter call. A prompt
        that is too long is that request's error, not the batch's."""
        prompts = [self.encode_prompt(job.prompt, job.add_special) for job in jobs]
        fits = [len(p.ids) <= job.limit for p, job in zip(prompts, jobs)]
        asked = [i for i, job in enumerate(jobs) if job.top_k is not None and fits[i]]
        scores = {}
        if asked:
            scores = dict(zip(asked, self.score([ScoreJob(prompts[i].ids, jobs[i].top_k or 0) for i in asked])))
        results: list[Echo | APIError] = []
        for i, (job, prompt) in enumerate(zip(jobs, prompts)):
            if not fits[i]:
                reason = _limit_reason(job.limit, self.max_length)
                results.append(APIError(400, f"the prompt has {len(prompt.ids)} tokens; {reason}", param="prompt"))
            elif i in scores:
                block = self.logprobs_block(prompt.ids, prompt.offsets, scores[i], job.top_k or 0, job.as_ids)
                results.append(Echo(prompt, scores[i], block))
            else:
                results.append(Echo(prompt, None, None))
        return results

    def score(self, jobs: Sequence[ScoreJob]) -> list[TokenLogprobs]:
        top_k = max(j.top_k for j in jobs)
        results = self.adapter.score_tokens([list(j.ids) for j in jobs], top_k)
        return [TokenLogprobs(r.logprobs, tuple(t[: j.top_k] for t in r.top)) for j, r in zip(jobs, results)]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return self.adapter.generate(list(requests))

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return self.adapter.render_chat(messages)  # type: ignore[attr-defined]

    # ---- the `logprobs` object of a completion choice --------------------------------------

    def logprobs_block(
        self, ids: Sequence[int], offsets: Sequence[int], scores: TokenLogprobs, top_k: int, as_ids: bool, first: int = 0
    ) -> dict[str, Any]:
        """OpenAI's {tokens, token_logprobs, top_logprobs, text_offset} for tokens ids[first:].

        `scores` covers positions 1..len(ids)-1 of `ids` (position 0 is null: nothing conditions
        it); `offsets` has one entry per reported token. Each position's alternatives are its
        `top_k` most probable tokens, plus the token itself when it is not among them (as vLLM
        does), so `top_logprobs` always holds the token's own log-prob.
        """
        reported = list(ids[first:])
        alternatives = [t for i in range(max(first, 1), len(ids)) for t, _ in scores.top[i - 1][:top_k]]
        names = self.token_names(reported + alternatives, as_ids)
        own, alt_names = names[: len(reported)], iter(names[len(reported) :])
        token_logprobs: list[float | None] = []
        top_logprobs: list[dict[str, float] | None] = []
        for i, name in zip(range(first, len(ids)), own):
            if i == 0:
                token_logprobs.append(None)
                top_logprobs.append(None)
                continue
            lp = _finite(scores.logprobs[i - 1])
            top = {}
            for _, value in scores.top[i - 1][:top_k]:
                top.setdefault(next(alt_names), _finite(value))
            top.setdefault(name, lp)
            token_logprobs.append(lp)
            top_logprobs.append(top)
        return {"tokens": own, "token_logprobs": token_logprobs, "top_logprobs": top_logprobs, "text_offset": list(offsets)}


def _limit_reason(limit: int, max_length: int) -> str:
    if limit > max_length:
        return f"this model scores at most {limit} (max_model_len {max_length}, plus the token it predicts last)"
    return f"the model reads at most {limit} (max_model_len)"


def _finite(x: float) -> float:
    return x if x > FLOOR_LOGPROB else FLOOR_LOGPROB
