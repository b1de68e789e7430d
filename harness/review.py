"""A reviewer's sign-off on a set of runs: `review.yaml` -> `Review`, and whether the runs it
reviewed have changed since.

The file (docs/review.md has a full example)::

    reviewer: Ada Lovelace
    date: 2026-12-02
    concerns:
      harmful-content: {decision: accept, notes: ...}
      fairness: {decision: accept-with-conditions, notes: the conditions, in words}
      truthfulness: reject              # a bare decision, no notes
    overall: {decision: accept-with-conditions, notes: ...}
    runs:                               # optional: written by `harness review pin`
      smollm2-135m: "<sha256 of the run>"

Concerns are the scorecard's (harness.report.concerns.CONCERNS), by id or title, any case; a
concern the file leaves out has no decision. `runs:` pins the reviewed results: `run_digest` is a
sha256 over a run folder's summary.json and per-sample files, and a run whose digest the review
does not list is stale. A review without `runs:` is *unpinned*: nothing can be checked, which
`Review.pinned` and `ReviewStatus.state` say (and `stale_runs` returns no labels for it).

Every problem with the file is a one-line `HarnessError` naming the file and line.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import yaml

from harness.errors import HarnessError, did_you_mean

DECISIONS = ("accept", "accept-with-conditions", "reject")
FIELDS = ("reviewer", "date", "concerns", "overall", "runs")
DECISION_FIELDS = ("decision", "notes")
OVERALL = "overall"
_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ConcernDecision:
    concern: str  # a concern id of harness.report.concerns.CONCERNS, or "overall"
    decision: str  # one of DECISIONS
    notes: str  # free text (untrusted: escape wherever shown); the conditions, for accept-with-conditions


@dataclass(frozen=True)
class Review:
    reviewer: str
    date: str  # ISO date, YYYY-MM-DD
    decisions: tuple[ConcernDecision, ...]  # in the file's order; concerns left out have none
    overall: ConcernDecision
    runs: dict[str, str]  # run label -> sha256 of the run when reviewed; empty when not pinned
    source: str  # the review file's path

    @property
    def pinned(self) -> bool:
        """Whether the review records which results it reviewed (a `runs:` block)."""
        return bool(self.runs)

    def decision_for(self, concern: str) -> ConcernDecision | None:
        return next((d for d in self.decisions if d.concern == concern), None)


def concern_ids() -> dict[str, str]:
    """Every accepted spelling (id or title, lower case) -> concern id."""
    from harness.report.concerns import CONCERNS

    names: dict[str, str] = {}
    for c in CONCERNS:
        names[c.id.lower()] = c.id
        names[c.title.lower()] = c.id
    return names


def concern_title(concern: str) -> str:
    from harness.report.concerns import CONCERNS

    return "Overall" if concern == OVERALL else next((c.title for c in CONCERNS if c.id == concern), concern)


# ---------------------------------------------------------------------------------------------
# Reading the file


def load_review(path: Path) -> Review:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such review file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: cannot read the review file ({getattr(e, 'strerror', None) or e})") from None
    return parse_review(text, str(path))


def parse_review(text: str, source: str) -> Review:
    root = _compose(text, source)
    r = _Reader(source)
    if root is None:
        raise HarnessError(f"{source}:1: the review file is empty; see docs/review.md for the format")
    fields = r.mapping(root, "a review file", FIELDS)
    if "reviewer" not in fields:
        r.fail(root, "no `reviewer:`; add the reviewer's name, e.g. `reviewer: Ada Lovelace`")
    reviewer = r.text(fields["reviewer"][1], "reviewer", empty=True)
    if not reviewer:
        r.fail(fields["reviewer"][1], "`reviewer:` is empty; give the reviewer's name")
    if "date" not in fields:
        r.fail(root, "no `date:`; add the date of the review, e.g. `date: 2026-12-02`")
    date = r.date(fields["date"][1])
    decisions: list[ConcernDecision] = []
    if "concerns" in fields:
        known = concern_ids()
        seen: dict[str, int] = {}
        for name, (key, value) in r.mapping(fields["concerns"][1], "`concerns:`", None).items():
            concern = known.get(" ".join(name.lower().split()))
            if concern is None:
                ids = sorted({*known.values()})
                r.fail(key, f"unknown concern {name!r}{did_you_mean(name.lower(), known)}; use one of {', '.join(ids)} (or their titles)")
            if concern in seen:
                r.fail(key, f"concern {concern!r} is decided twice (also on line {seen[concern]})")
            seen[concern] = _line(key)
            decisions.append(r.decision(concern, key, value))
    if "overall" not in fields:
        r.fail(root, "no `overall:` decision; add e.g. `overall: {decision: accept, notes: ...}`")
    overall = r.decision(OVERALL, *fields["overall"])
    runs = r.runs(fields["runs"][1]) if "runs" in fields else {}
    return Review(reviewer, date, tuple(decisions), overall, runs, source)


def _compose(text: str, source: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(e.problem or e.context or "").split())
        raise HarnessError(f"{source}{line}: not valid YAML ({problem})") from None
    except yaml.YAMLError as e:
        raise HarnessError(f"{source}: not valid YAML ({' '.join(str(e).split())})") from None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _Reader:
    """Typed access to composed YAML nodes; every failure names source:line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: yaml.Node, message: str) -> NoReturn:
        raise HarnessError(f"{self.source}:{_line(node)}: {message}")

    def mapping(self, node: yaml.Node, what: str, allowed: Sequence[str] | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping of `name: value` lines, not {_kind(node)}")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _NULL:
                self.fail(key, f"a key in {what} must be a plain name")
            if allowed is not None and key.value not in allowed:
                self.fail(key, f"unknown field {key.value!r} in {what}{did_you_mean(key.value, allowed)}; use {', '.join(allowed)}")
            if key.value in out:
                self.fail(key, f"{key.value!r} is given twice in {what} (also on line {_line(out[key.value][0])})")
            out[key.value] = (key, value)
        return out

    def text(self, node: yaml.Node, what: str, *, empty: bool = False) -> str:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL and empty:
            return ""
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
            self.fail(node, f"`{what}:` must be text, not {_kind(node)}; quote it if it is meant as text")
        return str(node.value).strip()

    def date(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode) and node.tag != _NULL:
            try:
                return datetime.date.fromisoformat(str(node.value).strip()).isoformat()
            except ValueError:
                pass
        self.fail(node, f"`date:` must be a date as YYYY-MM-DD, e.g. 2026-12-02, not {_kind(node)}")

    def decision(self, concern: str, key: yaml.Node, node: yaml.Node) -> ConcernDecision:
        label = "overall" if concern == OVERALL else concern
        if isinstance(node, yaml.MappingNode):
            fields = self.mapping(node, f"the decision for {label}", DECISION_FIELDS)
            if "decision" not in fields:
                self.fail(node, f"no `decision:` for {label}; use {_choices()}")
            decision_node = fields["decision"][1]
            notes = self.text(fields["notes"][1], "notes", empty=True) if "notes" in fields else ""
        elif isinstance(node, yaml.ScalarNode):
            decision_node, notes = node, ""
        else:
            self.fail(node, f"the decision for {label} must be a decision or a mapping with `decision:` and `notes:`, not {_kind(node)}")
        if not isinstance(decision_node, yaml.ScalarNode):
            self.fail(decision_node, f"the decision for {label} must be one of {_choices()}, not {_kind(decision_node)}")
        raw = decision_node.value
        if decision_node.tag == _NULL or not raw.strip():
            self.fail(decision_node if decision_node.tag != _NULL else key, f"no decision for {label}; use {_choices()}")
        if decision_node.tag != _STR:
            self.fail(decision_node, f"unknown decision {raw!r} for {label}; use {_choices()}")
        decision = "-".join(raw.lower().replace("_", " ").split())
        if decision not in DECISIONS:
            self.fail(decision_node, f"unknown decision {raw!r} for {label}{did_you_mean(decision, DECISIONS)}; use {_choices()}")
        if decision == "accept-with-conditions" and not notes:
            self.fail(key, f"accept-with-conditions for {label} needs `notes:` stating the conditions")
        return ConcernDecision(concern, decision, notes)

    def runs(self, node: yaml.Node) -> dict[str, str]:
        fields = self.mapping(node, "`runs:`", None)
        if not fields:
            self.fail(node, "`runs:` is empty; pin the reviewed runs with `harness review pin`, or leave `runs:` out")
        runs = {}
        for label, (_, value) in fields.items():
            digest = str(value.value).strip().lower() if isinstance(value, yaml.ScalarNode) else ""
            if not _SHA256.fullmatch(digest):
                self.fail(value, f"the digest of run {label!r} must be 64 hex digits (from `harness review pin` or `harness review digest`)")
            runs[label] = digest
        return runs


def _choices() -> str:
    return ", ".join(DECISIONS[:-1]) + " or " + DECISIONS[-1]


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "empty"
    return repr(node.value)


# ---------------------------------------------------------------------------------------------
# Which results were reviewed


def run_folders(run_dir: Path) -> list[Path]:
    """The run folders under `run_dir`: itself when it holds a summary.json, otherwise its model
    subfolders (`harness run --model A --model B --out OUT` writes OUT/<model>/)."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    if (run_dir / "summary.json").is_file():
        return [run_dir]
    folders = sorted(d for d in run_dir.iterdir() if (d / "summary.json").is_file()) if run_dir.is_dir() else []
    if not folders:
        raise HarnessError(f"{run_dir}: no summary.json here or in its model subfolders; give a folder written by `harness run`")
    return folders


def model_runs(run_dirs: Sequence[Path]) -> list[Path]:
    """The run folders of one model each: a multi-model folder becomes its model subfolders, so
    a review pins (and checks) each model's results on their own, as the scorecard shows them."""
    return [folder for p in run_dirs for folder in run_folders(Path(p))]


def run_digest(run_dir: Path) -> str:
    """sha256 over a run's summary.json and per-sample *.jsonl files (those of every model
    subfolder, for a multi-model folder): each file as its length-prefixed relative name then
    its length-prefixed bytes, in sorted name order. Any change to the results changes it."""
    base = Path(run_dir)
    base = base.parent if base.is_file() else base
    files = sorted(
        (path.relative_to(base).as_posix(), path)
        for folder in run_folders(base)
        for path in [folder / "summary.json", *folder.glob("*.jsonl")]
    )
    h = hashlib.sha256()
    for name, path in files:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise HarnessError(f"{path}: cannot read ({e.strerror or e})") from None
        encoded = name.encode("utf-8")
        h.update(len(encoded).to_bytes(8, "big") + encoded)
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def run_labels(run_dirs: Sequence[Path]) -> list[str]:
    """How the review file names each run: its model preset or name (folder name for a
    multi-model folder), with the folder name added when two runs would share a label."""
    base = []
    for p in map(Path, run_dirs):
        folders = run_folders(p)
        base.append(_label(folders[0]) if folders == [p if p.is_dir() else p.parent] else p.name)
    return [f"{lab} ({Path(p).name})" if base.count(lab) > 1 else lab for lab, p in zip(base, run_dirs)]


def _label(folder: Path) -> str:
    """The run's model; for a run of model-free suites only, the classifier(s) they evaluated."""
    from harness.gate.runs import load_run
    from harness.report.subjects import classifier_name

    run = load_run(folder)
    if (run.summary.get("model") or {}).get("adapter") == "none" and run.summary["suites"]:
        names = dict.fromkeys(classifier_name(e).partition("@")[0] for e in run.summary["suites"].values())
        return ", ".join(names)
    return run.label


@dataclass(frozen=True)
class RunCheck:
    label: str
    path: str
    digest: str  # now
    reviewed: bool  # the review pins this digest (under any label)


@dataclass(frozen=True)
class ReviewStatus:
    pinned: bool
    runs: tuple[RunCheck, ...]

    @property
    def stale(self) -> tuple[str, ...]:
        """Labels of the runs whose results the review did not see (none when unpinned)."""
        return tuple(r.label for r in self.runs if not r.reviewed) if self.pinned else ()

    @property
    def state(self) -> str:
        """'unpinned' (nothing to check), 'stale' or 'current'."""
        return "unpinned" if not self.pinned else ("stale" if self.stale else "current")

    def message(self) -> str:
        if not self.pinned:
            return "the review does not pin the runs it reviewed (no `runs:`); pin them with `harness review pin`"
        if self.stale:
            return f"the review is stale: {', '.join(self.stale)} changed or was not reviewed"
        return f"the review covers these results ({len(self.runs)} run{'s' if len(self.runs) != 1 else ''} unchanged)"


def review_status(review: Review, run_dirs: Sequence[Path]) -> ReviewStatus:
    """Whether each run is one the review saw. A run counts as reviewed when its current digest
    is among the pinned ones (labels are only names, so renaming a folder is not a change)."""
    pinned = set(review.runs.values())
    run_dirs = model_runs(run_dirs)
    checks = tuple(
        RunCheck(label, str(p), digest, digest in pinned)
        for label, p, digest in zip(run_labels(run_dirs), run_dirs, (run_digest(p) for p in run_dirs))
    )
    return ReviewStatus(review.pinned, checks)


def stale_runs(review: Review, run_dirs: Sequence[Path]) -> list[str]:
    """Labels of runs whose results changed since the review or that it did not review; [] for
    an unpinned review (check `review.pinned` to say so)."""
    return list(review_status(review, run_dirs).stale)


# ---------------------------------------------------------------------------------------------
# Pinning


def runs_block(run_dirs: Sequence[Path]) -> str:
    """The `runs:` block pinning these runs (model by model), as YAML text."""
    run_dirs = model_runs(run_dirs)
    lines = ["runs:  # sha256 of each run's summary.json and per-sample files (harness review pin)"]
    for label, p in zip(run_labels(run_dirs), run_dirs):
        lines.append(f"  {json.dumps(label, ensure_ascii=False)}: \"{run_digest(p)}\"")
    return "\n".join(lines) + "\n"


def pin_text(text: str, source: str, run_dirs: Sequence[Path]) -> str:
    """The review file's text with its `runs:` block replaced by one pinning `run_dirs`; the rest
    of the file (comments included) is kept as written."""
    parse_review(text, source)  # a broken file is reported, not rewritten
    root = _compose(text, source)
    lines = text.splitlines(keepends=True)
    for key, value in root.value if isinstance(root, yaml.MappingNode) else ():  # parse_review checked it is
        if key.value == "runs":
            lines = lines[: key.start_mark.line] + lines[_end_line(value) + 1 :]
    body = "".join(lines)
    if body and not body.endswith("\n"):
        body += "\n"
    pinned = body + runs_block(run_dirs)
    parse_review(pinned, source)
    return pinned


def _end_line(node: yaml.Node) -> int:
    """The 0-based line a node's text ends on. A block collection's own end mark lies at the next
    token (past blank lines and comments that belong to what follows), so its last child's is used."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        return _end_line(last[1] if isinstance(node, yaml.MappingNode) else last)
    mark = node.end_mark
    return mark.line if mark.column > 0 else mark.line - 1
