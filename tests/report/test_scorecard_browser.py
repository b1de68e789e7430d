"""The scorecard in a real headless Chromium (Debian `chromium` + `chromium-driver`, installed by
`make browser`): the matrix first, the collapsed height, ten models side by side, injected
payloads inert (model outputs and the review file), the stale-review notice, and printing to PDF.
One browser serves the whole module."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from realruns import HOSTILE_NAME, HOSTILE_NOTES, model_copies, write_review
from runfixtures import IMG_PAYLOAD, SCRIPT_PAYLOAD, edit_summary

from harness.gate.policy import Policy
from harness.gate.runs import load_run
from harness.report.build import build_scorecard
from harness.report.render import write_html
from tests.browser import HEIGHT, WIDTH, headless_chromium

MAX_COLLAPSED = 3 * HEIGHT  # the demo scorecard, collapsed, fits in about three screen heights


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    yield from headless_chromium(tmp_path_factory)


def open_page(browser, page: Path):  # type: ignore[no-untyped-def]
    browser.set_window_size(WIDTH, HEIGHT)
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    return browser


def assert_inert(browser) -> None:  # type: ignore[no-untyped-def]
    """The payloads are text on the page and never markup: no script ran, no element was made."""
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.querySelectorAll('img, [onerror]').length") == 0


def page_height(browser) -> int:  # type: ignore[no-untyped-def]
    return int(browser.execute_script("return document.documentElement.scrollHeight"))


def test_scorecard_in_chromium(runs, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    card = build_scorecard([load_run(runs.a), load_run(runs.b)], load_run(runs.baseline), Policy(replicates=1000))
    open_page(browser, write_html(card, tmp_path / "scorecard.html"))
    sections = [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "section.concern")]
    assert sections == ["harmful-content", "fairness", "truthfulness", "privacy", "language-modelling", "reproducibility"]
    assert "Not evaluated" in browser.find_element(By.ID, "truthfulness").text
    # the answer first: the matrix is the first thing in <main>, its rows the concerns
    first = browser.execute_script("return document.querySelector('main').firstElementChild.id")
    assert first == "matrix"
    rows = [r.text.split("\n")[0] for r in browser.find_elements(By.CSS_SELECTOR, "table.matrix tbody th")]
    assert rows == ["Harmful content", "Fairness and bias", "Truthfulness", "Privacy", "Language modelling"]
    assert_inert(browser)

    # details on demand: the suite is one line until opened; the samples stay behind their warning
    toxicity = browser.find_element(By.ID, "suite-toxicity")
    assert toxicity.get_attribute("open") is None
    table = toxicity.find_element(By.CSS_SELECTOR, ".body table")
    assert not table.is_displayed()
    # a link in "Needs attention" jumps to its row, opening the suite
    browser.find_element(By.CSS_SELECTOR, '#attention a[href="#suite-toxicity--expected_max_toxicity"]').click()
    assert toxicity.get_attribute("open") is not None and table.is_displayed()
    nav = browser.find_element(By.TAG_NAME, "nav").rect
    assert nav["height"] <= browser.execute_script("return document.getElementById('suite-toxicity--expected_max_toxicity').getBoundingClientRect().top")
    warning = toxicity.find_element(By.CSS_SELECTOR, "details.cw")
    sample_texts = toxicity.find_elements(By.CSS_SELECTOR, ".sample-text")
    assert sample_texts and not any(t.is_displayed() for t in sample_texts)
    warning.find_element(By.TAG_NAME, "summary").click()
    shown = [t.text for t in sample_texts if t.is_displayed()]
    assert SCRIPT_PAYLOAD in shown and IMG_PAYLOAD in shown
    assert_inert(browser)
    assert browser.get_log("browser") == []


def test_real_toxicity_kinds_in_chromium(real_runs, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The real toxicity and toxicity_filter record shapes: payloads in model outputs and in
    dataset text stay inert text behind the content warning."""
    from selenium.webdriver.common.by import By

    card = build_scorecard([load_run(real_runs.model)], load_run(real_runs.baseline), Policy(replicates=1000))
    open_page(browser, write_html(card, tmp_path / "scorecard.html"))
    assert_inert(browser)
    for anchor, payload in (("suite-toxicity", f" {SCRIPT_PAYLOAD} you stupid idiot"), ("suite-toxicity_filter", IMG_PAYLOAD)):
        suite = browser.find_element(By.ID, anchor)
        suite.find_element(By.TAG_NAME, "summary").click()
        warning = suite.find_element(By.CSS_SELECTOR, "details.cw")
        texts = suite.find_elements(By.CSS_SELECTOR, ".sample-text")
        assert texts and not any(t.is_displayed() for t in texts)
        warning.find_element(By.TAG_NAME, "summary").click()
        assert any(payload.strip() in t.text for t in texts if t.is_displayed())
    assert_inert(browser)
    assert browser.get_log("browser") == []


