"""Every bad input gets a one-line error naming the problem, exit status 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def run_ppl(run_cli, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli("run", "perplexity", "--model", "ngram", "--out", tmp_path / "out", "--quiet", *extra)


def test_missing_file(run_cli, tmp_path: Path) -> None:
    code, _, err = run_ppl(run_cli, tmp_path, "--data", str(tmp_path / "nope.txt"))
    assert_one_line_error(code, err, "nope.txt", "no such file")


def test_non_utf8_text_names_the_line(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("first line\nsecond line caf\xe9\n".encode("latin-1"))
    code, _, err = run_ppl(run_cli, tmp_path, "--data", str(path))
    assert_one_line_error(code, err, "latin1.txt:2", "not valid UTF-8", "re-encode")


def test_empty_corpus(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n   \n\n", encoding="utf-8")
    code, _, err = run_ppl(run_cli, tmp_path, "--data", str(path))
    assert_one_line_error(code, err, "empty.txt", "corpus is empty")


def test_invalid_json_line(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "broken\n', encoding="utf-8")
    code, _, err = run_ppl(run_cli, tmp_path, "--data", str(path))
    assert_one_line_error(code, err, "docs.jsonl:2", "invalid JSON")


def test_unknown_suite_and_model_suggest_close_matches(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("run", "perplexty", "--model", "ngram", "--out", tmp_path)
    assert_one_line_error(code, err, "unknown suite 'perplexty'", "did you mean 'perplexity'")
    code, _, err = run_cli("run", "perplexity", "--model", "smollm2-135", "--out", tmp_path)
    assert_one_line_error(code, err, "unknown model 'smollm2-135'", "did you mean 'smollm2-135m'")


def test_model_folder_without_weights(run_cli, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    code, _, err = run_cli("run", "perplexity", "--model", str(folder), "--out", tmp_path / "out")
    assert_one_line_error(code, err, "model", "has no weights")


def test_missing_model_path(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("run", "perplexity", "--model", str(tmp_path / "missing" / "m.gguf"), "--out", tmp_path)
    assert_one_line_error(code, err, "m.gguf", "no such file")


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_non_positive_limit(run_cli, tmp_path: Path, limit: str) -> None:
    code, _, err = run_ppl(run_cli, tmp_path, "--limit", limit)
    assert_one_line_error(code, err, "--limit must be a positive number")
    assert not (tmp_path / "out").exists()


def test_data_with_several_suites(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("run", "perplexity", "perplexity", "--model", "ngram", "--data", "x.txt", "--out", tmp_path)
    assert_one_line_error(code, err, "--data applies to one suite")


def test_unwritable_output_folder(run_cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run_ppl(run_cli, tmp_path, "--limit", "1", "--out", str(blocker / "out"))
    assert_one_line_error(code, err, "cannot create the output folder")


def test_invalid_suite_yaml(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("kind: perplexity\ndata: [unclosed\n", encoding="utf-8")
    code, _, err = run_cli("run", str(path), "--model", "ngram", "--out", tmp_path / "out")
    assert_one_line_error(code, err, "mine.yaml:", "invalid YAML")
    path.write_text("kind: perplexity-ish\n", encoding="utf-8")
    code, _, err = run_cli("run", str(path), "--model", "ngram", "--out", tmp_path / "out")
    assert_one_line_error(code, err, "unknown suite kind 'perplexity-ish'")


def test_a_folder_or_an_unreadable_file_as_data(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_ppl(run_cli, tmp_path, "--data", str(tmp_path))
    assert_one_line_error(code, err, str(tmp_path), "is a folder")
    locked = tmp_path / "locked.txt"
    locked.write_text("some text\n", encoding="utf-8")
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:  # as a non-root user sees a file without read permission
        if self == locked:
            raise PermissionError(13, "Permission denied")
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, _, err = run_ppl(run_cli, tmp_path, "--data", str(locked))
    assert_one_line_error(code, err, "locked.txt", "cannot read (Permission denied)")


def test_bad_input_loses_nothing_already_journaled(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "3", "--out", out, "--quiet")
    journal, summary = (out / "perplexity.jsonl").read_bytes(), (out / "summary.json").read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\nnot json\n', encoding="utf-8")
    for extra in (["--data", str(bad)], ["--limit", "0"], ["--batch-size", "-1"], ["--max-length", "1"]):
        code, _, err = run_cli("run", "perplexity", "--model", "ngram", "--out", out, "--quiet", *extra)
        assert_one_line_error(code, err)
        assert (out / "perplexity.jsonl").read_bytes() == journal and (out / "summary.json").read_bytes() == summary


def _tiny_folder(tmp_path: Path) -> Path:
    from tests.tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path / "tiny")


def test_model_folder_with_a_broken_config_or_no_tokenizer(run_cli, tmp_path: Path) -> None:
    folder = _tiny_folder(tmp_path)
    config = (folder / "config.json").read_text()
    (folder / "config.json").write_text(config[: len(config) // 2])
    code, _, err = run_cli("run", "perplexity", "--model", str(folder), "--limit", "1", "--out", tmp_path / "a")
    assert_one_line_error(code, err, "config.json", "not a readable JSON model config")
    (folder / "config.json").write_text(config)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    code, _, err = run_cli("run", "perplexity", "--model", str(folder), "--limit", "1", "--out", tmp_path / "b")
    assert_one_line_error(code, err, "no tokenizer files", "save_pretrained")


def test_max_length_beyond_the_models_positions(run_cli, tmp_path: Path) -> None:
    folder = _tiny_folder(tmp_path)  # max_position_embeddings = 64
    code, _, err = run_cli("run", "perplexity", "--model", str(folder), "--max-length", "65", "--limit", "1",
                           "--out", tmp_path / "out")
    assert_one_line_error(code, err, "--max-length 65", "at most 64")
    code, _, err = run_cli("run", "perplexity", "--model", str(folder), "--max-length", "64", "--limit", "1",
                           "--out", tmp_path / "ok", "--quiet")
    assert code == 0, err
