"""A real OpenAI-compatible HTTP server on a free loopback port that injects faults by rule.

Its answers are real: the byte-level n-gram preset (`ngram`) scores prompts and generates, so a
clean run through it gives exactly the in-process `ngram` numbers. Tokens are UTF-8 bytes (ids
0-255) and BOS (256), as the n-gram adapter's own.

Faults are rules: `Rule(fault, match=None, times=None, ...)` applies to requests whose prompt text
contains `match` (any request when None) and, if given, go to `path`, the first `times` times
(always when None):
  "429"/"500"/"503"/"400"/"404"  that status, in OpenAI's error shape (429/503 with Retry-After)
  "slow"                         answers after `delay` seconds (longer than the client's timeout)
  "drop"                         closes the connection without answering
  "truncate"                     echoes one log-prob fewer than the prompt has
  "nulls"                        echoes null log-probs after the first position
  "generated_only"               log-probs of generated tokens only, like llama.cpp's server
  "shifted"                      echoed log-probs moved one position: each token reports the
                                 log-prob of the token after it (the last, of the model's greedy
                                 next token), lengths and nulls intact; generated ones are right
  "noisy"                        echoed log-probs each moved by 0.05 to 0.15 nats, up or down
                                 (seeded by the prompt, so the same prompt is always as wrong)
  "wrong_top"                    echoed top_logprobs claim a token 1 nat likelier than the best
  "extra_bos"                    a BOS put before token-id prompts too (one more token echoed)
  "refuse_zero"                  400 for max_tokens 0 (the adapter then asks for 1 and drops it)
  "refuse_ids"                   400 for token-id prompts
  "zero_unlimited"               max_tokens 0 generates 8 tokens, as llama-cpp-python's "no limit"
Every request is logged (`server.log`) for the tests to count what reached the server.
"""

from __future__ import annotations

import json
import math
import threading
import zlib
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from harness.api import GenerationRequest
from harness.models.ngram import BOS, NgramModel

MODEL_ID = "ngram-under-test"


@dataclass
class Rule:
    fault: str
    match: str | None = None
    times: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    path: str | None = None  # only requests to this path (e.g. "/v1/completions")
    hits: int = 0

    def applies(self, path: str, text: str) -> bool:
        if self.path is not None and self.path != path:
            return False
        if self.match is not None and self.match not in text:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


@dataclass
class FaultServer:
    api_key: str | None = None
    max_model_len: int = 1025
    extra_models: tuple[str, ...] = ()  # more ids listed by /v1/models (answered by the same model)
    rules: list[Rule] = field(default_factory=list)
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.model = NgramModel(name="ngram")
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fault_for(self, path: str, text: str) -> Rule | None:
        with self.lock:
            return next((r for r in self.rules if r.applies(path, text)), None)

    def count(self, path: str, match: str | None = None) -> int:
        with self.lock:
            return sum(1 for p, body in self.log if p == path and (match is None or match in _text(body)))

    # ---- real answers from the n-gram model ---------------------------------------------------

    def score(self, ids: list[int]) -> tuple[list[float | None], list[dict[str, float] | None]]:
        counts, order = self.model.counts, self.model.order
        logprobs: list[float | None] = [None]
        tops: list[dict[str, float] | None] = [None]
        for i in range(1, len(ids)):
            history = tuple(ids[max(0, i - order + 1) : i])
            logprobs.append(math.log(counts.prob(history, ids[i])))
            dist = counts.distribution(history)
            best = int(np.argmax(dist))
            tops.append({_token_text(best): math.log(dist[best])})
        return logprobs, tops


    def shifted(self, ids: list[int]) -> tuple[list[float | None], list[dict[str, float] | None]]:
        """The "shifted" fault: position i reports what position i + 1 really has."""
        counts, order = self.model.counts, self.model.order
        dist = counts.distribution(tuple(ids[max(0, len(ids) - order + 1) :]))
        best = int(np.argmax(dist))
        logprobs, tops = self.score([*ids, best])
        return [None, *logprobs[2:]], [None, *tops[2:]]


def noisy(logprobs: list[float | None], text: str) -> list[float | None]:
    """The "noisy" fault: every value moved by 0.05 to 0.15 nats, the same way for the same prompt."""
    rng = np.random.default_rng(zlib.crc32(text.encode("utf-8")))
    moves = rng.uniform(0.05, 0.15, len(logprobs)) * rng.choice([-1.0, 1.0], len(logprobs))
    return [None if v is None else v + float(m) for v, m in zip(logprobs, moves)]


def _token_text(token: int) -> str:
    return "" if token == BOS else bytes([token]).decode("latin-1")


