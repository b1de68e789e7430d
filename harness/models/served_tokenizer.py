"""Where the `openai` adapter gets token ids: a local tokenizer, or the server's `/tokenize`.

With token ids the adapter cuts pairs and rolling windows with the same `harness.tokens` code as
the local adapters, and sends them as token-id prompts. The preset key `tokenizer:` names

- a tokenizer folder (anything `transformers.AutoTokenizer` reads, e.g. a model folder);
- a model preset, preset YAML, model folder or GGUF file: that model's own tokenizer, read the
  way `harness run` reads it (e.g. `smollm2-135m` for SmolLM2 served by vLLM or `harness serve`);
- `remote`: the server's `/tokenize` (vLLM's and `harness serve`'s shape), one request per
  distinct string, its BOS from `add_special_tokens: true` on an empty string.

Each source has `encode` (no special tokens added), `prefix_token` (BOS, else EOS: what a
context-free continuation is conditioned on), `chat` (a tokenizer with a chat template, or None),
a description and a hash that goes into the adapter's fingerprint.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models.http_client import ServerError, url_path

REMOTE = "remote"


@dataclass(frozen=True)
class LocalTokenizer:
    description: str
    sha256: str  # of the tokenizer files (or of the model that owns the tokenizer)
    encode: Callable[[str], list[int]]
    prefix_token: int
    chat: Any | None  # a transformers tokenizer with a chat template, or None

    def prefetch(self, strings: Iterable[str]) -> dict[str, str]:
        return {}  # nothing to fetch, nothing can fail


class RemoteTokenizer:
    """Token ids from the server's `POST /tokenize` ({"prompt", "add_special_tokens"} -> {"tokens"})."""

    description = "remote: the server's /tokenize"
    sha256 = REMOTE
    chat = None

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        base = adapter.base_url
        self.url = (base[: -len("/v1")] if base.endswith("/v1") else base) + "/tokenize"
        self._ids: dict[str, list[int]] = {}

    def _body(self, text: str, special: bool = False) -> dict[str, Any]:
        return {"model": self.adapter.served_model, "prompt": text, "add_special_tokens": special}

    def _tokens(self, answer: Any) -> list[int]:
        ids = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in ids):
            raise ServerError(f"{self.adapter.base_url}: POST {url_path(self.url)} answered without a list of token ids")
        return ids

    def prefetch(self, strings: Iterable[str]) -> dict[str, str]:
        """Tokenise every string not yet known, `concurrency` at a time; {string: error} for failures."""
        todo = list(dict.fromkeys(s for s in strings if s not in self._ids))
        failures: dict[str, str] = {}
        for text, answer in zip(todo, self.adapter.client.post_many(self.url, [self._body(t) for t in todo])):
            try:
                if isinstance(answer, ServerError):
                    raise answer
                self._ids[text] = self._tokens(answer)
            except ServerError as e:
                failures[text] = str(e)
        return failures

    def encode(self, text: str) -> list[int]:
        if text not in self._ids:
            self._ids[text] = self._tokens(self.adapter.client.post(self.url, self._body(text)))
        return list(self._ids[text])

    @cached_property
    def prefix_token(self) -> int:
        # A failing /tokenize raises ServerError: the start-up probe, which asks first, reports it.
        ids = self._tokens(self.adapter.client.post(self.url, self._body("", special=True)))
        if not ids:
            raise HarnessError(
                f"model {self.adapter.name}: {self.url} adds no BOS token to an empty prompt, so the adapter cannot "
                "condition on one; give a local tokenizer (`tokenizer:` a folder or a preset)"
            )
        return ids[0]


def load_tokenizer(source: str | None, adapter: Any, cache_dir: Path | None) -> LocalTokenizer | RemoteTokenizer | None:
    if source is None:
        return None
    if source == REMOTE:
        return RemoteTokenizer(adapter)
    folder = Path(str(source)).expanduser()
    if folder.is_dir() and not (folder / "scratch_config.json").exists():
        return _folder_tokenizer(folder, cache_dir)
    return _preset_tokenizer(str(source), cache_dir)


def _folder_tokenizer(folder: Path, cache_dir: Path | None) -> LocalTokenizer:
    from transformers import AutoTokenizer

    from harness.models.hf import _tokenizer_files

    files = _tokenizer_files(folder)
    if not files:
        raise HarnessError(f"{folder}: no tokenizer files (tokenizer.json, tokenizer_config.json, vocab files)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception as e:  # transformers raises many types for unreadable tokenizer files
        raise HarnessError(f"{folder}: transformers cannot load the tokenizer ({type(e).__name__})") from None
    return _from_transformers(tokenizer, f"local: {folder}", _files_sha256(files, cache_dir))


def _from_transformers(tokenizer: Any, description: str, sha256: str) -> LocalTokenizer:
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if prefix is None:
        raise HarnessError(f"tokenizer {description}: it has neither a BOS nor an EOS token to condition on")
    return LocalTokenizer(
        description=description,
        sha256=sha256,
        encode=lambda text: list(tokenizer.encode(text, add_special_tokens=False)),
        prefix_token=int(prefix),
        chat=tokenizer if getattr(tokenizer, "chat_template", None) else None,
    )


def _preset_tokenizer(name: str, cache_dir: Path | None) -> LocalTokenizer:
    """The tokenizer of a local model (a preset, preset YAML, folder or GGUF file), read the way
    its own adapter reads it; the model's weights are never loaded."""
    from harness.models.hf import HFModel, _tokenizer_files

    local = preset_adapter(name, cache_dir)
    if isinstance(local, HFModel):  # a transformers folder, or a GGUF file converted to one
        files = _tokenizer_files(local.folder)
        return _from_transformers(local.tokenizer, f"local: tokenizer of {name}", _files_sha256(files, cache_dir))
    prefix = getattr(local, "prefix_token", None)
    if prefix is None or not hasattr(local, "encode"):
        raise HarnessError(f"tokenizer {name!r}: the {type(local).__name__} adapter exposes no tokenizer to borrow")
    # The model's fingerprint covers its tokenizer (e.g. a from-scratch checkpoint's BPE files).
    return LocalTokenizer(f"local: tokenizer of {name}", local.info.fingerprint, local.encode, int(prefix), None)


def _files_sha256(files: list[Path], cache_dir: Path | None) -> str:
    from harness.cache import default_cache_dir
    from harness.models.hashing import cached_file_sha256

    digest = hashlib.sha256()
    for p in files:
        digest.update(f"{p.name}:{cached_file_sha256(p, cache_dir or default_cache_dir())}".encode())
    return digest.hexdigest()


def preset_adapter(name: str, cache_dir: Path | None) -> Any:
    """The adapter of a model preset (or folder or GGUF file), built without loading anything,
    with the keyword arguments `harness run` would give it."""
    from harness.registry import ADAPTERS
    from harness.resources import load_model_spec

    spec = load_model_spec(name)
    if spec.adapter == "openai":
        raise HarnessError(f"tokenizer {name!r}: a served model has no local tokenizer to borrow; name a local preset or folder")
    cls = ADAPTERS.get(spec.adapter)
    accepted = inspect.signature(cls).parameters
    extra: dict[str, Any] = {}
    if "cache_dir" in accepted and cache_dir is not None:
        extra["cache_dir"] = cache_dir
    if "preset_dir" in accepted and spec.path is not None:
        extra["preset_dir"] = spec.path.parent
    return cls(name=spec.name, **{**spec.args, **extra})
