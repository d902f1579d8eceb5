"""The whole book at the smoke profile, built strictly, checked as a reader would see it:
every page present, no error output or traceback, every glued number on its page, every figure
image present, math rendered, internal links resolve. This is also the smoke run of every
chapter (a failing chapter fails the build and this test)."""

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from lib.book.pages import discover
from lib.core.results import REPO_ROOT
from tests.html import page_text

pytestmark = pytest.mark.slow
PAGES = discover()


@pytest.fixture(scope="module")
def html_root(smoke_html):
    return smoke_html


def _html(root: Path, page) -> str:
    return (root / f"{page.docname}.html").read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_has_no_error_output(html_root, page):
    html = _html(html_root, page)
    text = page_text(html)
    assert "Traceback" not in text
    assert not re.search(r"\b\w+Error\b: ", text), re.search(r".{80}\b\w+Error\b: .{80}", text)
    assert 'class="output traceback' not in html and "output error" not in html


@pytest.mark.parametrize("page", [p for p in PAGES if p.notebook], ids=lambda p: p.name)
def test_glued_numbers_are_on_the_page(html_root, page):
    numbers_file = REPO_ROOT / "results" / "smoke" / page.name / "numbers.json"
    if not numbers_file.exists():
        pytest.skip(f"{page.name} glues nothing")
    text = page_text(_html(html_root, page))
    numbers = json.loads(numbers_file.read_text())
    used = set(re.findall(r"\{glue:text\}`([^`:]+)`", page.source.read_text()))
    assert used <= set(numbers), f"{page.name}: prose uses unglued keys {used - set(numbers)}"
    missing = {k: numbers[k] for k in used if numbers[k] not in text}
    assert not missing, f"glued values not found on {page.name}: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_figures_load_and_links_resolve(html_root, page):
    html = _html(html_root, page)
    base = (html_root / page.docname).parent
    for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
        if src.startswith("data:"):
            continue
        assert (base / unquote(src)).exists(), f"{page.name}: image {src} missing"
    for href in re.findall(r'href="([^"#]+)(?:#[^"]*)?"', html):
        url = urlparse(href)
        if url.scheme or href.startswith("mailto:"):
            continue
        assert (base / unquote(url.path)).exists(), f"{page.name}: broken link {href}"


def test_chapters_with_figures_show_them(html_root):
    for page in PAGES:
        source = page.source.read_text()
        if "{glue:figure}" in source:
            n = len(re.findall(r"```\{glue:figure\}", source))
            imgs = re.findall(r'<img[^>]+src="[^"]*_images/[^"]+"', _html(html_root, page))
            assert len(imgs) >= n, f"{page.name}: {n} glued figures, {len(imgs)} images"


def test_math_is_rendered(html_root):
    pages_with_math = [p for p in PAGES if "$" in p.source.read_text()]
    assert pages_with_math
    for page in pages_with_math:
        html = _html(html_root, page)
        assert "mathjax" in html.lower() and 'class="math' in html, page.name


def test_every_chapter_wrote_claims_and_environment(html_root):
    for page in PAGES:
        if page.notebook and page.params_model:
            folder = REPO_ROOT / "results" / "smoke" / page.name
            env = json.loads((folder / "environment.json").read_text())
            assert env["profile"] == "smoke" and env["runtime_s"] >= 0
            claims = json.loads((folder / "claims.json").read_text())
            assert isinstance(claims, list)


def test_dashboard_lists_every_claim(html_root):
    text = page_text((html_root / "book" / "intro.html").read_text())
    for f in (REPO_ROOT / "results" / "smoke").glob("*/claims.json"):
        if f.parent.name in {p.name for p in PAGES}:
            for claim in json.loads(f.read_text()):
                assert claim["quantity"] in text, (f.parent.name, claim["id"])


def _band(rec: dict) -> tuple[float, float] | None:
    """The tolerance band a claim states, parsed from its record ('±10 % of 1', '±0.05',
    'one-sided: above 0')."""
    tol, target = rec.get("tolerance") or "", rec.get("paper_value")
    if m := re.fullmatch(r"one-sided: above (\S+)", tol):
        return float(m.group(1)), float("inf")
    if not isinstance(target, (int, float)):
        return None
    if m := re.fullmatch(r"±(\S+) % of \S+", tol):
        half = float(m.group(1)) / 100 * abs(target)
    elif m := re.fullmatch(r"±(\S+)", tol):
        half = float(m.group(1))
    else:
        return None
    return target - half, target + half


def test_every_claim_has_a_kind_and_a_verdict_its_interval_supports(html_root):
    """A held claim's whole interval lies in its band, a not-held one's wholly outside it, and
    a claim without an interval is never held or not held (the rule, checked on the results)."""
    from lib.core.claims import KIND_TEXT

    seen = 0
    for f in (REPO_ROOT / "results" / "smoke").glob("*/claims.json"):
        for rec in json.loads(f.read_text()):
            seen += 1
            where = (f.parent.name, rec["id"])
            assert rec["kind"] in KIND_TEXT, where
            if rec["verdict"] not in ("held", "not_held"):
                continue
            assert rec["ci_low"] is not None and rec["ci_high"] is not None, where
            band = _band(rec)
            if band is None:  # the paper's value shown in another form (text)
                continue
            lo, hi = band
            slack = 1e-6 * max(1.0, abs(lo) if np.isfinite(lo) else 1.0)
            inside = lo - slack <= rec["ci_low"] and rec["ci_high"] <= hi + slack
            outside = rec["ci_high"] < lo + slack or rec["ci_low"] > hi - slack
            assert inside if rec["verdict"] == "held" else outside, (where, rec)
    assert seen > 0


