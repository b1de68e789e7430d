"""The HTML ethics scorecard: the answer first (a verdict per concern and model), the evidence on
demand, runs side by side, in one self-contained file.

`concerns` (suite kind -> ethics concern), `subjects` (the columns: models and classifiers),
`sections` (one suite across the columns, split by protocol), `verdicts` (the concern x model
matrix; `concern_verdicts` is public), `attention` ("Needs attention"), `build` (the whole
page's content), `deltas` (vs a baseline), `charts` (inline SVG geometry, nice ticks),
`samples` (worst samples), `repro` (provenance), `signoff` (the reviewer's decision),
`render` (jinja2). docs/scorecard.md describes the page.
"""
