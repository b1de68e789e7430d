"""A wheel (not only the editable install) carries the built-in suites and presets."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_finds_builtin_suites_and_presets(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("harness-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/_suites/perplexity.yaml" in names
    assert "harness/_suites/data/perplexity/corpus.txt" in names
    assert "harness/_presets/smollm2-135m.yaml" in names
    assert "harness/_presets/data/ngram-train.txt" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from an unrelated folder with the unpacked wheel first on the path, as an installed copy.
    probe = (
        "import harness.resources as r, harness; "
        "assert str(harness.__file__).startswith(%r), harness.__file__; "
        "print(r.suites_dir()); print([s.name for s in r.list_suites()]); print([m.name for m in r.list_models()])"
    ) % str(site)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(site)}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    folder, suites, models = result.stdout.splitlines()
    assert folder.startswith(str(site))
    assert "perplexity" in suites and "smollm2-135m" in models and "ngram" in models


def test_list_shows_suites_and_models(run_cli) -> None:
    code, out, _ = run_cli("list")
    assert code == 0
    assert "perplexity" in out and "smollm2-135m" in out and "ngram" in out
