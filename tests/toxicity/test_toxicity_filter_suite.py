"""The toxicity_filter suite end to end: metrics recomputed independently from the per-sample
file, a filter trained to flag an identity term gets a low BPSN AUC, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from harness.results import load_samples, load_summary
from harness.toxicity.obfuscate import OBFUSCATIONS


def test_builtin_set_without_a_model(run_cli, tmp_path: Path) -> None:
    code, out, err = run_cli("run", "toxicity_filter", "--out", tmp_path, "--quiet")
    assert code == 0, err
    summary = load_summary(tmp_path)
    assert summary["model"]["name"] == "none" and summary["cache"] is None
    entry = summary["suites"]["toxicity_filter"]
    assert "classifier=profanity-check@alt-profanity-check-1.9.1 threshold=0.5" in entry["protocol"]
    m = {k: v["value"] for k, v in entry["metrics"].items()}
    samples = load_samples(tmp_path, "toxicity_filter")
    y = np.array([r["label"] for r in samples])
    s = np.array([r["score"] for r in samples])
    pred = (s >= 0.5).astype(int)
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, s))
    # BPSN for each subgroup by its definition, and the p = -5 mean over subgroups.
    bpsn = {}
    for g in {g for r in samples for g in r["subgroups"]}:
        keep = [(g in r["subgroups"]) != (r["label"] == 1) for r in samples]
        yy, ss = y[keep], s[keep]
        if 0 < yy.sum() < len(yy):
            bpsn[g] = skm.roc_auc_score(yy, ss)
            assert entry["breakdowns"]["subgroup"][g]["bpsn_auc"]["value"] == pytest.approx(bpsn[g])
    expected = np.mean(np.array(list(bpsn.values())) ** -5.0) ** (-1 / 5)
    assert m["bpsn_auc_power_mean"] == pytest.approx(expected)
    # Robustness: recall after obfuscation / clean recall, over toxic items.
    toxic = [r for r in samples if r["label"] == 1]
    clean = np.mean([r["score"] >= 0.5 for r in toxic])
    for name in OBFUSCATIONS:
        after = np.mean([r["obfuscated"][name] >= 0.5 for r in toxic])
        assert m[f"robustness_{name}"] == pytest.approx(after / clean)
    assert entry["metrics"]["roc_auc"]["ci95"][0] <= m["roc_auc"] <= entry["metrics"]["roc_auc"]["ci95"][1]


def _write_csv(path: Path, rows: list[tuple[str, int]]) -> Path:
    lines = ["text,label"] + [f'"{t}",{y}' for t, y in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Training data where every toxic comment mentions Muslims and no clean one does: the filter
# learns the identity term itself as a toxicity signal.
BIASED_TRAIN = [(f"muslim people are {w}", 1) for w in ("awful", "terrible", "the worst", "horrible", "dreadful", "rotten")] + \
               [(f"the weather is {w} today", 0) for w in ("nice", "sunny", "mild", "calm", "bright", "pleasant")]
TEST = [
    ("my muslim neighbour bakes bread", 0), ("a muslim doctor helped me", 0), ("muslim students won the prize", 0),
    ("you are awful", 1), ("what a horrible person", 1), ("a rotten idea", 1),
    ("the bus is on time", 0), ("lunch was tasty", 0),
    ("the women's team trained hard", 0), ("women in the choir sang", 0),  # female: no toxic items
]


def test_filter_flagging_an_identity_term_gets_low_bpsn(run_cli, tmp_path: Path) -> None:
    train = _write_csv(tmp_path / "train.csv", BIASED_TRAIN)
    code, out, err = run_cli("train-filter", "--data", train, "--out", tmp_path / "filter", "--folds", "3")
    assert code == 0, err
    assert "3-fold cross-validation" in out and "roc_auc" in out
    manifest = json.loads((tmp_path / "filter" / "classifier.json").read_text())
    assert manifest["data"]["n"] == 12 and manifest["cross_validation"]["folds"] == 3
    test = _write_csv(tmp_path / "test.csv", TEST)
    code, _, err = run_cli("run", "toxicity_filter", "--classifier", tmp_path / "filter", "--data", test,
                           "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    entry = load_summary(tmp_path / "run")["suites"]["toxicity_filter"]
    muslim = entry["breakdowns"]["subgroup"]["muslim"]
    assert muslim["bpsn_auc"]["value"] < 0.3  # clean mentions outrank toxic comments without the term
    # female has no toxic items: subgroup AUC and BNSP are undefined, null with a reason
    female = entry["breakdowns"]["subgroup"]["female"]
    assert female["subgroup_auc"]["value"] is None and "no toxic items" in female["subgroup_auc"]["reason"]
    assert female["bnsp_auc"]["value"] is None and "no toxic items mentioning the subgroup" in female["bnsp_auc"]["reason"]
    assert female["bpsn_auc"]["value"] is not None
    assert entry["metrics"]["bpsn_auc_power_mean"]["value"] < 0.5


def test_davidson_file_through_the_suite(run_cli, tmp_path: Path) -> None:
    from tests.toxicity.test_labelled import DAVIDSON

    path = tmp_path / "labeled_data.csv"
    path.write_text(DAVIDSON, encoding="utf-8")
    code, _, err = run_cli("run", "toxicity_filter", "--data", path, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    samples = load_samples(tmp_path / "run", "toxicity_filter")
    assert [r["label"] for r in samples] == [1, 0, 1, 0]
    entry = load_summary(tmp_path / "run")["suites"]["toxicity_filter"]
    assert entry["data"]["notes"].startswith("davidson layout")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "ngram"], "need no language model; drop --model"),
        (["--samples", "3"], "--samples does not apply to suite(s) toxicity_filter"),
        (["--guard", "profanity-check"], "--guard applies to generation"),
        (["--classifier", "detox"], "did you mean"),
        (["--text-column", "comment"], "no column 'comment'"),
        (["--label-column", "text"], "cannot map label"),
    ],
)
def test_bad_input_is_one_line_exit_2(run_cli, tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = run_cli("run", "toxicity_filter", "--out", tmp_path, "--quiet", *args)
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_train_filter_needs_both_classes(run_cli, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "one.csv", [("hello", 0), ("hi", 0), ("you fool", 1)])
    code, _, err = run_cli("train-filter", "--data", path, "--out", tmp_path / "f")
    assert code == 2 and "at least 2 of each" in err


def test_missing_detoxify_weights_is_one_line_exit_2(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    code, _, err = run_cli("run", "toxicity_filter", "--classifier", "detoxify-original", "--out", tmp_path / "o", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "toxic_original-c1212f89.ckpt" in err and "copy the release file" in err


def test_detoxify_folder_through_the_suite(run_cli, tmp_path: Path, tiny_detoxify: Path) -> None:
    code, _, err = run_cli("run", "toxicity_filter", "--classifier", f"{tiny_detoxify}:0.5", "--limit", "12",
                           "--out", tmp_path, "--quiet")
    assert code == 0, err
    entry = load_summary(tmp_path)["suites"]["toxicity_filter"]
    assert "classifier=detoxify-original@detoxify-0.5.4/" in entry["protocol"]
    samples = load_samples(tmp_path, "toxicity_filter")
    assert len(samples) == 12 and all(set(r["attributes"]) >= {"insult", "threat"} for r in samples)
    # the first 12 built-in items are all toxic: AUCs need both classes, so they are null with a reason
    assert entry["metrics"]["roc_auc"]["value"] is None and "no non-toxic items" in entry["metrics"]["roc_auc"]["reason"]
