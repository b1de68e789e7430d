"""`harness train-filter --data labelled.csv`: train a TF-IDF + logistic-regression toxicity filter.

Reports cross-validated precision / recall / F1 / ROC-AUC (stratified k-fold, out-of-fold
probabilities), then fits on all the data and saves the filter without pickle (see
harness.toxicity.sklearn_filter) to a folder usable as `--classifier FOLDER` (the default folder
is what `--classifier sklearn` reads).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.resources import file_sha256
from harness.toxicity import filter_metrics as fm


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="labelled CSV (Davidson and Jigsaw layouts are recognised)")
    parser.add_argument("--text-column", help="the text column (default: from the layout, else `text`)")
    parser.add_argument("--label-column", help="the label column (default: from the layout, else `label`)")
    parser.add_argument("--positive", metavar="VALUES", help="comma-separated label values that mean toxic")
    parser.add_argument("--out", type=Path, help="output folder (default: models/filters/sklearn, read by --classifier sklearn)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--seed", type=int, default=1234, help="seed for the folds and the solver (default 1234)")


def main(args: argparse.Namespace) -> int:
    from harness.toxicity import sklearn_filter
    from harness.toxicity.labelled import read_labelled
    from harness.toxicity.registry import default_filter_dir

    if args.folds < 2:
        raise HarnessError(f"--folds must be at least 2, got {args.folds}")
    positive = tuple(v.strip() for v in args.positive.split(",") if v.strip()) if args.positive else None
    labelled = read_labelled(args.data, args.text_column, args.label_column, positive)
    texts = [it.text for it in labelled.items]
    y = np.array([it.label for it in labelled.items])
    counts = np.bincount(y, minlength=2)
    folds = min(args.folds, int(counts.min()))
    if folds < 2:
        raise HarnessError(
            f"{args.data}: {counts[1]} toxic and {counts[0]} non-toxic items; training needs at least 2 of each "
            "(check --label-column and --positive)"
        )
    out = args.out or default_filter_dir()
    try:  # an unwritable --out fails now, not after training
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HarnessError(f"{out}: cannot create the filter folder ({e.strerror or e}); give a writable folder with --out") from None
    cv = cross_validate(texts, y, folds, args.seed, where=str(args.data))
    trained = sklearn_filter.fit(texts, y, args.seed, where=str(args.data))
    provenance = {
        "data": {"source": str(args.data), "sha256": file_sha256(args.data), "notes": labelled.notes,
                 "n": len(texts), "n_toxic": int(counts[1])},
        "seed": args.seed,
        "cross_validation": {"folds": folds, **cv},
    }
    manifest = sklearn_filter.save(trained, out, provenance)
    print(f"trained on {len(texts)} items ({counts[1]} toxic) from {args.data}")
    print(f"{folds}-fold cross-validation at threshold 0.5: " + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in cv.items()))
    print(f"saved: {manifest.parent}  (use --classifier {manifest.parent})")
    return 0


def cross_validate(texts: list[str], y: np.ndarray, folds: int, seed: int, where: str = "the training texts") -> dict[str, float | None]:
    """Out-of-fold probabilities from stratified k-fold, scored at threshold 0.5."""
    from sklearn.model_selection import StratifiedKFold

    from harness.toxicity.sklearn_filter import fit, score_arrays

    oof = np.empty(len(texts))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(y)), y):
        trained = fit([texts[i] for i in train], y[train], seed, where=f"{where} (a cross-validation fold)")
        oof[test] = score_arrays(trained, [texts[i] for i in test])
    out: dict[str, float | None] = {}
    for name, fn in (("precision", lambda: fm.precision(y, oof, 0.5)), ("recall", lambda: fm.recall(y, oof, 0.5)),
                     ("f1", lambda: fm.f1(y, oof, 0.5)), ("roc_auc", lambda: fm.roc_auc(y, oof))):
        try:
            out[name] = fn()
        except fm.Undefined:
            out[name] = None
    return out