def test_intro_states_the_rule_from_the_code(html_root):
    """The introduction's description of the verdicts is rendered from lib/core/claims.py."""
    from lib.core.claims import KIND_TEXT, VERDICT_RULES

    text = page_text((html_root / "book" / "intro.html").read_text())
    for rule in VERDICT_RULES.values():
        assert rule in text, rule
    for kind in KIND_TEXT.values():
        assert kind in text, kind


# ---- the answer first: landing page, verdict strips, closing chapter, references -----------

EMOJI = re.compile("[\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff\ufe0f]")


def _sections(html: str) -> list[int]:
    """Where the page's own h2 sections start (not the theme's print table of contents)."""
    return [m.start() for m in re.finditer(r"<h2>(?:(?!</h2>).)*headerlink", html, re.S)]


def _claims_by_chapter() -> dict[str, list[dict]]:
    names = {p.name for p in PAGES}
    return {f.parent.name: json.loads(f.read_text())
            for f in sorted((REPO_ROOT / "results" / "smoke").glob("*/claims.json"))
            if f.parent.name in names and json.loads(f.read_text())}


def test_landing_page_opens_with_tally_figure_then_tables(html_root):
    html = (html_root / "book" / "intro.html").read_text()
    tally, figure = html.find('class="claims-tally"'), html.find('id="fig-summary"')
    table = html.find('class="claims-table"')
    assert -1 < tally < figure < table, (tally, figure, table)
    first, *rest = _sections(html)
    assert first < tally and (not rest or rest[0] > table)  # all in the first section
    figure_html = html[figure:html.find("</figure>", figure)]
    assert "<img" in figure_html or "<svg" in figure_html


def test_landing_rows_link_to_each_claims_anchor_in_its_chapter(html_root):
    html = (html_root / "book" / "intro.html").read_text()
    rows = re.findall(r'<tr><td data-label="verdict">.*?</tr>', html, re.S)
    claims = _claims_by_chapter()
    assert len(rows) == sum(len(c) for c in claims.values())
    for chapter, recs in claims.items():
        page = (html_root / "book" / f"{chapter}.html").read_text()
        for rec in recs:
            href = f'href="{chapter}.html#claim-{rec["id"]}"'
            assert sum(href in r for r in rows) == 1, (chapter, rec["id"])
            assert page.count(f'id="claim-{rec["id"]}"') == 1, (chapter, rec["id"])


def test_every_chapter_opens_with_a_verdict_strip_of_all_its_claims(html_root):
    for chapter, recs in _claims_by_chapter().items():
        page = next(p for p in PAGES if p.name == chapter)
        if not page.params_model or chapter == "performance":
            continue
        html = _html(html_root, page)
        start = html.find('class="verdict-strip"')
        assert start > -1, chapter
        assert start < _sections(html)[0], f"{chapter}: the strip is not above the first section"
        strip = html[start:html.find("</ul>", start)]
        for rec in recs:
            assert f'id="claim-{rec["id"]}"' in strip, (chapter, rec["id"])
        assert strip.count('class="verdict verdict-') == len(recs)


def test_chapters_share_one_closing_section_name(html_root):
    for page in PAGES:
        if page.params_model and page.name != "performance":
            headings = [page_text(h) for h in re.findall(r"<h2>.*?</h2>", _html(html_root, page),
                                                         re.S)]
            assert any(h.rstrip("#").endswith("What held") for h in headings), (page.name,
                                                                                 headings)


def test_no_emoji_verdict_glyphs(html_root):
    for page in PAGES:
        text = page_text(_html(html_root, page))
        assert not EMOJI.search(text), (page.name, EMOJI.findall(text)[:5])


def test_closing_chapter_lists_every_claim_once(html_root):
    html = (html_root / "book" / "closing.html").read_text()
    for chapter, recs in _claims_by_chapter().items():
        for rec in recs:
            assert html.count(f'href="{chapter}.html#claim-{rec["id"]}"') == 1, rec["id"]
    assert "@misc{scaling_universality_book" in page_text(html)


def test_pages_are_numbered_and_references_linked(html_root):
    chapter = (html_root / "book" / "universality.html").read_text()
    assert re.search(r'<h1>\s*<span class="section-number">1\.\s*</span>', chapter)
    intro = (html_root / "book" / "intro.html").read_text()
    bib = intro[intro.find('id="references"'):]
    entries = re.findall(r'<div class="citation" id="id\d+" role="doc-biblioentry">(.*?)</div>',
                         bib, re.S) or re.findall(r"<dd>(.*?)</dd>", bib, re.S)
    assert entries
    for entry in entries:
        assert re.search(r'href="https://(arxiv\.org|doi\.org)/', entry), entry[:200]
    text = page_text(intro)
    assert "Liang, Song," not in text and "Qiu and others" not in text
