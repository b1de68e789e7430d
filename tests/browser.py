"""A real headless Chromium for the page tests (Debian `chromium` + `chromium-driver`, installed by
`make browser`), never reaching the network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WIDTH, HEIGHT = 1400, 900  # "a screen"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", f"--window-size={WIDTH},{HEIGHT}",
)  # fmt: skip


def headless_chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Selenium driver of headless Chromium with its own profile and the browser console
    logged; quit afterwards (use with `yield from` in a fixture)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is not installed: run `make browser` (installs Debian chromium and chromium-driver)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never reach the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver path is given explicitly, so Selenium Manager never looks for (or downloads) one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
