"""Byte-level BPE tokenizer (GPT-2 style) trained on the training corpus with `tokenizers`.

Text is read as UTF-8 bytes mapped to 256 printable symbols, so any string encodes without an
unknown token and decodes back exactly. One special token, `<|endoftext|>` (id 0), separates
documents in training and is the BOS the model conditions on when scoring from the start.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

EOT = "<|endoftext|>"
MIN_VOCAB = 257  # the 256 byte symbols and EOT


def train_tokenizer(documents: Iterable[str], vocab_size: int) -> Any:
    """A `tokenizers.Tokenizer` with at most `vocab_size` tokens, trained on `documents`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < MIN_VOCAB:
        raise HarnessError(f"model config: vocab_size {vocab_size} is too small; byte-level BPE needs at least {MIN_VOCAB}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte, seen in the corpus or not
        show_progress=False,
    )
    tokenizer.train_from_iterator(documents, trainer=trainer)
    return tokenizer


class BPETokenizer:
    """A trained tokenizer file (`tokenizer.json`), loaded on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @cached_property
    def _tok(self) -> Any:
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(self.path))
        except Exception as e:  # tokenizers raises its own exception type for unreadable files
            raise HarnessError(f"{self.path}: cannot read the tokenizer ({e}); retrain the checkpoint") from None
        # A literal "<|endoftext|>" inside evaluated text is text, not a document boundary.
        tok.encode_special_tokens = True
        return tok

    @property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size())

    @property
    def eot_id(self) -> int:
        token = self._tok.token_to_id(EOT)
        if token is None:
            raise HarnessError(f"{self.path}: the tokenizer has no {EOT} token; retrain the checkpoint")
        return int(token)

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [list(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return str(self._tok.decode(ids, skip_special_tokens=True))
