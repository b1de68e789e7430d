"""The `openai` adapter's start-up probe: before any log-likelihood item, the server shows that
its echoed prompt log-probs have the right shape *and* the right values.

A server can echo one log-prob per prompt token, none of them null, and still be wrong:
llama-cpp-python 0.3.36 echoes values that do not belong to the tokens they stand beside (see
docs/served-models.md). A check of shape alone then lets a harness report confident nonsense, so
the probe also compares the server with itself. The checks, in order (the first that fails stops
the probe, and its one-line reason refuses every log-likelihood suite):

Shape checks (always made):
  echo_shape                  an echo request (`echo: true, logprobs: 1`) returns one log-prob per
                              prompt token after the first, none null, with top_logprobs (and
                              text_offset for a text prompt). Tried with token-id prompts (when a
                              tokenizer is known), then text, each with max_tokens 0, then 1.
  token_count                 with a tokenizer: the server echoes as many tokens as the tokenizer
                              makes (for token ids, exactly the ids sent; for text, the same or one
                              more, a BOS the server puts first, as vLLM does).
Value checks (skipped with `--trust-server-logprobs`, for servers that cannot generate):
  generated_vs_echoed         the server generates one token greedily after a short fixed prompt,
                              with its log-prob; echoing the prompt plus that token must give the
                              token the same log-prob, within `tolerance`.
  generated_is_echoed_argmax  where the echo gives top_logprobs, that token must be the echo's most
                              probable token at its position (a greedy token is the argmax).
  shared_prefix               two prompts that share their first words get the same echoed
                              log-probs on every shared token (a log-prob depends on what comes
                              before a token, never on what comes after it).

Values are compared as |a - b| <= tolerance * max(1, |b|): absolute for likely tokens, relative
for unlikely ones. The default, 1e-3, is more than a hundred times the float32 batching noise of
`harness serve` (5.7e-6 nats measured) and far below what a misaligned server is off by (whole
nats; docs/served-models.md has the numbers).

The outcome (`Probe.record`) goes into the model info as `details["prompt_logprobs"]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.models.http_client import ServerError

PROBE_TEXT = "The kettle boiled while the rain kept falling on the kitchen window."
# Shares "The kettle boiled while the rain kept falling on the" with PROBE_TEXT.
SHARED_PREFIX_TEXT = "The kettle boiled while the rain kept falling on the garden path."
# Short prompts whose greedy next token is, for most language models, one whole word after a
# space (so the prompt plus that token tokenises as the prompt's tokens plus one). The next is
# tried when a prompt's generated token does not come back as one token.
GENERATION_PROMPTS = ("One, two, three, four,", "Monday, Tuesday, Wednesday,", "The capital of France is")
DEFAULT_TOLERANCE = 1e-3

VERIFIED, TRUSTED, REFUSED, NOT_NEEDED = "verified", "trusted", "refused", "not-needed"
TRUST_HINT = "--trust-server-logprobs skips the value checks"


class BadAnswer(Exception):
    """A 200 answer that does not hold what was asked for (missing or null log-probs)."""


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Probe:
    """What the start-up probe found out about the server's `/v1/completions`."""

    refusal: str | None  # why log-likelihoods cannot be served, or None
    token_prompts: bool  # the server accepts token-id prompts (and a tokenizer is known)
    max_tokens: int  # 0, or 1 when the server refuses 0 (the generated token is then dropped)
    status: str = VERIFIED  # VERIFIED, TRUSTED or REFUSED
    checks: tuple[Check, ...] = ()

    def record(self, server: str, tolerance: float) -> dict[str, Any]:
        return {"status": self.status, "checks": [c.to_dict() for c in self.checks], "server": server, "tolerance": tolerance}


def not_needed_record(server: str, tolerance: float) -> dict[str, Any]:
    """The record of a run that asked for no log-likelihood: the probe was never sent."""
    return {"status": NOT_NEEDED, "checks": [], "server": server, "tolerance": tolerance}


def refused(reason: str, check: str, detail: str, passed: Sequence[Check] = ()) -> Probe:
    return Probe(reason, False, 0, REFUSED, (*passed, Check(check, False, detail)))


