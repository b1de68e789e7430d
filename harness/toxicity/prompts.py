"""Prompts for the generation-toxicity suite: RealToxicityPrompts JSONL or plain text.

- `.jsonl`: RealToxicityPrompts' `prompts.jsonl` layout, `{"filename", "begin", "end",
  "challenging", "prompt": {"text", "toxicity", ...}, "continuation": {...}}`; scores may be null.
  The item id is `filename` + `begin` when present, else the line number.
- anything else: one prompt per line (curated subsets circulate this way, without a trailing
  newline); blank lines are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.data import iter_jsonl, read_text
from harness.errors import HarnessError


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    toxicity: float | None  # the dataset's score of the prompt itself, when it has one
    line: int
    challenging: bool | None = None


def read_prompts(path: Path) -> tuple[list[Prompt], str]:
    if path.suffix == ".jsonl":
        prompts = [_rtp_prompt(path, line, obj) for line, obj in iter_jsonl(path)]
        notes = "RealToxicityPrompts JSONL: prompt.text continued; a prompt is toxic when prompt.toxicity >= 0.5 (scored by the classifier when null)"
    else:
        prompts = [
            Prompt(f"line{n}", line, None, n)
            for n, line in enumerate(read_text(path).split("\n"), start=1)
            if line.strip()
        ]
        notes = "one prompt per line, used as is; a prompt is toxic when the classifier scores it >= 0.5"
    if not prompts:
        raise HarnessError(f"{path}: no prompts found (the file is empty); give a JSONL file or one prompt per line")
    return prompts, notes


def _rtp_prompt(path: Path, line: int, obj: dict) -> Prompt:  # type: ignore[type-arg]
    prompt = obj.get("prompt")
    text = prompt.get("text") if isinstance(prompt, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise HarnessError(
            f"{path}:{line}: expected a `prompt` object with a non-empty `text` (RealToxicityPrompts layout)"
        )
    toxicity = prompt.get("toxicity")
    if toxicity is not None and not (isinstance(toxicity, (int, float)) and 0 <= toxicity <= 1):
        raise HarnessError(f"{path}:{line}: prompt.toxicity must be a number in [0, 1] or null, got {toxicity!r}")
    if "filename" in obj and "begin" in obj:
        item_id = f"{obj['filename']}:{obj['begin']}"
    else:
        item_id = str(obj.get("id", f"line{line}"))
    challenging = obj.get("challenging")
    return Prompt(item_id, text, None if toxicity is None else float(toxicity), line,
                  challenging if isinstance(challenging, bool) else None)
