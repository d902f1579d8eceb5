"""Every built page opened in headless Chromium, as a reader sees it: no error output or
traceback, every image loads, math renders (MathJax typeset it), the glued numbers are on the
page, internal links resolve. A screenshot of each page and a summary are saved next to the
build (``<build>/screenshots/``). Skips with a message where Chromium is absent
(``make browser`` installs it)."""

import functools
import http.server
import json
import re
import shutil
import threading
import time
import urllib.request
from urllib.parse import urljoin, urlparse

import pytest

from lib.book.runner import discover
from lib.core.results import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("headless Chromium or chromedriver not found: run `make browser` (Debian "
                "packages chromium and chromium-driver) to run the browser tests",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")

PAGES = discover()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(smoke_html):
    handler = functools.partial(_Quiet, directory=str(smoke_html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1600"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(smoke_html):
    folder = smoke_html.parents[2] / "screenshots"
    folder.mkdir(exist_ok=True)
    summary: dict = {}
    yield folder, summary
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))


def _wait_for_mathjax(driver, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        done = driver.execute_script(
            "return !window.MathJax || !window.MathJax.startup || "
            "window.MathJax.startup.promise === undefined ? null : "
            "document.querySelectorAll('mjx-container').length")
        if done:
            return done
        time.sleep(0.3)
    return 0


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_in_browser(site, browser, shots, page):
    folder, summary = shots
    url = urljoin(site, f"{page.docname}.html")
    browser.get(url)
    source = page.source.read_text()
    n_math = _wait_for_mathjax(browser) if "$" in source else 0
    text = browser.execute_script("return document.body.innerText")
    broken_images = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)")
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    internal = sorted({urlparse(h)._replace(fragment="").geturl() for h in links
                       if h.startswith(site)})
    dead = []
    for href in internal:
        try:
            urllib.request.urlopen(href, timeout=10).close()
        except OSError:
            dead.append(href)
    browser.save_screenshot(str(folder / f"{page.name}.png"))
    numbers_file = REPO_ROOT / "results" / "smoke" / page.name / "numbers.json"
    numbers = json.loads(numbers_file.read_text()) if numbers_file.exists() else {}
    # as tests/html.page_text: Sphinx's smartquotes turn ' and " into typographic quotes
    flat = " ".join(text.split()).translate(
        str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'}))
    used = set(re.findall(r"\{glue:text\}`([^`:]+)`", source))
    missing = [k for k in used if numbers.get(k) is None or numbers[k] not in flat]
    summary[page.name] = {"math_elements": n_math, "broken_images": broken_images,
                          "dead_links": dead, "missing_numbers": missing,
                          "internal_links": len(internal)}
    assert "Traceback" not in text
    assert not broken_images, broken_images
    assert not dead, dead
    assert not missing, missing
    if "$" in source:
        assert n_math > 0, f"{page.name}: no math typeset by MathJax"
