"""Labelled text for filter evaluation and training: a CSV with a text and a label column.

Recognised from the header: Davidson's `labeled_data.csv` (`tweet`, `class` 0 hate / 1 offensive /
2 neither; classes 0 and 1 are toxic; HTML entities unescaped) and Jigsaw Unintended Bias
(`comment_text`, `toxicity` or `target` as a fraction of raters, toxic when >= 0.5, identity
columns >= 0.5). Any other CSV names its columns (default `text` and `label`); labels map to
toxic/non-toxic by common spellings, fractions (>= 0.5), or `positive` values given by the user.

No label is guessed: an empty cell, a Davidson class other than 0/1/2, or (with `positive`) a value
that differs from a toxic value only in case, punctuation or number format (`Rude.` for `rude`,
`1.0` for `1`) is an error naming the file, line and value. With `positive`, the other values
seen in the column are the non-toxic ones, listed in the notes so a reader sees the mapping.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.data import read_csv
from harness.errors import HarnessError
from harness.toxicity.identity import JIGSAW_IDENTITY_COLUMNS, detect_subgroups

TOXIC = {"1", "true", "yes", "toxic", "offensive", "hate", "hateful", "abusive", "positive"}
NON_TOXIC = {"0", "false", "no", "non-toxic", "nontoxic", "not toxic", "neither", "clean", "normal", "none", "negative",
             "inoffensive", "non-offensive", "not offensive"}
DAVIDSON_CLASSES = {"0": 1, "1": 1, "2": 0}  # hate speech, offensive language, neither
DAVIDSON_HEADER = ["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"]


@dataclass(frozen=True)
class LabelledItem:
    id: str
    text: str
    label: int  # 1 toxic, 0 not
    subgroups: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class LabelledSet:
    items: list[LabelledItem]
    layout: str  # "davidson", "jigsaw" or "csv"
    subgroup_source: str  # "identity columns" or "identity terms"
    notes: str


def detect_layout(header: list[str]) -> str:
    if header == DAVIDSON_HEADER:
        return "davidson"
    if "comment_text" in header and ("toxicity" in header or "target" in header):
        return "jigsaw"
    return "csv"


def read_labelled(
    path: Path,
    text_column: str | None = None,
    label_column: str | None = None,
    positive: tuple[str, ...] | None = None,
) -> LabelledSet:
    header, rows = read_csv(path)
    layout = detect_layout(header)
    defaults = {"davidson": ("tweet", "class"), "jigsaw": ("comment_text", "toxicity" if "toxicity" in header else "target"), "csv": ("text", "label")}
    text_col = text_column or defaults[layout][0]
    label_col = label_column or defaults[layout][1]
    for flag, col in (("--text-column", text_col), ("--label-column", label_col)):
        if col not in header:
            shown = ", ".join(h or "(unnamed)" for h in header)
            raise HarnessError(f"{path}:1: no column {col!r} (the header has {shown}); name the column with {flag}")
    if not rows:
        raise HarnessError(f"{path}: no labelled rows after the header; give a file with data")
    davidson = positive is None and layout == "davidson" and label_col == "class"
    counts = Counter(row[label_col].strip() for _, row in rows)
    if positive:
        check_positive(positive, counts, path, label_col)
    identity = [c for c in JIGSAW_IDENTITY_COLUMNS if c in header]
    items = []
    id_col = next((c for c in ("id", "") if c in header), None)
    for line, row in rows:
        text = row[text_col]
        if layout == "davidson":
            text = html.unescape(text)
        value = row[label_col]
        label = davidson_label(value, path, line) if davidson else map_label(value, positive, path, line, label_col)
        if identity:
            subgroups = tuple(c for c in identity if _fraction(row[c]) >= 0.5)
        else:
            subgroups = detect_subgroups(text)
        item_id = row[id_col] if id_col is not None and row[id_col] else f"line{line}"
        items.append(LabelledItem(str(item_id), text, label, subgroups, line))
    notes = f"{layout} layout: text from `{text_col}`, label from `{label_col}`"
    if positive:
        others = sorted(v for v in counts if v not in positive)
        shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
        notes += f" (toxic when one of {', '.join(positive)}; non-toxic: {shown or 'none seen'})"
    elif davidson:
        notes += " (class 0 hate and 1 offensive are toxic, 2 neither is not)"
    if layout == "davidson":
        notes += "; HTML entities unescaped"
    source = "identity columns (>= 0.5)" if identity else "identity terms"
    return LabelledSet(items, layout, source, notes + f"; subgroups from {source}")


def davidson_label(value: str, path: Path, line: int) -> int:
    try:
        return DAVIDSON_CLASSES[value.strip()]
    except KeyError:
        raise HarnessError(
            f"{path}:{line}: Davidson `class` {value!r} is not 0 (hate), 1 (offensive) or 2 (neither); "
            "fix the row, or name another label column with --label-column"
        ) from None


def check_positive(positive: tuple[str, ...], counts: Counter[str], path: Path, column: str) -> None:
    """Refuse --positive values that select nothing: none of them seen, or one that is only seen
    spelt in another case or number format."""
    for p in positive:
        near = [v for v in counts if v != p and _canonical(v) == _canonical(p)]
        if not counts[p] and near:
            raise HarnessError(f"{path}: --positive value {p!r} never appears in `{column}`; did you mean {near[0]!r}?")
    if not any(counts[p] for p in positive):
        seen = ", ".join(sorted(counts)[:10])
        raise HarnessError(
            f"{path}: no --positive value ({', '.join(positive)}) appears in `{column}` (values: {seen}); "
            "check --positive and --label-column"
        )


def map_label(value: str, positive: tuple[str, ...] | None, path: Path, line: int, column: str) -> int:
    v = value.strip()
    where = f"{path}:{line}: label {value!r} in `{column}`"
    if not v:
        raise HarnessError(f"{path}:{line}: empty label in `{column}`; fill the cell or drop the row")
    if positive is not None:
        if v in positive:
            return 1
        resembles = next((p for p in positive if _canonical(v) == _canonical(p)), None)
        if resembles is not None:
            raise HarnessError(f"{where} looks like the --positive value {resembles!r}; fix the cell, or list it in --positive")
        return 0
    low = v.lower()
    if low in TOXIC:
        return 1
    if low in NON_TOXIC:
        return 0
    try:
        x = float(v)
    except ValueError:
        x = float("nan")
    if 0.0 <= x <= 1.0:
        return int(x >= 0.5)
    raise HarnessError(
        f"{path}:{line}: cannot map label {value!r} in `{column}` to toxic/non-toxic; "
        "use 0/1, true/false, a fraction in [0, 1], or list the toxic values with --positive"
    )


def _canonical(value: str) -> str:
    """Case, punctuation and number format removed: `Rude.` ~ `rude`, `1.0` ~ `1`."""
    if _is_number(value):
        return repr(float(value))
    return "".join(ch for ch in value.lower() if ch.isalnum())


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _fraction(value: str) -> float:
    try:
        return float(value) if value.strip() else 0.0
    except ValueError:
        return 0.0
