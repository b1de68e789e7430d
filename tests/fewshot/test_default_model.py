"""Multi-turn few-shot on the real default model (SmolLM2-135M-Instruct, a chat preset)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.models.generation import render_prompt
from harness.resources import load_model_spec, load_suite_spec
from harness.runner import RunOptions, build_model
from harness.suites.squad import SquadSuite
from tests.fewshot.conftest import suite_variant
from tests.fewshot.test_render import Recorder


@pytest.mark.slow
def test_squad_exemplars_are_chat_turns_of_the_default_model(cache_dir: Path, tmp_path: Path) -> None:
    spec = load_suite_spec(str(suite_variant(tmp_path, "squad", params={"max_new_tokens": 6}, fewshot={"sampler": "first"})))
    kind = SquadSuite(spec, num_fewshot=2)
    items = list(kind.load(None).items)
    lm = build_model(load_model_spec("smollm2-135m"), RunOptions(suites=(), model="smollm2-135m", out=Path("."), cache_dir=cache_dir))
    assert lm.info.chat and "fewshot=k2/first/pool=" in kind.protocol(lm.info) and kind.protocol(lm.info).count("/multiturn ") == 1
    recorder = Recorder(lm)
    record = kind.evaluate(recorder, items[:1], seed=0)[0]
    request = recorder.requests[0]
    pool = {q.id: q for q in kind.pool.items}
    first, second = (pool[i] for i in record["fewshot"])
    assert record["fewshot"] == ["shot-001", "shot-002"]  # sampler first: the pool's first two questions
    shot_prompts = [t.user for t in request.history]
    assert [t.assistant for t in request.history] == [first.answers[0], second.answers[0]]
    assert all(p.startswith("Read the passage") and q.question in p for p, q in zip(shot_prompts, (first, second)))
    messages = [{"role": "user", "content": shot_prompts[0]}, {"role": "assistant", "content": first.answers[0]},
                {"role": "user", "content": shot_prompts[1]}, {"role": "assistant", "content": second.answers[0]},
                {"role": "user", "content": items[0].prompt}]
    own = lm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert render_prompt(lm.tokenizer, request) == own
    assert own.count("<|im_start|>user") == 3 and own.count("<|im_start|>assistant") == 3
    assert record["generation"].strip() and 0.0 <= record["f1"] <= 1.0
