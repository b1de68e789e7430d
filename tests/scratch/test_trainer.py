"""The trainer: loss falls, schedule, exact resume, accumulation, checkpoints, unigram baseline."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from harness.errors import HarnessError
from harness.scratch import checkpoint as ckpt
from harness.scratch.data import TokenData, unigram_loss
from harness.scratch.trainer import TrainConfig, Trainer, lr_at

from .scratch_helpers import tiny_run


def losses(records) -> list[tuple[int, float]]:
    return [(r.step, r.loss) for r in records if r.step > 0]


def test_loss_falls_and_beats_unigram(trained):
    out, result = trained
    train = losses(result.records)
    assert len(train) == 30
    first_five = sum(loss for _, loss in train[:5]) / 5
    last_five = sum(loss for _, loss in train[-5:]) / 5
    assert last_five < first_five - 1.0
    assert result.val_loss < result.unigram_val_loss - 0.3
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(31))
    assert log[0]["loss"] is None and log[0]["val_loss"] > log[-1]["val_loss"]
    assert result.tokens_per_s > 0 and result.mfu > 0


def test_checkpoint_files_are_safetensors_and_json(trained):
    from safetensors.torch import load_file

    out, _ = trained
    names = {p.name for p in out.iterdir()}
    assert names == {"scratch_config.json", "model.safetensors", "tokenizer.json", "optimizer.safetensors",
                     "training_state.json", "train_log.jsonl", "report.html"}
    weights = load_file(str(out / "model.safetensors"))
    assert "lm_head.weight" not in weights and "wte.weight" in weights  # tied: stored once
    state = json.loads((out / "training_state.json").read_text())
    assert state["step"] == 30
    model = ckpt.load_model(out)
    assert torch.equal(model.lm_head.weight, weights["wte.weight"])


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig(steps=110, warmup_steps=10, learning_rate=1.0, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.1 + 0.5 * (1 + math.cos(math.pi * 0.5)) * 0.9)  # half way: 0.55
    assert lr_at(110, cfg) == pytest.approx(0.1)


def test_unigram_loss_by_hand():
    # train tokens: 0 x3, 1 x1 over vocab 3 -> add-one counts 4, 2, 1 of 7.
    data = TokenData(train=torch.tensor([0, 0, 1, 0]), val=torch.tensor([2, 0, 1, 2, 2]), vocab_size=3)
    # block 2: windows start at 0 and 2; targets [0, 1] and [2, 2]
    expected = -(math.log(4 / 7) + math.log(2 / 7) + 2 * math.log(1 / 7)) / 4
    assert unigram_loss(data, block_size=2, max_windows=10) == pytest.approx(expected)


def test_interrupted_run_resumes_exactly(tmp_path: Path, corpus_file: Path):
    cfg = dict(steps=12, batch_size=4, grad_accum=2, checkpoint_every=4, eval_every=4)
    full = Trainer(tiny_run(tmp_path / "full", corpus_file, **cfg)).fit()
    # Killed after step 6; the last checkpoint is step 4, so steps 5 and 6 are redone.
    Trainer(replace(tiny_run(tmp_path / "cut", corpus_file, **cfg), stop_after=6)).fit()
    resumed = Trainer(replace(tiny_run(tmp_path / "cut", corpus_file, **cfg), resume=True)).fit()
    assert resumed.start_step == 4
    expected = [x for x in losses(full.records) if x[0] > 4]
    got = losses(resumed.records)
    assert [s for s, _ in got] == [s for s, _ in expected]
    assert [loss for _, loss in got] == pytest.approx([loss for _, loss in expected], abs=1e-5)
    log = [json.loads(line)["step"] for line in (tmp_path / "cut" / "train_log.jsonl").read_text().splitlines()]
    assert log == list(range(13))  # the lines of the redone steps were replaced, not duplicated
    a, b = ckpt.load_model(tmp_path / "full"), ckpt.load_model(tmp_path / "cut")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-5), name


def test_gradient_accumulation_matches_one_big_batch(tmp_path: Path, corpus_file: Path):
    one = Trainer(tiny_run(tmp_path / "one", corpus_file, steps=6, batch_size=8, grad_accum=1)).fit()
    two = Trainer(tiny_run(tmp_path / "two", corpus_file, steps=6, batch_size=4, grad_accum=2)).fit()
    assert [x for _, x in losses(two.records)] == pytest.approx([x for _, x in losses(one.records)], abs=1e-5)


def test_training_state_must_match_weights(tmp_path: Path, corpus_file: Path):
    out = tmp_path / "ckpt"
    Trainer(tiny_run(out, corpus_file, steps=2)).fit()
    data = bytearray((out / "model.safetensors").read_bytes())
    data[-1] ^= 1  # as if a crash left new weights beside an old training state
    (out / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(HarnessError, match="does not belong to training_state.json"):
        Trainer(replace(tiny_run(out, corpus_file, steps=2), resume=True)).fit()


def test_weights_that_do_not_match_the_config(tmp_path: Path, corpus_file: Path):
    out = tmp_path / "ckpt"
    Trainer(tiny_run(out, corpus_file, steps=1)).fit()
    config = json.loads((out / "scratch_config.json").read_text())
    config["model"]["n_layer"] = 3
    (out / "scratch_config.json").write_text(json.dumps(config))
    with pytest.raises(HarnessError, match="weights do not match scratch_config.json"):
        ckpt.load_model(out)


def test_finished_run_cannot_be_resumed_and_unfinished_first_run_restarts(tmp_path: Path, corpus_file: Path):
    out = tmp_path / "ckpt"
    Trainer(tiny_run(out, corpus_file, steps=2)).fit()
    with pytest.raises(HarnessError, match="already trained for 2 of 2 steps"):
        Trainer(replace(tiny_run(out, corpus_file, steps=2), resume=True)).fit()
    # Killed before its first checkpoint: no checkpoint, so a plain rerun starts afresh, log included.
    fresh = tmp_path / "fresh"
    Trainer(replace(tiny_run(fresh, corpus_file, steps=6, checkpoint_every=5), stop_after=3)).fit()
    assert not (fresh / "scratch_config.json").exists()
    Trainer(tiny_run(fresh, corpus_file, steps=6, checkpoint_every=5)).fit()
    steps = [json.loads(line)["step"] for line in (fresh / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(7))


def test_bf16_autocast_trains_close_to_float32(tmp_path: Path, corpus_file: Path):
    fp32 = Trainer(tiny_run(tmp_path / "fp32", corpus_file, steps=3)).fit()
    bf16 = Trainer(tiny_run(tmp_path / "bf16", corpus_file, steps=3, precision="bfloat16")).fit()
    assert bf16.extra["precision"] == "bfloat16" and fp32.extra["precision"] == "float32"
    assert [x for _, x in losses(bf16.records)] == pytest.approx([x for _, x in losses(fp32.records)], abs=0.05)


def test_resume_logs_the_same_means_when_log_every_does_not_divide_checkpoint_every(tmp_path: Path, corpus_file: Path):
    # Logs at 3, 6, 9, 12; checkpoints at 4, 8, 12; killed after step 6, so the resumed run starts
    # at 4 and its first logged mean (step 6) must still cover steps 4, 5 and 6.
    cfg = dict(steps=12, batch_size=4, log_every=3, checkpoint_every=4, eval_every=100)
    full = Trainer(tiny_run(tmp_path / "full", corpus_file, **cfg)).fit()
    Trainer(replace(tiny_run(tmp_path / "cut", corpus_file, **cfg), stop_after=6)).fit()
    state = json.loads((tmp_path / "cut" / "training_state.json").read_text())
    assert state["step"] == 4 and state["loss_since"] == 3
    resumed = Trainer(replace(tiny_run(tmp_path / "cut", corpus_file, **cfg), resume=True)).fit()
    assert resumed.start_step == 4
    expected = [x for x in losses(full.records) if x[0] > 4]
    got = losses(resumed.records)
    assert [s for s, _ in expected] == [6, 9, 12] and [s for s, _ in got] == [6, 9, 12]
    assert [loss for _, loss in got] == pytest.approx([loss for _, loss in expected], abs=1e-5)
    # The saved sum is step 4's loss: the logged mean at 6 is (loss4 + loss5 + loss6) / 3.
    per_step = {s: x for s, x in losses(Trainer(tiny_run(tmp_path / "each", corpus_file, **{**cfg, "log_every": 1})).fit().records)}
    assert state["loss_sum"] == pytest.approx(per_step[4], abs=1e-5)
    assert got[0][1] == pytest.approx((per_step[4] + per_step[5] + per_step[6]) / 3, abs=1e-5)
    log = [json.loads(line) for line in (tmp_path / "cut" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 3, 6, 9, 12]


def test_resume_without_the_tokenizer_is_a_clear_error(tmp_path: Path, corpus_file: Path):
    out = tmp_path / "ckpt"
    Trainer(replace(tiny_run(out, corpus_file, steps=4, checkpoint_every=2), stop_after=2)).fit()
    (out / "tokenizer.json").unlink()
    with pytest.raises(HarnessError, match=r"tokenizer\.json: missing; the checkpoint folder is incomplete"):
        Trainer(replace(tiny_run(out, corpus_file, steps=4, checkpoint_every=2), resume=True)).fit()
    (out / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(HarnessError, match=r"tokenizer\.json: cannot read the tokenizer"):
        Trainer(replace(tiny_run(out, corpus_file, steps=4, checkpoint_every=2), resume=True)).fit()
