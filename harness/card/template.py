"""The model card's Markdown layout (jinja2). Every `{{ value }}` is escaped as inline Markdown
unless it is `Raw` text the card wrote itself (numbers, the front matter, code blocks); kept
here as a string so the wheel ships it without package data."""

TEMPLATE = """\
---
{{ front_matter }}---

# Evaluation card: {{ card.name }}

This card was written by `harness card` from one run of the harness{% if card.harness_version %} (version {{ card.harness_version }}){% endif %}{% if card.created_at %}, made {{ card.created_at }}{% endif %}. \
The results it reports are those of run `{{ card.run_digest }}` (sha256 of the run's summary.json and per-sample files). \
Verdicts use the bounds in each suite's `thresholds:`; a concern's verdict is the worst badge among its metrics.

## {{ "Model" if card.subject == "model" else "Classifier" }}

| | |
|---|---|
{% for key, value in card.model_rows %}
| {{ key }} | {{ value }} |
{% endfor %}

{% if card.review %}
## Reviewer's sign-off

**Overall: {{ card.review.overall.decision }}**, by {{ card.review.reviewer }} on {{ card.review.date }}.{% if card.review.overall.notes %} {{ card.review.overall.notes }}{% endif +%}

{{ status_line }}

| Concern | Decision | Notes |
|---|---|---|
{% for d in card.review.decisions %}
| {{ title(d.concern) }} | {{ d.decision }} | {{ d.notes or "—" }} |
{% endfor %}

{% endif %}
## Evaluation results

| Concern | Verdict | Behind it | Reviewer |
|---|---|---|---|
{% for c in card.concerns %}
| {{ c.title }} | {{ c.verdict }} | {{ c.counts or "—" }} | {{ c.decision.decision if c.decision else "—" }} |
{% endfor %}
{% for c in card.concerns %}

### {{ c.title }}: {{ c.verdict }}

{{ c.question }}
{% if c.decision %}

Reviewer: **{{ c.decision.decision }}**{% if c.decision.notes %}. {{ c.decision.notes }}{% endif +%}
{% endif %}

{% if c.parts %}
{{ metric_table(c.parts) }}
{% else %}
Not evaluated: no suite of this concern is in the run.
{% endif %}
{% endfor %}
{% if card.tools %}

## Evaluations of the tools used

These suites evaluated a classifier the harness uses (for example to score generated text), not {{ card.name }}. Their numbers are not in the model-index.

{{ tool_table }}
{% endif %}

## Bias, risks and limitations

### What was measured

{% for line in limits.measured %}
- {{ line }}
{% endfor %}

### On what data

{% for line in limits.data %}
- {{ line }}
{% endfor %}

### What was not measured

{% for line in limits.not_measured %}
- {{ line }}
{% endfor %}

### Reviewer's conditions

{% for line in limits.conditions %}
- {{ line }}
{% endfor %}

## Reproducibility

Re-run with the command below, at the same harness version, on the same data (compare the data sha256) and seed. \
`harness review pin` and the scorecard recompute `run_sha256` to tell whether a review still covers these results.

{{ repro }}
"""
