"""`harness train-filter` and loading a filter folder: each bad input is one line, exit 2, through
`harness.cli.main`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from tests.toxicity.test_toxicity_filter_suite import BIASED_TRAIN, _write_csv


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1
    return code, err


def test_unwritable_out_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write_csv(tmp_path / "train.csv", BIASED_TRAIN)
    (tmp_path / "a-file").write_text("not a folder")
    code, err = cli(capsys, "train-filter", "--data", data, "--out", tmp_path / "a-file" / "filter")
    assert code == 2 and "cannot create the filter folder" in err and "--out" in err
    # The folder exists but a file in it cannot be written (here: a folder is in the way).
    (tmp_path / "out" / "weights.npz").mkdir(parents=True)
    code, err = cli(capsys, "train-filter", "--data", data, "--out", tmp_path / "out", "--folds", "2")
    assert code == 2 and f"{tmp_path / 'out'}: cannot write the filter" in err


def test_texts_without_usable_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write_csv(tmp_path / "train.csv", [("!", 1), ("?", 1), ("a", 1), ("...", 0), ("b", 0), ("#", 0)])
    code, err = cli(capsys, "train-filter", "--data", data, "--out", tmp_path / "f", "--folds", "2")
    assert code == 2 and f"{data}" in err and "no usable words" in err


def _trained_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    data = _write_csv(tmp_path / "train.csv", BIASED_TRAIN)
    assert cli(capsys, "train-filter", "--data", data, "--out", tmp_path / "filter", "--folds", "2")[0] == 0
    capsys.readouterr()
    return tmp_path / "filter"


def _replace_weights(folder: Path, **arrays: np.ndarray) -> None:
    """Rewrite weights.npz and its recorded hash, as a hand-made folder would."""
    np.savez(folder / "weights.npz", **arrays)
    manifest = json.loads((folder / "classifier.json").read_text())
    manifest["files"]["weights.npz"] = hashlib.sha256((folder / "weights.npz").read_bytes()).hexdigest()
    (folder / "classifier.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"idf": np.ones(3), "coef": np.ones(3), "bias": np.ones(1)}, "no array intercept (it has idf, coef, bias)"),
        ({"idf": np.array([{"a": 1}, None], dtype=object), "coef": np.ones(2), "intercept": np.ones(1)}, "unreadable array"),
        ({"idf": np.array(["x", "y"]), "coef": np.ones(2), "intercept": np.ones(1)}, "`idf` must be a 1-D numeric array"),
    ],
)
def test_weights_file_of_the_wrong_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str], arrays: dict, message: str) -> None:
    folder = _trained_folder(tmp_path, capsys)
    _replace_weights(folder, **arrays)
    code, err = cli(capsys, "run", "toxicity_filter", "--classifier", folder, "--out", tmp_path / "run", "--quiet",
                    "--cache-dir", tmp_path / "cache")
    assert code == 2 and f"{folder / 'weights.npz'}" in err and message in err


def test_weights_file_that_is_not_an_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _trained_folder(tmp_path, capsys)
    (folder / "weights.npz").write_bytes(b"PK\x03\x04 truncated")
    manifest = json.loads((folder / "classifier.json").read_text())
    manifest["files"]["weights.npz"] = hashlib.sha256((folder / "weights.npz").read_bytes()).hexdigest()
    (folder / "classifier.json").write_text(json.dumps(manifest))
    code, err = cli(capsys, "run", "toxicity_filter", "--classifier", folder, "--out", tmp_path / "run", "--quiet",
                    "--cache-dir", tmp_path / "cache")
    assert code == 2 and "not a readable .npz weights file" in err
