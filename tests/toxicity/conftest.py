"""Fixtures for the toxicity tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.toxicity.tiny_detoxify import build_tiny_detoxify


@pytest.fixture(scope="session")
def tiny_detoxify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier folder (classifier.json + Detoxify checkpoint + HF config/tokenizer)."""
    return build_tiny_detoxify(tmp_path_factory.mktemp("detoxify"))
