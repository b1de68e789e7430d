"""Where the built-in suites (suites/) and model presets (models/) are, and how names resolve.

From a checkout they are the folders at the top of the repo; from a wheel they are shipped
inside the package as `harness._suites` and `harness._presets` (see pyproject.toml).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError, did_you_mean

_CHECKOUT = Path(__file__).resolve().parent.parent


def _builtin_dir(checkout_name: str, package: str) -> Path:
    folder = _CHECKOUT / checkout_name
    if (_CHECKOUT / "pyproject.toml").exists() and folder.is_dir():
        return folder
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError(f"the built-in {checkout_name}/ folder is missing from this installation")
    return Path(list(spec.submodule_search_locations)[0])


def suites_dir() -> Path:
    return _builtin_dir("suites", "harness._suites")


def presets_dir() -> Path:
    return _builtin_dir("models", "harness._presets")


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise HarnessError(f"{path}: cannot read ({e.strerror}); check the path") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise HarnessError(f"{path}{line}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def _names(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def _resolve(name: str, folder: Path, kind: str, flag: str) -> Path:
    candidate = Path(name).expanduser()
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    known = _names(folder)
    if name in known:
        return known[name]
    raise HarnessError(
        f"unknown {kind} {name!r}{did_you_mean(name, known)}; run `harness list` to see them, "
        f"or give a path to a {flag}"
    )


@dataclass(frozen=True)
class SuiteSpec:
    """A suite YAML: what is evaluated (its kind, default data, parameters and thresholds)."""

    name: str
    kind: str
    path: Path
    description: str = ""
    data: Path | None = None  # default data, relative paths resolved against the YAML's folder
    params: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)


def load_suite_spec(name: str) -> SuiteSpec:
    from harness.registry import SUITE_KINDS

    path = _resolve(name, suites_dir(), "suite", "suite YAML file")
    raw = read_yaml(path)
    kind = raw.get("kind")
    if not isinstance(kind, str):
        raise HarnessError(f"{path}: missing `kind:` (one of {', '.join(SUITE_KINDS.names())})")
    if kind not in SUITE_KINDS:
        SUITE_KINDS.check(kind)
    data = raw.get("data")
    return SuiteSpec(
        name=raw.get("name", path.stem),
        kind=kind,
        path=path,
        description=str(raw.get("description", "")).strip(),
        data=(path.parent / data) if data else None,
        params=dict(raw.get("params") or {}),
        thresholds=dict(raw.get("thresholds") or {}),
    )


def list_suites() -> list[SuiteSpec]:
    return [load_suite_spec(str(p)) for p in _names(suites_dir()).values()]


@dataclass(frozen=True)
class ModelSpec:
    """A model preset: which adapter, and the keyword arguments it is built with."""

    name: str
    adapter: str
    description: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the preset file, when there is one


def load_model_spec(name: str) -> ModelSpec:
    """A preset name, a preset YAML path, a model folder, a GGUF file, or `openai:BASE_URL`."""
    from harness.registry import ADAPTERS

    if name.startswith("openai:"):
        return _served_model_spec(name[len("openai:") :])
    candidate = Path(name).expanduser()
    if candidate.suffix not in (".yaml", ".yml") and (candidate.is_dir() or candidate.suffix == ".gguf"):
        if not candidate.exists():
            raise HarnessError(f"{candidate}: no such file; give a GGUF file or a model folder")
        return ModelSpec(name=candidate.name, adapter=_adapter_for_path(candidate), args={"path": str(candidate)})
    if candidate.suffix == ".gguf" or (len(candidate.parts) > 1 and not candidate.exists()):
        raise HarnessError(f"{candidate}: no such file or folder; give a model folder, a GGUF file or a preset name")
    path = _resolve(name, presets_dir(), "model", "model preset YAML file")
    raw = read_yaml(path)
    adapter = raw.pop("adapter", None)
    if not isinstance(adapter, str):
        raise HarnessError(f"{path}: missing `adapter:` (one of {', '.join(ADAPTERS.names())})")
    ADAPTERS.check(adapter)
    description = str(raw.pop("description", "")).strip()
    return ModelSpec(name=path.stem, adapter=adapter, description=description, args=raw, path=path)


def _served_model_spec(base_url: str) -> ModelSpec:
    """`--model openai:http://host:8000/v1`: the server's single model, named after the URL
    (filesystem-safe, since the name may become a folder name)."""
    if not base_url.startswith(("http://", "https://")):
        raise HarnessError(f"--model openai:{base_url}: give the server's base URL, e.g. openai:http://127.0.0.1:8000/v1")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", base_url.split("://", 1)[1]).strip("-.")
    return ModelSpec(name=f"openai-{safe}", adapter="openai", args={"base_url": base_url})


def _adapter_for_path(path: Path) -> str:
    """Which adapter reads a model folder: a from-scratch checkpoint or a transformers folder."""
    if path.is_dir() and (path / "scratch_config.json").exists():
        return "scratch"
    return "hf"


def list_models() -> list[ModelSpec]:
    return [load_model_spec(str(p)) for p in _names(presets_dir()).values()]


def file_sha256(*paths: Path) -> str:
    """sha256 over the bytes of one or more files (in the order given)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
