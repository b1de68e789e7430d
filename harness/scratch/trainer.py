"""Training loop for the from-scratch GPT. Nothing here is specific to GPT beyond "a module that
maps token ids (B, T) to logits (B, T, V)" (minGPT keeps its trainer separate for the same reason).

AdamW with weight decay on matrices only (Loshchilov & Hutter 2019), linear warm-up then cosine
decay to min_lr, gradient clipping, gradient accumulation, bf16 autocast where the hardware has
it, periodic validation, atomic checkpoints, and distributed data parallel through `torchrun`
(gloo on CPU, nccl on GPU) on the same code path as one process.

Exact resume: batches and dropout randomness are pure functions of (seed, step) (see
harness.scratch.data), and the checkpoint holds the weights, the AdamW moments and the step; so
a run resumed from step k replays exactly what the uninterrupted run did after step k.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from harness.errors import HarnessError
from harness.scratch import checkpoint as ckpt
from harness.scratch.config import settle_types, typed_settings
from harness.scratch.corpus import Corpus, default_corpus, read_corpus
from harness.scratch.data import TokenData, step_offsets, tokenize_corpus, unigram_loss, val_offsets, windows
from harness.scratch.distributed import Dist
from harness.scratch.model import GPT, GPTConfig

LOG_FILE = "train_log.jsonl"
REPORT_FILE = "report.html"
PRECISIONS = ("auto", "float32", "bfloat16")
# Settings that do not change the numbers a run computes; they may differ on resume.
NOT_TRAJECTORY = ("log_every", "checkpoint_every", "device", "peak_tflops")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000  # optimizer steps in the whole run
    batch_size: int = 16  # sequences per micro-batch per process
    grad_accum: int = 1  # micro-batches per optimizer step; global batch = batch_size x grad_accum x processes
    learning_rate: float = 1e-3  # peak learning rate, reached at the end of warm-up
    min_lr_ratio: float = 0.1  # the cosine decays to learning_rate x this at the last step
    warmup_steps: int = 100  # linear warm-up from learning_rate / warmup_steps
    weight_decay: float = 0.1  # AdamW decay, on weight matrices and embeddings only (not biases, norms)
    beta1: float = 0.9
    beta2: float = 0.95  # lower than Adam's 0.999, as GPT-2/3 training used, for stability
    grad_clip: float = 1.0  # clip the global gradient norm to this (0 = no clipping)
    val_fraction: float = 0.1  # share of the corpus tokens held out for validation
    eval_every: int = 100  # steps between validation losses (also at step 0 and the last step)
    eval_windows: int = 64  # validation windows of block_size tokens (at most)
    checkpoint_every: int = 500  # steps between checkpoints (also at the last step)
    log_every: int = 10  # steps between lines of the JSONL log and progress updates
    seed: int = 1337  # initial weights, document order, batches and dropout all derive from it
    precision: str = "auto"  # "auto": bf16 autocast on hardware with native bf16, else float32
    device: str = "auto"  # "auto": cuda when available, else cpu
    peak_tflops: float | None = None  # hardware peak for MFU; default: measured with a matmul at start

    def __post_init__(self) -> None:
        settle_types(self, "train config")
        for name in ("steps", "batch_size", "grad_accum", "eval_every", "eval_windows", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise HarnessError(f"train config: {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.warmup_steps < 0:
            raise HarnessError(f"train config: warmup_steps must be 0 or more, got {self.warmup_steps}")
        if not 0.0 < self.val_fraction < 1.0:
            raise HarnessError(f"train config: val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.precision not in PRECISIONS:
            raise HarnessError(f"train config: precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.learning_rate <= 0:
            raise HarnessError(f"train config: learning_rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise HarnessError(f"train config: min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise HarnessError(f"train config: {name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("weight_decay", "grad_clip"):
            if getattr(self, name) < 0:
                raise HarnessError(f"train config: {name} must be 0 or more, got {getattr(self, name)}")
        if self.peak_tflops is not None and self.peak_tflops <= 0:
            raise HarnessError(f"train config: peak_tflops must be positive (or left out to measure it), got {self.peak_tflops}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "train config") -> TrainConfig:
        """From YAML: unknown keys and wrong types named with `where`; '6e-4' reads as a number."""
        return cls(**typed_settings(cls, raw, where))


@dataclass(frozen=True)
class TrainRun:
    """One invocation of the trainer: what to train, on what, into where."""

    model: GPTConfig
    train: TrainConfig
    out: Path
    corpus: tuple[Path, ...] = ()  # empty: the default standard-library corpus
    resume: bool = False
    name: str = "scratch"
    stop_after: int | None = None  # stop after this step without saving (tests simulate a kill with it)
    # Canaries planted in the training stream: this many secrets per repeat count (0: none), see
    # harness.privacy.canaries; their list is written next to the checkpoint.
    canaries: int = 0
    canary_repeats: tuple[int, ...] = (1, 4, 16)


@dataclass(frozen=True)
class StepRecord:
    step: int
    loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float
    elapsed: float
    val_loss: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class _Running:
    """The training loss summed over this process's micro-batches since step `since` (the last
    logged step), averaged over processes when saved."""

    loss_sum: float
    since: int


@dataclass(frozen=True)
class TrainResult:
    out: Path
    steps: int
    start_step: int
    records: tuple[StepRecord, ...]
    val_loss: float | None
    unigram_val_loss: float
    tokens_per_s: float
    mfu: float
    peak_flops: float
    n_parameters: int
    n_train_tokens: int
    n_val_tokens: int
    elapsed: float
    corpus_source: str
    extra: dict[str, Any] = field(default_factory=dict)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warm-up, then cosine to the floor."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.learning_rate * cfg.min_lr_ratio
    return floor + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.learning_rate - floor)


def identity(run: TrainRun, corpus: Corpus, world: int) -> dict[str, Any]:
    """What must match for a resumed run to continue the same loss curve."""
    train = {k: v for k, v in asdict(run.train).items() if k not in NOT_TRAJECTORY}
    planted = {"canaries": {"n": run.canaries, "repeats": list(run.canary_repeats)}} if run.canaries else {}
    return {
        "model": run.model.to_dict(),
        "train": train,
        "corpus_sha256": corpus.sha256,
        "global_batch": run.train.batch_size * run.train.grad_accum * world,
        **planted,
    }


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    out: list[str] = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k} {a!r} -> {b!r}")
    return out


def resume_state(run: TrainRun, ident: dict[str, Any]) -> dict[str, Any]:
    """The saved training state, after checking the checkpoint was trained with the same config."""
    saved = ckpt.read_config(run.out)
    diff = _differences(saved.get("identity", {}), ident)
    if diff:
        raise HarnessError(
            f"{run.out / ckpt.CONFIG_FILE}: the checkpoint was trained with a different config "
            f"({'; '.join(diff[:3])}); resume with the same config and corpus, or train into a new --out"
        )
    state = ckpt.load_training_state(run.out)
    if int(state["step"]) >= run.train.steps:
        raise HarnessError(f"{run.out}: already trained for {state['step']} of {run.train.steps} steps; nothing to resume")
    return state


def checkpoint_meta(run: TrainRun, ident: dict[str, Any], corpus: Corpus, vocab: int) -> dict[str, Any]:
    """The contents of scratch_config.json (plus the step, added at each save)."""
    return {
        "format": ckpt.FORMAT,
        "name": run.name,
        "model": run.model.to_dict(),
        "train": asdict(run.train),
        "identity": ident,
        "corpus": {"source": corpus.source, "sha256": corpus.sha256, "n_documents": len(corpus.documents),
                   "n_chars": corpus.n_chars},
        "tokenizer": {"file": ckpt.TOKENIZER_FILE, "kind": "byte-level BPE", "vocab_size": vocab},
    }


def optimizer_for(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.dim() >= 2]  # matmul weights and embeddings
    no_decay = [p for p in model.parameters() if p.dim() < 2]  # biases and LayerNorm gains
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs: dict[str, Any] = {"lr": cfg.learning_rate, "betas": (cfg.beta1, cfg.beta2)}
    try:  # the fused kernel does the whole update in one pass where torch has one for the device
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, **kwargs)


def resolve_device(cfg: TrainConfig, dist: Dist) -> torch.device:
    if cfg.device == "auto":
        return torch.device(f"cuda:{dist.local_rank}" if torch.cuda.is_available() else "cpu")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError("train config: device cuda asked for, but torch sees no CUDA device; use device: cpu")
    return torch.device(f"cuda:{dist.local_rank}" if cfg.device == "cuda" else cfg.device)


def resolve_precision(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain float32."""
    if cfg.precision == "float32":
        return None
    if cfg.precision == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if _cpu_has_native_bf16() else None


