"""`harness train` from the command line, and every bad input: one line, exit 2, nothing overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .scratch_helpers import TINY_MODEL, TINY_TRAIN, write_corpus


def preset(tmp_path: Path, model: dict | None = None, train: dict | None = None, name: str = "tiny") -> Path:
    from dataclasses import asdict

    raw = {
        "adapter": "scratch",
        "checkpoint": str(tmp_path / "models" / name),
        "model": {**asdict(TINY_MODEL), **(model or {})},
        "train": {**asdict(TINY_TRAIN), "steps": 3, "checkpoint_every": 2, "log_every": 1, **(train or {})},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert err.startswith("harness: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_train_writes_checkpoint_log_and_report(tmp_path: Path, corpus_file: Path, run_cli):
    code, out, err = run_cli("train", "--config", preset(tmp_path), "--corpus", corpus_file, "--quiet")
    assert code == 0, err
    assert "tokens/s" in out and "MFU" in out and "unigram baseline" in out
    folder = tmp_path / "models" / "tiny"
    assert (folder / "scratch_config.json").exists() and (folder / "report.html").exists()
    assert len((folder / "train_log.jsonl").read_text().splitlines()) == 4  # steps 0..3


def test_missing_and_empty_corpus(tmp_path: Path, run_cli):
    code, _, err = run_cli("train", "--config", preset(tmp_path), "--corpus", tmp_path / "nope.txt")
    one_line_error(code, err, "nope.txt: no such corpus file")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    code, _, err = run_cli("train", "--config", preset(tmp_path), "--corpus", tmp_path / "empty.txt")
    one_line_error(code, err, "empty.txt: the corpus file is empty")


def test_corpus_shorter_than_one_block(tmp_path: Path, run_cli):
    (tmp_path / "short.txt").write_text("Only a few words here.", encoding="utf-8")
    code, _, err = run_cli("train", "--config", preset(tmp_path), "--corpus", tmp_path / "short.txt")
    one_line_error(code, err, "too short", "block_size + 1 = 49")


def test_n_embd_not_divisible_by_n_head(tmp_path: Path, corpus_file: Path, run_cli):
    code, _, err = run_cli("train", "--config", preset(tmp_path, model={"n_embd": 30, "n_head": 4}), "--corpus", corpus_file)
    one_line_error(code, err, "n_embd 30 is not divisible by n_head 4")


def test_unwritable_output_folder(tmp_path: Path, corpus_file: Path, run_cli):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run_cli("train", "--config", preset(tmp_path), "--corpus", corpus_file, "--out", blocker / "sub")
    one_line_error(code, err, "cannot write the checkpoint there")


def test_existing_checkpoint_is_never_overwritten(tmp_path: Path, corpus_file: Path, run_cli):
    config = preset(tmp_path)
    assert run_cli("train", "--config", config, "--corpus", corpus_file, "--quiet")[0] == 0
    folder = tmp_path / "models" / "tiny"
    before = folder_bytes(folder)
    code, _, err = run_cli("train", "--config", config, "--corpus", corpus_file)
    one_line_error(code, err, "already holds a checkpoint", "--resume")
    # Resuming with a different config, or a different corpus, is refused before anything is written.
    code, _, err = run_cli("train", "--config", preset(tmp_path, train={"learning_rate": 0.02}), "--corpus", corpus_file, "--resume")
    one_line_error(code, err, "different config", "train.learning_rate 0.01 -> 0.02")
    other = write_corpus(tmp_path / "other.txt", seed=5)
    code, _, err = run_cli("train", "--config", config, "--corpus", other, "--resume")
    one_line_error(code, err, "different config", "corpus_sha256")
    code, _, err = run_cli("train", "--config", config, "--corpus", corpus_file, "--resume", "--steps", "5")
    one_line_error(code, err, "train.steps 3 -> 5")
    assert folder_bytes(folder) == before


def test_resume_without_checkpoint(tmp_path: Path, corpus_file: Path, run_cli):
    code, _, err = run_cli("train", "--config", preset(tmp_path), "--corpus", corpus_file, "--resume")
    one_line_error(code, err, "no checkpoint to resume")


def test_preset_must_be_a_scratch_preset(tmp_path: Path, run_cli):
    repo_ngram = Path(__file__).resolve().parents[2] / "models" / "ngram.yaml"
    code, _, err = run_cli("train", "--config", repo_ngram)
    one_line_error(code, err, "unknown key(s)")
    bad = tmp_path / "bad.yaml"
    bad.write_text("adapter: scratch\nmodel: {n_layers: 2}\n", encoding="utf-8")
    code, _, err = run_cli("train", "--config", bad)
    one_line_error(code, err, "unknown key(s) n_layers")


def test_real_presets_parse():
    from argparse import Namespace

    from harness.commands.train import run_from_args

    repo = Path(__file__).resolve().parents[2]
    for name in ("scratch-tiny", "scratch-small"):
        args = Namespace(config=repo / "models" / f"{name}.yaml", corpus=None, out=None, steps=None, resume=False)
        run = run_from_args(args)
        assert run.out == Path("models") / name and run.corpus == ()


def test_exponent_numbers_as_users_write_them(tmp_path: Path, corpus_file: Path, run_cli):
    import json

    path = preset(tmp_path, train={"learning_rate": 0.02}, model={"positions": "rotary", "rope_base": 500.0})
    text = path.read_text(encoding="utf-8").replace("learning_rate: 0.02", "learning_rate: 6e-4")
    path.write_text(text.replace("rope_base: 500.0", "rope_base: 1e4"), encoding="utf-8")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert raw["train"]["learning_rate"] == "6e-4" and raw["model"]["rope_base"] == "1e4"  # PyYAML's reading
    code, _, err = run_cli("train", "--config", path, "--corpus", corpus_file, "--quiet")
    assert code == 0, err
    saved = json.loads((tmp_path / "models" / "tiny" / "scratch_config.json").read_text())
    assert saved["train"]["learning_rate"] == 0.0006 and saved["model"]["rope_base"] == 10000.0


@pytest.mark.parametrize(
    "section, key, value, needle",
    [
        ("train", "learning_rate", "fast", "train: learning_rate must be a number"),
        ("train", "weight_decay", [0.1], "train: weight_decay must be a number"),
        ("train", "min_lr_ratio", "low", "train: min_lr_ratio must be a number"),
        ("train", "min_lr_ratio", 2, "min_lr_ratio must be in [0, 1]"),
        ("train", "steps", 2.5, "train: steps must be a whole number"),
        ("train", "precision", 16, "train: precision must be a string"),
        ("model", "rope_base", "big", "model: rope_base must be a number"),
        ("model", "rope_base", 0, "rope_base must be positive"),
        ("model", "dropout", True, "model: dropout must be a number"),
        ("model", "bias", "yes", "model: bias must be true or false"),
    ],
)
def test_wrong_setting_types_are_one_line_errors(tmp_path: Path, corpus_file: Path, run_cli, section, key, value, needle):
    path = preset(tmp_path, **{section: {key: value}})
    code, _, err = run_cli("train", "--config", path, "--corpus", corpus_file)
    one_line_error(code, err, needle)
    assert not (tmp_path / "models" / "tiny").exists()
