"""Explanations of paired and multiple-choice bias items: which tokens make a model prefer one
option over another (docs/explain.md).

For the items of a suite with the largest bias signal, each option's text is taken apart:
per-token log-probabilities aligned between the options (they sum to the log-likelihoods the suite
recorded), gradient x input and integrated gradients of the option's log-likelihood with respect
to the input embeddings (Sundararajan et al. 2017), and the attention weights of every layer and
head. The capability is optional (`capability.Explainable`): the `hf` adapter and the
from-scratch model have it; the n-gram model and served models do not.

Modules: `capability` (what an adapter offers), `compute` (the numbers for one text),
`align` (token differences between two options), `targets` (which items and options to
explain, per suite kind, from the suite's own requests), `explain` (an item's explanation
record), `step` (explaining a suite's items after a run, writing `<suite>.explain.jsonl`).
"""
