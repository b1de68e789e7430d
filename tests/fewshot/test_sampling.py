"""Which exemplars an item gets: seeded per item, the same whatever the batching, --limit or
rerun; never the item, never its passage; a pool smaller than k is a one-line error."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.fewshot.sampling import _shuffled, choose
from harness.models.ngram import NgramModel
from harness.resources import load_suite_spec
from harness.suites.squad import SquadSuite, read_squad
from tests.fewshot.conftest import DATA, protocol, records


@dataclass(frozen=True)
class Entry:
    id: str
    group: str = ""


def test_lazy_shuffle_is_a_uniform_permutation() -> None:
    for n in (1, 2, 7, 50):
        assert sorted(_shuffled(n, random.Random(n))) == list(range(n))
    # Every ordering of 3 elements turns up about equally often.
    counts: dict[tuple[int, ...], int] = {}
    for s in range(6000):
        order = tuple(_shuffled(3, random.Random(s)))
        counts[order] = counts.get(order, 0) + 1
    assert len(counts) == 6 and all(800 < c < 1200 for c in counts.values()), counts


def test_choose_is_seeded_per_item_and_skips_the_item_and_related_entries() -> None:
    pool = [Entry(f"e{i}", group=str(i % 3)) for i in range(12)]
    picked = choose(pool, "e4", 5, "random", seed=7, related=lambda e: e.group == "1")
    assert len(set(picked)) == 5 and all(pool[i].id != "e4" and pool[i].group != "1" for i in picked)
    assert choose(pool, "e4", 5, "random", seed=7, related=lambda e: e.group == "1") == picked  # rerun
    assert choose(pool, "e4", 5, "random", seed=8, related=lambda e: e.group == "1") != picked  # the seed matters
    assert choose(pool, "e5", 5, "random", seed=7) != choose(pool, "e4", 5, "random", seed=7)  # so does the item
    assert choose(pool, "e0", 3, "first", seed=7) == (1, 2, 3)  # pool order, the item itself skipped
    # A separate pool's ids may repeat the data's: only a pool that is the data excludes by id.
    assert choose(pool, "e0", 3, "first", seed=7, pool_is_data=False) == (0, 1, 2)


def test_too_few_eligible_exemplars_is_a_one_line_error() -> None:
    pool = [Entry("a", "x"), Entry("b", "x"), Entry("c", "y")]
    with pytest.raises(HarnessError) as e:
        choose(pool, "a", 2, "random", seed=0, related=lambda entry: entry.group == "x")
    assert "item 'a': only 1 pool item(s)" in str(e.value) and "\n" not in str(e.value)


def test_exemplars_do_not_depend_on_chunking_order_or_limit() -> None:
    kind = SquadSuite(load_suite_spec("squad"), num_fewshot=3)
    items = list(kind.load(None).items)
    lm = NgramModel()
    whole = kind._shots(items, seed=11)
    one_by_one = [kind._shots([q], seed=11)[0] for q in items]
    backwards = kind._shots(items[::-1], seed=11)[::-1]
    assert whole == one_by_one == backwards
    assert [s.id for s in whole[0]] != [s.id for s in kind._shots(items, seed=12)[0]]
    # Exemplars are never the item's own passage: the built-in pool is separate from the data.
    contexts = {q.id: q.context for q in items}
    assert all(shot.prompt.count(contexts[q.id]) == 0 for q, shots in zip(items, whole) for shot in shots)
    records_ = kind.evaluate(lm, items[:2], seed=11)
    assert [r["fewshot"] for r in records_] == [[s.id for s in shots] for shots in whole[:2]]


def test_same_exemplars_across_limit_and_reruns_through_the_cli(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runs = {}
    for name, extra in (("all", []), ("limit", ["--limit", "5"]), ("rerun", []), ("batch1", ["--batch-size", "1"])):
        out = tmp_path / name
        code, _, err = run_cli("run", "squad", "--model", "ngram", "--num-fewshot", "3", "--out", out, "--quiet", *extra)
        assert code == 0, err
        runs[name] = {r["id"]: r["fewshot"] for r in records(out, "squad")}
    assert len(runs["limit"]) == 5 and all(runs["limit"][i] == runs["all"][i] for i in runs["limit"])
    assert runs["rerun"] == runs["all"] == runs["batch1"]
    assert all(len(ids) == 3 and len(set(ids)) == 3 and all(i.startswith("shot-") for i in ids) for ids in runs["all"].values())
    assert len({tuple(ids) for ids in runs["all"].values()}) > 10  # seeded per item, not one set for all


def test_exemplars_from_the_data_never_share_the_items_passage(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With --data and no --fewshot-data the exemplars come from the data itself: 6 questions on
    3 passages, so each item has exactly 4 eligible exemplars, and k = 4 must take all of them."""
    questions, _ = read_squad(DATA / "squad-mini.json")
    passage = {q.id: q.context for q in questions}
    out = tmp_path / "out"
    code, _, err = run_cli("run", "squad", "--data", DATA / "squad-mini.json", "--model", "ngram", "--num-fewshot", "4",
                           "--out", out, "--quiet")
    assert code == 0, err
    for r in records(out, "squad"):
        assert r["id"] not in r["fewshot"] and len(set(r["fewshot"])) == 4
        assert all(passage[i] != passage[r["id"]] for i in r["fewshot"])
    assert "pool=data" in protocol(out, "squad")
    # k = 5 is more than any item may have (the pool has 6, less the item and its passage-mate).
    code, _, err = run_cli("run", "squad", "--data", DATA / "squad-mini.json", "--model", "ngram", "--num-fewshot", "5",
                           "--out", tmp_path / "out5", "--quiet")
    assert code == 2 and err.count("\n") == 1 and "only 4 pool item(s)" in err and "Traceback" not in err


