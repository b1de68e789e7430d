"""benchmarks/bench_toxicity.py checks its targets: PASS/FAIL per target, exit 1 when one is missed
(the measurements are stubbed here; the benchmark itself takes minutes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_toxicity.py"


def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_toxicity", SCRIPT)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "bench_toxicity", module)  # dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.parametrize(("texts_per_s", "speedup", "code"), [(60_000.0, 3.0, 0), (49_999.0, 3.0, 1), (60_000.0, 1.0, 1)])
def test_targets_pass_or_fail(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                              texts_per_s: float, speedup: float, code: int) -> None:
    b = bench(monkeypatch)
    monkeypatch.setattr(b, "bench_profanity", lambda n: b.Target("profanity-check scoring", texts_per_s, b.PROFANITY_TARGET, "texts/s"))
    monkeypatch.setattr(b, "bench_detoxify", lambda n: b.Target("detoxify batched", speedup, 1.0, "x speed-up", strict=True))
    monkeypatch.setattr(sys, "argv", ["bench_toxicity.py", "--skip-generation"])
    assert b.main() == code
    out = capsys.readouterr().out
    assert ("PASS" if texts_per_s >= 50_000 else "FAIL") + "  profanity-check scoring" in out
    assert ("PASS" if speedup > 1 else "FAIL") + "  detoxify batched" in out
    assert ("missed:" in out) == (code == 1)
