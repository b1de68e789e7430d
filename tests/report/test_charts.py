"""Chart axes: 1-2-5 "nice" ticks (Heckbert) and labels with no more digits than the step needs."""

from __future__ import annotations

import math
import random

import pytest

from harness.report.charts import Point, dot_chart, nice_number, nice_ticks, tick_label


@pytest.mark.parametrize(
    "lo, hi, labels",
    [
        # the example: a delta axis once labelled -0.009617
        (-0.009617, 0.0123, ["-0.01", "0", "0.01", "0.02"]),
        (0.31, 0.47, ["0.30", "0.35", "0.40", "0.45", "0.50"]),
        (0.0, 1.0, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        (1.1, 5.3, ["1", "2", "3", "4", "5", "6"]),
        (12, 980, ["0", "200", "400", "600", "800", "1000"]),
        (-3, -1, ["-3.0", "-2.5", "-2.0", "-1.5", "-1.0"]),
    ],
)
def test_nice_ticks_by_hand(lo: float, hi: float, labels: list[str]) -> None:
    values, step = nice_ticks(lo, hi)
    assert [tick_label(v, step) for v in values] == labels


def test_nice_numbers_are_1_2_5() -> None:
    assert [nice_number(x, True) for x in (0.013, 0.026, 0.041, 0.08, 130, 740)] == pytest.approx([0.01, 0.02, 0.05, 0.1, 100, 1000])
    assert [nice_number(x, False) for x in (0.013, 0.026, 0.041, 0.08, 130)] == pytest.approx([0.02, 0.05, 0.05, 0.1, 200])


def test_ticks_on_random_ranges() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        scale = 10 ** rng.uniform(-6, 6)
        lo = rng.uniform(-1, 1) * scale
        hi = lo + rng.uniform(1e-3, 2) * scale
        values, step = nice_ticks(lo, hi)
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert round(mantissa, 6) in (1, 2, 5)
        assert 3 <= len(values) <= 9 and values[0] <= lo + 1e-9 * scale and values[-1] >= hi - 1e-9 * scale
        labels = [tick_label(v, step) for v in values]
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        for v, label in zip(values, labels):
            assert float(label) == pytest.approx(v, abs=step * 1e-6)  # the label is the tick's value
            assert label == "0" or len(label.partition(".")[2]) == decimals  # no digit more than the step needs
        assert len(set(labels)) == len(labels)


def test_chart_uses_nice_ticks_and_log_decades() -> None:
    chart = dot_chart("delta", [Point("a", 0, "m0", -0.009617, (-0.012, -0.004)), Point("a", 1, "m1", 0.0123, None)])
    assert [t.label for t in chart.ticks] == ["-0.02", "-0.01", "0", "0.01", "0.02"]
    assert chart.ticks[0].x == chart.plot_left and chart.ticks[-1].x == chart.plot_right
    log = dot_chart("perplexity", [Point("a", 0, "m0", 3.2, None), Point("b", 0, "m0", 2400.0, None)])
    assert log.log and [t.label for t in log.ticks] == ["1", "10", "100", "1000", "10000"]


def test_family_chart_rows_carry_their_own_bounds() -> None:
    points = [Point("recall", 0, "m0", 0.8, (0.7, 0.9)), Point("auc", 0, "m0", 0.95, None)]
    chart = dot_chart("family", points, row_refs={"auc": ((0.9, "pass"), (0.8, "warn"))})
    recall, auc = chart.rows
    assert recall.refs == () and [r.kind for r in auc.refs] == ["pass", "warn"]
    assert recall.y < auc.refs[0].y1 < auc.y < auc.refs[0].y2  # the bound is drawn inside its own row


def test_metric_families_by_name_stem() -> None:
    from harness.report.sections import _stem

    names = ["ll_spread_gender", "ll_spread_race_ethnicity", "max_ll_spread", "bias_disambig", "bias_ambig", "bits_per_byte", "word_perplexity"]
    assert [_stem(n, names) for n in names] == [
        "ll_spread_*", "ll_spread_*", "max_ll_spread", "bias_*", "bias_*", "bits_per_byte", "word_perplexity",
    ]