def test_fewshot_data_names_the_pool(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, _, err = run_cli("run", "squad", "--data", DATA / "squad-mini.json", "--fewshot-data", DATA / "squad-pool.json",
                           "--model", "ngram", "--num-fewshot", "2", "--out", out, "--quiet")
    assert code == 0, err
    assert all(set(r["fewshot"]) <= {"p1", "p2", "p3"} for r in records(out, "squad"))
    sha = hashlib.sha256((DATA / "squad-pool.json").read_bytes()).hexdigest()[:12]
    assert f"fewshot=k2/random/pool={sha}/plain" in protocol(out, "squad")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["squad", "--num-fewshot", "20"], "builtin:squad-fewshot.json: the few-shot pool has 19 item(s), too few for k=20"),
        (["squad", "--data", str(DATA / "squad-mini.json"), "--fewshot-data", str(DATA / "squad-pool.json"),
          "--num-fewshot", "4"], "the few-shot pool has 3 item(s), too few for k=4"),
        (["squad", "--data", str(DATA / "squad-mini.json"), "--num-fewshot", "6"],
         "the few-shot pool has 6 item(s), too few for k=6, and an item is never its own exemplar"),
        (["squad", "--fewshot-data", str(DATA / "squad-pool.json")], "--fewshot-data needs exemplars to draw"),
        (["squad", "--num-fewshot", "-1"], "--num-fewshot must be a whole number of 0 or more"),
        (["perplexity", "--num-fewshot", "2"], "--num-fewshot does not apply to suite(s) perplexity"),
    ],
)
def test_bad_few_shot_settings_are_one_line_errors(args: list[str], message: str, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("run", *args, "--model", "ngram", "--out", tmp_path / "out", "--quiet")
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_bad_fewshot_block_is_a_one_line_error(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.fewshot.conftest import suite_variant

    for fewshot, message in (({"sampler": "best"}, "params.fewshot.sampler must be one of random, first"),
                             ({"delimter": "\n"}, "params.fewshot.delimter is not a few-shot setting (did you mean 'delimiter'?)"),
                             ({"template": "Q: {{ question }}"}, "params.fewshot.template is not a few-shot setting")):
        path = suite_variant(tmp_path, "squad", fewshot=fewshot)
        code, _, err = run_cli("run", path, "--model", "ngram", "--out", tmp_path / "out", "--quiet")
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_protocol_id_changes_with_k(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = {}
    for k in (0, 1, 3):
        out = tmp_path / f"k{k}"
        code, _, err = run_cli("run", "squad", "truthfulqa_mc", "bbq", "--model", "ngram", "--num-fewshot", str(k),
                               "--limit", "2", "--out", out, "--quiet")
        assert code == 0, err
        ids[k] = {s: protocol(out, s) for s in ("squad", "truthfulqa_mc", "bbq")}
    for suite in ("squad", "truthfulqa_mc", "bbq"):
        assert len({ids[k][suite] for k in ids}) == 3
        assert "fewshot" not in ids[0][suite]
        assert f" fewshot=k3/random/pool=" in ids[3][suite] and ids[3][suite].startswith(ids[0][suite])
    # truthfulqa_mc names the template that replaces its primer.
    template_sha = hashlib.sha256("Q: {{ question }}\nA:".encode()).hexdigest()[:12]
    assert ids[3]["truthfulqa_mc"].endswith(f"/plain fewshot_delimiter=\"\\n\\n\" fewshot_template={template_sha}")
    # The journal refuses to continue a 0-shot run's folder with a 3-shot run.
    code, _, err = run_cli("run", "squad", "--model", "ngram", "--num-fewshot", "3", "--limit", "2", "--out", tmp_path / "k0", "--quiet")
    assert code == 2 and "protocol" in err


def test_num_fewshot_for_one_suite_of_the_command(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, _, err = run_cli("run", "squad", "truthfulqa_mc", "bbq", "--model", "ngram", "--num-fewshot", "squad=2",
                           "--num-fewshot", "1", "--limit", "2", "--out", out, "--quiet")
    assert code == 0, err
    assert " fewshot=k2/" in protocol(out, "squad")
    assert " fewshot=k1/" in protocol(out, "truthfulqa_mc") and " fewshot=k1/" in protocol(out, "bbq")
    out = tmp_path / "only"
    code, _, err = run_cli("run", "squad", "truthfulqa_mc", "--model", "ngram", "--num-fewshot", "squad=2", "--limit", "2",
                           "--out", out, "--quiet")
    assert code == 0, err
    assert "fewshot" not in protocol(out, "truthfulqa_mc") and all(len(r["fewshot"]) == 2 for r in records(out, "squad"))
    code, _, err = run_cli("run", "squad", "--model", "ngram", "--num-fewshot", "bbq=2", "--out", tmp_path / "x", "--quiet")
    assert code == 2 and err.count("\n") == 1 and "no suite 'bbq' in this command" in err