def _text(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        return bytes(t for t in prompt if isinstance(t, int) and 0 <= t < 256).decode("utf-8", errors="replace")
    if isinstance(prompt, str):
        return prompt
    messages = body.get("messages")
    if isinstance(messages, list):
        return " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    return ""


def _string_tokens(text: str) -> tuple[list[int], list[int], list[str]]:
    """Byte tokens of a string prompt, each with the offset of the character it belongs to, and
    its text (the character for its first byte, "" for the rest)."""
    ids, offsets, texts = [], [], []
    for position, char in enumerate(text):
        encoded = char.encode("utf-8")
        for k, b in enumerate(encoded):
            ids.append(b)
            offsets.append(position)
            texts.append(char if k == 0 else "")
    return ids, offsets, texts


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (a "slow" answer past its timeout)

        def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}}, headers)

        def _authorised(self) -> bool:
            if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            self._error(401, "invalid API key")
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path == "/v1/models":
                entry = {"id": MODEL_ID, "object": "model", "created": int(time.time()), "owned_by": "tests",
                         "max_model_len": server.max_model_len}  # fmt: skip
                extra = [{**entry, "id": m} for m in server.extra_models]
                self._send(200, {"object": "list", "data": [entry, *extra]})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._error(400, "invalid JSON")
            with server.lock:
                server.log.append((self.path, body))
            if not self._authorised():
                return
            rule = server.fault_for(self.path, _text(body))
            fault = rule.fault if rule else None
            if fault in ("429", "500", "503", "400", "404"):
                headers = {"Retry-After": rule.retry_after} if rule.retry_after else None
                return self._error(int(fault), f"injected {fault}\nsecond line never shown", headers)
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault == "slow":
                time.sleep(rule.delay)
            if self.path == "/tokenize":
                ids = [BOS] if body.get("add_special_tokens") else []
                return self._send(200, {"tokens": ids + list(str(body.get("prompt", "")).encode("utf-8"))})
            if self.path == "/v1/completions":
                return self._completions(body, fault)
            if self.path == "/v1/chat/completions":
                return self._chat(body)
            self._error(404, f"no route {self.path}")

        def _generate(self, prompt: str, body: dict[str, Any]) -> list[str]:
            stop = body.get("stop") or ()
            request = GenerationRequest(
                prompt=prompt, max_new_tokens=int(body.get("max_tokens", 16)), stop=tuple([stop] if isinstance(stop, str) else stop),
                temperature=float(body.get("temperature", 1.0)), top_p=float(body.get("top_p", 1.0)),
                n=int(body.get("n", 1)), seed=body.get("seed"),
            )  # fmt: skip
            return list(server.model.generate([request])[0].texts)

        def _completions(self, body: dict[str, Any], fault: str | None) -> None:
            prompt = body.get("prompt")
            max_tokens = int(body.get("max_tokens", 16))
            all_faults = {r.fault for r in server.rules if r.match is None and r.times is None}
            if max_tokens == 0 and "refuse_zero" in all_faults:
                return self._error(400, "max_tokens must be at least 1")
            if max_tokens == 0 and "zero_unlimited" in all_faults:
                max_tokens = 8
                body = {**body, "max_tokens": max_tokens}
            if isinstance(prompt, list):
                if "refuse_ids" in all_faults:
                    return self._error(400, "prompt must be a string")
                ids = [int(t) for t in prompt]
                if fault == "extra_bos":
                    ids = [BOS, *ids]
                texts = [_token_text(t) for t in ids]
                offsets = [sum(len(t) for t in texts[:i]) for i in range(len(texts))]
                prompt_text = "".join(texts)
            elif isinstance(prompt, str):
                ids, offsets, texts = _string_tokens(prompt)
                prompt_text = prompt
            else:
                return self._error(400, "prompt must be a string or a list of token ids")
            if len(ids) > server.max_model_len:
                return self._error(400, f"the prompt has {len(ids)} tokens, more than {server.max_model_len}")
            generated = self._generate(prompt_text, body) if max_tokens > 0 else [""] * int(body.get("n", 1))
            choices = []
            for index, text in enumerate(generated):
                logprobs = None
                if body.get("logprobs") is not None:
                    new = list(text.encode("utf-8"))
                    lps, tops = server.score(ids + new) if ids + new else ([], [])
                    if body.get("echo") and fault == "shifted" and ids + new:
                        lps, tops = server.shifted(ids + new)
                    if body.get("echo") and fault == "noisy":
                        lps = noisy(lps, prompt_text)
                    if body.get("echo") and fault == "wrong_top":
                        tops = [t and {k: v + 1.0 for k, v in t.items()} for t in tops]
                    all_texts = texts + [_token_text(t) for t in new]
                    all_offsets = offsets + [len(prompt_text) + k for k in range(len(new))]
                    if not body.get("echo") or "generated_only" in all_faults:
                        lps, tops, all_texts, all_offsets = lps[len(ids):], tops[len(ids):], all_texts[len(ids):], all_offsets[len(ids):]
                    if fault == "truncate":
                        lps, tops = lps[:-1], tops[:-1]
                    if fault == "nulls":
                        lps = lps[:1] + [None] * (len(lps) - 1)
                    logprobs = {"tokens": all_texts, "token_logprobs": lps, "top_logprobs": tops, "text_offset": all_offsets}
                out_text = (prompt_text if body.get("echo") else "") + text
                choices.append({"index": index, "text": out_text, "logprobs": logprobs, "finish_reason": "length"})
            self._send(200, {"id": "cmpl-test", "object": "text_completion", "created": int(time.time()),
                             "model": MODEL_ID, "choices": choices})  # fmt: skip

        def _chat(self, body: dict[str, Any]) -> None:
            messages = body.get("messages") or []
            texts = self._generate(str(messages[-1].get("content", "")), body)
            choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "length"}
                       for i, t in enumerate(texts)]  # fmt: skip
            self._send(200, {"id": "chat-test", "object": "chat.completion", "model": MODEL_ID, "choices": choices})

    return Handler
