"""A from-scratch checkpoint is a folder of plain files; nothing in it is pickled.

    scratch_config.json    model config, training config, corpus identity, tokenizer name
    model.safetensors      weights (the tied output layer is stored once, as wte.weight)
    tokenizer.json         the byte-level BPE tokenizer (`tokenizers` format)
    optimizer.safetensors  AdamW moments, to resume training
    training_state.json    step, optimizer hyper-parameters, hashes of the two weight files
    train_log.jsonl        one line per logged step (written by the trainer)
    report.html            training report with loss curves (written by the trainer)

Every file is written to a temporary name, flushed to disk and renamed over the old one, so a
crash leaves each file either old or new, never half-written. The training state is renamed
last and names the sha256 of the weights and optimizer files it belongs to; resuming checks
them, so a crash between two renames is detected instead of silently resuming from a mix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from harness.errors import HarnessError
from harness.resources import file_sha256
from harness.scratch.model import GPT, GPTConfig

CONFIG_FILE = "scratch_config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "training_state.json"
FORMAT = "harness-scratch/1"
TIED = "lm_head.weight"  # the same tensor as wte.weight


def is_checkpoint(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file()


def _replace_atomically(path: Path, write: Any) -> None:
    """Call write(tmp_path), fsync the file, then rename it over `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    _replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8"))


def write_text(path: Path, text: str) -> None:
    _replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    plain = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    _replace_atomically(path, lambda tmp: save_file(plain, str(tmp), metadata={"format": FORMAT}))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: missing; the checkpoint folder is incomplete, retrain it") from None
    except ValueError as e:
        raise HarnessError(f"{path}: not valid JSON ({e}); the checkpoint is damaged, retrain it") from None


def read_config(folder: Path) -> dict[str, Any]:
    config = read_json(folder / CONFIG_FILE)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise HarnessError(f"{folder / CONFIG_FILE}: not a {FORMAT} checkpoint config")
    return config


def model_config(folder: Path) -> GPTConfig:
    return GPTConfig.from_dict(read_config(folder)["model"], where=str(folder / CONFIG_FILE))


# ---- weights -------------------------------------------------------------------------------


def save_weights(folder: Path, model: GPT) -> None:
    state = {k: v for k, v in model.state_dict().items() if k != TIED}
    write_tensors(folder / WEIGHTS_FILE, state)


def load_model(folder: Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> GPT:
    """The model of a checkpoint folder, its weights checked against its config."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = model_config(folder)
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise HarnessError(f"{path}: missing; the checkpoint has no weights, retrain it")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise HarnessError(f"{path}: cannot read the weights ({e}); the checkpoint is damaged, retrain it") from None
    model = GPT(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if k != TIED}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        wrong = sorted(k for k in set(expected) | set(found) if expected.get(k) != found.get(k))
        raise HarnessError(
            f"{path}: the weights do not match {CONFIG_FILE} ({len(wrong)} tensors differ, e.g. {wrong[0]}: "
            f"config wants {expected.get(wrong[0])}, file has {found.get(wrong[0])}); retrain or fix the config"
        )
    state[TIED] = state["wte.weight"]
    model.load_state_dict(state)
    return model.to(device=device, dtype=dtype).eval()


# ---- optimizer and training state ----------------------------------------------------------


def save_optimizer(folder: Path, optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """Moments to optimizer.safetensors; returns the param groups (plain numbers) for the state JSON."""
    sd = optimizer.state_dict()
    tensors = {f"{index}.{name}": value for index, entry in sd["state"].items() for name, value in entry.items()}
    write_tensors(folder / OPTIMIZER_FILE, tensors)
    return [dict(group) for group in sd["param_groups"]]


def load_optimizer(folder: Path, optimizer: torch.optim.Optimizer, param_groups: list[dict[str, Any]]) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(folder / OPTIMIZER_FILE))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, _, name = key.partition(".")
        state.setdefault(int(index), {})[name] = value
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in param_groups]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_training_state(folder: Path, state: dict[str, Any]) -> None:
    """Renamed into place last: it names the weight files it belongs to."""
    state = {
        **state,
        "weights_sha256": file_sha256(folder / WEIGHTS_FILE),
        "optimizer_sha256": file_sha256(folder / OPTIMIZER_FILE),
    }
    write_json(folder / STATE_FILE, state)


def load_training_state(folder: Path) -> dict[str, Any]:
    state = read_json(folder / STATE_FILE)
    for name, key in ((WEIGHTS_FILE, "weights_sha256"), (OPTIMIZER_FILE, "optimizer_sha256")):
        path = folder / name
        if not path.is_file() or file_sha256(path) != state.get(key):
            raise HarnessError(
                f"{path}: does not belong to {STATE_FILE} (a save was interrupted); "
                f"resume is not possible from this folder, train again into a new --out folder"
            )
    return state
