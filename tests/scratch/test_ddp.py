"""Distributed data parallel: 2 processes under torchrun (gloo on CPU) follow the same loss curve
as 1 process with the same global batch (1 process x 2 micro-batches of 4 = 2 processes x 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from .scratch_helpers import TINY_MODEL, TINY_TRAIN


def write_preset(path: Path, **train) -> Path:
    raw = {"adapter": "scratch", "model": asdict(TINY_MODEL), "train": {**asdict(TINY_TRAIN), "steps": 8, **train}}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path: Path, corpus_file: Path, run_cli):
    two = write_preset(tmp_path / "two.yaml", batch_size=4, grad_accum=1)
    one = write_preset(tmp_path / "one.yaml", batch_size=4, grad_accum=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "harness", "train", "--config", str(two), "--corpus", str(corpus_file),
               "--out", str(tmp_path / "ddp"), "--quiet"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 process(es), global batch 8" in done.stdout  # rank 0 alone prints the summary
    assert done.stdout.count("throughput:") == 1
    code, out, err = run_cli("train", "--config", one, "--corpus", corpus_file, "--out", tmp_path / "single", "--quiet")
    assert code == 0, err
    assert "1 process(es), global batch 8" in out
    ddp, single = log(tmp_path / "ddp"), log(tmp_path / "single")
    assert [r["step"] for r in ddp] == [r["step"] for r in single] == list(range(9))
    assert [r["loss"] for r in ddp[1:]] == pytest.approx([r["loss"] for r in single[1:]], abs=1e-4)
    assert [r.get("val_loss") for r in ddp] == pytest.approx([r.get("val_loss") for r in single], abs=1e-4)
    assert ddp[-1]["loss"] < ddp[1]["loss"]  # and it learned something
