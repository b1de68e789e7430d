"""HFModel.loglikelihood with prefix reuse gives the numbers of plain per-request scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import LoglikelihoodRequest as R
from harness.models.prefix import group_by_context
from harness.tokens import Span
from tests.tiny_models import build_tiny_llama

CONTEXT = "The garden was quiet after the storm, and the path was covered in leaves.\nQuestion: Who swept it?\nAnswer:"
REQUESTS = [
    R(CONTEXT, " The old gardener"),
    R(CONTEXT, " Nobody"),  # a one-token continuation may come from the context pass alone
    R(CONTEXT, " The neighbour who lives across the road"),
    R(CONTEXT + " ", "Cannot be determined"),  # the trailing space moves: same shared context
    R("", "A sentence scored after BOS."),
    R("", "Another, slightly longer sentence scored after BOS."),
    R("Short", " context"),
    R("A different context shared by two", " requests here"),
    R("A different context shared by two", " and here too"),
]


def test_groups_need_a_shared_context_of_some_length():
    spans = [Span((1, 2, 3, 4, 5, 9), 1), Span((1, 2, 3, 4, 5, 7, 8), 2), Span((1, 6), 1), Span((1, 7), 1), Span((1, 2, 3, 4, 6, 6), 1)]
    groups, alone = group_by_context(spans, min_shared=4)
    assert [(g.context, g.members) for g in groups] == [((1, 2, 3, 4, 5), (0, 1))]
    assert alone == [2, 3, 4]  # BOS alone is too short to share; span 4's context differs


def check(adapter, batch_size) -> None:
    adapter.batch_size = batch_size
    adapter.prefix_reuse = True
    reused = adapter.loglikelihood(REQUESTS)
    adapter.prefix_reuse = False
    adapter.batch_size = 1
    plain = [adapter.loglikelihood([r])[0] for r in REQUESTS]
    for a, b in zip(reused, plain):
        assert a.n_tokens == b.n_tokens and a.is_greedy == b.is_greedy
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


@pytest.mark.parametrize("batch_size", ["auto", 2])
def test_tiny_llama_prefix_reuse_equals_plain_scoring(tmp_path: Path, batch_size):
    from harness.models.hf import HFModel

    folder = build_tiny_llama(tmp_path / "tiny")
    adapter = HFModel(name="tiny", path=str(folder), cache_dir=tmp_path)
    check(adapter, batch_size)


@pytest.mark.slow
def test_default_model_prefix_reuse_equals_plain_scoring():
    from harness.cache import default_cache_dir
    from harness.models.hf import HFModel
    from harness.resources import load_model_spec

    spec = load_model_spec("smollm2-135m")
    check(HFModel(name="smollm2", **{**spec.args, "cache_dir": default_cache_dir()}), "auto")