def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def measure_peak_flops(device: torch.device, dtype: torch.dtype | None, n: int = 1024, reps: int = 4) -> float:
    """Achieved FLOP/s of a large matmul on this device and dtype: the denominator of MFU when the
    hardware's data-sheet peak is not given (train.peak_tflops)."""
    a = torch.randn(n, n, device=device, dtype=dtype or torch.float32)
    b = torch.randn(n, n, device=device, dtype=dtype or torch.float32)
    a @ b  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2.0 * n**3 * reps / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def prepare_output(run: TrainRun) -> None:
    """Refuse to overwrite a checkpoint, to resume from nothing, or to train into an unwritable folder."""
    out = run.out
    if out.exists() and not out.is_dir():
        raise HarnessError(f"{out}: exists and is not a folder; give another --out")
    has = ckpt.is_checkpoint(out)
    if has and not run.resume:
        raise HarnessError(f"{out}: already holds a checkpoint; pass --resume to continue it, or --out another folder (or delete it)")
    if run.resume and not has:
        raise HarnessError(f"{out}: no checkpoint to resume ({ckpt.CONFIG_FILE} missing); drop --resume to start a new run")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise HarnessError(f"{out}: cannot write the checkpoint there ({e.strerror}); give a writable --out folder") from None


class Trainer:
    def __init__(self, run: TrainRun, on_record: Callable[[StepRecord], None] | None = None) -> None:
        self.run = run
        self.cfg = run.train
        self.on_record = on_record

    def fit(self) -> TrainResult:
        with Dist.from_env() as dist:
            return self._fit(dist)

    # ---- set-up ------------------------------------------------------------------------------

    def _tokenizer(self, corpus: Corpus, dist: Dist) -> Any:
        from harness.scratch.tokenizer import EOT, train_tokenizer

        path = self.run.out / ckpt.TOKENIZER_FILE
        if not self.run.resume:
            text = train_tokenizer(corpus.documents, self.run.model.vocab_size).to_str() if dist.is_main else None
            return _tokenizer_from(dist.broadcast_text(text), path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise HarnessError(f"{path}: missing; the checkpoint folder is incomplete, so it cannot be resumed; "
                               f"train again into a new --out folder") from None
        except (OSError, UnicodeDecodeError) as e:
            raise HarnessError(f"{path}: cannot read the tokenizer ({e}); train again into a new --out folder") from None
        tok = _tokenizer_from(text, path)
        if tok.token_to_id(EOT) is None or tok.get_vocab_size() > self.run.model.vocab_size:
            raise HarnessError(f"{path}: not the tokenizer this checkpoint was trained with (no {EOT} token or too "
                               f"large a vocabulary); train again into a new --out folder")
        return tok

    def _fit(self, dist: Dist) -> TrainResult:
        run, cfg = self.run, self.cfg
        prepare_output(run)
        corpus = read_corpus(list(run.corpus)) if run.corpus else default_corpus()
        ident = identity(run, corpus, dist.world)
        state = resume_state(run, ident) if run.resume else None
        tok = self._tokenizer(corpus, dist)
        from harness.scratch.tokenizer import EOT

        encode = lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]  # noqa: E731
        data = tokenize_corpus(corpus, encode, tok.token_to_id(EOT), run.model.vocab_size, run.model.block_size,
                               cfg.val_fraction, cfg.seed)
        if run.canaries:
            data = self._plant(data, encode, tok.token_to_id(EOT), dist)
        device = resolve_device(cfg, dist)
        amp = resolve_precision(cfg, device)
        torch.manual_seed(cfg.seed)
        model = ckpt.load_model(run.out, str(device)) if run.resume else GPT(run.model).to(device)
        model.train()
        optimizer = optimizer_for(model, cfg, device)
        start, running = 0, _Running(0.0, 0)
        if state is not None:
            ckpt.load_optimizer(run.out, optimizer, state["param_groups"])
            start = int(state["step"])
            # Checkpoints from before the running loss was saved resume their log at the checkpoint.
            running = _Running(float(state.get("loss_sum", 0.0)), int(state.get("loss_since", start)))
        if dist.is_main:
            self.meta = checkpoint_meta(run, ident, corpus, tok.get_vocab_size())
            if run.canaries:
                from harness.privacy.canaries import CANARY_FILE

                self.meta["canaries"] = {"file": CANARY_FILE, "per_repeat": run.canaries, "repeats": list(run.canary_repeats)}
            if run.resume:
                _truncate_log(run.out / LOG_FILE, start)
            else:  # (a run killed before its first checkpoint leaves a log to start afresh)
                ckpt.write_text(run.out / ckpt.TOKENIZER_FILE, tok.to_str())
                (run.out / LOG_FILE).unlink(missing_ok=True)
        return self._loop(dist, model, optimizer, data, device, amp, start, running, corpus, tok)

    def _plant(self, data: TokenData, encode: Callable[[list[str]], list[list[int]]], eot: int, dist: Dist) -> TokenData:
        """The training stream with the run's canaries inserted (each exactly its repeat count,
        checked from the tokens), and their list written next to the checkpoint."""
        from harness.privacy.canaries import draw_canaries, plant, write_canaries

        canaries = draw_canaries(self.run.canaries, self.run.canary_repeats, self.cfg.seed)
        train = plant(data.train.numpy(), data.val.numpy(), canaries, encode, eot, self.cfg.seed)
        if dist.is_main:
            write_canaries(self.run.out, canaries)
        return replace(data, train=torch.from_numpy(train))

    # ---- the loop ------------------------------------------------------------------------------

    def _loop(self, dist: Dist, model: GPT, optimizer: torch.optim.Optimizer, data: TokenData, device: torch.device,
              amp: torch.dtype | None, start: int, running: _Running, corpus: Corpus, tok: Any) -> TrainResult:
        run, cfg = self.run, self.cfg
        block = run.model.block_size
        wrapped = dist.wrap(model, device)
        per_process = cfg.batch_size * cfg.grad_accum
        global_batch = per_process * dist.world
        tokens_per_step = global_batch * block
        unigram = unigram_loss(data, block, cfg.eval_windows)
        peak = cfg.peak_tflops * 1e12 if cfg.peak_tflops else measure_peak_flops(device, amp)
        flops_per_token = model.flops_per_token(block)
        autocast = (lambda: torch.autocast(device.type, dtype=amp)) if amp else contextlib.nullcontext
        records: list[StepRecord] = []
        val_loss: float | None = None
        if start == 0:
            val_loss = self._evaluate(model, data, device, autocast)
            self._emit(dist, records, StepRecord(0, float("nan"), 0.0, 0.0, 0.0, 0.0, val_loss))
        began = time.perf_counter()
        train_time, window_tokens, window_time = 0.0, 0, 0.0
        # The training loss logged at a step is the mean over the steps since the previous logged
        # one; the sum and where it began are saved with each checkpoint, so a resumed run logs
        # the same means even when checkpoint_every is not a multiple of log_every.
        loss_sum = torch.full((), running.loss_sum, device=device)
        since = running.since
        step = start
        for step in range(start + 1, cfg.steps + 1):
            t0 = time.perf_counter()
            lr = lr_at(step - 1, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            offsets = step_offsets(len(data.train), block, global_batch, cfg.seed, step)
            torch.manual_seed(cfg.seed * 1_000_003 + step * 1009 + dist.rank)  # dropout of this step and process
            loss_sum += self._accumulate(dist, wrapped, data, offsets, device, autocast)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            _sync(device)
            dt = time.perf_counter() - t0
            train_time += dt
            window_time += dt
            window_tokens += tokens_per_step
            last = step == cfg.steps
            if step % cfg.log_every == 0 or last or step % cfg.eval_every == 0:
                mean_loss = dist.mean(loss_sum) / (cfg.grad_accum * (step - since))
                loss_sum.zero_()
                since = step
                val_loss = self._evaluate(model, data, device, autocast) if (step % cfg.eval_every == 0 or last) else None
                rate = window_tokens / window_time if window_time > 0 else 0.0
                window_tokens, window_time = 0, 0.0
                self._emit(dist, records, StepRecord(step, mean_loss, lr, float(norm), rate,
                                                     time.perf_counter() - began, val_loss))
            if step % cfg.checkpoint_every == 0 or last:
                self._save(dist, model, optimizer, step, unigram, _Running(dist.mean(loss_sum), since))
            if run.stop_after is not None and step >= run.stop_after and not last:
                break
        tok_s = (step - start) * tokens_per_step / train_time if train_time > 0 else 0.0
        final_val = next((r.val_loss for r in reversed(records) if r.val_loss is not None), None)
        return TrainResult(
            out=run.out, steps=step, start_step=start, records=tuple(records), val_loss=final_val,
            unigram_val_loss=unigram, tokens_per_s=tok_s, mfu=tok_s * flops_per_token / (peak * dist.world),
            peak_flops=peak, n_parameters=model.n_parameters(), n_train_tokens=len(data.train),
            n_val_tokens=len(data.val), elapsed=time.perf_counter() - began, corpus_source=corpus.source,
            extra={"precision": str(amp or torch.float32).replace("torch.", ""), "device": str(device),
                   "world_size": dist.world, "global_batch": global_batch,
                   "peak_source": "train.peak_tflops" if cfg.peak_tflops else "measured matmul peak",
                   "tokenizer_vocab": tok.get_vocab_size()},
        )

    def _accumulate(self, dist: Dist, wrapped: torch.nn.Module, data: TokenData, offsets: torch.Tensor,
                    device: torch.device, autocast: Callable[[], Any]) -> torch.Tensor:
        """Gradients of this process's micro-batches of one global batch; returns their summed loss.

        Micro-batch m of process r holds windows [(m * world + r) * B, ... + B) of the global batch,
        so any number of processes x micro-batches covering the same global batch computes the
        same mean gradient. DDP all-reduces only on the last micro-batch."""
        cfg, block = self.cfg, self.run.model.block_size
        total = torch.zeros((), device=device)
        for micro in range(cfg.grad_accum):
            first = (micro * dist.world + dist.rank) * cfg.batch_size
            x, y = windows(data.train, offsets[first : first + cfg.batch_size], block)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            sync = micro == cfg.grad_accum - 1
            with (contextlib.nullcontext() if sync else dist.no_sync(wrapped)), autocast():
                logits = wrapped(x)  # (B, T, V)
                loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
            (loss / cfg.grad_accum).backward()
            total += loss.detach()
        return total

    def _emit(self, dist: Dist, records: list[StepRecord], record: StepRecord) -> None:
        records.append(record)
        if not dist.is_main:
            return
        line = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.to_dict().items()}
        with open(self.run.out / LOG_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        if self.on_record is not None:
            self.on_record(record)

    @torch.no_grad()
    def _evaluate(self, model: GPT, data: TokenData, device: torch.device, autocast: Callable[[], Any]) -> float:
        """Mean next-token cross-entropy over the validation windows (the same every time)."""
        model.eval()
        block = self.run.model.block_size
        offsets = val_offsets(len(data.val), block, self.cfg.eval_windows)
        total, count = 0.0, 0
        for i in range(0, len(offsets), self.cfg.batch_size):
            x, y = windows(data.val, offsets[i : i + self.cfg.batch_size], block)
            with autocast():
                logits = model(x.to(device))  # (B, T, V)
            total += float(F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.to(device).reshape(-1), reduction="sum"))
            count += y.numel()
        model.train()
        return total / count

    def _save(self, dist: Dist, model: GPT, optimizer: torch.optim.Optimizer, step: int, unigram: float,
              running: _Running) -> None:
        if dist.is_main:
            from harness.scratch.report import write_report

            out = self.run.out
            ckpt.save_weights(out, model)
            groups = ckpt.save_optimizer(out, optimizer)
            ckpt.save_training_state(out, {"step": step, "param_groups": groups, "unigram_val_loss": unigram,
                                           "loss_sum": running.loss_sum, "loss_since": running.since})
            ckpt.write_json(out / ckpt.CONFIG_FILE, {**self.meta, "step": step})
            write_report(out, _read_log(out / LOG_FILE), {**self.meta, "step": step, "unigram_val_loss": unigram})
        dist.barrier()


def _tokenizer_from(text: str, path: Path) -> Any:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_str(text)
    except Exception as e:  # tokenizers raises its own exception type for a damaged file
        raise HarnessError(f"{path}: cannot read the tokenizer ({e}); train again into a new --out folder") from None
    tok.encode_special_tokens = True  # "<|endoftext|>" inside the text is text
    return tok


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past `step`: a run killed after its last checkpoint redoes those steps."""
    if not path.exists():
        return
    keep = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and json.loads(line)["step"] <= step]
    ckpt.write_text(path, "".join(line + "\n" for line in keep))


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def with_steps(cfg: TrainConfig, steps: int | None) -> TrainConfig:
    return cfg if steps is None else replace(cfg, steps=steps)
