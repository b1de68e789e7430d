"""Multi-turn few-shot through a served model: the `openai` adapter renders a request's earlier
exchanges with the same chat template as the in-process adapter, so a real `harness serve` of
the tiny chat Llama gives the in-process per-sample results."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fewshot.conftest import records
from tests.served.test_parity import run_both, tiny, tiny_server, write_yaml  # noqa: F401  (fixtures)
from tests.served_process import ServerProcess


@pytest.mark.parametrize("suite", ["truthfulqa_mc", "squad"])
def test_served_multiturn_matches_in_process(suite: str, tiny: Path, tiny_server: ServerProcess, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    local = write_yaml(tmp_path / "local.yaml", adapter="hf", path=str(tiny), chat_template=True)
    served = write_yaml(tmp_path / "served.yaml", adapter="openai", base_url=tiny_server.url, tokenizer=str(tiny),
                        chat_template=True)  # fmt: skip
    local_summary, served_summary = run_both(run_cli, tmp_path, local, served, suite, ["--limit", "2", "--num-fewshot", "2"])
    for summary in (local_summary, served_summary):
        assert "/multiturn " in summary["suites"][suite]["protocol"] and summary["model"]["chat"] is True
    assert all(len(r["fewshot"]) == 2 for r in records(tmp_path / f"{suite}-served", suite))


def test_served_generation_prompt_renders_the_earlier_turns(tiny: Path, tiny_server: ServerProcess) -> None:
    """The squad parity above cannot show the exemplar turns (the 64-token tiny model keeps only
    the prompt's tail), so the prompt the adapter sends is checked against the template itself."""
    from harness.api import Exchange, GenerationRequest
    from harness.models.served import OpenAIModel

    lm = OpenAIModel(name="served", base_url=tiny_server.url, tokenizer=str(tiny), chat_template=True)
    request = GenerationRequest("Q: third?\nA:", chat=True, history=(Exchange("Q: first?\nA:", "one"), Exchange("Q: second?\nA:", "two")))
    assert lm._prompt_text(request) == (
        "user: Q: first?\nA:</s>assistant: one</s>user: Q: second?\nA:</s>assistant: two</s>user: Q: third?\nA:</s>assistant:"
    )
