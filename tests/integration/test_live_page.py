"""The live page (GET /live) in headless Chromium (Debian's chromium and chromedriver, driven
by Selenium): a new order appears in the list, a click follows it, and its timeline updates
on its own until COMPLETED. A screenshot of the page must show it rendered (not blank)."""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from ops import services
from orderflow import config
from tests.factories import post_order, stock

pytestmark = pytest.mark.stack

SIZE = (1280, 900)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        message = "Debian's chromium and chromium-driver are needed (make tools installs them)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={SIZE[0]},{SIZE[1]}")
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def _until(what: str, check, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = check()
        except (StaleElementReferenceException, WebDriverException):
            found = None  # the page re-rendered under us: look again
        if found:
            return found
        assert time.monotonic() < deadline, f"the page never showed {what}"
        time.sleep(0.2)


def test_the_live_page_follows_an_order_until_it_completes(
    stack: config.Settings, api: httpx.Client, browser: webdriver.Chrome, unique: str
):
    sku = f"LIVE-{unique}"
    assert stock(api, sku, 3, price="7.25").status_code == 200
    browser.get(f"http://127.0.0.1:{stack.api_port}/live#key={services.client_key()}")
    assert "OrderFlow" in browser.title

    order_id = post_order(api, sku, f"live-{unique}", price="7.25", quantity=2)

    def row_text() -> str | None:
        rows = browser.find_elements(By.CSS_SELECTOR, f'tr[data-order-id="{order_id}"]')
        return rows[0].text if rows else None

    def select() -> bool:
        rows = browser.find_elements(By.CSS_SELECTOR, f'tr[data-order-id="{order_id}"]')
        if rows:
            rows[0].click()
        return bool(rows)

    # the list re-renders as the order moves on: an element found may be replaced before it
    # is read or clicked, so both happen inside `_until` (which looks again when it was)
    text = _until("the new order in the list", row_text)
    assert f"live-{unique}" in text and "14.50 EUR" in text
    _until("the order selected", select)

    seen: list[str] = []

    def completed() -> bool:
        status = browser.find_element(By.ID, "status").text
        if status and (not seen or seen[-1] != status):
            seen.append(status)
        return status == "COMPLETED"

    _until("COMPLETED", completed)
    assert len(seen) >= 2, f"the status never changed on screen: {seen}"  # it updated live
    events = _until(
        "the whole timeline",
        lambda: (
            [
                e.get_attribute("data-event-type")
                for e in browser.find_elements(By.CSS_SELECTOR, "#timeline li")
            ]
            if len(browser.find_elements(By.CSS_SELECTOR, "#timeline li")) >= 15
            else None
        ),
    )
    assert events[0] == "OrderPlaced" and "OrderCompleted" in events
    assert browser.find_element(By.ID, "selected").text == order_id

    png = browser.get_screenshot_as_png()
    services.LOG_DIR.mkdir(parents=True, exist_ok=True)
    (services.LOG_DIR / "live-page.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size[0] >= 1000 and image.size[1] >= 600, image.size
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, "the screenshot is (nearly) blank"
    # the dark header band and the light page are both there
    assert sum(image.getpixel((image.size[0] // 2, 10))) < 200
    assert sum(image.getpixel((image.size[0] // 2, image.size[1] - 5))) > 600