# ---- reading echoed log-probs -----------------------------------------------------------------

Echoed = tuple[list[Any], list[Any], list[Any], list[Any]]  # tokens, token_logprobs, top_logprobs, text_offset


def prompt_logprobs(answer: Any, prompt: Any, max_tokens: int) -> Echoed:
    """tokens, token_logprobs, top_logprobs and text_offset of the prompt's tokens (a generated
    token, when max_tokens is 1, dropped). A text prompt's tokens are those that start inside the
    prompt's echoed text, when the server gives offsets: whatever it generated is not counted."""
    logprobs = _logprobs_block(answer)
    values = logprobs["token_logprobs"]
    offsets = logprobs.get("text_offset")
    if isinstance(prompt, list):
        n = len(prompt)
    elif isinstance(offsets, list) and len(offsets) == len(values) and all(_number(o) for o in offsets):
        end = _echo_shift(answer, prompt) + len(prompt)
        n = sum(1 for o in offsets if o < end)
    else:
        n = len(values) - max_tokens
    if isinstance(prompt, list) and len(values) < n:
        raise BadAnswer(f"log-probs for {len(values)} of the prompt's {n} tokens")
    tops = logprobs.get("top_logprobs")
    tops = tops if isinstance(tops, list) and len(tops) >= n else [None] * n
    offsets = offsets if isinstance(offsets, list) and len(offsets) >= n else []
    tokens = logprobs.get("tokens") if isinstance(logprobs.get("tokens"), list) else []
    return tokens[:n], values[:n], tops[:n], offsets[:n]


def _echo_shift(answer: Any, prompt: str) -> int:
    """Where the prompt starts in the echoed text (a server may put a BOS text before it)."""
    echoed = answer["choices"][0].get("text")
    return max(echoed.find(prompt), 0) if isinstance(echoed, str) else 0


def generated_anyway(answer: Any, prompt: Any) -> bool:
    """Whether a `max_tokens: 0` echo generated tokens all the same: llama-cpp-python reads 0 as
    "no limit" and generates up to its context length."""
    usage = answer.get("usage") if isinstance(answer, dict) else None
    if isinstance(usage, dict) and _number(usage.get("completion_tokens")) and usage["completion_tokens"] > 0:
        return True
    if isinstance(prompt, list):
        return False  # more log-probs than ids sent may be a BOS added too: token_count's to judge
    _logprobs_block(answer)
    echoed = answer["choices"][0].get("text")
    return isinstance(echoed, str) and len(echoed) > _echo_shift(answer, prompt) + len(prompt)


def _logprobs_block(answer: Any) -> dict[str, Any]:
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadAnswer("no choices")
    logprobs = choices[0].get("logprobs")
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("token_logprobs"), list):
        raise BadAnswer("no log-probs")
    return logprobs


def check_shape(echoed: Echoed, prompt: Any) -> None:
    tokens, values, tops, offsets = echoed
    if len(values) < 2:
        raise BadAnswer(f"log-probs for {len(values)} prompt token(s)")
    nulls = sum(1 for v in values[1:] if not _number(v))
    if nulls:
        raise BadAnswer(f"null log-probs at {nulls} of {len(values) - 1} prompt positions after the first")
    if any(t is None for t in tops[1:]):
        raise BadAnswer("no top_logprobs")
    if not isinstance(prompt, list):
        if len(offsets) != len(values) or any(b < a for a, b in zip(offsets, offsets[1:])):
            raise BadAnswer("no usable text_offset for a text prompt")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _best(top: Any) -> float | None:
    values = [float(v) for v in top.values() if _number(v)] if isinstance(top, dict) else []
    return max(values) if values else None


