"""The scorecard in a real headless Chromium (Debian `chromium` + `chromium-driver`, installed by
`make browser`): no console errors, every section, injected payloads inert, the content-warning
toggle, and a screenshot under the test's tmp folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from runfixtures import IMG_PAYLOAD, SCRIPT_PAYLOAD

from harness.gate.policy import Policy
from harness.gate.runs import load_run
from harness.report.build import build_scorecard
from harness.report.render import write_html

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1400,1000",
)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never reach the network
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is not installed: run `make browser` (installs Debian chromium and chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver path is given explicitly, so Selenium Manager never looks for (or downloads) one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def test_scorecard_in_chromium(runs, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    card = build_scorecard([load_run(runs.a), load_run(runs.b)], load_run(runs.baseline), Policy(replicates=1000))
    page = write_html(card, tmp_path / "scorecard.html")
    browser.get(page.as_uri())

    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    sections = [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "section.concern")]
    assert sections == ["harmful-content", "fairness", "truthfulness", "language-modelling", "reproducibility"]
    assert "Not evaluated" in browser.find_element(By.ID, "truthfulness").text

    # the payloads are text on the page and never markup: no script ran, no element was made
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.querySelectorAll('img, [onerror]').length") == 0

    toxicity = browser.find_element(By.ID, "suite-toxicity")
    warning = toxicity.find_element(By.CSS_SELECTOR, "details.cw")
    assert warning.get_attribute("open") is None
    sample_texts = toxicity.find_elements(By.CSS_SELECTOR, ".sample-text")
    assert sample_texts and not any(t.is_displayed() for t in sample_texts)
    warning.find_element(By.TAG_NAME, "summary").click()
    assert warning.get_attribute("open") is not None
    shown = [t.text for t in sample_texts if t.is_displayed()]
    assert SCRIPT_PAYLOAD in shown and IMG_PAYLOAD in shown
    assert browser.execute_script("return window.__pwned === undefined")

    browser.execute_script("window.scrollTo(0, 0)")
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(int(height) + 100, 8000))
    shot = tmp_path / "scorecard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    assert browser.get_log("browser") == []


def test_real_toxicity_kinds_in_chromium(real_runs, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The real toxicity and toxicity_filter record shapes: payloads in model outputs and in
    dataset text stay inert text behind the content warning."""
    from selenium.webdriver.common.by import By

    card = build_scorecard([load_run(real_runs.model)], load_run(real_runs.baseline), Policy(replicates=1000))
    browser.get(write_html(card, tmp_path / "scorecard.html").as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.querySelectorAll('img, [onerror]').length") == 0
    for anchor, payload in (("suite-toxicity", f" {SCRIPT_PAYLOAD} you stupid idiot"), ("suite-toxicity_filter", IMG_PAYLOAD)):
        suite = browser.find_element(By.ID, anchor)
        warning = suite.find_element(By.CSS_SELECTOR, "details.cw")
        texts = suite.find_elements(By.CSS_SELECTOR, ".sample-text")
        assert texts and not any(t.is_displayed() for t in texts)
        warning.find_element(By.TAG_NAME, "summary").click()
        assert any(payload.strip() in t.text for t in texts if t.is_displayed())
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.get_log("browser") == []
