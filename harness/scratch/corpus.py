"""Training text: the user's files, or English prose every Python installation carries offline.

The default corpus is the standard library's own documentation: the reference-manual topics
that `pydoc` ships (`pydoc_data.topics.topics`) followed by the docstrings of the standard
library's modules, classes and functions, read from source with `ast` (nothing is imported, so
no module's import-time side effects run). Its exact content depends on the Python version,
which is recorded with the checkpoint.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from harness.data import read_text
from harness.errors import HarnessError

# Folders of the standard library that are tests, demos or vendored code rather than documentation.
SKIPPED = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo", "pydoc_data", "ensurepip"}


@dataclass(frozen=True)
class Corpus:
    documents: tuple[str, ...]
    source: str  # what the text is, for the training report and the checkpoint

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for doc in self.documents:
            digest.update(doc.encode("utf-8"))
            digest.update(b"\0")
        return digest.hexdigest()

    @property
    def n_chars(self) -> int:
        return sum(len(d) for d in self.documents)


def split_documents(text: str) -> list[str]:
    """Paragraphs (runs of text between blank lines), each stripped; CRLF endings normalised."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def read_corpus(paths: list[Path]) -> Corpus:
    """The user's UTF-8 text files, split into paragraph documents."""
    documents: list[str] = []
    for path in paths:
        if not path.exists():
            raise HarnessError(f"{path}: no such corpus file; give UTF-8 text files with --corpus")
        if path.is_dir():
            raise HarnessError(f"{path}: is a folder; give UTF-8 text files with --corpus")
        docs = split_documents(read_text(path))
        if not docs:
            raise HarnessError(f"{path}: the corpus file is empty (no non-blank text); give a file with text in it")
        documents.extend(docs)
    return Corpus(tuple(documents), "files: " + ", ".join(p.name for p in paths))


def default_corpus() -> Corpus:
    """pydoc topics, then module/class/function docstrings of the standard library, in file order."""
    return _documentation(tuple(_stdlib_sources()))


@functools.cache
def _documentation(sources: tuple[Path, ...]) -> Corpus:
    """Read once per process for the same files (about 2 s for the whole standard library; a
    scorecard with a baseline needs it for both runs' samples)."""
    from pydoc_data.topics import topics

    documents = [text.strip() for _, text in sorted(topics.items()) if text.strip()]
    for path in sources:
        documents.extend(_docstrings(path))
    version = ".".join(map(str, sys.version_info[:3]))
    return Corpus(tuple(documents), f"Python {version} standard library documentation (pydoc_data.topics and docstrings)")


def _stdlib_sources() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return [
        p
        for p in sorted(root.rglob("*.py"))
        if not SKIPPED.intersection(p.relative_to(root).parts[:-1]) and not p.name.startswith("test_")
    ]


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []  # a few stdlib files are templates or other encodings; they hold no prose we need
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc) >= 40:  # one-liners like "Return x." add little prose
                found.append(doc.strip())
    return found
