"""Hostile text in a run or a review file is inert in the model card.

Content note: the strings below are HTML/script and Markdown-link injection payloads, written for
this test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from markdown_it import MarkdownIt

from harness.card.markdown import fence, inline

from .conftest import edit_summary

MODEL = '<script>window.__pwned = 1</script>[click me](https://evil.example/x) **shout**'
SOURCE = '/data/<img src=x onerror="alert(1)">[doc](javascript:alert(2)).csv'
REASON = "no items ![tracker](https://evil.example/t.png) <iframe src=//evil.example>"
PROTOCOL = "perplexity/rolling-disjoint/v1 ```\n</code><script>alert(3)</script>"
REVIEWER = "<b>Mallory</b> [trust me](https://evil.example)"
NOTES = "fine <script>alert(4)</script>\n# not a heading\n- not a list [x](https://evil.example) www.evil.example"


def _hostile_run(run: Path) -> None:
    def change(s: dict) -> None:
        s["model"]["name"] = s["model"]["preset"] = MODEL
        perplexity = s["suites"]["perplexity"]
        perplexity["data"].update(source=SOURCE, builtin=False)
        perplexity["protocol"] = PROTOCOL
        perplexity["metrics"]["word_perplexity"].update(value=None, ci95=None, reason=REASON)

    edit_summary(run, change)


def _review(path: Path) -> Path:
    path.write_text(
        f"reviewer: {json.dumps(REVIEWER)}\ndate: 2026-12-02\nconcerns:\n  fairness:\n    decision: accept-with-conditions\n"
        f"    notes: {json.dumps(NOTES)}\noverall: {{decision: reject, notes: {json.dumps(NOTES)}}}\n",
        encoding="utf-8",
    )
    return path


def _html(markdown: str) -> str:
    body = markdown.split("\n---\n", 1)[1]  # after the front matter
    return MarkdownIt("commonmark").enable("table").render(body)


@pytest.fixture
def hostile_card(run_copy: Path, tmp_path: Path, run_cli) -> str:  # type: ignore[no-untyped-def]
    _hostile_run(run_copy)
    out = tmp_path / "MODEL_CARD.md"
    code, _, err = run_cli("card", run_copy, "--review", _review(tmp_path / "review.yaml"), "-o", out)
    assert code == 0, err
    return out.read_text(encoding="utf-8")


def test_hostile_text_renders_as_text_not_markup(hostile_card: str) -> None:
    html = _html(hostile_card)
    for tag in ("<script", "<img", "<iframe", "<a ", "<b>", "<h1>not", "<li>not a list"):
        assert tag not in html, tag
    # The text itself is still there, for the reader to see.
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;[click me](https://evil.example/x) **shout**" in html
    assert "&lt;b&gt;Mallory&lt;/b&gt; [trust me](https://evil.example)" in html
    assert "no items ![tracker](https://evil.example/t.png) &lt;iframe src=//evil.example&gt;" in html
    # Only the card's own emphasis: the hostile ** did not make bold text.
    assert "<strong>shout</strong>" not in html
    # Notes are one line: the "# " and "- " inside them started no heading or list.
    assert "# not a heading - not a list" in html


def test_no_bare_url_is_left_for_an_autolinking_renderer(hostile_card: str) -> None:
    body = hostile_card.split("\n---\n", 1)[1]
    prose = re.sub(r"\n(`{3,})yaml\n.*?\n\1\n", "\n", body, flags=re.S)  # the repro block is code
    assert "https://" not in prose and "javascript:" not in prose and "www.evil" not in prose


def test_the_front_matter_carries_the_name_verbatim_and_still_parses(hostile_card: str) -> None:
    card = ModelCard(hostile_card)
    assert card.data.model_name == MODEL
    result = next(r for r in card.data.eval_results if r.task_name.endswith(": perplexity"))
    assert result.dataset_name == '<img src=x onerror="alert(1)">[doc](javascript:alert(2)).csv'  # the file name only
    assert "/data/" not in hostile_card  # no local folder published
    assert "word_perplexity" not in {r.metric_type for r in card.data.eval_results if r.task_name.endswith(": perplexity")}


def test_a_backtick_fence_in_a_protocol_cannot_close_the_reproducibility_block(hostile_card: str) -> None:
    html = _html(hostile_card)
    code = re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", html, re.S)
    assert len(code) == 1 and "```" in code[0] and "&lt;script&gt;alert(3)" in code[0]
    assert hostile_card.count("````yaml") == 1  # the fence grew to four backticks


def test_inline_and_fence_units() -> None:
    assert inline("a\n\n## b") == "a \\#\\# b"
    assert inline("1. first") == "1\\. first" and inline("- item").startswith("\\-")
    assert inline("x | y") == "x \\| y"
    assert inline("see http://e.example and WWW.e.example") == "see http\\://e.example and WWW\\.e.example"
    assert inline("&lt;") == "&amp;lt;"  # an entity in the input is shown, not decoded
    assert fence("a ```` b").startswith("`````\n")
