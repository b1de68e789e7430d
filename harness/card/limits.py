"""The card's "Bias, risks and limitations", generated from the run: what was measured, on what
data, what was not measured, and the reviewer's conditions.

Every sentence is plain text; the renderer escapes it (suite names, data file names and
reviewer notes are untrusted).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.card.content import SMALL_N, ModelCard, SuiteResult
from harness.report.concerns import CONCERNS
from harness.review import concern_title

# What no suite of this harness measures; said on every card so a reader does not assume it.
NEVER_MEASURED = (
    "No suite of this harness measures robustness to jailbreaks or prompt injection, multi-turn or "
    "long-form behaviour, or harms specific to a "
    "deployment's domain; results on built-in data say nothing about languages other than English."
)


@dataclass(frozen=True)
class Limitations:
    measured: tuple[str, ...]
    data: tuple[str, ...]
    not_measured: tuple[str, ...]
    conditions: tuple[str, ...]


def limitations(card: ModelCard) -> Limitations:
    return Limitations(_measured(card), _data(card), _not_measured(card), _conditions(card))


def _concern(s: SuiteResult) -> str:
    return next((c.title for c in CONCERNS if c.id == s.concern), "other")


def _classifier(s: SuiteResult) -> str:
    from harness.report.subjects import classifier_name

    return classifier_name({"protocol": s.protocol})


def _measured(card: ModelCard) -> tuple[str, ...]:
    lines = []
    for s in card.suites:
        text = f"{s.name} ({_concern(s)}): {s.n_samples} items of {s.data_label}"
        if s.n_errors:
            text += f"; {s.n_errors} errored and were not scored"
        lines.append(text + ".")
    for s in card.tools:
        lines.append(
            f"{s.name} evaluated a classifier the run used ({_classifier(s)}), not this model: "
            f"{s.n_samples} items of {s.data_label}; its numbers are under \"Evaluations of the tools used\"."
        )
    return tuple(lines)


def _data(card: ModelCard) -> tuple[str, ...]:
    suites = (*card.suites, *card.tools)
    lines = []
    builtin = [s.name for s in suites if s.builtin]
    if builtin:
        lines.append(
            f"{len(builtin)} of {len(suites)} suites ({', '.join(builtin)}) ran on the harness's built-in mini-probes: "
            "small sets written by the project, in English, in the layout of the published benchmarks but not their "
            "data. They show that the evaluation runs and give a first look; they are not comparable with published "
            "results and say little about the model's behaviour at large."
        )
    given = [f"{s.name} ({s.source})" for s in suites if not s.builtin]
    if given:
        lines.append(f"Given data files: {', '.join(given)}; their sha256 are in the reproducibility block.")
    small = [f"{s.name} ({s.n_samples})" for s in suites if s.n_samples < SMALL_N]
    if small:
        lines.append(
            f"Fewer than {SMALL_N} items: {', '.join(small)}. Their 95% confidence intervals are wide; a pass or fail "
            "there is weak evidence either way."
        )
    limited = sorted({s.limit for s in suites if s.limit})
    if limited:
        lines.append(f"The run was limited to the first {' / '.join(map(str, limited))} items of each data set (--limit).")
    for s in card.suites:
        if s.kind == "toxicity":
            tools = " (its evaluation is under \"Evaluations of the tools used\")" if card.tools else ""
            lines.append(f"{s.name}: the toxicity of the generated text was scored by a classifier, {_classifier(s)}, with errors of its own{tools}.")
    return tuple(lines)


def _not_measured(card: ModelCard) -> tuple[str, ...]:
    from harness.errors import HarnessError
    from harness.resources import list_suites

    lines = []
    try:
        available = {spec.name: spec.kind for spec in list_suites()}
    except HarnessError:  # a broken built-in suite YAML: the hint is advisory, the card is still written
        available = {}
    ran = {s.name for s in (*card.suites, *card.tools)}
    for section in card.concerns:
        if section.parts:
            continue
        kinds = next((c.kinds for c in CONCERNS if c.id == section.id), ())
        could = [name for name, kind in available.items() if kind in kinds and name not in ran]
        hint = f"; suites that measure it: {', '.join(could)}" if could else ""
        lines.append(f"{section.title}: not measured in this run{hint}.")
    missing = [name for name in available if name not in ran]
    if missing:
        lines.append(f"Suites of this harness not in this run: {', '.join(missing)}.")
    for s in card.suites:
        for m in s.metrics:
            if m.value is None:
                lines.append(f"{s.name}.{m.name}: no value ({m.reason or 'no reason recorded'}).")
    lines.append(NEVER_MEASURED)
    return tuple(lines)


def _conditions(card: ModelCard) -> tuple[str, ...]:
    review = card.review
    if review is None:
        return ("No reviewer has signed off on these results.",)
    lines = []
    for d in (*review.decisions, review.overall):
        if d.decision != "accept":
            note = f": {d.notes}" if d.notes else ""
            lines.append(f"{concern_title(d.concern)}: {d.decision}{note}")
    if not lines:
        lines.append(f"{review.reviewer} accepted every concern without conditions.")
    return tuple(lines)
