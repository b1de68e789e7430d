"""Scoring at the floor (issue 17): logits kept at target positions only, one gather per batch,
the per-device `auto` budget, and commands that never import torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.api import LoglikelihoodRequest as R
from harness.models.settings import AUTO_MAX_SEQUENCES, AUTO_TOKEN_BUDGET, auto_max_sequences, auto_token_budget
from tests.conftest import REPO


def test_auto_batches_respect_the_device_budget():
    from harness.models.scoring import length_sorted_batches

    lengths = [3, 40, 17, 17, 5, 90, 1, 300, 12, 64, 64, 8]
    for budget in (16, 64, 256):
        batches = list(length_sorted_batches(lengths, "auto", budget))
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        for b in batches:  # longest first; over budget only when one sequence alone is longer
            assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)
            assert len(b) * lengths[b[0]] <= budget or len(b) == 1
    fixed = list(length_sorted_batches(lengths, 5))
    assert [len(b) for b in fixed] == [5, 5, 2]
    assert auto_token_budget("cpu") == AUTO_TOKEN_BUDGET["cpu"] < auto_token_budget("cuda:1")
    assert auto_max_sequences("cpu") == AUTO_MAX_SEQUENCES["cpu"] and auto_max_sequences("cuda:0") is None


def test_auto_batches_stop_at_the_sequence_limit():
    """Many short sentences: the token budget alone would put them all in one batch."""
    from harness.models.scoring import length_sorted_batches

    lengths = [20 - i % 7 for i in range(50)]
    assert [len(b) for b in length_sorted_batches(lengths, "auto", 1024)] == [50]
    limited = list(length_sorted_batches(lengths, "auto", 1024, 16))
    assert [len(b) for b in limited] == [16, 16, 16, 2]
    assert [len(b) for b in length_sorted_batches([20] * 50, "auto", 200, 16)] == [10] * 5  # the budget binds first
    assert [len(b) for b in length_sorted_batches(lengths, 8, 1024, 16)] == [8] * 6 + [2]  # a fixed size ignores both


def direct_scores(model, spans) -> list[tuple[float, bool]]:
    """Each span alone, unpadded, every position's logits, log_softmax in float64."""
    import torch

    out = []
    for span in spans:
        with torch.no_grad():
            logits = model(torch.tensor([list(span.inputs)])).logits[0].double()
        at = logits[len(span.inputs) - span.n_targets :]
        targets = torch.tensor(span.targets)
        logprob = float(torch.log_softmax(at, dim=-1).gather(1, targets[:, None]).sum())
        out.append((logprob, bool((at.argmax(-1) == targets).all())))
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from harness.models.hf import HFModel
    from tests.tiny_models import build_tiny_llama

    folder = build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model")
    return HFModel(name="tiny", path=str(folder), cache_dir=tmp_path_factory.mktemp("cache"))


def random_spans(n: int, seed: int):
    import random

    from harness.tokens import Span

    rng = random.Random(seed)
    spans = []
    for _ in range(n):
        length = rng.randint(2, 40)
        spans.append(Span(tuple(rng.randrange(2, 300) for _ in range(length)), rng.randint(1, length - 1)))
    return spans


@pytest.mark.parametrize("batch_size", [1, 3, "auto"])
def test_kept_logits_give_the_direct_numbers(tiny, batch_size):
    from harness.models.scoring import keeping, score_kept_spans

    spans = random_spans(25, seed=7)
    calls = tiny._calls
    assert calls._keeps_mask  # the Llama class takes a boolean logits_to_keep
    expected = direct_scores(tiny.model, spans)
    for forward in (calls.kept, keeping(tiny._forward)):  # the model's own slicing, and the fallback
        got = score_kept_spans(forward, spans, pad_id=tiny._pad_id, batch_size=batch_size)
        for score, (logprob, greedy) in zip(got, expected):
            assert score.logprob == pytest.approx(logprob, abs=1e-4)
            assert score.is_greedy == greedy
    # Spans whose continuation the model predicts greedily, so that True is exercised too.
    from harness.tokens import Span

    greedy_spans = []
    for span in spans[:6]:
        tokens = list(span.tokens[:-1])
        for _ in range(3):
            expected_next = direct_next(tiny.model, tokens)
            tokens.append(expected_next)
        greedy_spans.append(Span(tuple(tokens), 3))
    got = score_kept_spans(calls.kept, greedy_spans, pad_id=tiny._pad_id, batch_size=batch_size)
    assert all(s.is_greedy for s in got)


