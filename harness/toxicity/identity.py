"""Identity subgroups: Jigsaw Unintended Bias's identity columns, and terms to detect them in text
that carries no identity annotation. Subgroup names are the Jigsaw column names, so results from
annotated and detected subgroups line up.
"""

from __future__ import annotations

import re

# Jigsaw column -> lower-case words or phrases that mention the group (whole-word match).
IDENTITY_TERMS: dict[str, tuple[str, ...]] = {
    "female": ("woman", "women", "girl", "girls", "female", "females", "lady", "ladies"),
    "male": ("man", "men", "boy", "boys", "male", "males", "guy", "guys"),
    "transgender": ("transgender", "trans"),
    "homosexual_gay_or_lesbian": ("gay", "gays", "lesbian", "lesbians", "homosexual", "queer"),
    "christian": ("christian", "christians", "christianity"),
    "jewish": ("jew", "jews", "jewish"),
    "muslim": ("muslim", "muslims", "islam", "islamic"),
    "black": ("black", "blacks"),
    "white": ("white", "whites"),
    "asian": ("asian", "asians"),
    "latino": ("latino", "latinos", "latina", "latinas", "hispanic", "hispanics"),
    "psychiatric_or_mental_illness": ("mentally ill", "mental illness", "schizophrenic", "bipolar"),
}

# Identity columns as they appear in Jigsaw's train.csv / test_public_expanded.csv (a fraction of
# raters; an item mentions the group when the value is >= 0.5). Others may be present too.
JIGSAW_IDENTITY_COLUMNS = (
    "male", "female", "transgender", "other_gender", "heterosexual", "homosexual_gay_or_lesbian", "bisexual",
    "other_sexual_orientation", "christian", "jewish", "muslim", "hindu", "buddhist", "atheist", "other_religion",
    "black", "white", "asian", "latino", "other_race_or_ethnicity", "physical_disability",
    "intellectual_or_learning_disability", "psychiatric_or_mental_illness", "other_disability",
)

_PATTERNS = {
    group: re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)
    for group, terms in IDENTITY_TERMS.items()
}


def detect_subgroups(text: str) -> tuple[str, ...]:
    """The subgroups whose terms the text mentions, in table order."""
    return tuple(group for group, pattern in _PATTERNS.items() if pattern.search(text))
