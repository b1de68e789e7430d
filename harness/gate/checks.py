"""The regression gate: one check per gated metric, failing closed on anything it cannot verify.

A metric passes when its paired comparison shows no significant worsening beyond the allowed
tolerance and the candidate's value lies within the absolute bounds. Significant means: for a
metric declared `binary`, McNemar's exact test rejects "no change" at 1 - confidence with more
items worse than better; otherwise, the lower end of the paired bootstrap CI of the worsening
is above the tolerance (a one-sided test at (1 - confidence) / 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.gate.paired import RECORD_ERRORS, MetricSpec, Paired, compare
from harness.gate.policy import Policy, Rule, merged, rules_from_summary
from harness.gate.runs import Run, load_records, suite_kind

PASS, FAIL, ERROR, SKIPPED = "pass", "fail", "error", "skipped"


@dataclass(frozen=True)
class Check:
    suite: str
    name: str  # the metric, or "coverage"
    status: str  # pass | fail (a regression or a bound) | error (failed closed) | skipped
    message: str
    baseline: float | None = None  # full-run values from summary.json
    candidate: float | None = None
    paired: Paired | None = None
    allowed: float | None = None  # worsening allowed by the tolerances

    @property
    def ok(self) -> bool:
        return self.status in (PASS, SKIPPED)


@dataclass(frozen=True)
class GateResult:
    baseline: Run
    candidate: Run
    policy: Policy
    checks: tuple[Check, ...]

    @property
    def exit_code(self) -> int:
        return 0 if all(c.ok for c in self.checks) else 1


def gate_rules(policy: Policy, baseline: Run, candidate: Run) -> dict[tuple[str, str], Rule]:
    """With a policy file: its metrics, refined over the suites' thresholds. Without: every
    metric named in either run's thresholds (the candidate's declaration wins)."""
    declared = rules_from_summary(baseline.summary, f"{baseline.path}/summary.json")
    declared.update(rules_from_summary(candidate.summary, f"{candidate.path}/summary.json"))
    if policy.path is None:
        return declared
    return {key: merged(declared[key], rule) if key in declared else rule for key, rule in policy.rules.items()}


def run_gate(baseline: Run, candidate: Run, policy: Policy) -> GateResult:
    rules = gate_rules(policy, baseline, candidate)
    checks: list[Check] = []
    by_suite: dict[str, list[Rule]] = {}
    for (suite, _), rule in sorted(rules.items()):
        by_suite.setdefault(suite, []).append(rule)
    for suite, suite_rules in by_suite.items():
        checks.extend(_suite_checks(suite, suite_rules, baseline, candidate, policy))
    for suite in sorted(set(baseline.summary["suites"]) | set(candidate.summary["suites"])):
        if suite not in by_suite:
            checks.append(Check(suite, "*", SKIPPED, "no metric of this suite is gated (no thresholds or policy entry)"))
    if not rules:
        # Skipped suites alone would pass: a gate that checked nothing must not say "no regression".
        checks.insert(0, Check("gate", "gated metrics", ERROR, _nothing_gated(policy)))
    return GateResult(baseline, candidate, policy, tuple(checks))


def _nothing_gated(policy: Policy) -> str:
    if policy.path is not None:
        return f"nothing was gated: the policy {policy.path} names no metric under `suites:`"
    return (
        "nothing was gated: no suite of either run declares `thresholds:`; "
        "give a --policy naming the metrics to gate, or add thresholds to the suite YAMLs"
    )


def _fail_all(suite: str, rules: list[Rule], message: str) -> list[Check]:
    return [Check(suite, r.metric, ERROR, message) for r in rules]


def _suite_checks(suite: str, rules: list[Rule], baseline: Run, candidate: Run, policy: Policy) -> list[Check]:
    entries = {}
    for role, run in (("baseline", baseline), ("candidate", candidate)):
        entry = run.summary["suites"].get(suite)
        if entry is None:
            return _fail_all(suite, rules, f"suite {suite!r} is missing from the {role} run ({run.path})")
        entries[role] = entry
    b_entry, c_entry = entries["baseline"], entries["candidate"]
    if b_entry.get("protocol") != c_entry.get("protocol"):
        return _fail_all(
            suite, rules, f"protocol ids differ: baseline {b_entry.get('protocol')!r}, candidate {c_entry.get('protocol')!r}"
        )
    b_hash, c_hash = (b_entry.get("data") or {}).get("sha256"), (c_entry.get("data") or {}).get("sha256")
    if not b_hash or not c_hash:
        role = "baseline" if not b_hash else "candidate"
        return _fail_all(suite, rules, f"the {role} run records no data hash for suite {suite!r}; cannot tell it used the same data")
    if b_hash != c_hash:
        return _fail_all(suite, rules, f"data hashes differ: baseline {b_hash!r}, candidate {c_hash!r}")
    if b_entry.get("kind") != c_entry.get("kind"):
        return _fail_all(suite, rules, f"suite kinds differ: {b_entry.get('kind')!r} vs {c_entry.get('kind')!r}")
    kind = suite_kind(suite, str(c_entry.get("kind")))
    if isinstance(kind, str):
        return _fail_all(suite, rules, kind)
    b_records, c_records = load_records(baseline, suite), load_records(candidate, suite)
    for records in (b_records, c_records):
        if isinstance(records, str):
            return _fail_all(suite, rules, records)
    checks = [_coverage(suite, b_records, c_records, policy)]  # type: ignore[arg-type]
    specs, ready = [], []
    for rule in rules:
        check_or_spec = _prepare(rule, b_entry, c_entry)
        if isinstance(check_or_spec, Check):
            checks.append(check_or_spec)
        else:
            specs.append(check_or_spec)
            ready.append(rule)
    if specs:
        try:
            paired = compare(
                kind, specs, b_records, c_records,  # type: ignore[arg-type]
                seed=policy.seed, replicates=policy.replicates, confidence=policy.confidence,
            )
        except RECORD_ERRORS as e:
            message = f"suite kind {c_entry.get('kind')!r} cannot read these per-sample records ({type(e).__name__}: {e})"
            return checks + [Check(suite, r.metric, ERROR, message) for r in ready]
        for rule, spec in zip(ready, specs):
            checks.append(_decide(rule, spec, paired[spec.name], b_entry, c_entry, policy))
    return checks


def _coverage(suite: str, base: list[dict[str, Any]], cand: list[dict[str, Any]], policy: Policy) -> Check:
    scored = {str(r["id"]) for r in cand if "error" not in r}
    lost = [str(r["id"]) for r in base if "error" not in r and str(r["id"]) not in scored]
    if not lost:
        return Check(suite, "coverage", PASS, f"the candidate scored all {len(base)} baseline items it was compared on")
    sample = ", ".join(lost[:5]) + (" ..." if len(lost) > 5 else "")
    message = f"{len(lost)} item(s) scored in the baseline are missing or failed in the candidate: {sample}"
    return Check(suite, "coverage", PASS if policy.allow_missing_items else FAIL, message)


def _prepare(rule: Rule, b_entry: dict[str, Any], c_entry: dict[str, Any]) -> MetricSpec | Check:
    """The metric's spec for the comparison, or a failed-closed check saying why there is none."""
    for role, entry in (("baseline", b_entry), ("candidate", c_entry)):
        m = entry.get("metrics", {}).get(rule.metric)
        if m is None:
            return Check(rule.suite, rule.metric, ERROR, f"metric {rule.metric!r} is missing from the {role} run")
        if m.get("value") is None:
            return Check(
                rule.suite, rule.metric, ERROR,
                f"metric {rule.metric!r} is null in the {role} run ({m.get('reason') or 'no reason given'})",
            )
    definition = c_entry["metrics"][rule.metric]
    direction = rule.direction or definition.get("direction")
    if direction not in ("lower", "higher", "target"):
        return Check(rule.suite, rule.metric, ERROR, f"metric {rule.metric!r} declares no direction; give one in the policy")
    target = rule.target if rule.target is not None else definition.get("target")
    if direction == "target" and target is None:
        return Check(rule.suite, rule.metric, ERROR, f"metric {rule.metric!r} has direction target but no target value")
    return MetricSpec(rule.metric, direction, target, bool(definition.get("binary", False)))


