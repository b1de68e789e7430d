"""The `openai` adapter: any model behind an OpenAI-compatible HTTP endpoint (vLLM, llama.cpp's
server, TGI, Ollama, a hosted API, or `harness serve`).

Log-likelihoods come from `/v1/completions` with `echo: true, logprobs: 1, max_tokens: 0` and
temperature 0, as lm-evaluation-harness's `local-completions` does: the server scores the prompt
and sends back one log-probability per prompt token. With a known tokenizer the adapter builds
the token spans with the same `harness.tokens` code as the local adapters and sends token ids,
so the numbers are the in-process ones. Without a tokenizer it sends text and finds where the
continuation starts from the echoed `text_offset`, never by assuming decoding is lossless.

Before any log-likelihood item runs, `unsupported()` sends the start-up probe
(harness.models.served_probe): a server that returns no prompt log-probabilities (llama.cpp's
server scores generated tokens only), fewer than the prompt's tokens, or nulls, or whose echoed
values disagree with its own generation or with themselves (llama-cpp-python's), cannot score
multiple-choice or perplexity suites, and the runner refuses them with the reason instead of
scoring every item with nonsense. `trust_server_logprobs` (`--trust-server-logprobs`) skips the
value checks, not the shape checks. The outcome is `info.details["prompt_logprobs"]`.

`max_length` defaults to the server's `max_model_len` minus one: a scoring span carries
`max_length + 1` tokens (the model reads the first `max_length` and the last is a target), and
the whole prompt must fit the server's limit. `harness serve` accepts such echo-only prompts of
`max_model_len + 1` tokens, so behind it the default is the model's own length. A generation prompt with more tokens than
`max_length - max_new_tokens` is cut on the left to that many and sent as token ids, as the local
adapters cut it (with a tokenizer; without one the server judges the text).

A request that still fails after the client's retries (harness.models.http_client) is never a
score: the adapter method raises `RequestsFailed` with the answers that did arrive and one
message per failed request, and remembers the failure so that the same request is not sent again
in this process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.api import (
    Generation,
    GenerationRequest,
    Loglikelihood,
    LoglikelihoodRequest,
    ModelInfo,
    RequestsFailed,
    RollingLoglikelihood,
)
from harness.errors import HarnessError
from harness.models.http_client import HTTPClient, ServerError, url_path
from harness.models.served_probe import (
    DEFAULT_TOLERANCE,
    BadAnswer,
    Probe,
    StartupProbe,
    not_needed_record,
    prompt_logprobs,
    refused,
)
from harness.tokens import (
    Span,
    SpanScore,
    cut_at_stop,
    pair_loglikelihoods,
    rolling_loglikelihoods,
    rolling_windows,
    split_trailing_space,
)

ENDPOINTS = ("completions", "chat")
DEFAULT_MAX_LENGTH = 2048  # only when the server reports no max_model_len (recorded in details)
# A target counts as greedy when its log-prob is the best alternative's, up to float rounding.
GREEDY_TOLERANCE = 1e-6


ScoreSpans = Callable[[Sequence[Span]], list[SpanScore]]


@dataclass(frozen=True)
class SpanFailures:
    """The message of each span that failed in one scoring call, by position and by tokens."""

    by_position: dict[int, str]
    by_tokens: dict[tuple[int, ...], str]


class OpenAIModel:
    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str | None = None,
        api_key_env: str | None = None,
        tokenizer: str | None = None,
        max_length: int | None = None,
        endpoint: str = "completions",
        concurrency: int = 4,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        chat_template: bool = False,
        batch_size: int | str | None = None,  # accepted for a uniform CLI; the server batches
        cache_dir: Path | None = None,  # remembers tokenizer file hashes
        # Skip the probe's value checks (a server that cannot generate); the shape checks stay.
        trust_server_logprobs: bool = False,
        # How far the probe lets a log-prob differ between two ways of asking (served_probe).
        logprob_tolerance: float = DEFAULT_TOLERANCE,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise HarnessError(f"model {name}: base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
        if endpoint not in ENDPOINTS:
            raise HarnessError(f"model {name}: endpoint {endpoint!r} is not one of {', '.join(ENDPOINTS)}")
        for key, value, low in (("concurrency", concurrency, 1), ("max_retries", max_retries, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise HarnessError(f"model {name}: {key} must be a whole number of at least {low}, got {value!r}")
        if not isinstance(trust_server_logprobs, bool):
            raise HarnessError(f"model {name}: trust_server_logprobs must be true or false, got {trust_server_logprobs!r}")
        if not isinstance(logprob_tolerance, (int, float)) or isinstance(logprob_tolerance, bool) or not 0 < logprob_tolerance < 1:
            raise HarnessError(f"model {name}: logprob_tolerance must be a number between 0 and 1, got {logprob_tolerance!r}")
        if not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
            raise HarnessError(f"model {name}: timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env.isidentifier()):
            raise HarnessError(
                f"model {name}: api_key_env must be the NAME of an environment variable holding the key "
                "(e.g. OPENAI_API_KEY), never the key itself"
            )
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.tokenizer = tokenizer
        self.max_length_override = max_length
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.chat_template = chat_template
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.trust_server_logprobs = trust_server_logprobs
        self.logprob_tolerance = float(logprob_tolerance)
        # Parsed answers (or the failure) of every request sent, by request: the runner may
        # re-evaluate a failed chunk item by item, and a request that failed is not sent again.
        self._answers: dict[str, Any] = {}

    # ---- the server ------------------------------------------------------------------------

    @cached_property
    def client(self) -> HTTPClient:
        return HTTPClient(
            self.base_url,
            api_key_env=self.api_key_env,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            concurrency=self.concurrency,
        )

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    @cached_property
    def _served(self) -> dict[str, Any]:
        """The server's `/v1/models` entry of the model evaluated ({"id": model} when the server
        lists none)."""
        try:
            listing = self.client.get(self._url("models"))
        except ServerError as e:
            if self.model is not None and e.status == 404:
                return {"id": self.model}  # a server without /models: trust the preset's name
            raise HarnessError(f"model {self.name}: cannot list the served models ({e})") from None
        entries = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("id"), str) for e in entries):
            raise HarnessError(f"model {self.name}: {self.base_url}/models answered without a list of models with ids")
        ids = [e["id"] for e in entries]
        if self.model is None:
            if len(entries) == 1:
                return entries[0]
            if not entries:
                raise HarnessError(f"model {self.name}: {self.base_url}/models lists no model")
            raise HarnessError(
                f"model {self.name}: {self.base_url} serves {len(ids)} models ({', '.join(ids)}); "
                f"name one with `model:` in a preset"
            )
        if self.model not in ids:
            from harness.errors import did_you_mean

            raise HarnessError(
                f"model {self.name}: {self.base_url} does not serve {self.model!r}{did_you_mean(self.model, ids)}; "
                f"it serves {', '.join(ids) or 'nothing'}"
            )
        return entries[ids.index(self.model)]

    @property
    def served_model(self) -> str:
        return self._served["id"]

    @cached_property
    def _tokens(self) -> Any:
        """Where token ids come from: a local tokenizer, the server's /tokenize, or nowhere."""
        from harness.models.served_tokenizer import load_tokenizer

        return load_tokenizer(self.tokenizer, self, self.cache_dir)

    # ---- info ------------------------------------------------------------------------------

    @property
    def max_length(self) -> int:
        reported = self._served.get("max_model_len")
        if self.max_length_override is None:
            if not isinstance(reported, int) or reported < 2:
                return DEFAULT_MAX_LENGTH
            # `harness serve` scores echo-only prompts of max_model_len + 1 tokens (the model reads
            # max_model_len of them), so its models keep their in-process length.
            return reported if self._harness_server else reported - 1
        length = int(self.max_length_override)
        if isinstance(reported, int) and length > reported:
            raise HarnessError(
                f"model {self.name}: --max-length {length} is longer than the server's max_model_len {reported}; "
                f"give at most {reported - 1}"
            )
        return length

    @property
    def _harness_server(self) -> bool:
        return "harness_fingerprint" in self._served

    @property
    def info(self) -> ModelInfo:
        """The model's identity, and what the start-up probe found so far: the probe runs when a
        log-likelihood method is first asked for, after the runner first reads `info`, so the
        record is read afresh each time ("not-needed" until then)."""
        identity = self._identity
        if "_probe" in vars(self):
            record = self._probe.record(self.base_url, self.logprob_tolerance)
        else:
            record = not_needed_record(self.base_url, self.logprob_tolerance)
        return replace(identity, details={**identity.details, "prompt_logprobs": record})

    @cached_property
    def _identity(self) -> ModelInfo:
        served = self._served
        # Whatever identity the server reports, except fields that change on every start.
        identity = {k: v for k, v in served.items() if k not in ("created",)}
        tokens = self._tokens
        tokenizer_hash = tokens.sha256 if tokens is not None else "none"
        fingerprint = hashlib.sha256(
            json.dumps(
                {"base_url": self.base_url, "model": served["id"], "tokenizer": tokenizer_hash,
                 "server": identity, "endpoint": self.endpoint},
                sort_keys=True,
            ).encode()
        ).hexdigest()[:16]  # fmt: skip
        if self.endpoint == "chat":  # the server renders its template (harness serve says if it has one)
            has_chat = served.get("has_chat_template") is not False
        else:
            has_chat = tokens is not None and tokens.chat is not None
        reported = served.get("max_model_len")
        return ModelInfo(
            name=self.name,
            adapter="openai",
            n_parameters=None,
            tokenizer=tokens.description if tokens is not None else "none: text prompts, boundaries from text_offset",
            max_length=self.max_length,
            fingerprint=fingerprint,
            has_chat_template=has_chat,
            # A chat endpoint always puts prompts through the server's template.
            chat=self.endpoint == "chat" or bool(self.chat_template and has_chat),
            details={
                "base_url": self.base_url,
                "served_model": served["id"],
                "endpoint": self.endpoint,
                "server": identity,
                "max_length_source": (
                    "preset or --max-length" if self.max_length_override is not None
                    else "harness serve's max_model_len" if isinstance(reported, int) and self._harness_server
                    else "server max_model_len - 1" if isinstance(reported, int)
                    else f"default {DEFAULT_MAX_LENGTH} (the server reports no max_model_len)"
                ),
                "trust_server_logprobs": self.trust_server_logprobs,
            },
        )  # fmt: skip

    # ---- the start-up probe --------------------------------------------------------------

    def unsupported(self, method: str) -> str | None:
        if method not in ("loglikelihood", "loglikelihood_rolling"):
            return None
        probe = self._probe
        if probe.refusal is not None:
            return probe.refusal
        if method == "loglikelihood_rolling" and not probe.token_prompts:
            if self._tokens is None:
                return (
                    f"model {self.name}: loglikelihood_rolling (perplexity) needs token ids; set `tokenizer:` "
                    "in the preset to a tokenizer folder, a model preset or `remote` (the server's /tokenize)"
                )
            return f"model {self.name}: {self.base_url}/completions refuses token-id prompts, which loglikelihood_rolling needs"
        return None

    def _require(self, method: str) -> None:
        reason = self.unsupported(method)
        if reason is not None:
            raise HarnessError(reason)

    @cached_property
    def _probe(self) -> Probe:
        if self.endpoint == "chat":
            reason = (
                f"model {self.name}: endpoint chat ({self.base_url}/chat/completions) serves generation only; "
                "log-likelihood suites need `endpoint: completions` on a server that echoes prompt log-probs"
            )
            return refused(reason, "endpoint", "the chat endpoint echoes no prompt log-probs")
        probe = StartupProbe(
            name=self.name,
            base_url=self.base_url,
            post=functools.partial(self.client.post, self._url("completions")),
            echo_body=self._echo_body,
            model=self.served_model,
            tokens=self._tokens,
            trust=self.trust_server_logprobs,
            tolerance=self.logprob_tolerance,
        )
        return probe.run()

    def _echo_body(self, prompt: Any, max_tokens: int) -> dict[str, Any]:
        return {"model": self.served_model, "prompt": prompt, "echo": True, "logprobs": 1,
                "max_tokens": max_tokens, "temperature": 0}  # fmt: skip

    # ---- sending ---------------------------------------------------------------------------

    def _fetch(
        self,
        path: str,
        bodies: Sequence[dict[str, Any]],
        extras: Sequence[Any],
        parse: Callable[[Any, dict[str, Any], Any], Any],
        remember: Sequence[bool] | None = None,
    ) -> list[Any]:
        """`parse(answer, body, extra)` of each request's answer, or a ServerError. Identical
        requests are sent once, and nothing already answered or failed in this process is sent
        again (unless `remember` is False for it: an unseeded sample)."""
        keys = [json.dumps([path, b, e], sort_keys=True) for b, e in zip(bodies, extras)]
        fresh: dict[str, Any] = {}
        todo = list({k: i for i, k in enumerate(keys) if k not in self._answers}.items())
        answers = self.client.post_many(self._url(path), [bodies[i] for _, i in todo])
        for (key, i), answer in zip(todo, answers):
            if not isinstance(answer, ServerError):
                try:
                    answer = parse(answer, bodies[i], extras[i])
                except BadAnswer as e:
                    answer = ServerError(f"{self.base_url}: POST {url_path(self._url(path))} answered 200, but {e}")
            fresh[key] = answer
            if isinstance(answer, ServerError) or remember is None or remember[i]:
                self._answers[key] = answer
        return [fresh[k] if k in fresh else self._answers[k] for k in keys]

    def progress_note(self) -> str:
        """Requests per second, retries and failures so far, for a progress display."""
        return self.client.progress_note() if "client" in vars(self) else "0.0 req/s"

    # ---- log-likelihoods -------------------------------------------------------------------

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        self._require("loglikelihood")
        if not self._probe.token_prompts:
            return self._text_loglikelihood(requests)
        tokens = self._tokens
        render_chat = None
        if tokens.chat is not None and any(r.chat for r in requests):
            from harness.models.generation import chat_turn

            render_chat = functools.partial(chat_turn, tokens.chat)

        def strings(r: LoglikelihoodRequest) -> list[str]:
            if r.chat and render_chat is not None:
                context, continuation = render_chat(r.context, r.history), r.continuation.lstrip()
            else:
                context, continuation = split_trailing_space(r.context, r.continuation)
            return [context, context + continuation] if context else [continuation]

        def compute(live: list[LoglikelihoodRequest], score: ScoreSpans) -> list[Loglikelihood]:
            return pair_loglikelihoods(score, tokens.encode, tokens.prefix_token, self.max_length, live, render_chat)

        # One span per request: the request's failure is its span's.
        return self._scored(requests, strings, compute, lambda r, position, failed: failed.by_position[position])

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        self._require("loglikelihood_rolling")
        tokens = self._tokens

        def compute(live: list[str], score: ScoreSpans) -> list[RollingLoglikelihood]:
            return rolling_loglikelihoods(score, tokens.encode, tokens.prefix_token, self.max_length, live)

        def error(text: str, position: int, failed: SpanFailures) -> str:
            windows = rolling_windows(tokens.encode(text), tokens.prefix_token, self.max_length)
            return next(failed.by_tokens[w.tokens] for w in windows if w.tokens in failed.by_tokens)

        return self._scored(texts, lambda t: [t], compute, error)

    def _scored(
        self,
        requests: list[Any],
        strings: Callable[[Any], list[str]],
        compute: Callable[[list[Any], ScoreSpans], list[Any]],
        error: Callable[[Any, int, SpanFailures], str],
    ) -> list[Any]:
        """`compute` (harness.tokens building and scoring spans) over the requests whose strings
        could be tokenised; a span whose request failed scores NaN, and every request that failed
        is named in the RequestsFailed raised at the end, with `error(request, position, failed)`."""
        tokenised = self._tokens.prefetch(s for r in requests for s in strings(r))
        errors = {i: tokenised[s] for i, r in enumerate(requests) for s in strings(r) if s in tokenised}
        live = [i for i in range(len(requests)) if i not in errors]
        failed = SpanFailures({}, {})
        results = compute([requests[i] for i in live], functools.partial(self._score_spans, failed=failed))
        out: list[Any] = [None] * len(requests)
        for position, (i, result) in enumerate(zip(live, results)):
            if math.isnan(result.logprob):
                errors[i] = error(requests[i], position, failed)
            else:
                out[i] = result
        if errors:
            raise RequestsFailed(out, dict(sorted(errors.items())))
        return out

    def _score_spans(self, spans: Sequence[Span], failed: SpanFailures) -> list[SpanScore]:
        """The harness.tokens scorer: one echo request per span; a failed span scores NaN."""
        probe = self._probe
        bodies = [self._echo_body(list(s.tokens), probe.max_tokens) for s in spans]
        answers = self._fetch("completions", bodies, [s.n_targets for s in spans], self._parse_span)
        scores = []
        for position, (span, answer) in enumerate(zip(spans, answers)):
            if isinstance(answer, ServerError):
                failed.by_position[position] = failed.by_tokens[span.tokens] = str(answer)
                answer = SpanScore(math.nan, False)
            scores.append(answer)
        return scores

    def _parse_span(self, answer: Any, body: dict[str, Any], n_targets: int) -> SpanScore:
        tokens, logprobs, tops, _ = prompt_logprobs(answer, body["prompt"], body["max_tokens"])
        return _sum_targets(logprobs, tops, range(len(logprobs) - n_targets, len(logprobs)))

    def _text_loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """No token ids: send context + continuation as text; the continuation is the tokens the
        server says start at or after the context's end (`text_offset`)."""
        tokens = self._tokens
        chat = tokens.chat if tokens is not None else None
        bodies, boundaries, errors = [], [], {}
        for i, r in enumerate(requests):
            if r.chat and chat is not None:
                from harness.models.generation import chat_turn

                context, continuation = chat_turn(chat, r.context, r.history), r.continuation.lstrip()
            else:
                context, continuation = split_trailing_space(r.context, r.continuation)
            if not context:
                raise HarnessError(
                    f"model {self.name}: a continuation with an empty context is scored after BOS, which needs "
                    "token ids; set `tokenizer:` in the preset (a tokenizer folder, a model preset or `remote`)"
                )
            if not continuation:
                errors[i] = "the continuation is empty; nothing to score"
            bodies.append(self._echo_body(context + continuation, self._probe.max_tokens))
            boundaries.append(len(context))
        answers = self._fetch("completions", bodies, boundaries, self._parse_text_pair)
        out: list[Any] = []
        for i, answer in enumerate(answers):
            if isinstance(answer, ServerError) and i not in errors:
                errors[i] = str(answer)
            out.append(None if i in errors else answer)
        if errors:
            raise RequestsFailed(out, dict(sorted(errors.items())))
        return out

    def _parse_text_pair(self, answer: Any, body: dict[str, Any], boundary: int) -> Loglikelihood:
        tokens, logprobs, tops, offsets = prompt_logprobs(answer, body["prompt"], body["max_tokens"])
        # A server that puts a BOS text before the prompt shifts every offset by its length.
        echoed = answer["choices"][0].get("text")
        shift = max(echoed.find(body["prompt"]), 0) if isinstance(echoed, str) else 0
        targets = [i for i, offset in enumerate(offsets) if offset >= boundary + shift]
        if not targets or targets[0] == 0:
            raise BadAnswer(f"no echoed token starts at the continuation (character {boundary}); text_offset {offsets[:8]}...")
        score = _sum_targets(logprobs, tops, targets)
        return Loglikelihood(score.logprob, score.is_greedy, len(targets))

    # ---- generation ------------------------------------------------------------------------

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        path = "chat/completions" if self.endpoint == "chat" else "completions"
        if self.endpoint == "completions" and self._tokens is not None:
            self._tokens.prefetch(self._prompt_text(r) for r in requests)  # remote: concurrently
        bodies = [self._generation_body(r) for r in requests]
        answers = self._fetch(
            path, bodies, [[r.n if r.sampled else 1, list(r.stop)] for r in requests], self._parse_generation,
            remember=[not r.sampled or r.seed is not None for r in requests],
        )  # fmt: skip
        out: list[Any] = []
        errors: dict[int, str] = {}
        for i, (r, answer) in enumerate(zip(requests, answers)):
            if isinstance(answer, ServerError):
                errors[i] = str(answer)
                out.append(None)
            else:  # greedy requests are sent once and their text repeated n times, as in-process
                out.append(Generation(answer if r.sampled else answer * r.n))
        if errors:
            raise RequestsFailed(out, errors)
        return out

    def _prompt_text(self, r: GenerationRequest) -> str:
        """The prompt, through the local chat template (as one user turn) when asked and known."""
        tokens = self._tokens
        if r.chat and tokens is not None and tokens.chat is not None:
            from harness.models.generation import chat_turn

            return chat_turn(tokens.chat, r.prompt, r.history)
        return r.prompt

    def _generation_body(self, r: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.served_model, "max_tokens": r.max_new_tokens, "temperature": r.temperature}
        if r.sampled:
            body.update(n=r.n, top_p=r.top_p)
            if r.seed is not None:
                body["seed"] = r.seed
        if r.stop:
            body["stop"] = list(r.stop)
        if self.endpoint == "chat":
            from harness.models.generation import chat_messages

            body["messages"] = chat_messages(r.prompt, r.history)
        else:
            body["prompt"] = self._fitted_prompt(self._prompt_text(r), r.max_new_tokens)
        return body

    def _fitted_prompt(self, text: str, max_new_tokens: int) -> str | list[int]:
        """The prompt as sent: its text, or, when it has more tokens than the room generation
        leaves (max_length - max_new_tokens), its last tokens as ids, cut as the local adapters
        cut it. An empty prompt starts after BOS, as in-process. Without token ids: the text."""
        tokens = self._tokens
        if tokens is None:
            return text
        try:
            ids = tokens.encode(text)
        except ServerError:
            return text  # the server's /tokenize failed: let the server judge the text
        if not ids:
            return [tokens.prefix_token]
        room = max(1, self.max_length - max_new_tokens)
        return ids[-room:] if len(ids) > room else text

    def _parse_generation(self, answer: Any, body: dict[str, Any], extra: list[Any]) -> tuple[str, ...]:
        n, stop = extra
        choices = answer.get("choices") if isinstance(answer, dict) else None
        if not isinstance(choices, list) or len(choices) != n:
            raise BadAnswer(f"it sent {len(choices) if isinstance(choices, list) else 'no'} choices for n={n}")
        texts = []
        for c in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
            text = c.get("message", {}).get("content") if self.endpoint == "chat" else c.get("text")
            if not isinstance(text, str):
                raise BadAnswer("a choice has no text")
            texts.append(cut_at_stop(text, stop))  # in case the server does not cut at stops itself
        return tuple(texts)


# ---- summing echoed log-probs --------------------------------------------------------------


def _sum_targets(logprobs: list[Any], tops: list[Any], positions: Sequence[int] | range) -> SpanScore:
    total, greedy = 0.0, True
    for i in positions:
        value = logprobs[i]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or i == 0:
            raise BadAnswer(f"a null log-prob at prompt position {i}")
        total += float(value)
        top = tops[i]
        if greedy:
            best = max(top.values()) if isinstance(top, dict) and top else None
            greedy = best is not None and float(value) >= float(best) - GREEDY_TOLERANCE * max(1.0, abs(float(best)))
    return SpanScore(total, greedy)
