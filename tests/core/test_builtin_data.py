"""Every suite's built-in data is the project's own and says so in the results."""

from __future__ import annotations

import pytest

from harness.registry import SUITE_KINDS
from harness.resources import list_suites

SUITES = list_suites()


@pytest.mark.parametrize("spec", SUITES, ids=[s.name for s in SUITES])
def test_builtin_data_is_marked_as_the_projects_mini_probes(spec) -> None:
    dataset = SUITE_KINDS.get(spec.kind)(spec).load(None)
    assert dataset.builtin and dataset.source.startswith("builtin:")
    assert "project's own" in dataset.notes and "mini-probes" in dataset.notes, dataset.notes
    assert len(dataset.items) >= 20