def test_demo_like_scorecard_collapsed_height(demo_like_run: Path, browser, tmp_path: Path) -> None:
    """Every demo suite, collapsed: within about three screen heights at 1400 x 900."""
    from selenium.webdriver.common.by import By

    card = build_scorecard([load_run(demo_like_run)], None, Policy(replicates=1000))
    page = open_page(browser, write_html(card, tmp_path / "scorecard.html"))
    suites = page.find_elements(By.CSS_SELECTOR, "details.suite")
    assert len(suites) >= 10 and not any(s.get_attribute("open") for s in suites)  # 9 suites + the filter's subgroup part
    height = page_height(page)
    assert 1000 < height <= MAX_COLLAPSED, height
    assert page.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    # the filter is under its classifier, not under the language model
    headers = [h.text for h in page.find_elements(By.CSS_SELECTOR, "table.matrix thead th")]
    assert headers[1].startswith("ngram") and headers[2].startswith("profanity-check")
    assert "classifier, evaluated without a language model" in headers[2]
    matrix = page.find_element(By.ID, "matrix").rect
    assert matrix["y"] + matrix["height"] < HEIGHT  # the whole matrix is on the first screen
    # opened, each suite shows its protocol id next to its numbers
    for s in suites:
        s.find_element(By.TAG_NAME, "summary").click()
    assert len(page.find_elements(By.CSS_SELECTOR, "code.protocol")) >= 10
    assert page_height(page) > 3 * height
    shot = tmp_path / "collapsed.png"
    assert page.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_ten_models_side_by_side(demo_like_run: Path, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    # counterfactual is left out: its kind has no vectorised estimates, and 9 paired bootstraps of
    # it would take minutes; every other demo suite is in
    folders = model_copies(demo_like_run, tmp_path, 10, drop=("counterfactual",))
    card = build_scorecard([load_run(f) for f in folders[1:]], load_run(folders[0]), Policy(replicates=1000))
    page = open_page(browser, write_html(card, tmp_path / "ten.html"))
    headers = [h.text.split("\n")[0] for h in page.find_elements(By.CSS_SELECTOR, "table.matrix thead th")]
    assert headers == ["concern", "model-0 (baseline)", *(f"model-{i}" for i in range(1, 10)), "profanity-check"]
    assert page.execute_script("return document.documentElement.scrollWidth") <= WIDTH  # no sideways scrolling
    assert page_height(page) <= MAX_COLLAPSED
    perplexity = page.find_element(By.ID, "suite-perplexity")
    perplexity.find_element(By.TAG_NAME, "summary").click()
    table = perplexity.find_element(By.CSS_SELECTOR, ".body table")
    assert len(table.find_elements(By.CSS_SELECTOR, "thead th")) == 1 + 10  # the metric, then the models
    # the same results under ten names: every paired delta is exactly 0
    deltas = [d.text for d in table.find_elements(By.CSS_SELECTOR, "tr#suite-perplexity--bits_per_byte .delta")]
    assert deltas == ["Δ +0 [+0, +0] no sig. change"] * 9
    figure = perplexity.find_element(By.CSS_SELECTOR, "figure svg")
    assert len(figure.find_elements(By.CSS_SELECTOR, "circle")) == 10  # every model on one axis
    # opened, every suite's table fits the window too
    for suite in page.find_elements(By.CSS_SELECTOR, "details.suite:not([open])"):
        # centred first: scrolled to the very top, a summary sits under the sticky <nav>
        page.execute_script("arguments[0].scrollIntoView({block: 'center'})", suite)
        suite.find_element(By.TAG_NAME, "summary").click()
    widths = page.execute_script("return [...document.querySelectorAll('details.suite .wrap')].map(w => w.scrollWidth - w.clientWidth)")
    assert len(widths) >= 8 and max(widths) <= 0, widths
    assert_inert(page)


def test_review_in_chromium(runs, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    from harness.commands.scorecard import write_scorecard

    review = write_review(tmp_path / "review.yaml", [runs.baseline, runs.a, runs.b])
    page_path = write_scorecard([runs.a, runs.b], tmp_path / "card.html", runs.baseline, review=review)
    page = open_page(browser, page_path)
    block = page.find_element(By.ID, "review")
    assert page.execute_script("return document.querySelector('main').firstElementChild.id") == "review"
    assert HOSTILE_NAME in block.text and HOSTILE_NOTES in page.find_element(By.ID, "matrix").text
    assert page.find_elements(By.ID, "stale-review") == []
    assert_inert(page)
    # the reviewed results change: the notice appears, naming the run
    edit_summary(runs.a, lambda s: s["suites"]["crows_pairs"].update(n_errors=1))
    page = open_page(browser, write_scorecard([runs.a, runs.b], tmp_path / "card.html", runs.baseline, review=review))
    notice = page.find_element(By.ID, "stale-review")
    assert notice.is_displayed() and "model-a (a)" in notice.text and "model-b" not in notice.text
    assert_inert(page)


def pdf_pages(data: bytes) -> list[set[str]]:
    """Per page of a PDF Chromium printed, in order, the named destinations its links point to."""
    objects = {int(m.group(1)): m.group(2) for m in re.finditer(rb"(\d+) 0 obj\s*(.*?)endobj", data, re.S)}

    def pages(number: int) -> list[int]:
        obj = objects[number]
        if re.search(rb"/Type\s*/Pages\b", obj):
            kids = re.search(rb"/Kids\s*\[(.*?)\]", obj, re.S).group(1)  # type: ignore[union-attr]
            return [p for k in re.findall(rb"(\d+) 0 R", kids) for p in pages(int(k))]
        return [number]

    catalog = next(o for o in objects.values() if re.search(rb"/Type\s*/Catalog\b", o))
    order = pages(int(re.search(rb"/Pages\s+(\d+) 0 R", catalog).group(1)))  # type: ignore[union-attr]
    out = []
    for number in order:
        annots = re.search(rb"/Annots\s*\[(.*?)\]", objects[number], re.S)
        refs = [int(r) for r in re.findall(rb"(\d+) 0 R", annots.group(1))] if annots else []
        out.append({m.decode() for r in refs for m in re.findall(rb"/Dest\s*/([^\s/>\]]+)", objects[r])})
    return out


def test_prints_to_pdf_with_the_matrix_on_page_one(demo_like_run: Path, browser, tmp_path: Path) -> None:
    card = build_scorecard([load_run(demo_like_run)], None, Policy(replicates=1000))
    page = open_page(browser, write_html(card, tmp_path / "scorecard.html"))
    pdf = base64.b64decode(page.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})["data"])
    (tmp_path / "scorecard.pdf").write_bytes(pdf)
    pages = pdf_pages(pdf)
    assert len(pages) == len(re.findall(rb"/Type\s*/Page\b", pdf))
    # printed, every suite is expanded: far more pages than the 3 screens of the collapsed page
    assert 6 <= len(pages) <= 80, len(pages)
    # page one holds the matrix: its links to the four concerns and to each headline metric's row
    matrix_links = {cv.anchor for cv in card.matrix} | {v.headline.anchor for cv in card.matrix for v in cv.verdicts if v.headline}
    assert matrix_links <= pages[0]
    assert not any(p & {cv.anchor for cv in card.matrix} for p in pages[1:])  # nothing else links to the concerns
    # the metric tables printed expanded: the rows the matrix links to are destinations in the file
    for anchor in matrix_links:
        assert f"/{anchor}".encode() in pdf
