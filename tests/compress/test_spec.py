"""SPEC strings: the valid forms, their canonical text and folder names, and one-line errors."""

from __future__ import annotations

import pytest

from harness.compress.spec import CompressSpec, parse_spec, parse_variants
from harness.errors import HarnessError


@pytest.mark.parametrize(
    ("text", "spec", "canonical", "folder"),
    [
        ("int8", CompressSpec("int8"), "int8", "int8"),
        ("int4", CompressSpec("int4", group_size=128), "int4:g128", "int4-g128"),
        ("INT4:g32", CompressSpec("int4", group_size=32), "int4:g32", "int4-g32"),
        ("int8-dynamic", CompressSpec("int8-dynamic"), "int8-dynamic", "int8-dynamic"),
        ("prune:0.3", CompressSpec("prune", sparsity=0.3), "prune:0.3", "prune-0.3"),
        ("prune-layer:0.50", CompressSpec("prune-layer", sparsity=0.5), "prune-layer:0.5", "prune-layer-0.5"),
    ],
)
def test_valid_forms(text: str, spec: CompressSpec, canonical: str, folder: str) -> None:
    parsed = parse_spec(text)
    assert parsed == spec
    assert parsed.text == canonical and parsed.folder == folder
    assert parse_spec(parsed.text) == parsed  # the canonical form reads back as itself


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("int3", "unknown transform 'int3' (did you mean"),
        ("prune:1.5", "must lie strictly between 0 and 1"),
        ("prune:0", "must lie strictly between 0 and 1"),
        ("prune", "needs a sparsity"),
        ("prune:abc", "is not a number"),
        ("int4:g100", "power of 2"),
        ("int4:128", "group size such as g128"),
        ("int8:2", "takes no argument"),
    ],
)
def test_malformed_specs_list_the_valid_forms(text: str, why: str) -> None:
    with pytest.raises(HarnessError) as e:
        parse_spec(text)
    message = str(e.value)
    assert why in message and "valid forms: int8, int4" in message and "prune-layer:F" in message
    assert "\n" not in message


def test_variants() -> None:
    assert [s.folder for s in parse_variants("int8, int4,prune:0.3,prune:0.5")] == ["int8", "int4-g128", "prune-0.3", "prune-0.5"]
    with pytest.raises(HarnessError, match="given twice"):
        parse_variants("int4,int4:g128")
    with pytest.raises(HarnessError, match="`none` is the base"):
        parse_variants("none,int8")


def test_cli_rejects_bad_spec_in_one_line(run_cli, tiny_llama) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("run", "crows_pairs", "--model", tiny_llama, "--compress", "int3", "--limit", "2")
    assert code == 2
    assert err.count("\n") == 1 and "unknown transform 'int3'" in err and "valid forms" in err
    code, _, err = run_cli("audit", "crows_pairs", "--model", tiny_llama, "--variants", "int8,prune:1.5")
    assert code == 2 and err.count("\n") == 1 and "--variants 'prune:1.5'" in err
