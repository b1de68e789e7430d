"""The regression gate: paired comparison of a candidate run against a baseline run.

`policy` (rules and policy files), `runs` (reading run folders), `paired` (paired bootstrap and
McNemar's test), `checks` (the decisions, failing closed), `reports` (JUnit XML, Markdown).
"""
