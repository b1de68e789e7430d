"""The core adapter contract suite (tests/core/test_adapter_contract.py), run on a trained
scratch checkpoint: the same checks every adapter passes."""

from __future__ import annotations

import pytest

from harness.api import LanguageModel
from harness.models.scratch import ScratchModel
from tests.core.test_adapter_contract import (  # noqa: F401 (collected here with this module's `lm`)
    test_a_request_does_not_depend_on_the_rest_of_its_batch,
    test_chat_requests_score_plain_text_without_a_chat_template,
    test_greedy_generation_is_greedy_and_deterministic,
    test_info_is_cheap_and_stable,
    test_loglikelihood_chains,
    test_outputs_keep_input_order_and_length,
    test_rolling_equals_bos_conditioned_loglikelihood_when_it_fits,
    test_rolling_scores_every_token_of_long_texts,
    test_sampling_is_seeded_per_request,
    test_stop_sequences_cut_generations,
)


@pytest.fixture
def lm(trained, tmp_path) -> LanguageModel:
    return ScratchModel(name="tiny", path=str(trained[0]), batch_size=3, max_length=48, cache_dir=tmp_path)