def _decide(
    rule: Rule, spec: MetricSpec, paired: Paired, b_entry: dict[str, Any], c_entry: dict[str, Any], policy: Policy
) -> Check:
    base_value = b_entry["metrics"][rule.metric]["value"]
    cand_value = c_entry["metrics"][rule.metric]["value"]
    common = dict(baseline=base_value, candidate=cand_value, paired=paired)
    if paired.worsening is None:
        return Check(rule.suite, rule.metric, ERROR, f"no paired comparison: {paired.reason}", **common)
    allowed = rule.allowed_worsening(paired.baseline or 0.0)
    common["allowed"] = allowed
    alpha = 1 - policy.confidence
    if paired.mcnemar is not None:
        t = paired.mcnemar
        significant = t.worse > t.better and t.p_value < alpha
        evidence = f"McNemar {t.worse} worse / {t.better} better, p = {t.p_value:.3g}"
    elif paired.worsening_ci is not None:
        significant = paired.worsening_ci[0] > allowed
        lo, hi = paired.worsening_ci
        evidence = f"worsening {paired.worsening:+.4g}, {policy.confidence:.0%} CI [{lo:+.4g}, {hi:+.4g}]"
    else:
        return Check(rule.suite, rule.metric, ERROR, f"no confidence interval: {paired.reason}", **common)
    regressed = significant and paired.worsening > allowed
    bounds = _bounds_failure(rule, cand_value)
    if regressed:
        message = f"regressed: {evidence}, beyond the allowed {allowed:.4g} (n = {paired.n})"
        return Check(rule.suite, rule.metric, FAIL, message + (f"; {bounds}" if bounds else ""), **common)
    if bounds:
        return Check(rule.suite, rule.metric, FAIL, bounds, **common)
    return Check(rule.suite, rule.metric, PASS, f"no significant regression: {evidence}, allowed {allowed:.4g} (n = {paired.n})", **common)


def _bounds_failure(rule: Rule, value: float) -> str | None:
    if rule.minimum is not None and value < rule.minimum:
        return f"value {value:.4g} is below the minimum {rule.minimum:g}"
    if rule.maximum is not None and value > rule.maximum:
        return f"value {value:.4g} is above the maximum {rule.maximum:g}"
    return None
