"""The HTML ethics scorecard: runs side by side, by concern, in one self-contained file.

`concerns` (suite kind -> ethics concern), `build` (the content), `deltas` (vs a baseline),
`charts` (inline SVG geometry), `samples` (worst samples), `repro` (provenance), `render` (jinja2).
"""
