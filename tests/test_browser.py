"""Every built page opened in headless Chromium, as a reader sees it: no error output or
traceback, every image loads, math renders (MathJax typeset it), the glued numbers are on the
page, internal links resolve. And every page is light and clean: no uncaught error or other
SEVERE console entry, no failed request, one MathJax, no script from another host, and at most
``JS_BUDGET`` bytes of JavaScript. A screenshot of each page and a summary are saved next to the
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

from lib.book.pages import discover
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
JS_BUDGET = 3_000_000  # bytes of JavaScript a page may load (decoded), MathJax's lazy parts too


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
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
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


def failed_requests(driver) -> list[str]:
    """URLs the page asked for that failed or answered >= 400, from Chrome's DevTools log
    (drained: the next call sees the next page's)."""
    failed = []
    requested: dict[str, str] = {}
    probes: set[str] = set()
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if params.get("requestId") in probes:
            continue
        if msg["method"] == "Network.requestWillBeSent":
            requested[params["requestId"]] = params["request"]["url"]
            if params.get("type") == "Other" and params["request"]["url"].endswith("/favicon.ico"):
                probes.add(params["requestId"])  # the browser's own look for a site icon
        elif msg["method"] == "Network.responseReceived" and params["response"]["status"] >= 400:
            failed.append(f"{params['response']['status']} {params['response']['url']}")
        elif msg["method"] == "Network.loadingFailed" and not params.get("canceled"):
            failed.append(f"{params.get('errorText')} {requested.get(params['requestId'], '?')}")
    return failed


def page_weight(driver) -> dict:
    """The page's scripts: <script src> elements, JavaScript bytes loaded (decoded, lazily
    loaded modules included), MathJax entry scripts, and scripts from another host."""
    return driver.execute_script("""
        const js = performance.getEntriesByType('resource')
            .filter(r => r.initiatorType === 'script' || /\\.js(\\?|$)/.test(r.name));
        const srcs = Array.from(document.scripts).filter(s => s.src).map(s => s.src);
        return {scripts: srcs.length,
                js_bytes: js.reduce((n, r) => n + (r.decodedBodySize || 0), 0),
                js_files: js.length,
                mathjax_entries: srcs.filter(s => /mathjax/i.test(s)),
                foreign: srcs.filter(s => new URL(s).origin !== location.origin)};""")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_in_browser(site, browser, shots, page):
    folder, summary = shots
    url = urljoin(site, f"{page.docname}.html")
    browser.get_log("browser"), browser.get_log("performance")  # drain the previous page's
    browser.get(url)
    source = page.source.read_text()
    n_math = _wait_for_mathjax(browser) if "$" in source else 0
    time.sleep(0.5)  # let MathJax's lazily loaded parts (fonts, extensions) arrive
    severe = [e["message"] for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and "/favicon.ico " not in e["message"]]
    failed = failed_requests(browser)
    weight = page_weight(browser)
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
    # pages that glue through myst-nb alone (intro, closing) keep no numbers.json: their
    # glued text is checked by tests/test_book.py on the HTML instead
    missing = [k for k in used if numbers_file.exists()
               and (numbers.get(k) is None or numbers[k] not in flat)]
    summary[page.name] = {"math_elements": n_math, "broken_images": broken_images,
                          "dead_links": dead, "missing_numbers": missing,
                          "internal_links": len(internal), "console_errors": severe,
                          "failed_requests": failed, **weight}
    assert "Traceback" not in text
    assert not broken_images, broken_images
    assert not dead, dead
    assert not missing, missing
    if "$" in source:
        assert n_math > 0, f"{page.name}: no math typeset by MathJax"
    assert not severe, f"{page.name}: console errors: {severe}"
    assert not failed, f"{page.name}: failed requests: {failed}"
    assert not weight["foreign"], f"{page.name}: scripts from another host: {weight['foreign']}"
    assert len(weight["mathjax_entries"]) <= 1, weight["mathjax_entries"]
    assert weight["js_bytes"] <= JS_BUDGET, (
        f"{page.name}: {weight['js_bytes'] / 1e6:.1f} MB of JavaScript in {weight['js_files']} "
        f"files (budget {JS_BUDGET / 1e6:.0f} MB)")


# ---- no overflow at 1400 px: display equations and tables fit their column -----------------

OVERFLOW_JS = """
const main = document.querySelector('article.bd-article') || document.querySelector('main')
  || document.body;
const column = main.getBoundingClientRect();
const where = el => {
  const h = el.closest('section') && el.closest('section').querySelector('h1,h2,h3');
  return (h ? h.textContent.replace('#', '').trim().slice(0, 60) + ': ' : '')
    + (el.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 60);
};
const scroller = (el) => {  // the nearest ancestor inside the column that scrolls sideways
  for (let a = el.parentElement; a && a !== main; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o === 'auto' || o === 'scroll') return a;
  }
  return null;
};
document.querySelectorAll('details').forEach(d => { d.open = true; });
const bad = [];
for (const eq of main.querySelectorAll('mjx-container[display="true"], div.math')) {
  if (eq.matches('div.math') && eq.querySelector('mjx-container')) continue;  // measured inside
  const box = eq.getBoundingClientRect();
  if (!box.width) continue;
  const inner = eq.querySelector('mjx-math') || eq;
  const content = Math.max(eq.scrollWidth, inner.getBoundingClientRect().width);
  const room = Math.min(eq.clientWidth || box.width, column.right - box.left);
  if (content > room + 1)
    bad.push({kind: 'equation', content: Math.round(content), room: Math.round(room),
              where: where(eq)});
}
for (const t of main.querySelectorAll('table')) {
  const box = t.getBoundingClientRect();
  if (!box.width) continue;
  const wrap = scroller(t);
  if (wrap) {
    const w = wrap.getBoundingClientRect();
    if (w.right > column.right + 1 || w.left < column.left - 1)
      bad.push({kind: 'table wrapper', content: Math.round(w.width),
                room: Math.round(column.width), where: where(t)});
  } else {
    const room = Math.min(t.parentElement.clientWidth, column.right - box.left);
    if (box.width > room + 1)
      bad.push({kind: 'table', content: Math.round(box.width), room: Math.round(room),
                where: where(t)});
  }
}
return bad;
"""


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_equations_and_tables_fit_at_1400px(site, browser, shots, page):
    """At a 1400 px window, every display equation is no wider than its column and every table
    fits its container, or sits in a sideways-scrolling wrapper that fits the column (details
    opened, so collapsed tables count too)."""
    folder, summary = shots
    browser.set_window_size(1400, 1000)
    try:
        browser.get(urljoin(site, f"{page.docname}.html"))
        if "$" in page.source.read_text():
            _wait_for_mathjax(browser)
        time.sleep(0.5)
        bad = browser.execute_script(OVERFLOW_JS)
    finally:
        browser.set_window_size(1280, 1600)
    summary.setdefault("overflow_1400px", {})[page.name] = bad
    assert not bad, f"{page.name}: {len(bad)} overflowing: " + "; ".join(
        f"{b['kind']} {b['content']} px in {b['room']} px ({b['where']})" for b in bad)


@pytest.mark.parametrize("page", [p for p in PAGES if p.notebook and p.params_model],
                         ids=lambda p: p.name)
def test_rerun_box_fits_at_1400_and_400px(site, browser, shots, page):
    """The re-run box (its parameter table opened) stays inside the window at 1400 and 400 px;
    a screenshot of it at each width is kept (``rerun-<page>-<width>.png``)."""
    folder, _ = shots
    widths = {}
    try:
        for width in (1400, 400):
            browser.set_window_size(width, 4000)  # tall: the whole box in the shot
            browser.get(urljoin(site, f"{page.docname}.html"))
            box = browser.find_elements("css selector", "div.rerun-box")
            assert box, f"{page.name}: no re-run box"
            browser.execute_script("arguments[0].querySelectorAll('details')"
                                   ".forEach(d => { d.open = true; });"
                                   "arguments[0].scrollIntoView();", box[0])
            time.sleep(0.3)
            box[0].screenshot(str(folder / f"rerun-{page.name}-{width}.png"))
            widths[width] = browser.execute_script(
                "const r = arguments[0].getBoundingClientRect();"
                "return [r.left, r.right, document.documentElement.clientWidth];", box[0])
    finally:
        browser.set_window_size(1280, 1600)
    for width, (left, right, viewport) in widths.items():
        assert left >= -1 and right <= viewport + 1, (page.name, width, left, right, viewport)
