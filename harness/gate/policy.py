"""Metric rules: pass/warn/fail bounds, regression tolerances and absolute bounds.

The same rule format is used in two places:

* a suite YAML's `thresholds:` block (copied into summary.json by `harness run`), and
* a policy file (`harness scorecard --policy`, `harness gate --policy`), which overrides it.

A rule, per metric (every key optional except as noted):

    direction: lower | higher | target   # which way is better (default: the metric's own)
    target: 0.5                          # the ideal value; required with direction `target`
    pass: 1.2                            # badge bounds: lower -> value <= pass is "pass",
    warn: 1.6                            #   <= warn is "warn", else "fail"; higher -> >=;
                                         #   target -> |value - target| <= pass / warn
    tolerance: 0.01                      # gate: worsening vs the baseline that is allowed,
    relative_tolerance: 0.02             #   tolerance + relative_tolerance * |baseline value|
    min: 0.0                             # gate: absolute bounds on the candidate's value
    max: 2.0

A policy file:

    confidence: 0.95          # of the paired bootstrap CI and McNemar's test (default 0.95)
    replicates: 2000          # paired bootstrap replicates (>= 1000, default 2000)
    seed: 0                   # bootstrap seed (default 0)
    allow_missing_items: false  # pass when the candidate lacks items the baseline scored
    suites:
      perplexity:
        bits_per_byte: {direction: lower, pass: 1.2, warn: 1.6, tolerance: 0.005, max: 2.0}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError
from harness.resources import read_yaml

DIRECTIONS = ("lower", "higher", "target")
RULE_KEYS = ("direction", "target", "pass", "warn", "tolerance", "relative_tolerance", "min", "max")
# the Rule field each key sets
FIELDS = {"direction": "direction", "target": "target", "pass": "pass_bound", "warn": "warn_bound",
          "tolerance": "tolerance", "relative_tolerance": "relative_tolerance", "min": "minimum", "max": "maximum"}
POLICY_KEYS = ("confidence", "replicates", "seed", "allow_missing_items", "suites")


@dataclass(frozen=True)
class Rule:
    """What is expected of one metric of one suite."""

    suite: str
    metric: str
    direction: str | None = None
    target: float | None = None
    pass_bound: float | None = None
    warn_bound: float | None = None
    tolerance: float = 0.0
    relative_tolerance: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    where: str = ""  # where the rule was written, for messages
    # The keys the rule's source actually wrote: a policy's `tolerance: 0` is a setting that
    # tightens the suite's tolerance, not an absent key (the field's default is also 0).
    given: frozenset[str] = frozenset()

    def allowed_worsening(self, baseline: float) -> float:
        return self.tolerance + self.relative_tolerance * abs(baseline)

    def badge(self, value: float | None) -> str:
        """"pass", "warn" or "fail" from the bounds; "none" without bounds; "null" without a value."""
        if value is None:
            return "null"
        if self.pass_bound is None or self.direction is None:
            return "none"
        warn = self.warn_bound if self.warn_bound is not None else self.pass_bound
        if self.direction == "lower":
            return "pass" if value <= self.pass_bound else "warn" if value <= warn else "fail"
        if self.direction == "higher":
            return "pass" if value >= self.pass_bound else "warn" if value >= warn else "fail"
        distance = abs(value - (self.target or 0.0))
        return "pass" if distance <= self.pass_bound else "warn" if distance <= warn else "fail"

    def describe(self) -> str:
        """The rule in a few words: direction or target, and the badge bounds."""
        if self.direction == "target":
            text = f"target {self.target:g}"
            if self.pass_bound is not None:
                text += f"; pass within ±{self.pass_bound:g}"
        elif self.direction:
            text = f"{self.direction} is better"
            if self.pass_bound is not None:
                op = "≤" if self.direction == "lower" else "≥"
                text += f"; pass {op} {self.pass_bound:g}"
        else:
            text = ""
        if self.pass_bound is not None and self.warn_bound is not None and self.warn_bound != self.pass_bound:
            text += f", warn {'within ±' if self.direction == 'target' else ''}{self.warn_bound:g}"
        return text


@dataclass(frozen=True)
class Policy:
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)
    confidence: float = 0.95
    replicates: int = 2000
    seed: int = 0
    allow_missing_items: bool = False
    path: Path | None = None  # None: no policy file, rules come from the suites' thresholds


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HarnessError(f"{where}: `{key}` must be a finite number, got {value!r}")
    return float(value)


def parse_rule(
    suite: str, metric: str, raw: Any, where: str, default_direction: str | None = None, need_direction: bool = True
) -> Rule:
    """A Rule from a mapping in the format above; errors name `where` and the key. A policy
    entry may leave out the direction (`need_direction=False`): it then comes from the suite's
    thresholds or the metric's own definition."""
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: expected a mapping of {', '.join(RULE_KEYS)}, got {raw!r}")
    unknown = [k for k in raw if k not in RULE_KEYS]
    if unknown:
        raise HarnessError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(RULE_KEYS)}")
    direction = raw.get("direction", default_direction)
    if direction is not None and direction not in DIRECTIONS:
        raise HarnessError(f"{where}: `direction` must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    nums = {k: _number(raw[k], where, k) for k in RULE_KEYS if k != "direction" and raw.get(k) is not None}
    if (direction == "target") != ("target" in nums):
        raise HarnessError(f"{where}: `target:` goes with `direction: target` (and that direction needs it)")
    if "warn" in nums and "pass" not in nums:
        raise HarnessError(f"{where}: `warn:` needs a `pass:` bound too")
    if "pass" in nums and direction is None and need_direction:
        raise HarnessError(f"{where}: badge bounds need a `direction:`")
    if "pass" in nums and "warn" in nums:
        p, w = nums["pass"], nums["warn"]
        if (direction == "higher" and w > p) or (direction in ("lower", "target") and w < p):
            raise HarnessError(f"{where}: `warn: {w:g}` must lie beyond `pass: {p:g}` for direction {direction}")
    for key in ("tolerance", "relative_tolerance"):
        if nums.get(key, 0.0) < 0:
            raise HarnessError(f"{where}: `{key}` must not be negative")
    if "min" in nums and "max" in nums and nums["min"] > nums["max"]:
        raise HarnessError(f"{where}: `min` is above `max`")
    return Rule(
        suite,
        metric,
        direction,
        nums.get("target"),
        nums.get("pass"),
        nums.get("warn"),
        nums.get("tolerance", 0.0),
        nums.get("relative_tolerance", 0.0),
        nums.get("min"),
        nums.get("max"),
        where,
        frozenset(k for k in RULE_KEYS if raw.get(k) is not None),
    )


def rules_from_summary(summary: dict[str, Any], where: str) -> dict[tuple[str, str], Rule]:
    """The rules a run carries: each suite's `thresholds:` (from its YAML, recorded at run time)."""
    rules = {}
    for suite, entry in summary.get("suites", {}).items():
        for metric, raw in (entry.get("thresholds") or {}).items():
            default = (entry.get("metrics", {}).get(metric) or {}).get("direction")
            rules[(suite, metric)] = parse_rule(suite, metric, raw, f"{where}: suites.{suite}.thresholds.{metric}", default)
    return rules


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line numbers (1-based) of every mapping key, by its path of keys."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = path + (str(key.value),)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def load_policy(path: Path) -> Policy:
    raw = read_yaml(path)
    lines = _key_lines(path.read_text(encoding="utf-8"))

    def at(*keys: str) -> str:
        line = lines.get(tuple(keys))
        return f"{path}:{line}" if line else str(path)

    unknown = [k for k in raw if k not in POLICY_KEYS]
    if unknown:
        raise HarnessError(f"{at(unknown[0])}: unknown key {unknown[0]!r}; known: {', '.join(POLICY_KEYS)}")
    suites = raw.get("suites") or {}
    if not isinstance(suites, dict):
        raise HarnessError(f"{at('suites')}: `suites:` must map suite names to metrics")
    rules = {}
    for suite, metrics in suites.items():
        if not isinstance(metrics, dict) or not metrics:
            raise HarnessError(f"{at('suites', suite)}: suite {suite!r} must map metric names to rules")
        for metric, rule in metrics.items():
            where = at("suites", suite, metric) + f" (suites.{suite}.{metric})"
            rules[(str(suite), str(metric))] = parse_rule(str(suite), str(metric), rule, where, need_direction=False)
    confidence = _number(raw.get("confidence", 0.95), at("confidence"), "confidence")
    if not 0.5 <= confidence < 1:
        raise HarnessError(f"{at('confidence')}: `confidence` must be in [0.5, 1), got {confidence:g}")
    replicates = raw.get("replicates", 2000)
    if not isinstance(replicates, int) or isinstance(replicates, bool) or replicates < 1000:
        raise HarnessError(f"{at('replicates')}: `replicates` must be a whole number >= 1000, got {replicates!r}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise HarnessError(f"{at('seed')}: `seed` must be a whole number, got {seed!r}")
    allow = raw.get("allow_missing_items", False)
    if not isinstance(allow, bool):
        raise HarnessError(f"{at('allow_missing_items')}: `allow_missing_items` must be true or false")
    return Policy(rules, confidence, replicates, seed, allow, path)


def merged(base: Rule, override: Rule) -> Rule:
    """`override`'s keys on top of `base` (a policy entry refining a suite's thresholds): every
    key the policy wrote, whatever its value, so an explicit 0 counts."""
    written = set(override.given)
    if written & {"tolerance", "relative_tolerance"}:
        written |= {"tolerance", "relative_tolerance"}  # setting either tolerance replaces both
    changes = {FIELDS[key]: getattr(override, FIELDS[key]) for key in written}
    return replace(base, **changes, where=override.where, given=base.given | override.given)
