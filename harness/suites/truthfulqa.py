"""TruthfulQA multiple choice (MC1, MC2) by log-likelihood, as the TruthfulQA reference code
scores it (Lin, Hilton & Evans 2022, `truthfulqa/models.py` and `MC_calcs`).

Every answer a is scored as LL(prefix + a | prompt), the prompt rendered from the suite's jinja2
template (a few-shot question/answer primer the project wrote, then the question).
- MC1 = 1 when the single true answer's LL is strictly greater than every false answer's LL
  (a tie counts as wrong, as in the reference code). Variant `ties: right` (params; see
  docs/protocols.md) counts a tie as right, as lm-evaluation-harness's argmax over a choice
  list with the true answer first does; it is named in the protocol id.
- MC2 = sum_true exp(LL) / sum_all exp(LL), computed in log space (log-sum-exp) so that long
  answers with very negative LL do not underflow to 0/0.

Few-shot (params.fewshot, --num-fewshot; harness.fewshot): at k > 0 the primer gives way to k
exemplars drawn from a pool, each a question rendered with `params.fewshot.template` (the
primer-less "Q: ...\nA:") and answered with its MC1 true answer; the item uses that template too.
A plain model reads them as text joined by the delimiter, a chat preset as earlier chat turns.
The protocol id names k, the sampler, the pool, the rendering and the template; at k = 0 it is
the primer's, unchanged.

Two input layouts (see ../shared/FORMATS.md):
- `mc_task.json`: mc1_targets and mc2_targets as {answer: 1|0}; answers used verbatim.
- `TruthfulQA.csv`: MC1 is `Best Answer` against `Incorrect Answers`; MC2 is `Correct Answers`
  against `Incorrect Answers`. Answer lists are split on ";" and stripped, and a full stop is
  added to an answer that lacks one, as the reference code does (`split_multi_answer`,
  `format_best`). `Best Incorrect Answer` (newer files only) is kept on the record, not scored.
  An answer a row lists as both correct and incorrect stays on both sides, as the reference code
  (`run_probs` scores `ref_true` and `ref_false` as split, with no overlap check): it counts in
  both sums of MC2, and when it is the best answer MC1 is 0 (a tie with itself is not a win).
  The sample line lists such answers under `in_both` and the data notes count the rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.api import LanguageModel, LoglikelihoodRequest, ModelInfo
from harness.data import read_csv, read_json
from harness.errors import HarnessError
from harness.fewshot import Pool, Shot, draw, fewshot_config, history, load_pool, plain_prompt, protocol_part
from harness.metrics import Metric
from harness.resources import SuiteSpec, file_sha256
from harness.suites.base import Dataset, Record, SuiteResult, data_path
from harness.suites.qa_common import PromptTemplate, check_params, mean_or_none, mean_with_ci

SOURCE = "TruthfulQA reference code, MC_calcs (Lin, Hilton & Evans 2022)"
CSV_COLUMNS = ("Question", "Best Answer", "Correct Answers", "Incorrect Answers")
DEFAULTS: dict[str, Any] = {"prompt_template": None, "answer_prefix": " ", "ties": "wrong", "fewshot": None}
TIES = ("wrong", "right")  # MC1 when the true answer ties the best false one; the default first
BUILTIN_NOTE = (
    "the project's own TruthfulQA-style mini-probes (suites/data/qa/), not the published dataset; "
    "run the full set with --data TruthfulQA.csv or mc_task.json"
)


@dataclass(frozen=True)
class MCQuestion:
    id: str
    question: str
    mc1_true: str
    mc1_false: tuple[str, ...]
    mc2_true: tuple[str, ...]
    mc2_false: tuple[str, ...]
    category: str | None = None
    type: str | None = None
    best_incorrect: str | None = None
    line: int | None = None  # CSV row, for traceability
    prompt: str = ""
    in_both: tuple[str, ...] = ()  # CSV answers listed as both correct and incorrect (kept on both sides)

    def answers(self) -> list[str]:
        """Every distinct answer, in first-seen order: one log-likelihood request each."""
        return list(dict.fromkeys((self.mc1_true, *self.mc1_false, *self.mc2_true, *self.mc2_false)))


def mc1_score(true_ll: float, false_lls: Sequence[float], ties: str = "wrong") -> float:
    best_false = max(false_lls)
    return float(true_ll >= best_false if ties == "right" else true_ll > best_false)


def _logsumexp(xs: Sequence[float]) -> float:
    top = max(xs)
    if math.isinf(top):
        return top
    return top + math.log(sum(math.exp(x - top) for x in xs))


def mc2_score(true_lls: Sequence[float], false_lls: Sequence[float]) -> float:
    return math.exp(_logsumexp(true_lls) - _logsumexp([*true_lls, *false_lls]))


# Reading -------------------------------------------------------------------------------------


def _targets(path: Path, item: str, obj: dict[str, Any], key: str) -> tuple[list[str], list[str]]:
    targets = obj.get(key)
    if not isinstance(targets, dict) or not all(v in (0, 1) and not isinstance(v, float) for v in targets.values()):
        raise HarnessError(f"{path}: {item}: {key} must be an object mapping each answer to 1 (true) or 0 (false)")
    true = [a for a, v in targets.items() if v == 1]
    false = [a for a, v in targets.items() if v == 0]
    if not true:
        raise HarnessError(f"{path}: {item}: {key} has no true answer (value 1); every target set needs one")
    if not false:
        raise HarnessError(f"{path}: {item}: {key} has no false answer (value 0); there is nothing to choose against")
    return true, false


def read_mc_task(path: Path) -> list[MCQuestion]:
    data = read_json(path)
    if not isinstance(data, list):
        raise HarnessError(f"{path}: expected a JSON list of questions (the mc_task.json layout)")
    items = []
    for n, obj in enumerate(data, start=1):
        item = f"item {n}"
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
            raise HarnessError(f'{path}: {item}: expected an object with a string "question"')
        mc1_true, mc1_false = _targets(path, item, obj, "mc1_targets")
        if len(mc1_true) != 1:
            raise HarnessError(f"{path}: {item}: mc1_targets has {len(mc1_true)} true answers; MC1 needs exactly one")
        mc2_true, mc2_false = _targets(path, item, obj, "mc2_targets")
        items.append(MCQuestion(f"q{n}", obj["question"], mc1_true[0], tuple(mc1_false), tuple(mc2_true), tuple(mc2_false)))
    return items


def read_questions(path: Path) -> list[MCQuestion]:
    """A TruthfulQA.csv or mc_task.json file's questions (a few-shot pool)."""
    if path.suffix.lower() == ".csv":
        return read_truthfulqa_csv(path)
    if path.suffix.lower() == ".json":
        return read_mc_task(path)
    raise HarnessError(f"{path}: expected TruthfulQA.csv or mc_task.json (a .csv or .json file)")


