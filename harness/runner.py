"""Runs suites on a model: load everything that can fail fast, then evaluate in journaled chunks.

Order of work: validate options, read every suite's YAML and data (bad input stops the run before
the model is loaded), build the adapter (lazy: nothing is loaded until a call misses the cache),
then per suite evaluate the items the journal lacks, aggregate, and finally write summary.json
atomically.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from harness.api import LanguageModel, ModelInfo
from harness.cache import CachedModel, CallCache, call_cache_in, default_cache_dir
from harness.errors import HarnessError
from harness.executors import open_executor
from harness.executors.base import Executor
from harness.explain.settings import ExplainOptions
from harness.failures import FailureMemo, check_support, evaluate_items, innermost
from harness.journal import Journal
from harness.lock import OutputLock
from harness.registry import ADAPTERS, SUITE_KINDS
from harness.resources import ModelSpec, SuiteSpec, load_model_spec, load_suite_spec
from harness.results import SCHEMA_VERSION, run_provenance, suite_summary, write_summary
from harness.suites.base import Dataset, SuiteKind


@dataclass(frozen=True)
class RunOptions:
    suites: tuple[str, ...]
    model: str | None  # None only when no planned suite needs a language model
    out: Path
    data: Path | None = None
    limit: int | None = None
    seed: int = 1234
    batch_size: int | str | None = None
    max_length: int | None = None
    device: str | None = None
    dtype: str | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    use_cache: bool = True
    show_progress: bool = True
    # Options for particular suite kinds (e.g. a classifier name), passed to each kind whose
    # constructor takes a keyword of that name; an option no planned suite takes is an error.
    suite_params: dict[str, Any] = field(default_factory=dict)
    # `CLASSIFIER[:THRESHOLD]`: withhold generations the classifier flags (harness.toxicity.guard).
    guard: str | None = None
    # Where model calls run (harness.executors): "serial" here, or "ray" workers; the Ray
    # settings are None unless given (harness.executors.open_executor refuses them with serial).
    executor: str = "serial"
    ray_address: str | None = None  # join this cluster ("auto", "ray://host:10001"); None: start one here
    workers: int | None = None
    cpus_per_worker: int | None = None
    gpus_per_worker: float | None = None
    # Served models: skip the start-up probe's value checks of prompt log-probs (harness.models.served_probe).
    trust_server_logprobs: bool = False
    # `--explain K`: after each pair or multiple-choice suite, explain its K items with the largest
    # bias signal into OUT/<suite>.explain.jsonl with the same model (harness.explain).
    explain: ExplainOptions | None = None
    # Torch adapters (hf, scratch): quantise or prune the model once loaded (harness.compress).
    compress: str | None = None
    compress_embeddings: bool = False


@dataclass(frozen=True)
class PlannedSuite:
    spec: SuiteSpec
    kind: SuiteKind
    dataset: Dataset


def validate(options: RunOptions) -> None:
    if not options.suites:
        raise HarnessError("name at least one suite to run; `harness list` shows them")
    if options.limit is not None and options.limit < 1:
        raise HarnessError(f"--limit must be a positive number of items, got {options.limit}")
    if options.data is not None and len(options.suites) > 1:
        raise HarnessError("--data applies to one suite; run the suites one at a time to give each its data")
    if options.max_length is not None and options.max_length < 2:
        raise HarnessError(f"--max-length must be at least 2 tokens, got {options.max_length}")
    if options.batch_size is not None and options.batch_size != "auto":
        if not isinstance(options.batch_size, int) or options.batch_size < 1:
            raise HarnessError(f"--batch-size must be a positive number or 'auto', got {options.batch_size}")


def plan(options: RunOptions) -> list[PlannedSuite]:
    planned = []
    unused = {k for k, v in options.suite_params.items() if v is not None}
    for name in options.suites:
        spec = load_suite_spec(name)
        kind_cls = SUITE_KINDS.get(spec.kind)
        accepted = inspect.signature(kind_cls).parameters
        params = {k: v for k, v in options.suite_params.items() if v is not None and k in accepted}
        unused -= set(params)
        if "model" in accepted:  # a kind whose data comes with the model (canary_exposure: the planted secrets)
            params["model"] = options.model
        kind = kind_cls(spec, **params)
        dataset = kind.load(options.data)
        ids = [item.id for item in dataset.items]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise HarnessError(f"{dataset.source}: item id {dup!r} appears more than once; ids must be unique")
        if not dataset.items:
            raise HarnessError(f"{dataset.source}: no items to evaluate; check the file's contents")
        planned.append(PlannedSuite(spec, kind, dataset))
    if unused:
        flags = ", ".join("--" + k.replace("_", "-") for k in sorted(unused))
        raise HarnessError(f"{flags} does not apply to suite(s) {', '.join(options.suites)}")
    return planned


class NoModel:
    """Stands in for the language model when no planned suite needs one (e.g. toxicity_filter,
    which evaluates a classifier on labelled text): recorded as model "none", never called."""

    info = ModelInfo(name="none", adapter="none", n_parameters=None, tokenizer="none", max_length=0, fingerprint="none")

    def _unused(self, *args: Any) -> Any:
        raise RuntimeError("a suite kind declared needs_model = False but called the model")

    loglikelihood = loglikelihood_rolling = generate = _unused


def needs_model(planned: Sequence[PlannedSuite]) -> bool:
    return any(getattr(p.kind, "needs_model", True) for p in planned)


def open_model(
    options: RunOptions, planned: Sequence[PlannedSuite], executor: Executor | None = None
) -> tuple[LanguageModel, ModelSpec | None, CallCache | None]:
    """The model the suites call: the adapter, inside the call cache, inside the guard.

    The guard sits outside the cache so the cache holds raw generations under the raw model's
    fingerprint (shared by guarded and unguarded runs) and the guard decides afresh each run."""
    names = ", ".join(options.suites)
    if not needs_model(planned):
        if options.model is not None:
            raise HarnessError(f"suite(s) {names} need no language model; drop --model")
        if options.guard is not None:
            raise HarnessError(f"--guard applies to generation; suite(s) {names} generate nothing")
        return NoModel(), None, None
    if options.model is None:
        raise HarnessError(f"--model is required for suite(s) {names}; `harness list` shows the presets")
    guard = None
    if options.guard is not None:
        from harness.toxicity.registry import classifier_from

        guard = classifier_from(options.guard, flag="--guard")
        guard.info  # a missing classifier fails before the model loads
    model_spec = load_model_spec(options.model)
    # Requests that fail (a served model's server) are remembered for the run, so a failed chunk
    # is re-evaluated item by item without asking again (harness.failures).
    adapter = build_model(model_spec, options)
    # The executor may stand in for the adapter (Ray: calls go to workers; the driver's adapter
    # only gives `info`), below the cache so that the driver drops cache hits before sending.
    lm: LanguageModel = FailureMemo(executor.model(adapter, model_spec, options) if executor else adapter)
    cache = CallCache(options.cache_dir / "calls.sqlite") if options.use_cache else None
    if cache is not None:
        lm = CachedModel(lm, cache)
    if guard is not None:
        from harness.toxicity.guard import GuardedModel

        lm = GuardedModel(lm, guard)
    return lm, model_spec, cache


def build_model(spec: ModelSpec, options: RunOptions) -> LanguageModel:
    overrides = {
        k: v
        for k, v in {
            "batch_size": options.batch_size,
            "max_length": options.max_length,
            "device": options.device,
            "dtype": options.dtype,
        }.items()
        if v is not None
    }
    adapter_cls = ADAPTERS.get(spec.adapter)
    accepted = inspect.signature(adapter_cls).parameters
    if "cache_dir" in accepted:
        overrides["cache_dir"] = options.cache_dir
    if "preset_dir" in accepted and spec.path is not None:
        overrides["preset_dir"] = spec.path.parent  # relative paths in a preset are relative to it
    if options.trust_server_logprobs:
        if "trust_server_logprobs" not in accepted:
            raise HarnessError(f"--trust-server-logprobs applies to served models (adapter openai); {spec.name} uses adapter {spec.adapter}")
        overrides["trust_server_logprobs"] = True
    if options.compress is not None or options.compress_embeddings:
        if "compress" not in accepted:
            raise HarnessError(
                f"--compress applies to torch models (adapters hf, scratch); {spec.name} uses adapter {spec.adapter}"
            )
        overrides["compress"] = options.compress
        overrides["compress_embeddings"] = options.compress_embeddings
    try:
        return adapter_cls(name=spec.name, **{**spec.args, **overrides})
    except TypeError as e:
        raise HarnessError(f"model {spec.name}: {e}; check the preset's keys and the flags given") from None


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
        transient=False,
    )


def run(options: RunOptions, argv: Sequence[str] = (), executor: Executor | None = None) -> dict[str, Any]:
    """Evaluate and write `summary.json` plus one `<suite>.jsonl` per suite into `options.out`.
    `executor`: one shared with other runs (closed by the caller); by default the options' own."""
    started = time.time()
    validate(options)
    own_executor = executor is None
    executor = executor or open_executor(options)  # starts nothing yet; bad flags or no Ray stop here
    planned = plan(options)
    if options.explain is not None:
        from harness.explain.settings import check_run

        check_run(options.explain, [p.spec.kind for p in planned], options.executor, options.model)
    lm, model_spec, cache = open_model(options, planned, executor)
    lm.info  # a model that cannot describe itself (e.g. a server that is down) fails before any output
    try:
        options.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HarnessError(f"{options.out}: cannot create the output folder ({e.strerror})") from None

    suites: dict[str, Any] = {}
    try:
        with OutputLock(options.out), _progress(options.show_progress) as progress:
            check_support(lm, [(p.spec.name, p.kind.model_methods) for p in planned if getattr(p.kind, "needs_model", True)])
            for p in planned:
                # A suite that needs no model (e.g. toxicity_filter) may run beside model suites;
                # it never sees the model, so its journal does not depend on it.
                suite_lm = lm if getattr(p.kind, "needs_model", True) else NoModel()
                suites[p.spec.name] = _run_suite(p, suite_lm, options, progress, executor)
                if options.explain is not None:
                    _explain_suite(p, innermost(lm), options, options.explain)
    finally:
        if cache is not None:
            cache.close()
        if own_executor:
            executor.close()

    cached = call_cache_in(lm)
    summary = {
        "schema_version": SCHEMA_VERSION,
        **run_provenance(argv),
        # Read again: a served model's info records its start-up probe, which ran after the first read.
        "model": {**lm.info.to_dict(), "preset": model_spec.name if model_spec else None},
        "seed": options.seed,
        "limit": options.limit,
        "cache": {"hits": cached.hits, "misses": cached.misses} if cached is not None else None,
        "executor": executor.record(),
        "wall_time_s": round(time.time() - started, 3),
        "suites": suites,
    }
    write_summary(options.out / "summary.json", summary)
    return summary