# ---- the probe -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartupProbe:
    """The probe of one server. `post(body)` sends a `/completions` request and returns the answer
    (or raises ServerError); `echo_body(prompt, max_tokens)` is the adapter's echo request;
    `tokens` the adapter's token source (a local or remote tokenizer, or None)."""

    name: str  # the model's name, for messages
    base_url: str
    post: Callable[[dict[str, Any]], Any]
    echo_body: Callable[[Any, int], dict[str, Any]]
    model: str
    tokens: Any | None
    trust: bool  # --trust-server-logprobs: shape checks only
    tolerance: float

    def run(self) -> Probe:
        tokens = self.tokens
        forms: list[tuple[bool, int]] = [(True, 0), (True, 1)] if tokens is not None else []
        forms += [(False, 0), (False, 1)]
        rejected = ""  # why the last form of request was not usable
        for token_prompts, max_tokens in forms:
            try:
                prompt: Any = [tokens.prefix_token, *tokens.encode(PROBE_TEXT)] if token_prompts else PROBE_TEXT
            except ServerError as e:  # tokenizer: remote, and the server's /tokenize failed
                return refused(f"model {self.name}: tokenizer remote: {e}", "tokenizer", str(e))
            try:
                answer = self.post(self.echo_body(prompt, max_tokens))
            except ServerError as e:
                # A form of request the server does not take: try the next. Token ids may also get
                # a 500 (llama-cpp-python fails to validate them), so any answer moves on to text.
                if _refused_request(e) or (token_prompts and e.status is not None and e.status not in (401, 403)):
                    rejected = str(e)
                    continue
                return refused(f"model {self.name}: the start-up probe failed: {e}", "echo_shape", str(e))
            try:
                if max_tokens == 0 and generated_anyway(answer, prompt):
                    rejected = "an echo with max_tokens 0 generated tokens all the same"
                    continue  # ask for one token and drop it
                echoed = prompt_logprobs(answer, prompt, max_tokens)
                check_shape(echoed, prompt)
            except BadAnswer as e:
                return refused(
                    f"model {self.name}: {self.base_url}/completions returns no usable prompt log-probabilities "
                    f"({e}); log-likelihood suites would score at chance through it, so they are refused "
                    "(generation suites still run)",
                    "echo_shape",
                    str(e),
                )
            form = f"{'token-id' if token_prompts else 'text'} prompt, max_tokens {max_tokens}"
            checks = [Check("echo_shape", True, f"{len(echoed[1])} prompt tokens echoed with log-probs ({form})")]
            try:
                return self.verify(answer, echoed, prompt, token_prompts, max_tokens, checks)
            except ServerError as e:
                return refused(f"model {self.name}: the start-up probe failed: {e}", "probe", str(e), checks)
        return refused(
            f"model {self.name}: {self.base_url}/completions refused every echo request for prompt log-probs ({rejected})",
            "echo_shape",
            rejected,
        )

    def verify(self, answer: Any, echoed: Echoed, prompt: Any, token_prompts: bool, max_tokens: int, checks: list[Check]) -> Probe:
        """The checks after echo_shape, on the form of request that passed it."""
        if self.tokens is not None:
            checks.append(self.token_count(answer, echoed, prompt, max_tokens))
        if self.trust and all(c.passed for c in checks):
            return Probe(None, token_prompts, max_tokens, TRUSTED, tuple(checks))
        if all(c.passed for c in checks):
            values = ValueChecks(self.post, self.echo_body, self.model, self.tokens, token_prompts, max_tokens, self.tolerance)
            try:
                checks += values.run(echoed)
            except BadAnswer as e:
                checks.append(Check("probe", False, f"an echo request of the value checks answered without usable log-probs ({e})"))
        failed = next((c for c in checks if not c.passed), None)
        if failed is None:
            return Probe(None, token_prompts, max_tokens, VERIFIED, tuple(checks))
        hint = "generation suites still run" if failed.name == "token_count" else f"generation suites still run; {TRUST_HINT}"
        return Probe(
            f"model {self.name}: {self.base_url} failed the prompt log-prob check {failed.name}: {failed.detail}; "
            f"its echoed log-probs cannot be trusted, so log-likelihood suites are refused ({hint})",
            False,
            0,
            REFUSED,
            tuple(checks),
        )

    def token_count(self, answer: Any, echoed_prompt: Echoed, prompt: Any, max_tokens: int) -> Check:
        if isinstance(prompt, list):
            # Everything echoed, less what was generated (the usage says, or at most max_tokens).
            usage = answer.get("usage") if isinstance(answer, dict) else None
            generated = usage.get("completion_tokens") if isinstance(usage, dict) else None
            total = len(_logprobs_block(answer)["token_logprobs"])
            echoed = total - generated if _number(generated) else total - max_tokens
            if echoed == len(prompt) or (not _number(generated) and len(prompt) <= total <= len(prompt) + max_tokens):
                return Check("token_count", True, f"{len(prompt)} tokens echoed for {len(prompt)} token ids sent")
            return Check("token_count", False, f"the server echoed {echoed} tokens for the {len(prompt)} token ids sent")
        echoed = len(echoed_prompt[1])  # the tokens that start inside the prompt's text
        expected = len(self.tokens.encode(prompt))
        if echoed in (expected, expected + 1):
            bos = " (and a BOS the server puts first)" if echoed == expected + 1 else ""
            return Check("token_count", True, f"{echoed} tokens echoed; the tokenizer makes {expected}{bos}")
        return Check("token_count", False, f"the server echoed {echoed} tokens for a text the tokenizer makes {expected} tokens")