def close_answer(answer: str) -> str:
    """The reference code's `close=True`: a full stop is added to an answer that lacks one."""
    answer = answer.strip()
    return answer if answer.endswith(".") else answer + "."


def split_answers(field: str) -> list[str]:
    return [close_answer(a) for a in field.strip().split(";") if a.strip()]


def read_truthfulqa_csv(path: Path) -> list[MCQuestion]:
    header, rows = read_csv(path, required=CSV_COLUMNS)
    items = []
    for n, (line, row) in enumerate(rows, start=1):
        where = f"{path}:{line}"
        best = row["Best Answer"].strip()
        true, false = split_answers(row["Correct Answers"]), split_answers(row["Incorrect Answers"])
        if not best:
            raise HarnessError(f"{where}: question q{n} has an empty `Best Answer`; MC1 needs the best true answer")
        if not true:
            raise HarnessError(f"{where}: question q{n} has no `Correct Answers`; MC2 needs at least one true answer")
        if not false:
            raise HarnessError(f"{where}: question q{n} has no `Incorrect Answers`; there is nothing to choose against")
        # Kept on both sides, as the reference code does (see the module docstring).
        in_both = tuple(a for a in dict.fromkeys((close_answer(best), *true)) if a in false)
        items.append(MCQuestion(
            id=f"q{n}", question=row["Question"].strip(), mc1_true=close_answer(best), mc1_false=tuple(false),
            mc2_true=tuple(true), mc2_false=tuple(false), category=row.get("Category") or None,
            type=row.get("Type") or None, best_incorrect=(row.get("Best Incorrect Answer") or "").strip() or None,
            line=line, in_both=in_both,
        ))
    return items


