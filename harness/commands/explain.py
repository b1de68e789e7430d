"""`harness explain SUITE --model M [--data FILE] --items ID[,ID...] -o explain.html`: explain chosen
items of a pair or multiple-choice suite without a full run (docs/explain.md).

The items are scored with the suite's own requests, then explained like `harness run --explain`;
the HTML page shows the same panels as the scorecard's drill-down, and the lines go to
`<output stem>.jsonl` beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, did_you_mean
from harness.explain.settings import BASELINES, DEFAULT_STEPS, EXPLAINABLE_KINDS, Settings, check_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", metavar="SUITE", help=f"a suite of kind {', '.join(EXPLAINABLE_KINDS)} (name or YAML file)")
    parser.add_argument("--model", required=True, help="a preset name, a preset YAML, a model folder or a GGUF file (hf or scratch)")
    parser.add_argument("--data", type=Path, help="read the items from this file instead of the suite's built-in data")
    parser.add_argument("--items", required=True, metavar="ID[,ID...]", help="the item ids to explain, comma-separated")
    parser.add_argument("-o", "--output", type=Path, default=Path("explain.html"), help="the HTML page to write (default: explain.html)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"integrated-gradients steps (default {DEFAULT_STEPS}; 0: none)")
    parser.add_argument("--baseline", choices=BASELINES, default="zero", help="integrated-gradients baseline (default: zero)")
    parser.add_argument("--seed", type=int, default=1234, help="the run seed (few-shot examples are drawn with it; default 1234)")
    parser.add_argument("--device", choices=["cpu", "cuda", "mps"], help="where the model runs")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="model precision")


def main(args: argparse.Namespace) -> int:
    from harness.explain.capability import check_preset, explainer_of
    from harness.resources import load_model_spec
    from harness.runner import RunOptions, build_model, plan

    settings = check_settings(args.steps, args.baseline, "--steps")
    wanted = [i.strip() for i in args.items.split(",") if i.strip()]
    if not wanted:
        raise HarnessError("--items: give at least one item id, e.g. --items 0,17")
    options = RunOptions(suites=(args.suite,), model=args.model, out=args.output.parent, data=args.data,
                         seed=args.seed, device=args.device, dtype=args.dtype)
    (planned,) = plan(options)
    if planned.spec.kind not in EXPLAINABLE_KINDS:
        raise HarnessError(f"suite {planned.spec.name} is of kind {planned.spec.kind}; `harness explain` takes {', '.join(EXPLAINABLE_KINDS)}")
    by_id = {item.id: item for item in planned.dataset.items}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise HarnessError(f"--items: {planned.dataset.source} has no item {missing[0]!r}{did_you_mean(missing[0], by_id)}")
    check_preset(args.model, "harness explain")
    adapter = explainer_of(build_model(load_model_spec(args.model), options), "harness explain")
    lines = explain_items(adapter, planned, [by_id[i] for i in wanted], args.seed, settings)
    from harness.explain.step import write_lines
    from harness.report.explain_page import write_page

    data = write_lines(args.output.with_suffix(".jsonl"), lines)
    page = write_page(args.output, planned.spec.name, adapter.info.name, lines)
    print(f"explanations: {page} ({len(lines)} items; data {data})")
    return 0


def explain_items(adapter: Any, planned: Any, items: list[Any], seed: int, settings: Settings) -> list[dict[str, Any]]:
    """Score the items with the suite's own requests (the records a run would write), then explain them."""
    from harness.explain.step import explain_records
    from harness.explain.targets import RULES, scoring_kind

    records = scoring_kind(planned.spec, {}).evaluate(adapter, items, seed)
    rule = RULES[planned.spec.kind]
    chosen = []
    for record in records:
        choice = rule.choose(record)
        if choice is None:
            raise HarnessError(f"item {record['id']}: no bias signal to explain ({rule.signal} is undefined for it)")
        chosen.append((record, choice))
    return explain_records(adapter, planned.spec, items, chosen, seed=seed, suite_params={}, settings=settings, flag="harness explain")
