"""Byte-level BPE and the corpora it is trained on."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.scratch.corpus import _docstrings, read_corpus, split_documents
from harness.scratch.tokenizer import EOT, BPETokenizer, train_tokenizer

DOCS = ["The ferry leaves at nine and returns at noon.", "Ferries wait when the fog is thick.",
        "A ferry ticket costs four coins."] * 20


def test_bpe_roundtrip_and_determinism(tmp_path: Path):
    tok = train_tokenizer(DOCS, 300)
    assert tok.get_vocab_size() <= 300 and tok.token_to_id(EOT) == 0
    assert train_tokenizer(DOCS, 300).to_str() == tok.to_str()  # same corpus, same merges
    (tmp_path / "tokenizer.json").write_text(tok.to_str(), encoding="utf-8")
    bpe = BPETokenizer(tmp_path / "tokenizer.json")
    for text in ["The ferry leaves", "naïve café – 東京 🙂", "  two  spaces\n\ttab", f"literal {EOT} text"]:
        ids = bpe.encode(text)
        assert bpe.decode(ids) == text
    assert 0 not in bpe.encode(f"literal {EOT} text")  # text that looks like the special token stays text
    assert len(bpe.encode("The ferry leaves")) < len("The ferry leaves".encode())  # merges were learned


def test_vocab_too_small():
    with pytest.raises(HarnessError, match="at least 257"):
        train_tokenizer(DOCS, 100)


def test_split_documents_crlf_and_blank_lines():
    assert split_documents("one\r\ntwo\r\n\r\n  \r\nthree\n\n\n") == ["one\ntwo", "three"]


def test_read_corpus_errors(tmp_path: Path):
    with pytest.raises(HarnessError, match="no such corpus file"):
        read_corpus([tmp_path / "missing.txt"])
    (tmp_path / "blank.txt").write_text("\n \n\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="corpus file is empty"):
        read_corpus([tmp_path / "blank.txt"])


def test_docstrings_read_without_importing(tmp_path: Path):
    source = tmp_path / "mod.py"
    source.write_text(
        '"""A module docstring that is long enough to be kept as prose."""\n'
        'raise SystemExit("importing this would end the tests")\n'
        'def f():\n    """Short."""\n'
        'class C:\n    """A class docstring, also long enough to be kept in the corpus."""\n',
        encoding="utf-8",
    )
    assert _docstrings(source) == [
        "A module docstring that is long enough to be kept as prose.",
        "A class docstring, also long enough to be kept in the corpus.",
    ]


def test_default_corpus_is_stdlib_documentation(monkeypatch):
    from pydoc_data.topics import topics

    import harness.scratch.corpus as corpus_module

    sources = corpus_module._stdlib_sources()
    names = {p.name for p in sources}
    assert {"json/__init__.py", "textwrap.py"} <= {f"{p.parent.name}/{p.name}" if p.name == "__init__.py" else p.name for p in sources}
    assert not any("test" in p.parts or p.name.startswith("test_") for p in sources) and "topics.py" not in names
    # Reading every stdlib file takes seconds; two files show the order: topics, then docstrings.
    two = [p for p in sources if p.name == "textwrap.py"] + [p for p in sources if p.parent.name == "json" and p.name == "__init__.py"]
    monkeypatch.setattr(corpus_module, "_stdlib_sources", lambda: two)
    corpus = corpus_module.default_corpus()
    assert corpus.documents[0] == sorted(topics.items())[0][1].strip()
    assert len(corpus.documents) > len(topics)
    assert any(doc.startswith("JSON (JavaScript Object Notation)") for doc in corpus.documents)
    assert "standard library" in corpus.source