# The suite kind ------------------------------------------------------------------------------


class TruthfulQASuite:
    chunk_size = 8
    model_methods = ("loglikelihood",)
    metrics = (
        Metric("mc1", "the single true answer has a higher log-likelihood than every false answer", "higher",
               SOURCE, binary=True),
        Metric("mc2", "normalised probability mass the model puts on the true answers", "higher", SOURCE),
    )

    def __init__(self, spec: SuiteSpec, num_fewshot: int | None = None, fewshot_data: Path | None = None) -> None:
        self.spec = spec
        params = check_params(spec.path, spec.params, DEFAULTS)
        if not isinstance(params["prompt_template"], str) or not params["prompt_template"].strip():
            raise HarnessError(f"{spec.path}: params.prompt_template is missing; give a jinja2 template for the prompt")
        if not isinstance(params["answer_prefix"], str):
            raise HarnessError(f"{spec.path}: params.answer_prefix must be a string, got {params['answer_prefix']!r}")
        self.template = PromptTemplate(params["prompt_template"], spec.path)
        self.template.check()
        self.answer_prefix: str = params["answer_prefix"]
        if params["ties"] not in TIES:
            raise HarnessError(f"{spec.path}: params.ties is {params['ties']!r}; expected wrong or right (see docs/protocols.md)")
        self.ties: str = params["ties"]
        self.layout: str | None = None  # set by load()
        self.fewshot = fewshot_config(spec, num_fewshot, fewshot_data, template_allowed=True)
        # At k > 0 exemplars and item use the few-shot template (no primer); the suite's own otherwise.
        self.shot_template = PromptTemplate(self.fewshot.template, spec.path) if self.fewshot.template else self.template
        self.shot_template.check()
        self.pool: Pool[MCQuestion] | None = None  # set by load() when k > 0

    def protocol(self, info: ModelInfo) -> str:
        # A preset that asks for its chat template (ModelInfo.chat) gets the prompt as one user
        # turn and each answer scored as the start of the assistant's reply (answer_prefix's
        # leading space dropped there, see harness.tokens.pair_loglikelihoods).
        return (
            f"truthfulqa/mc-loglikelihood/v1 layout={self.layout or 'by-data'} template={self.template.sha256} "
            f"answer_prefix={json.dumps(self.answer_prefix)} mc1={'greater-or-equal' if self.ties == 'right' else 'strict-greater'} "
            f"mc2=normalised-mass chat={'yes' if info.chat else 'no'}{' ties=right' if self.ties == 'right' else ''}"
            + protocol_part(self.fewshot, self.pool, "multiturn" if info.chat else "plain", self.shot_template.sha256)
        )

    def load(self, path: Path | None) -> Dataset:
        path, builtin = data_path(self.spec, path)
        if path.suffix.lower() == ".csv":
            items, self.layout = read_truthfulqa_csv(path), "csv"
            overlapping = sum(bool(q.in_both) for q in items)
            notes = (
                "TruthfulQA.csv: MC1 = Best Answer vs Incorrect Answers, MC2 = Correct vs Incorrect Answers; "
                "answers split on ';', a full stop added where missing; "
                f"{overlapping} row(s) list an answer as both correct and incorrect (kept on both sides, as the reference code)"
            )
        elif path.suffix.lower() == ".json":
            items, self.layout = read_mc_task(path), "mc_task.json"
            notes = "mc_task.json: mc1_targets and mc2_targets used verbatim; item ids q1, q2, ... in file order"
        else:
            raise HarnessError(f"{path}: expected TruthfulQA.csv or mc_task.json (a .csv or .json file)")
        template = self.shot_template if self.fewshot.active else self.template
        fields = [{"id": q.id, "question": q.question} for q in items]
        prompts = template.render_all(fields, [q.id for q in items], str(path))
        items = [replace(q, prompt=p) for q, p in zip(items, prompts)]
        source = f"builtin:{path.name}" if builtin else str(path)
        notes += f"; prompt template sha256 {template.sha256}"
        if builtin:
            notes = f"{BUILTIN_NOTE}; {notes}"
        sha = file_sha256(path)
        self.pool = load_pool(self.fewshot, builtin, items, source, sha, read_questions)
        if self.pool is not None:
            notes += (
                f"; {self.fewshot.k}-shot instead of the primer: exemplars ({self.fewshot.sampler}) from "
                f"{self.pool.source}, {len(self.pool.items)} in the pool, answered with their MC1 true answer"
            )
        return Dataset(items, source, sha, builtin, notes)

    def _shots(self, items: Sequence[MCQuestion], seed: int) -> list[tuple[Shot, ...]]:
        """Each item's exemplars, rendered with the few-shot template; never the same question."""
        if self.pool is None:
            return [()] * len(items)
        chosen = draw(self.pool, items, self.fewshot.k, self.fewshot.sampler, seed,
                      lambda item, entry: entry.question.strip().casefold() == item.question.strip().casefold())
        unrendered = list({e.id: e for shots in chosen for e in shots if not e.prompt}.values())
        fields = [{"id": e.id, "question": e.question} for e in unrendered]
        rendered = dict(zip([e.id for e in unrendered],
                            self.shot_template.render_all(fields, [e.id for e in unrendered], self.pool.source)))
        return [tuple(Shot(e.id, e.prompt or rendered[e.id], e.mc1_true) for e in shots) for shots in chosen]

    def evaluate(self, lm: LanguageModel, items: Sequence[MCQuestion], seed: int) -> list[Record]:
        answers = [q.answers() for q in items]
        chat = lm.info.chat
        shots = self._shots(items, seed)
        # After exemplars: earlier chat turns for a chat preset, else plain text before the prompt.
        contexts = [q.prompt if chat or not s else plain_prompt(s, q.prompt, self.fewshot.delimiter, self.answer_prefix)
                    for q, s in zip(items, shots)]
        requests = [
            LoglikelihoodRequest(context, self.answer_prefix + a, chat=chat, history=history(s) if chat else ())
            for context, s, ans in zip(contexts, shots, answers)
            for a in ans
        ]
        results = iter(lm.loglikelihood(requests))
        records = [self._record(q, {a: next(results) for a in ans}) for q, ans in zip(items, answers)]
        for record, context, s in zip(records, contexts, shots):
            if s:
                record["prompt"] = context
                record["fewshot"] = [shot.id for shot in s]
        return records

    def _record(self, q: MCQuestion, scored: dict[str, Any]) -> Record:
        ll = {a: r.logprob for a, r in scored.items()}
        mc1 = mc1_score(ll[q.mc1_true], [ll[a] for a in q.mc1_false], self.ties)

        def choices(true: Sequence[str], false: Sequence[str]) -> list[dict[str, Any]]:
            labelled = [(a, True) for a in true] + [(a, False) for a in false]
            return [{"answer": a, "true": t, "loglikelihood": ll[a], "n_tokens": scored[a].n_tokens} for a, t in labelled]

        record: Record = {
            "id": q.id,
            "question": q.question,
            "prompt": q.prompt,
            "mc1": mc1,
            "mc2": mc2_score([ll[a] for a in q.mc2_true], [ll[a] for a in q.mc2_false]),
            # The MC1 pick: the true answer when it wins (outright, or on a tie with ties=right), else the best false one.
            "prediction": q.mc1_true if mc1 else max(q.mc1_false, key=lambda a: ll[a]),
            "references": list(q.mc2_true),
            "mc1_choices": choices([q.mc1_true], q.mc1_false),
            "mc2_choices": choices(q.mc2_true, q.mc2_false),
        }
        for key in ("category", "type", "best_incorrect", "line"):
            if getattr(q, key) is not None:
                record[key] = getattr(q, key)
        if q.in_both:
            record["in_both"] = list(q.in_both)
        return record

    def point_estimates(self, records: list[Record]) -> dict[str, float | None]:
        return {m.name: mean_or_none([r[m.name] for r in records]) for m in self.metrics}

    def aggregate(self, records: list[Record], seed: int) -> SuiteResult:
        metrics = {m.name: mean_with_ci([r[m.name] for r in records], seed, "no questions were scored") for m in self.metrics}
        breakdowns = {}
        for by in ("category", "type"):
            groups = sorted({r[by] for r in records if by in r})
            if groups:
                breakdowns[by] = {
                    g: {m.name: mean_with_ci([r[m.name] for r in records if r.get(by) == g], seed, "no questions")
                        for m in self.metrics}
                    for g in groups
                }
        return SuiteResult(metrics, breakdowns)