def model_folder(name: str) -> str:
    """A model's name as a folder name (presets and paths alike; `openai:URL` included)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return safe or "model"


def run_models(options: RunOptions, models: Sequence[str], argv: Sequence[str] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """Evaluate the suites on each model into `options.out/<model>/` (one journal each, resumable
    on its own): every model is checked before the first one runs. Returns (folder, summary) pairs."""
    folders: dict[str, str] = {}
    for model in models:
        folder = model_folder(load_model_spec(model).name)
        if folder in folders.values():
            other = next(m for m, f in folders.items() if f == folder)
            raise HarnessError(
                f"--model {model} and --model {other} would both write to {options.out / folder}; "
                "give one of them as a preset YAML with another name"
            )
        folders[model] = folder
    # One executor for every model: with Ray, one cluster and one set of workers, each of which
    # builds the model a call names (one model at a time), so every (model, suite) pair is
    # spread over all the workers.
    executor = open_executor(options)
    try:
        return [
            (options.out / folder, run(replace(options, model=model, out=options.out / folder), argv, executor))
            for model, folder in folders.items()
        ]
    finally:
        executor.close()


def _explain_suite(p: PlannedSuite, adapter: Any, options: RunOptions, explain: ExplainOptions) -> None:
    """After the suite's records are written: its top items explained with the same model."""
    from harness.explain.step import explain_after_run

    items = list(p.dataset.items[: options.limit] if options.limit else p.dataset.items)
    explain_after_run(adapter, p.spec, items, options.out, explain.k, seed=options.seed,
                      suite_params=options.suite_params, settings=explain.settings)


