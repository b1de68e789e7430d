"""Helpers for the few-shot tests: suite YAML variants written next to the test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from harness.resources import suites_dir

DATA = Path(__file__).parent / "data"


def suite_variant(tmp_path: Path, suite: str, params: dict[str, Any] | None = None, fewshot: dict[str, Any] | None = None,
                  name: str | None = None) -> Path:
    """A copy of a built-in suite YAML with some params (and fewshot settings) changed; its data
    and pool paths still point at the built-in files."""
    raw = yaml.safe_load((suites_dir() / f"{suite}.yaml").read_text(encoding="utf-8"))
    raw["data"] = str(suites_dir() / raw["data"])
    block = raw["params"].setdefault("fewshot", {})
    if block.get("pool"):
        block["pool"] = str(suites_dir() / block["pool"])
    raw["params"].update(params or {})
    block.update(fewshot or {})
    path = tmp_path / f"{name or suite}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def records(out: Path, suite: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / f"{suite}.jsonl").read_text(encoding="utf-8").splitlines()]


def protocol(out: Path, suite: str) -> str:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))["suites"][suite]["protocol"]
