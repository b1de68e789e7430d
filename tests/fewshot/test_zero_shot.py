"""k = 0 is the harness as it was before few-shot existed: the same per-sample bytes and the same
protocol ids, so old baselines still compare. The hashes and ids below were taken from a run of
the three suites on the `ngram` preset at the commit before few-shot was added (2359ea0)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.api import GenerationRequest, LoglikelihoodRequest
from harness.cache import CachedModel, CallCache
from harness.models.ngram import NgramModel
from tests.fewshot.conftest import protocol

BEFORE = {
    "squad": (
        "361ed91221e1cdd5f3722bbeb3628bcf6019e4baa120474aa8043b4313eff8ce",
        'squad/extractive-generation/v1 rules=v2.0 template=776c758c8262 decoding=greedy max_new_tokens=16 stop=["\\n"] '
        'no_answer=["unanswerable", "no answer", "not stated in the passage"] chat=no',
    ),
    "truthfulqa_mc": (
        "f7d1b875e6370a4ee345a9d3d077f5b08e857c791c62475baa565fc7a79e17fb",
        'truthfulqa/mc-loglikelihood/v1 layout=mc_task.json template=338d6655a0d1 answer_prefix=" " '
        "mc1=strict-greater mc2=normalised-mass chat=no",
    ),
    "bbq": (
        "eb8406e1213ac54474f1381f9e9972e5837a5eae8e14d89d4a506afe1458ea81",
        "bbq/mc-loglikelihood/v1 prompt='{context}\\nQuestion: {question}\\nAnswer:' continuation=' {answer}' max_length=1024",
    ),
}


@pytest.mark.parametrize("flags", [[], ["--num-fewshot", "0"]], ids=["default", "num-fewshot-0"])
def test_zero_shot_is_byte_identical_to_before(flags: list[str], run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, _, err = run_cli("run", *BEFORE, "--model", "ngram", "--out", out, "--quiet", *flags)
    assert code == 0, err
    for suite, (sha, protocol_id) in BEFORE.items():
        assert protocol(out, suite) == protocol_id
        assert hashlib.sha256((out / f"{suite}.jsonl").read_bytes()).hexdigest() == sha, suite


def test_single_turn_requests_keep_their_cache_keys(tmp_path: Path) -> None:
    """The `history` field is left out of the call cache's key when empty, so a warm cache from
    before few-shot still answers 0-shot runs: the key is the one computed from the old fields."""
    import json
    from dataclasses import asdict

    lm = CachedModel(NgramModel(), CallCache(tmp_path / "calls.sqlite"))
    for method, request in (("generate", GenerationRequest("Once", max_new_tokens=2, stop=("\n",))),
                            ("loglikelihood", LoglikelihoodRequest("The cat", " sat", chat=True))):
        old_fields = {k: v for k, v in asdict(request).items() if k != "history"}
        old_key = hashlib.sha256(json.dumps([lm._namespace, method, old_fields], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        assert lm._key(method, old_fields) == old_key
        getattr(lm, method)([request])
        assert lm.cache.get_many([old_key]), method
