"""--compress on the torch adapters: the fingerprint names the variant, the base ("none") is the
plain model, int8 stays near the base while heavy pruning does not, and summary.json records
what the transform did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.api import LoglikelihoodRequest
from harness.models.hf import HFModel
from harness.models.scratch import ScratchModel

SENTENCES = [
    ("", "The gardener repairs the wooden fence before noon."),
    ("", "A small robot carries seven blue lanterns near the station."),
    ("My neighbour", " paints two paper kites after the rain."),
    ("", "Every student measures the morning bread in the library."),
    ("The old clock", " counts a quiet harbour on long winter evenings."),
    ("", "The river pilot describes the wooden fence after the rain."),
]


def requests() -> list[LoglikelihoodRequest]:
    return [LoglikelihoodRequest(c, x) for c, x in SENTENCES]


def test_fingerprints_differ_by_variant(tiny_llama: Path, cache_dir: Path) -> None:
    def fingerprint(**kw: object) -> str:
        return HFModel(name="tiny", path=str(tiny_llama), cache_dir=cache_dir, **kw).info.fingerprint  # type: ignore[arg-type]

    plain = fingerprint()
    variants = ["int8", "int4", "int4:g32", "int8-dynamic", "prune:0.3", "prune:0.5", "prune-layer:0.3"]
    prints = {spec: fingerprint(compress=spec) for spec in variants}
    prints["int8+embeddings"] = fingerprint(compress="int8", compress_embeddings=True)
    assert len(set(prints.values())) == len(prints) and plain not in prints.values()
    assert fingerprint(compress="int4:g128") == prints["int4"]  # the same variant, however it is written
    assert fingerprint(compress="none") == plain  # the audit's base shares the plain model's cache


def test_scratch_int8_close_prune_far(trained_scratch: Path, cache_dir: Path) -> None:
    def loglikelihoods(compress: str | None) -> list[float]:
        lm = ScratchModel(name="tiny", path=str(trained_scratch), cache_dir=cache_dir, compress=compress)
        return [r.logprob for r in lm.loglikelihood(requests())]

    base = loglikelihoods(None)
    int8 = loglikelihoods("int8")
    pruned = loglikelihoods("prune:0.9")
    tokens = sum(r.n_tokens for r in ScratchModel(name="tiny", path=str(trained_scratch), cache_dir=cache_dir).loglikelihood(requests()))
    int8_shift = sum(abs(a - b) for a, b in zip(base, int8)) / tokens
    prune_shift = sum(abs(a - b) for a, b in zip(base, pruned)) / tokens
    assert int8_shift < 0.005, int8_shift  # nats per token
    assert prune_shift > 0.15 and prune_shift > 20 * int8_shift, (prune_shift, int8_shift)
    assert sum(pruned) < sum(base)  # the pruned model finds its own training prose less likely


def test_scratch_fingerprint_and_tie(trained_scratch: Path, cache_dir: Path) -> None:
    plain = ScratchModel(name="tiny", path=str(trained_scratch), cache_dir=cache_dir)
    pruned = ScratchModel(name="tiny", path=str(trained_scratch), cache_dir=cache_dir, compress="prune:0.5")
    assert plain.info.fingerprint != pruned.info.fingerprint
    model = pruned.model
    assert model.lm_head.weight is model.wte.weight
    details = pruned.info.details["compression"]
    assert details["tied_head"] == "kept" and details["measured_sparsity"] == pytest.approx(0.5, abs=1e-4)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_base_variant_is_the_plain_run(run_cli, tiny_llama: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    common = ["crows_pairs", "--model", tiny_llama, "--limit", "8", "--no-cache", "--quiet"]
    assert run_cli("run", *common, "--out", tmp_path / "plain")[0] == 0
    assert run_cli("run", *common, "--out", tmp_path / "base", "--compress", "none")[0] == 0
    plain = json.loads((tmp_path / "plain" / "summary.json").read_text())
    base = json.loads((tmp_path / "base" / "summary.json").read_text())
    assert plain["model"]["fingerprint"] == base["model"]["fingerprint"]
    assert plain["suites"]["crows_pairs"]["metrics"] == base["suites"]["crows_pairs"]["metrics"]
    assert _records(tmp_path / "plain" / "crows_pairs.jsonl") == _records(tmp_path / "base" / "crows_pairs.jsonl")
    details = base["model"]["details"]["compression"]
    assert details["spec"] == "none" and details["modules_changed"] == 0
    assert details["weight_bytes_after"] == details["weight_bytes_before"] > 0
    assert "compression" not in plain["model"]["details"]


def test_summary_records_the_transform_and_resumes(run_cli, tiny_llama: Path, tmp_path: Path, cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["run", "crows_pairs", "--model", tiny_llama, "--limit", "4", "--compress", "int8", "--out", tmp_path / "r", "--quiet"]
    assert run_cli(*args)[0] == 0
    first = json.loads((tmp_path / "r" / "summary.json").read_text())["model"]["details"]["compression"]
    assert first["applied"] and first["measured_in_this_run"]
    assert first["modules_changed"] == 14 and first["bits"] == 8 and first["library"].startswith("torchao ")
    assert first["weight_bytes_after"] < first["weight_bytes_before"]
    assert first["speed"]["tokens"] > 0 and first["speed"]["tokens_per_s"] > 0
    assert first["tied_head"] == "kept"
    # the same command again answers from the journal without loading the model; the record stays
    assert run_cli(*args)[0] == 0
    again = json.loads((tmp_path / "r" / "summary.json").read_text())["model"]["details"]["compression"]
    assert again["applied"] and not again["measured_in_this_run"]
    assert again["weight_bytes_after"] == first["weight_bytes_after"] and again["modules"] == first["modules"]


def test_compress_refused_for_other_adapters(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("run", "crows_pairs", "--model", "ngram", "--compress", "int8", "--limit", "2", "--out", tmp_path / "n")
    assert code == 2 and err.count("\n") == 1 and "--compress applies to torch models" in err
    code, _, err = run_cli("run", "crows_pairs", "--model", "ngram", "--compress-embeddings", "--limit", "2", "--out", tmp_path / "n")
    assert code == 2 and "--compress" in err
