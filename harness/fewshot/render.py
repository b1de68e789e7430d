"""How exemplars are shown to the model.

Plain (models without a chat template, and suites that never use one): each exemplar's prompt,
rendered with the suite's own template, then the target delimiter and its answer, then the
few-shot delimiter; then the item's prompt (lm-evaluation-harness's `target_delimiter` and
`fewshot_delimiter`):

    <shot 1 prompt><target delimiter><shot 1 answer><delimiter> ... <item prompt>

Multi-turn (chat presets): one user turn (the exemplar's prompt) and one assistant turn (its
answer) per exemplar, then the item as the last user turn; the adapter renders the whole
conversation with the tokenizer's own chat template (harness.api.Exchange).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from harness.api import Exchange
from harness.fewshot.config import FewshotConfig
from harness.fewshot.pool import Pool

OPENING_CHARS = 32  # at most this much of the next exemplar's first line goes into the stop string


@dataclass(frozen=True)
class Shot:
    """One exemplar as shown: its pool id, its rendered prompt and its answer."""

    id: str
    prompt: str
    answer: str


def plain_prompt(shots: Sequence[Shot], prompt: str, delimiter: str, target_delimiter: str) -> str:
    return "".join(s.prompt + target_delimiter + s.answer + delimiter for s in shots) + prompt


def history(shots: Sequence[Shot]) -> tuple[Exchange, ...]:
    return tuple(Exchange(s.prompt, s.answer.strip()) for s in shots)


def next_shot_stop(delimiter: str, prompts: Sequence[str]) -> str:
    """The stop string for a generation after exemplars: the delimiter and the opening every
    prompt shares (its template's fixed start, up to the first ':' of its first line, at most
    OPENING_CHARS cut at a space), so a model that goes on to write the next exemplar is cut
    there. Just the delimiter when the prompts share no opening."""
    opening = os.path.commonprefix(list(prompts)).split("\n", 1)[0]
    if ":" in opening:
        opening = opening[: opening.index(":") + 1]
    if len(opening) > OPENING_CHARS:  # a long instruction: its first words, cut at a space
        head = opening[:OPENING_CHARS]
        opening = head.rsplit(" ", 1)[0] if " " in head else head
    return delimiter + opening.rstrip()


def protocol_part(config: FewshotConfig, pool: Pool | None, rendering: str, template_sha: str | None = None) -> str:
    """What the protocol id gains with exemplars: '' at k = 0, so a 0-shot protocol id is the
    one it was before few-shot existed."""
    if pool is None or not config.active:
        return ""
    part = f" fewshot=k{config.k}/{config.sampler}/pool={pool.label}/{rendering} fewshot_delimiter={json.dumps(config.delimiter)}"
    if template_sha is not None:
        part += f" fewshot_template={template_sha}"
    return part
