"""The report opens in headless Chromium and every image in it loads, also when report.html is moved alone."""

from __future__ import annotations

import shutil

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a dev dependency: pip install -e '.[dev]'")

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")
# answer, losses, probe over training, profile by layer, controls, frozen over training, and the extra section's figure
EXPECTED_FIGURES = 7


@pytest.fixture(scope="module")
def browser(chromium):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = Options()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(built_report):
    return built_report[1]


def loaded_images(driver, path) -> list[dict]:
    driver.get(path.resolve().as_uri())
    driver.execute_script("return document.readyState")
    return driver.execute_script(
        "return Array.from(document.images).map(img => ({src: img.src.slice(0, 22), complete: img.complete,"
        " width: img.naturalWidth, height: img.naturalHeight}));")


def test_every_report_image_loads_in_headless_chromium(browser, report):
    images = loaded_images(browser, report)
    assert len(images) == EXPECTED_FIGURES
    assert all(image["complete"] and image["width"] > 0 and image["height"] > 0 for image in images), images


def test_report_html_alone_is_self_contained(browser, report, tmp_path_factory):
    moved = tmp_path_factory.mktemp("moved") / "report.html"
    shutil.copy(report, moved)  # without the plots/ folder
    images = loaded_images(browser, moved)
    assert len(images) == EXPECTED_FIGURES and all(image["width"] > 0 for image in images)
    assert all(image["src"].startswith("data:image/png;base64") for image in images)


def test_report_shows_every_section_heading(browser, report):
    browser.get(report.resolve().as_uri())
    headings = browser.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent);")
    assert headings == ["Answer: does the gap persist?", "Training", "Probe over training", "Probe by layer", "Controls", "Embedding verification",
                        "Final numbers", "Gap analysis", "Configuration", "Manifest"]


def test_first_screen_is_the_answer_with_its_figure(browser, report, tmp_path_factory):
    """At the top of the page, before any scrolling: the answer's sentences (with an interval) and its one figure."""
    browser.set_window_size(1280, 1000)
    browser.get(report.resolve().as_uri())
    first = browser.execute_script(
        "const s = document.querySelector('main section'); const r = s.getBoundingClientRect();"
        "return {id: s.id, heading: s.querySelector('h2').textContent, text: s.querySelector('p').textContent,"
        " img_top: s.querySelector('img').getBoundingClientRect().top, top: r.top,"
        " viewport: window.innerHeight};")
    assert first["heading"] == "Answer: does the gap persist?" and first["id"] == "answer"
    assert "passthrough-free" in first["text"] and "t-interval" in first["text"]
    assert first["img_top"] < first["viewport"]  # the answer's figure starts on the first screen
    assert browser.save_screenshot(str(tmp_path_factory.mktemp("shot") / "first-screen.png"))


def test_long_json_appendices_are_folded(browser, report):
    browser.get(report.resolve().as_uri())
    folded = browser.execute_script(
        "return Array.from(document.querySelectorAll('details')).map(d => ({open: d.open,"
        " summary: d.querySelector('summary').textContent, visible: d.querySelector('pre').checkVisibility(), height: d.getBoundingClientRect().height}));")
    summaries = {d["summary"] for d in folded}
    assert {"the study's configuration (JSON)", "manifest.json"} <= summaries
    assert all(not d["open"] and not d["visible"] and d["height"] < 60 for d in folded), folded