def _run_suite(
    p: PlannedSuite, lm: LanguageModel, options: RunOptions, progress: Progress, executor: Executor
) -> dict[str, Any]:
    started = time.time()
    items = list(p.dataset.items[: options.limit] if options.limit else p.dataset.items)
    info = lm.info
    protocol = p.kind.protocol(info)
    journal = Journal(
        options.out / f"{p.spec.name}.jsonl",
        identity={
            "suite": p.spec.name,
            "protocol": protocol,
            "model_fingerprint": info.fingerprint,
            "data_sha256": p.dataset.sha256,
            "seed": options.seed,
        },
    )
    done = journal.open()
    # Items journaled as errored (a failed model or classifier call) are tried again.
    todo = [item for item in items if item.id not in done or "error" in done[item.id]]
    task = progress.add_task(p.spec.name, total=len(items), completed=len(items) - len(todo), rate="")
    computed = 0

    def evaluate(chunk: Sequence[Any]) -> list[dict[str, Any]]:
        return evaluate_items(lambda part: p.kind.evaluate(lm, part, options.seed), chunk)

    # The executor may evaluate several chunks at once (Ray); it hands them back in order.
    for chunk, records in executor.evaluate(p.kind, lm, chunks(todo, p.kind.chunk_size), evaluate):
        if len(records) != len(chunk):
            raise RuntimeError(f"suite kind {p.spec.kind} returned {len(records)} records for {len(chunk)} items")
        journal.append(records)
        done.update((r["id"], r) for r in records)
        computed += len(chunk)
        rate = computed / max(time.time() - started, 1e-9)
        note = getattr(innermost(lm), "progress_note", None)  # e.g. a served model's requests/s
        progress.update(task, advance=len(chunk), rate=f"{rate:.2f} items/s" + (f", {note()}" if note else ""))
    ordered = [done[item.id] for item in items]
    journal.finish(ordered, done)
    ok = [r for r in ordered if "error" not in r]
    errored = [r for r in ordered if "error" in r]
    # A kind that counts failures in its metrics (e.g. a classifier's error rate) takes them too.
    if "errored" in inspect.signature(p.kind.aggregate).parameters:
        result = p.kind.aggregate(ok, options.seed, errored=errored)
    else:
        result = p.kind.aggregate(ok, options.seed)
    return suite_summary(
        spec=p.spec,
        kind=p.kind,
        dataset=p.dataset,
        protocol=protocol,
        result=result,
        n_samples=len(ordered),
        n_errors=len(errored),
        samples_file=journal.path.name,
        wall_time_s=time.time() - started,
        limit=options.limit,
    )
