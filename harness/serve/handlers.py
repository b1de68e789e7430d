"""/v1/completions and /v1/chat/completions: check the request, call the model through the
micro-batchers, shape OpenAI's response.

Echoed prompts are scored by the adapter's `score_tokens` (the forward pass and float32
log-softmax of in-process scoring). Generation goes through the adapter's own `generate` with the
request's budget, stops, temperature, top_p, n and seed, so texts are exactly the in-process ones.
Log-probs of generated text are those of the text as the tokenizer encodes it, scored in a second
pass (usually the generated tokens themselves, not always), at temperature 1, and never more tokens
than `max_tokens`. One greedy token (`max_tokens: 1, temperature: 0`, what echo-scoring clients such
as lm-evaluation-harness send) is reported as the model's most probable next token itself, read off
that pass: its text may stand for no token (EOS decodes to "") or for several (a lone byte of a
character decodes to U+FFFD), and such clients drop the last entry after the prompt's.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.api import Generation, GenerationRequest, TokenLogprobs
from harness.serve.batcher import MicroBatcher, ModelThread
from harness.serve.engine import Echo, EchoJob, EncodedPrompt, Engine
from harness.serve.errors import APIError
from harness.serve.schemas import DEFAULT_MAX_TOKENS, ChatRequest, CompletionRequest, BaseRequest


@dataclass(frozen=True)
class Server:
    """What the routes share: the engine, the model thread and the two micro-batchers."""

    engine: Engine
    thread: ModelThread
    scorer: MicroBatcher[EchoJob, Echo]  # encodes prompts, and scores those that ask
    generator: MicroBatcher[GenerationRequest, Generation]
    model_id: str
    created: int

    @classmethod
    def build(cls, engine: Engine, max_batch: int, max_wait_s: float) -> Server:
        thread = ModelThread()
        return cls(
            engine=engine,
            thread=thread,
            scorer=MicroBatcher(engine.echo, thread, max_batch, max_wait_s),
            generator=MicroBatcher(engine.generate, thread, max_batch, max_wait_s),
            model_id=engine.info.name,
            created=int(time.time()),
        )

    def check_model(self, model: str | None) -> None:
        if model is not None and model != self.model_id:
            raise APIError(
                404, f"the model {model!r} does not exist; this server serves {self.model_id!r}",
                param="model", code="model_not_found",
            )

    def check_ids(self, ids: Sequence[int], param: str) -> None:
        vocab = self.engine.vocab_size
        bad = next((i for i in ids if not 0 <= i < vocab), None)
        if bad is not None:
            raise APIError(400, f"token id {bad} is out of range; the vocabulary has ids 0..{vocab - 1}", param=param)


def _common_checks(server: Server, req: BaseRequest) -> None:
    server.check_model(req.model)
    field = req.unsupported()
    if field is not None:
        raise APIError(400, f"{field} is not supported by harness serve", param=field)


def _check_budget(max_tokens: int, max_length: int) -> None:
    if max_tokens > max_length:
        raise APIError(400, f"max_tokens {max_tokens} is more than the model's max_model_len {max_length}", param="max_tokens")


def _sampling(req: BaseRequest) -> tuple[float, float, int | None]:
    """(temperature, top_p, seed): OpenAI's defaults (temperature 1); a sampled request without
    a seed gets a random one, reported in the response."""
    temperature = 1.0 if req.temperature is None else req.temperature
    top_p = 1.0 if req.top_p is None else req.top_p
    seed = req.seed
    if temperature > 0 and seed is None:
        seed = secrets.randbelow(2**31)
    return temperature, top_p, seed


def _envelope(kind: str, server: Server, choices: list[dict[str, Any]], prompt_tokens: int, completion_tokens: int,
              seed: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"{'cmpl' if kind == 'text_completion' else 'chatcmpl'}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": server.model_id,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    if seed is not None:
        body["seed"] = seed
    return body


# ---- /v1/completions ---------------------------------------------------------------------------


async def completions(server: Server, req: CompletionRequest) -> dict[str, Any]:
    _common_checks(server, req)
    prompts = req.prompts()
    if not prompts:
        raise APIError(400, "prompt is empty", param="prompt")
    for p in prompts:
        if len(p) == 0:
            raise APIError(400, "prompt is empty (an empty string or an empty list of token ids)", param="prompt")
        if not isinstance(p, str):
            server.check_ids(p, "prompt")
    max_tokens = DEFAULT_MAX_TOKENS if req.max_tokens is None else req.max_tokens
    if max_tokens == 0:
        return await _echo_only(server, req, prompts)
    return await _generate(server, req, prompts, max_tokens)


def _job(req: CompletionRequest, prompt: str | list[int], limit: int, top_k: int | None) -> EchoJob:
    return EchoJob(prompt if isinstance(prompt, str) else tuple(prompt), limit, top_k, req.add_special_tokens,
                   req.return_tokens_as_token_ids)


async def _echo_only(server: Server, req: CompletionRequest, prompts: list[str | list[int]]) -> dict[str, Any]:
    """max_tokens 0: nothing generated; with echo and logprobs, the prompt scored. A scoring
    prompt may be max_length + 1 tokens: the model reads the first max_length of them."""
    top_k = req.logprobs if req.echo else None
    echoes = await server.scorer.submit_all([_job(req, p, server.engine.max_length + 1, top_k) for p in prompts])
    choices = []
    for e in echoes:
        block = e.block if req.echo else (_empty_block() if req.logprobs is not None else None)
        for _ in range(req.n):
            text = e.prompt.text if req.echo else ""
            choices.append({"index": len(choices), "text": text, "logprobs": block, "finish_reason": "length"})
    return _envelope("text_completion", server, choices, sum(len(e.prompt.ids) for e in echoes), 0, None)


def _empty_block() -> dict[str, Any]:
    return {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}


async def _generate(server: Server, req: CompletionRequest, prompts: list[str | list[int]], max_tokens: int) -> dict[str, Any]:
    engine = server.engine
    length = engine.max_length
    _check_budget(max_tokens, length)
    encoded = [e.prompt for e in await server.scorer.submit_all([_job(req, p, length, None) for p in prompts])]
    if req.echo and req.logprobs is not None:
        for e in encoded:
            if len(e.ids) + max_tokens > length + 1:
                raise APIError(
                    400, f"echo with logprobs scores prompt and completion together: {len(e.ids)} prompt tokens + "
                    f"max_tokens {max_tokens} is more than {length + 1}", param="max_tokens",
                )
    temperature, top_p, seed = _sampling(req)
    stop = req.stop_sequences()
    # The prompt text the adapter generates from: the string itself, or the decoded token ids.
    texts = [p if isinstance(p, str) else e.text for p, e in zip(prompts, encoded)]
    requests = [
        GenerationRequest(prompt=t, max_new_tokens=max_tokens, stop=stop, temperature=temperature, top_p=top_p,
                          n=req.n, seed=seed)
        for t in texts
    ]
    generations = await server.generator.submit_all(requests)
    outputs = [text for g in generations for text in g.texts]
    # A completion has at most max_tokens tokens, though its text may re-encode to more.
    new_ids = [ids[:max_tokens] for ids in await server.thread.run(engine.encode_many, outputs)]
    finish = ["length" if len(ids) >= max_tokens else "stop" for ids in new_ids]
    blocks: list[dict[str, Any] | None] = [None] * len(outputs)
    if req.logprobs is not None:
        blocks, new_ids = await _generated_logprobs(server, req, encoded, texts, new_ids, temperature == 0 and max_tokens == 1)
    choices = []
    for k, text in enumerate(outputs):
        choices.append({
            "index": k,
            "text": (texts[k // req.n] if req.echo else "") + text,
            "logprobs": blocks[k],
            "finish_reason": finish[k],
        })
    return _envelope("text_completion", server, choices, sum(len(e.ids) for e in encoded), sum(map(len, new_ids)),
                     seed if temperature > 0 else None)


async def _generated_logprobs(
    server: Server, req: CompletionRequest, encoded: list[EncodedPrompt], texts: list[str], new_ids: list[list[int]],
    one_greedy: bool,
) -> tuple[list[dict[str, Any] | None], list[list[int]]]:
    """Each choice's tokens scored in context: the prompt's too when echoed; otherwise only the
    generated ones, after as much of the prompt as fits. With `one_greedy` (max_tokens 1,
    temperature 0) the generated token is the model's most probable one after the prompt, taken
    from the same pass (a placeholder holds its place), whatever its text re-encodes to.
    Returns the blocks and the generated tokens they report."""
    engine = server.engine
    length = engine.max_length
    jobs, firsts, scored_ids = [], [], []
    for k, ids in enumerate(new_ids):
        prompt = encoded[k // req.n]
        ids = [engine.prefix_token] if one_greedy else ids[:length]
        context = list(prompt.ids) if req.echo else list(prompt.ids)[-(length + 1 - len(ids)) :]
        ids = ids[: length + 1 - len(context)]
        scored_ids.append(ids)
        top_k = max(1, req.logprobs or 0) if one_greedy else req.logprobs
        jobs.append(EchoJob(tuple(context + ids), length + 1, top_k))
        firsts.append(0 if req.echo else len(context))
    echoes = await server.scorer.submit_all(jobs)

    def build() -> list[dict[str, Any] | None]:
        blocks: list[dict[str, Any] | None] = []
        for k, (echo, first) in enumerate(zip(echoes, firsts)):
            prompt = encoded[k // req.n]
            ids, scores = echo.prompt.ids, echo.scores
            assert scores is not None
            if one_greedy and scored_ids[k]:
                token, value = scores.top[-1][0]  # the argmax where the placeholder stands
                scored_ids[k] = [token]
                ids = (*ids[:-1], token)
                scores = TokenLogprobs((*scores.logprobs[:-1], value), scores.top)
            offsets = list(prompt.offsets) if req.echo else []
            shift = len(texts[k // req.n]) if req.echo else 0
            generated = engine.encode_prompt(scored_ids[k], add_special=False).offsets
            offsets += [shift + o for o in generated]
            blocks.append(engine.logprobs_block(ids, offsets, scores, req.logprobs or 0,
                                                req.return_tokens_as_token_ids, first))
        return blocks

    return await server.thread.run(build), scored_ids


# ---- /v1/chat/completions ----------------------------------------------------------------------


async def chat_completions(server: Server, req: ChatRequest) -> dict[str, Any]:
    _common_checks(server, req)
    engine = server.engine
    if not engine.has_chat_template:
        raise APIError(
            400, f"the model {server.model_id!r} has no chat template; use /v1/completions with a plain prompt",
            param="messages",
        )
    messages = [m.as_dict() for m in req.messages]
    rendered = await server.thread.run(engine.render_chat, messages)
    prompt_ids = await server.thread.run(engine.encode, rendered)
    max_tokens = req.budget()
    if len(prompt_ids) > engine.max_length:
        raise APIError(
            400, f"the conversation has {len(prompt_ids)} tokens, more than the model's max_model_len {engine.max_length}",
            param="messages",
        )
    _check_budget(max_tokens, engine.max_length)
    temperature, top_p, seed = _sampling(req)
    # One user message: exactly what the harness does in-process for a chat prompt. A longer
    # conversation: its rendering through the template, as plain text.
    single = len(messages) == 1 and messages[0]["role"] == "user"
    request = GenerationRequest(
        prompt=messages[0]["content"] if single else rendered, max_new_tokens=max_tokens, stop=req.stop_sequences(),
        temperature=temperature, top_p=top_p, n=req.n, seed=seed, chat=single,
    )
    generation = await server.generator.submit(request)
    new_ids = await server.thread.run(engine.encode_many, list(generation.texts))
    choices = [
        {
            "index": j,
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
            "finish_reason": "length" if len(ids) >= max_tokens else "stop",
        }
        for j, (text, ids) in enumerate(zip(generation.texts, new_ids))
    ]
    return _envelope("chat.completion", server, choices, len(prompt_ids), sum(map(len, new_ids)),
                     seed if temperature > 0 else None)
