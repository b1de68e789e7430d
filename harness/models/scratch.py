"""The `scratch` adapter: a checkpoint trained by `harness train` (harness/scratch/), evaluated
through the same contract as any pretrained model.

A preset names the checkpoint folder (`checkpoint: models/scratch-tiny`, relative to the current
directory); `--model PATH` with a checkpoint folder works too. The preset's `model:` / `train:`
keys are its training config; when the preset gives `model:`, the checkpoint must have been
trained with exactly that architecture. Nothing is loaded until the first call; `info` (with the
fingerprint) reads only the config JSON and file hashes.

Scoring uses the shared token functions (harness.tokens) and batched scorer
(harness.models.scoring): the end-of-text token is the BOS that text is conditioned on, as in
training. Compare it with pretrained models by bits_per_byte, which does not depend on the
tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.api import (
    Generation, GenerationRequest, Loglikelihood, LoglikelihoodRequest, ModelInfo, RollingLoglikelihood, TokenLogprobs,
)
from harness.cache import default_cache_dir
from harness.compress.adapter import compression_from, with_compression
from harness.errors import HarnessError
from harness.models.settings import check_device_and_dtype
from harness.models.hashing import cached_file_sha256
from harness.models.weights import count_parameters
from harness.tokens import Span, SpanScore, cut_at_stop, pair_loglikelihoods, rolling_loglikelihoods

GREEDY_BATCH = 8


class ScratchModel:
    def __init__(
        self,
        *,
        name: str,
        checkpoint: str | None = None,  # a checkpoint folder (what presets give)
        path: str | None = None,  # the same, when the model is given as --model FOLDER
        model: dict[str, Any] | None = None,  # the preset's architecture; checked against the checkpoint
        train: dict[str, Any] | None = None,  # the preset's training config (used by `harness train` only)
        corpus: list[str] | None = None,  # the preset's training corpus (used by `harness train` only)
        batch_size: int | str = 8,
        max_length: int | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        cache_dir: Path | None = None,
        compress: str | None = None,  # a SPEC of harness.compress.spec, applied once the model loads
        compress_embeddings: bool = False,
    ) -> None:
        if (checkpoint is None) == (path is None):
            raise HarnessError(f"model {name}: give the checkpoint folder as `checkpoint:` in the preset")
        check_device_and_dtype(name, device, dtype)
        self.name = name
        self.folder = Path(checkpoint or path).expanduser()  # type: ignore[arg-type]
        self.from_preset = checkpoint is not None
        self.preset_model = dict(model) if model else None
        self.train_config = dict(train) if train else None
        self.corpus = list(corpus) if corpus else None
        self.batch_size = batch_size
        self.max_length_override = max_length
        self.device = device
        self.dtype = dtype
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.compression = compression_from(compress, compress_embeddings, name, self.cache_dir)

    # ---- the checkpoint, without loading it ----------------------------------------------------

    @cached_property
    def _config(self) -> dict[str, Any]:
        from harness.scratch import checkpoint as ckpt

        if not ckpt.is_checkpoint(self.folder):
            if self.from_preset:
                raise HarnessError(
                    f"model {self.name}: no trained checkpoint at {self.folder}; "
                    f"run `harness train --config models/{self.name}.yaml` first"
                )
            raise HarnessError(f"{self.folder}: no {ckpt.CONFIG_FILE}; this is not a `harness train` checkpoint folder")
        config = ckpt.read_config(self.folder)
        if self.preset_model is not None and config["model"] != _with_defaults(self.preset_model):
            saved, wanted = config["model"], _with_defaults(self.preset_model)
            diff = ", ".join(f"{k} {saved.get(k)!r} vs {wanted.get(k)!r}" for k in sorted(wanted) if saved.get(k) != wanted.get(k))
            raise HarnessError(
                f"{self.folder}: the checkpoint's model config differs from preset {self.name} ({diff}); "
                f"retrain with `harness train --config models/{self.name}.yaml`"
            )
        return config

    @property
    def block_size(self) -> int:
        return int(self._config["model"]["block_size"])

    @property
    def max_length(self) -> int:
        if self.max_length_override is None:
            return self.block_size
        if not 0 < int(self.max_length_override) <= self.block_size:
            raise HarnessError(
                f"model {self.name}: --max-length {self.max_length_override} must be 1..{self.block_size} "
                f"(the model's block_size)"
            )
        return int(self.max_length_override)

    def _files(self) -> list[Path]:
        from harness.scratch import checkpoint as ckpt

        files = [self.folder / ckpt.CONFIG_FILE, self.folder / ckpt.WEIGHTS_FILE, self.folder / ckpt.TOKENIZER_FILE]
        for f in files:
            if not f.is_file():
                raise HarnessError(f"{f}: missing; the checkpoint folder is incomplete, retrain it")
        return files

    @property
    def info(self) -> ModelInfo:
        """The identity, and with --compress what the transform did (known once the model loads)."""
        return with_compression(self._identity, self.compression)

    @cached_property
    def _identity(self) -> ModelInfo:
        config = self._config
        digest = hashlib.sha256()
        for f in self._files():
            digest.update(cached_file_sha256(f, self.cache_dir).encode())
        digest.update(json.dumps({"dtype": self.dtype}).encode())
        if self.compression is not None and self.compression.identity is not None:
            digest.update(json.dumps(self.compression.identity).encode())  # the call cache never mixes variants
        tok = config.get("tokenizer", {})
        corpus = config.get("corpus", {})
        return ModelInfo(
            name=self.name,
            adapter="scratch",
            n_parameters=count_parameters([self._files()[1]]),
            tokenizer=f"byte-level BPE, {tok.get('vocab_size')} tokens, trained on {corpus.get('source', 'its corpus')}",
            max_length=self.max_length,
            fingerprint=digest.hexdigest()[:16],
            dtype=self.dtype,
            device=self.device,
            details={"checkpoint": str(self.folder), "step": config.get("step"), "model": config["model"],
                     "corpus_sha256": corpus.get("sha256")},
        )

    # ---- the model -----------------------------------------------------------------------------

    @cached_property
    def tokenizer(self) -> Any:
        from harness.scratch.checkpoint import TOKENIZER_FILE
        from harness.scratch.tokenizer import BPETokenizer

        self._config  # the existence and config checks come first
        return BPETokenizer(self.folder / TOKENIZER_FILE)

    @cached_property
    def model(self) -> Any:
        import torch

        from harness.scratch.checkpoint import load_model

        self._config
        load_started = time.perf_counter()
        if self.device == "cuda" and not torch.cuda.is_available():
            raise HarnessError(f"model {self.name}: device cuda asked for, but torch sees no CUDA device; use --device cpu")
        model = load_model(self.folder, self.device, getattr(torch, self.dtype))
        if self.compression is not None:
            model = self.compression.apply(model, load_started, self._identity.fingerprint)
        return model

    @property
    def prefix_token(self) -> int:
        return self.tokenizer.eot_id

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def _score(self, spans: Sequence[Span], check_greedy: bool = True) -> list[SpanScore]:
        from harness.models.scoring import score_spans

        model = self.model
        # Right padding: real tokens keep positions 0..n-1 and the causal mask keeps them from
        # seeing the padding after them, so the mask argument is not needed.
        return score_spans(lambda ids, mask: model(ids), spans, pad_id=self.prefix_token,
                           batch_size=self.batch_size, device=self.device, check_greedy=check_greedy)

    # ---- the contract --------------------------------------------------------------------------

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return pair_loglikelihoods(self._score, self.encode, self.prefix_token, self.max_length, requests)

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        return rolling_loglikelihoods(
            lambda spans: self._score(spans, check_greedy=False), self.encode, self.prefix_token, self.max_length, texts
        )

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        results: list[Generation | None] = [None] * len(requests)
        greedy = sorted((i for i, r in enumerate(requests) if not r.sampled), key=lambda i: len(requests[i].prompt))
        for start in range(0, len(greedy), GREEDY_BATCH):
            batch = greedy[start : start + GREEDY_BATCH]
            texts = self._generate([requests[i] for i in batch])
            for i, text in zip(batch, texts):
                results[i] = Generation(tuple([text] * requests[i].n))
        for i, r in enumerate(requests):
            if r.sampled:  # all n samples of a prompt in one batch, seeded by the request alone
                results[i] = Generation(tuple(self._generate([r] * r.n, seed=r.seed or 0)))
        return results  # type: ignore[return-value]

    def _generate(self, batch: list[GenerationRequest], seed: int | None = None) -> list[str]:
        import torch

        from harness.scratch.generate import Sampling, generate_tokens

        first = batch[0]
        max_new = max(r.max_new_tokens for r in batch)
        # Each prompt keeps its last block_size - max_new_tokens tokens (its own, not the batch's
        # largest), so its new tokens fit in one window; what a request gets never depends on
        # the other requests of its batch (stops and lengths below are per row too).
        prompts = [(self.encode(r.prompt) or [self.prefix_token])[-max(1, self.block_size - r.max_new_tokens):]
                   for r in batch]
        tok = self.tokenizer

        def stop(row: int, tokens: list[int]) -> bool:
            r = batch[row]
            return len(tokens) >= r.max_new_tokens or any(s and s in tok.decode(tokens) for s in r.stop)

        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        sampling = Sampling(temperature=first.temperature, top_p=first.top_p) if first.sampled else Sampling()
        new = generate_tokens(self.model, prompts, max_new, sampling, generator=generator,
                              eos_id=self.prefix_token, stop=stop)
        return [cut_at_stop(tok.decode(tokens), r.stop) for tokens, r in zip(new, batch)]

    # ---- optional capability (harness.api.TokenScorer), for `harness serve` ----------------------

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @cached_property
    def _pieces(self) -> dict[int, str]:
        """id -> vocabulary piece (byte-level symbols), read from the checkpoint's tokenizer file."""
        from tokenizers import Tokenizer

        from harness.scratch.checkpoint import TOKENIZER_FILE

        self._config
        vocab = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE)).get_vocab(with_added_tokens=True)
        return {i: piece for piece, i in vocab.items()}

    def token_bytes(self, ids: list[int]) -> list[bytes]:
        """The end-of-text token decodes to nothing (`decode` skips it); the others are byte-level."""
        from harness.models.token_bytes import piece_bytes

        eot = self.prefix_token
        return [b"" if i == eot or i not in self._pieces else piece_bytes(self._pieces[i], byte_level=True) for i in ids]

    def score_tokens(self, sequences: list[list[int]], top_k: int) -> list[TokenLogprobs]:
        from harness.models.scoring import score_sequences

        model = self.model
        return score_sequences(lambda ids, mask: model(ids), sequences, pad_id=self.prefix_token,
                               batch_size=self.batch_size, device=self.device, top_k=top_k)

    def explainer(self) -> Any:
        """Optional capability (harness.explain.capability.Explainable), for `--explain`."""
        from harness.explain.adapters import scratch_explainer

        return scratch_explainer(self)


def _with_defaults(model: dict[str, Any]) -> dict[str, Any]:
    from harness.scratch.model import GPTConfig

    return GPTConfig.from_dict(model).to_dict()
