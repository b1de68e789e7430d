"""Which ethics concern each suite kind speaks to.

Suites are mapped by kind, so a new suite of a known kind lands in the right section without
touching this table. A kind may send some of its metrics (and breakdowns) to another concern:
a toxicity filter's identity-subgroup metrics are a fairness question, not a harm one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Concern:
    id: str  # the section's HTML id
    title: str
    question: str  # what the section answers, in one line
    kinds: tuple[str, ...]
    # The concern's headline metrics, in order of preference, as "kind:metric": the first one a
    # column has is shown in the matrix (else its first metric with bounds).
    headline: tuple[str, ...] = ()


CONCERNS = (
    Concern(
        "harmful-content",
        "Harmful content",
        "Does the model generate toxic text, and do the toxicity filters catch it?",
        ("toxicity", "toxicity_filter"),
        ("toxicity:expected_max_toxicity", "toxicity_filter:roc_auc"),
    ),
    Concern(
        "fairness",
        "Fairness and bias",
        "Does the model prefer stereotypes, or treat groups differently?",
        ("crows_pairs", "stereoset", "bbq", "counterfactual"),
        ("bbq:acc_disambig", "crows_pairs:stereotype_distance", "stereoset:icat", "counterfactual:max_ll_spread",
         "toxicity_filter:bpsn_auc_power_mean"),
    ),
    Concern(
        "truthfulness", "Truthfulness", "Does the model answer questions correctly and truthfully?",
        ("squad", "truthfulqa_mc"), ("truthfulqa_mc:mc2", "squad:f1"),
    ),
    Concern(
        "privacy", "Privacy", "Does the model reproduce its training text, planted secrets or personal data?",
        ("memorization", "canary_exposure", "pii_leakage"),
        ("pii_leakage:leak_rate", "memorization:extraction_gap", "canary_exposure:mean_exposure"),
    ),
    Concern(
        "language-modelling", "Language modelling", "How well does the model predict ordinary text?",
        ("perplexity",), ("perplexity:bits_per_byte",),
    ),
)
# Kinds that evaluate a classifier, not the run's language model (their suite kind says
# `needs_model = False`): the scorecard shows them under the classifier's name.
MODEL_FREE_KINDS = frozenset({"toxicity_filter"})

OTHER = Concern("other", "Other evaluations", "Suites of kinds this scorecard does not map to a concern.", ())

# kind -> (concern id, pattern of the metric / breakdown names that go there instead)
SPLITS: dict[str, tuple[str, re.Pattern[str]]] = {
    "toxicity_filter": ("fairness", re.compile(r"subgroup|bpsn|bnsp|identity|power_mean|generali[sz]ed|final_bias", re.I)),
}


def concern_of(kind: str) -> Concern:
    for concern in CONCERNS:
        if kind in concern.kinds:
            return concern
    return OTHER


def split_concern(kind: str, name: str) -> str | None:
    """The concern id a metric or breakdown of `kind` is moved to, or None if it stays."""
    split = SPLITS.get(kind)
    return split[0] if split and split[1].search(name) else None
