"""Extractive question answering by generation, scored as the official SQuAD scripts score it.

Each question is put to the model with its passage through the suite's jinja2 prompt template and
answered by greedy generation, cut at the stop sequences. Post-processing of the generated text,
in order: (1) the adapter cuts it before the first stop sequence; (2) surrounding whitespace is
stripped; (3) under the v2.0 rules, a prediction that normalises to one of the suite's
`no_answer_phrases` (e.g. "unanswerable") becomes the empty string, the official way of saying
"no answer". Normalisation itself (case, punctuation, articles) happens inside the metric.

Files are read in the SQuAD v1.1 or v2.0 JSON layout. The v2.0 rules (harness.suites.squad_metric)
apply when the file is v2.0: its `version` starts with "v2" or a question carries `is_impossible`.
Then HasAns/NoAns splits are reported as breakdowns.

Few-shot (params.fewshot, --num-fewshot; harness.fewshot): each exemplar is a question rendered
with the same template, answered with its first reference answer (the first no-answer phrase
when it has none). A plain model reads them before the question, each followed by " <answer>"
and the delimiter; a chat preset gets one user and one assistant turn per exemplar. No exemplar
shares the item's passage. The delimiter and the template's opening are added to the stop
sequences, so a model that goes on to write the next exemplar is cut there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.api import GenerationRequest, LanguageModel, ModelInfo
from harness.data import read_json
from harness.errors import HarnessError
from harness.fewshot import Pool, Shot, draw, fewshot_config, history, load_pool, next_shot_stop, plain_prompt, protocol_part
from harness.metrics import Metric
from harness.resources import SuiteSpec, file_sha256
from harness.suites.base import Dataset, Record, SuiteResult, data_path
from harness.suites.qa_common import PromptTemplate, check_params, mean_or_none, mean_with_ci, positive_int, string_list
from harness.suites.squad_metric import Variant, normalize_answer, score_answer

SOURCE = "SQuAD official evaluate-v1.1.py / evaluate-v2.0.py (Rajpurkar et al. 2016, 2018)"
BUILTIN_NOTE = (
    "the project's own SQuAD-style mini-probes (suites/data/qa/squad-v2.json), not the published dataset; "
    "run the full set with --data dev-v1.1.json or dev-v2.0.json"
)

DEFAULTS: dict[str, Any] = {
    "prompt_template": None,  # required
    "max_new_tokens": 24,
    "stop": ["\n"],
    "no_answer_phrases": ["unanswerable"],
    "fewshot": None,  # harness.fewshot.config
}
TARGET_DELIMITER = " "  # between an exemplar's "Answer:" and its answer (plain rendering)


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]  # reference answer texts; empty for an unanswerable v2.0 question
    rules: Variant
    prompt: str = ""  # rendered from the template at load time

    @property
    def has_answer(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class SquadSettings:
    template: PromptTemplate
    max_new_tokens: int
    stop: tuple[str, ...]
    no_answer_phrases: tuple[str, ...]


def settings_from_spec(spec: SuiteSpec) -> SquadSettings:
    params = check_params(spec.path, spec.params, DEFAULTS)
    text = params["prompt_template"]
    if not isinstance(text, str) or not text.strip():
        raise HarnessError(f"{spec.path}: params.prompt_template is missing; give a jinja2 template for the prompt")
    template = PromptTemplate(text, spec.path)
    template.check()
    return SquadSettings(
        template=template,
        max_new_tokens=positive_int(spec.path, "max_new_tokens", params["max_new_tokens"]),
        stop=string_list(spec.path, "stop", params["stop"]),
        no_answer_phrases=string_list(spec.path, "no_answer_phrases", params["no_answer_phrases"]),
    )


def file_rules(data: dict[str, Any]) -> Variant:
    """v2.0 when the file says so or any question carries `is_impossible`; v1.1 otherwise."""
    if str(data.get("version", "")).lstrip("v").startswith("2"):
        return "v2.0"
    for article in data.get("data") or []:
        for paragraph in (article.get("paragraphs") or []) if isinstance(article, dict) else []:
            for qa in (paragraph.get("qas") or []) if isinstance(paragraph, dict) else []:
                if isinstance(qa, dict) and "is_impossible" in qa:
                    return "v2.0"
    return "v1.1"


def _expect(ok: bool, path: Path, where: str, message: str) -> None:
    if not ok:
        raise HarnessError(f"{path}: {where}: {message}")


def read_squad(path: Path) -> tuple[list[Question], Variant]:
    data = read_json(path)
    _expect(
        isinstance(data, dict) and isinstance(data.get("data"), list), path, "top level",
        'expected {"version": ..., "data": [articles]} (the SQuAD v1.1/v2.0 layout)',
    )
    rules = file_rules(data)
    questions = []
    for a, article in enumerate(data["data"], start=1):
        _expect(isinstance(article, dict) and isinstance(article.get("paragraphs"), list), path,
                f"article {a}", 'expected an object with a "paragraphs" list')
        title = str(article.get("title", f"article {a}"))
        for p, paragraph in enumerate(article["paragraphs"], start=1):
            where = f"article {a} ({title!r}) paragraph {p}"
            _expect(isinstance(paragraph, dict) and isinstance(paragraph.get("context"), str)
                    and isinstance(paragraph.get("qas"), list), path, where,
                    'expected an object with a string "context" and a "qas" list')
            for qa in paragraph["qas"]:
                questions.append(_question(path, where, title, paragraph["context"], qa, rules))
    return questions, rules


def _question(path: Path, where: str, title: str, context: str, qa: Any, rules: Variant) -> Question:
    _expect(isinstance(qa, dict) and isinstance(qa.get("id"), (str, int)), path, where,
            'every question needs an "id"')
    qid = str(qa["id"])
    item = f"{where}, question {qid!r}"
    _expect(isinstance(qa.get("question"), str), path, item, 'missing the string field "question"')
    answers = qa.get("answers", [])
    _expect(isinstance(answers, list) and all(isinstance(x, dict) and isinstance(x.get("text"), str) for x in answers),
            path, item, '"answers" must be a list of {"text": ..., "answer_start": ...} objects')
    texts = tuple(x["text"] for x in answers)
    impossible = qa.get("is_impossible", False)
    _expect(isinstance(impossible, bool), path, item, f'"is_impossible" must be true or false, got {impossible!r}')
    if rules == "v1.1":
        _expect(bool(texts), path, item, "has no answers; a SQuAD v1.1 question needs at least one reference "
                "answer (mark unanswerable questions with \"is_impossible\": true, the v2.0 layout)")
    elif impossible:
        _expect(not texts, path, item, 'is_impossible is true but "answers" is not empty; move them to "plausible_answers"')
    else:
        _expect(bool(texts), path, item, 'has no answers and is not marked "is_impossible": true')
    return Question(qid, title, context, qa["question"], texts, rules)


class SquadSuite:
    chunk_size = 8
    model_methods = ("generate",)
    metrics = (
        Metric("exact_match", "the normalised prediction equals a normalised reference answer (best over references)",
               "higher", SOURCE, binary=True),
        Metric("f1", "token F1 with multiset overlap against the best-matching reference answer", "higher", SOURCE),
    )

    def __init__(self, spec: SuiteSpec, num_fewshot: int | None = None, fewshot_data: Path | None = None) -> None:
        self.spec = spec
        self.settings = settings_from_spec(spec)
        self.fewshot = fewshot_config(spec, num_fewshot, fewshot_data)
        self.rules: Variant | None = None  # set by load(): the rules of the data being evaluated
        self.pool: Pool[Question] | None = None  # set by load() when k > 0
        self.shot_stop = ""  # set by load() when k > 0: the delimiter and the template's opening

    def protocol(self, info: ModelInfo) -> str:
        s = self.settings
        return (
            f"squad/extractive-generation/v1 rules={self.rules or 'by-data'} template={s.template.sha256} "
            f"decoding=greedy max_new_tokens={s.max_new_tokens} stop={json.dumps(list(s.stop))} "
            f"no_answer={json.dumps(list(s.no_answer_phrases))} chat={'yes' if info.chat else 'no'}"
            + protocol_part(self.fewshot, self.pool, "multiturn" if info.chat else "plain")
        )

    def load(self, path: Path | None) -> Dataset:
        path, builtin = data_path(self.spec, path)
        questions, rules = read_squad(path)
        source = f"builtin:{path.name}" if builtin else str(path)
        fields = [
            {"id": q.id, "title": q.title, "context": q.context, "question": q.question,
             "unanswerable_allowed": rules == "v2.0"}
            for q in questions
        ]
        prompts = self.settings.template.render_all(fields, [q.id for q in questions], str(path))
        items = [replace(q, prompt=p) for q, p in zip(questions, prompts)]
        self.rules = rules
        notes = (
            f"SQuAD {rules} layout: one item per question, in file order; prompt from the suite's template "
            f"(sha256 {self.settings.template.sha256}); {sum(not q.has_answer for q in items)} unanswerable"
        )
        if builtin:
            notes = f"{BUILTIN_NOTE}; {notes}"
        sha = file_sha256(path)
        self.pool = load_pool(self.fewshot, builtin, items, source, sha, lambda p: self._pool_questions(p, rules))
        if self.pool is not None:
            self.shot_stop = next_shot_stop(self.fewshot.delimiter, [q.prompt for q in items])
            notes += (
                f"; {self.fewshot.k}-shot: exemplars ({self.fewshot.sampler}) from {self.pool.source}, "
                f"{len(self.pool.items)} in the pool, none on the item's passage"
            )
        return Dataset(items, source, sha, builtin, notes)

    def _pool_questions(self, path: Path, rules: Variant) -> list[Question]:
        """A pool file's questions; for v1.1 data only answerable ones (the prompt then offers no
        "unanswerable")."""
        questions, _ = read_squad(path)
        return [q for q in questions if q.has_answer or rules == "v2.0"]

    def _shots(self, items: Sequence[Question], seed: int) -> list[tuple[Shot, ...]]:
        """Each item's exemplars, rendered with the suite's template as the item was."""
        if self.pool is None:
            return [()] * len(items)
        chosen = draw(self.pool, items, self.fewshot.k, self.fewshot.sampler, seed,
                      lambda item, entry: entry.context == item.context)
        unrendered = list({e.id: e for shots in chosen for e in shots if not e.prompt}.values())
        fields = [{"id": e.id, "title": e.title, "context": e.context, "question": e.question,
                   "unanswerable_allowed": self.rules == "v2.0"} for e in unrendered]
        rendered = dict(zip([e.id for e in unrendered],
                            self.settings.template.render_all(fields, [e.id for e in unrendered], self.pool.source)))
        return [
            tuple(Shot(e.id, e.prompt or rendered[e.id], e.answers[0] if e.answers else self.settings.no_answer_phrases[0])
                  for e in shots)
            for shots in chosen
        ]

    def postprocess(self, generated: str, rules: Variant) -> str:
        """The documented post-processing (see the module docstring), after the adapter's stop cut."""
        prediction = generated.strip()
        abstentions = {normalize_answer(p) for p in self.settings.no_answer_phrases}
        if rules == "v2.0" and normalize_answer(prediction) in abstentions:
            return ""
        return prediction

    def _request(self, q: Question, shots: tuple[Shot, ...], chat: bool) -> GenerationRequest:
        """The item's generation request: its prompt, after the exemplars when there are any
        (plain text, or earlier chat turns for a chat preset)."""
        s = self.settings
        if not shots:
            return GenerationRequest(q.prompt, max_new_tokens=s.max_new_tokens, stop=s.stop, chat=chat)
        stop = tuple(dict.fromkeys((*s.stop, self.shot_stop)))
        if chat:
            return GenerationRequest(q.prompt, max_new_tokens=s.max_new_tokens, stop=stop, chat=True, history=history(shots))
        prompt = plain_prompt(shots, q.prompt, self.fewshot.delimiter, TARGET_DELIMITER)
        return GenerationRequest(prompt, max_new_tokens=s.max_new_tokens, stop=stop)

    def evaluate(self, lm: LanguageModel, items: Sequence[Question], seed: int) -> list[Record]:
        chat = lm.info.chat
        shots = self._shots(items, seed)
        requests = [self._request(q, q_shots, chat) for q, q_shots in zip(items, shots)]
        records = []
        for q, q_shots, request, generation in zip(items, shots, requests, lm.generate(requests)):
            prediction = self.postprocess(generation.texts[0], q.rules)
            score = score_answer(prediction, q.answers, q.rules)
            records.append({
                "id": q.id,
                "title": q.title,
                "prompt": request.prompt,
                "chat": chat,
                "generation": generation.texts[0],
                "prediction": prediction,
                "references": list(q.answers),
                "has_answer": q.has_answer,
                "rules": q.rules,
                "exact_match": score.exact_match,
                "f1": score.f1,
            })
            if q_shots:
                records[-1]["fewshot"] = [shot.id for shot in q_shots]
        return records

    def point_estimates(self, records: list[Record]) -> dict[str, float | None]:
        return {m.name: mean_or_none([r[m.name] for r in records]) for m in self.metrics}

    def aggregate(self, records: list[Record], seed: int) -> SuiteResult:
        metrics = {
            m.name: mean_with_ci([r[m.name] for r in records], seed, "no questions were scored") for m in self.metrics
        }
        breakdowns = {}
        if any(r["rules"] == "v2.0" for r in records):
            splits = {
                "HasAns": ([r for r in records if r["has_answer"]], "no answerable questions among the items scored"),
                "NoAns": ([r for r in records if not r["has_answer"]], "no unanswerable questions among the items scored"),
            }
            breakdowns["answerability"] = {
                group: {m.name: mean_with_ci([r[m.name] for r in rs], seed, reason) for m in self.metrics}
                for group, (rs, reason) in splits.items()
            }
        return SuiteResult(metrics, breakdowns)