def direct_next(model, tokens: list[int]) -> int:
    import torch

    with torch.no_grad():
        return int(model(torch.tensor([tokens])).logits[0, -1].argmax())


def test_prefix_reuse_and_plain_paths_agree_on_many_groups(tiny):
    """Contexts of different lengths in one batch, continuations split over several batches
    (the cache is copied for each), one-token continuations answered by the context pass."""
    contexts = [f"Item {i}: the path by the river was covered in leaves{'.' * i}\nAnswer:" for i in range(7)]
    requests = [R(c, a) for c in contexts for a in (" yes", " no, not at all", " it cannot be told from this")]
    requests += [R("", "A sentence after BOS."), R("Short", " one")]
    tiny.batch_size, tiny.prefix_reuse = 2, True
    reused = tiny.loglikelihood(requests)
    tiny.batch_size, tiny.prefix_reuse = 1, False
    plain = tiny.loglikelihood(requests)
    tiny.batch_size, tiny.prefix_reuse = "auto", True
    for a, b in zip(reused, plain):
        assert (a.n_tokens, a.is_greedy) == (b.n_tokens, b.is_greedy)
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_the_adapter_imports_its_model_class(tiny):
    import transformers

    assert tiny._model_class() is transformers.LlamaForCausalLM
    assert type(tiny.model) is transformers.LlamaForCausalLM


def test_list_scorecard_and_gate_never_import_torch(tmp_path: Path):
    """A fresh interpreter runs the three commands on a real (n-gram) run and reports what it imported."""
    run = tmp_path / "run"
    subprocess.run(
        [sys.executable, "-m", "harness", "run", "perplexity", "--model", "ngram", "--limit", "3", "--out", str(run),
         "--cache-dir", str(tmp_path / "cache"), "--quiet"],
        check=True, cwd=REPO, capture_output=True,
    )  # fmt: skip
    probe = (
        "import json, sys\n"
        "from harness.cli import main\n"
        "codes = [main(['list']),\n"
        f"         main(['scorecard', {str(run)!r}, '-o', {str(tmp_path / 'card.html')!r}]),\n"
        f"         main(['gate', '--baseline', {str(run)!r}, '--candidate', {str(run)!r}])]\n"
        "print(json.dumps({'codes': codes, 'loaded': sorted(m for m in ('torch', 'transformers') if m in sys.modules)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, cwd=REPO, capture_output=True, text=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0, 0, 0]
    assert report["loaded"] == []
    assert (tmp_path / "card.html").stat().st_size > 1000


@pytest.mark.slow
def test_default_model_scoring_equals_a_plain_transformers_loop():
    """The benchmark's fidelity check, small: the hf adapter (kept logits, prefix reuse, auto
    batches) against full logits and log_softmax, one request at a time."""
    import torch

    from harness.cache import default_cache_dir
    from harness.models.hf import HFModel
    from harness.resources import load_model_spec

    spec = load_model_spec("smollm2-135m")
    lm = HFModel(name="smollm2", **{**spec.args, "cache_dir": default_cache_dir()})
    context = "Two neighbours were arguing over a fence.\nQuestion: Who started the argument?\nAnswer:"
    requests = [R("", "The old man could not use the new phone."), R("", "The young man could not use the new phone.")]
    requests += [R(context, " The older neighbour"), R(context, " The younger neighbour"), R(context, " Cannot be determined")]
    got = lm.loglikelihood(requests)
    tok, model = lm.tokenizer, lm.model
    for request, score in zip(requests, got):
        if request.context:
            head = tok.encode(request.context, add_special_tokens=False)
            ids = tok.encode(request.context + request.continuation, add_special_tokens=False)
        else:
            head = [lm.prefix_token]
            ids = head + tok.encode(request.continuation, add_special_tokens=False)
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
        expected = sum(float(logprobs[p - 1, ids[p]]) for p in range(len(head), len(ids)))
        assert score.n_tokens == len(ids) - len(head)
        assert score.logprob == pytest.approx(expected, abs=1e-4)