def _refused_request(e: ServerError) -> bool:
    """A 4xx answer other than auth and rate limits: the server does not take this request."""
    return e.status is not None and 400 <= e.status < 500 and e.status not in (401, 403, 429)


# ---- the value checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueChecks:
    """The value checks against one server, once the echo form (token ids or text, max_tokens)
    is known to give well-shaped answers.

    `post(body)` sends a `/completions` request and returns the answer (or raises ServerError);
    `echo_body(prompt, max_tokens)` is the adapter's echo request; `tokens` the adapter's token
    source (None: text prompts)."""

    post: Callable[[dict[str, Any]], Any]
    echo_body: Callable[[Any, int], dict[str, Any]]
    model: str
    tokens: Any | None
    token_prompts: bool
    max_tokens: int
    tolerance: float

    def close(self, a: float, b: float) -> bool:
        return abs(a - b) <= self.tolerance * max(1.0, abs(b))

    def prompt(self, text: str) -> Any:
        return [self.tokens.prefix_token, *self.tokens.encode(text)] if self.token_prompts else text

    def echo(self, prompt: Any) -> tuple[Echoed, str]:
        """The echoed prompt (shape-checked) and the echoed text (for the BOS shift of offsets)."""
        answer = self.post(self.echo_body(prompt, self.max_tokens))
        echoed = prompt_logprobs(answer, prompt, self.max_tokens)
        check_shape(echoed, prompt)
        text = answer["choices"][0].get("text")
        return echoed, text if isinstance(text, str) else ""

    def run(self, first_echo: Echoed) -> list[Check]:
        """The checks made, in order; the last one failed if any did. BadAnswer and ServerError
        from the server are the caller's to report."""
        checks = self.generation_checks()
        if all(c.passed for c in checks):
            checks.append(self.shared_prefix(first_echo))
        return checks

    # -- generated_vs_echoed, generated_is_echoed_argmax

    def generation_checks(self) -> list[Check]:
        last = ""
        for text in GENERATION_PROMPTS:
            generated = self.generate(text)
            if isinstance(generated, Check):
                return [generated]
            token, value = generated
            appended = self.appended(text, token)
            if appended is None:
                last = token
                continue
            (_, values, tops, offsets), echoed_text = self.echo(appended)
            if not self.token_prompts:
                # The last echoed token must start where the generated text was appended.
                shift = max(echoed_text.find(appended), 0)
                if offsets[-1] != len(text) + shift:
                    last = token
                    continue
            echoed = float(values[-1])
            where = f"{token!r} after {text!r}"
            if not self.close(echoed, value):
                return [Check("generated_vs_echoed", False,
                              f"generating {where} gave it log-prob {value:.3f}, echoing it gave {echoed:.3f}")]  # fmt: skip
            checks = [Check("generated_vs_echoed", True, f"generating {where}: {value:.6f}; echoed: {echoed:.6f}")]
            best = _best(tops[-1])
            if best is None:
                checks.append(Check("generated_is_echoed_argmax", True, "not checked: the echo gives no top_logprobs there"))
            elif echoed < best and not self.close(echoed, best):
                checks.append(Check("generated_is_echoed_argmax", False,
                                    f"the generated token {where} has echoed log-prob {echoed:.3f}, "
                                    f"but the echo's most probable token there has {best:.3f}"))  # fmt: skip
            else:
                checks.append(Check("generated_is_echoed_argmax", True, f"echoed best {best:.6f}"))
            return checks
        return [Check("generated_vs_echoed", False,
                      f"none of the {len(GENERATION_PROMPTS)} probe prompts generated a token that comes back as one "
                      f"token when echoed (last: {last!r})")]  # fmt: skip

    def generate(self, text: str) -> tuple[str, float] | Check:
        """One greedy token after `text` and its log-prob, or the failed check."""
        body = {"model": self.model, "prompt": self.prompt(text), "max_tokens": 1, "temperature": 0, "logprobs": 1}
        try:
            answer = self.post(body)
        except ServerError as e:
            if _refused_request(e):
                return Check("generated_vs_echoed", False, f"the server does not generate a token with its log-prob ({e})")
            raise
        try:
            block = _logprobs_block(answer)
        except BadAnswer as e:
            return Check("generated_vs_echoed", False, f"the server generates no token log-prob ({e})")
        token = answer["choices"][0].get("text")
        values = block["token_logprobs"]
        if not isinstance(token, str) or len(values) != 1 or not _number(values[0]):
            return Check("generated_vs_echoed", False,
                         f"asked for one greedy token with its log-prob, the server sent {len(values)} log-prob(s)")  # fmt: skip
        return token, float(values[0])

    def appended(self, text: str, token: str) -> Any | None:
        """The prompt `text` followed by the generated `token`, as the echo sends it; None when the
        token cannot be shown to be one token there."""
        if not token:
            return None  # e.g. EOS, which decodes to nothing
        if not self.token_prompts:
            return text + token
        base, whole = self.tokens.encode(text), self.tokens.encode(text + token)
        if len(whole) == len(base) + 1 and whole[: len(base)] == base:
            return [self.tokens.prefix_token, *whole]
        alone = self.tokens.encode(token)
        return [self.tokens.prefix_token, *base, alone[0]] if len(alone) == 1 else None

    # -- shared_prefix

    def shared_prefix(self, first: Echoed) -> Check:
        a_prompt, b_prompt = self.prompt(PROBE_TEXT), self.prompt(SHARED_PREFIX_TEXT)
        b, b_text = self.echo(b_prompt)
        positions = _shared_positions(first, b, a_prompt, b_prompt, b_text)
        if not positions:
            return Check("shared_prefix", False, "the two probe prompts share no echoed token to compare")
        tokens = first[0]
        for i in positions:
            x, y = float(first[1][i]), float(b[1][i])
            if not self.close(x, y):
                name = f" {tokens[i]!r}" if i < len(tokens) else ""
                return Check("shared_prefix", False,
                             f"the shared token{name} at position {i} has echoed log-prob {x:.3f} in one prompt "
                             f"and {y:.3f} in the other")  # fmt: skip
        worst = max(abs(float(first[1][i]) - float(b[1][i])) for i in positions)
        return Check("shared_prefix", True, f"{len(positions)} shared tokens, largest difference {worst:.2e}")


def _shared_positions(a: Echoed, b: Echoed, a_prompt: Any, b_prompt: Any, b_text: str) -> list[int]:
    """Positions (after the first) of the tokens both prompts share, with all that precedes them."""
    if isinstance(a_prompt, list):
        n = 0
        while n < min(len(a_prompt), len(b_prompt)) and a_prompt[n] == b_prompt[n]:
            n += 1
        return list(range(1, n))
    # Text: token i is shared when it starts and ends at the same characters in both echoes,
    # within the text the prompts share (its end: the next token's start).
    shift = max(b_text.find(b_prompt), 0)
    chars = next((k for k, (x, y) in enumerate(zip(a_prompt, b_prompt)) if x != y), min(len(a_prompt), len(b_prompt)))
    a_offsets, b_offsets = a[3], b[3]
    positions = []
    for i in range(1, min(len(a_offsets), len(b_offsets)) - 1):
        if a_offsets[: i + 2] != b_offsets[: i + 2] or a_offsets[i + 1] - shift > chars:
            break
        positions.append(i)
    return positions
