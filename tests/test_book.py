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


# ---- prose first: no stray reprs; the re-run box's papermill recipe works verbatim ----------

STRAY_OBJECT = re.compile(
    r"^(<Figure size|<matplotlib\.|<Axes|\[<matplotlib\.|Text\(|np\.\w+\(|<IPython\.|<[\w.]+ object"
    r" at 0x)")
PROGRESS = re.compile(r"\bchunks?\(s\)|\b\d+ \w+ in \d+ chunks?\b")


def stray_repr(text: str) -> str | None:
    """Why an output's text is a stray repr (a bare literal: number, string, tuple, list, dict;
    a matplotlib or other object repr; a pandas text repr; a progress line), else None."""
    import ast

    text = text.strip()
    if not text:
        return None
    try:
        ast.literal_eval(text)
        return "a bare value"
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    if STRAY_OBJECT.match(text):
        return "an object repr"
    if re.search(r"^(Name: .*, )?dtype: \w+$", text, re.M):
        return "a pandas repr"
    if PROGRESS.search(text):
        return "a progress line"
    return None


def visible_outputs(markup: str) -> list[tuple[str, str]]:
    """``(kind, text)`` of every output area a reader sees (not in a collapsed hide-output or
    hide-cell cell): ``('table', ...)`` for a pandas default HTML table, ``('text', ...)`` for
    a plain-text or stream output."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    found = []
    for area in soup.select("div.cell_output"):
        cell = area.find_parent("div", class_="cell")
        tags = set(cell.get("class", [])) if cell else set()
        if tags & {"tag_hide-output", "tag_hide-cell"}:
            continue
        for table in area.select("table.dataframe"):
            found.append(("table", table.get_text(" ", strip=True)[:120]))
        for out in area.select("div.output"):
            classes = set(out.get("class", []))
            if classes & {"text_plain", "stream"} and out.find("pre"):
                found.append(("text", out.find("pre").get_text()))
    return found


def test_stray_repr_detector():
    for text in ("0.93", "'0.93'", "'not reached'", "512", "(1, 2)", "[0.5, 1.0]", "{'a': 1}",
                 "<Figure size 640x480 with 1 Axes>", "Text(0.5, 1.0, 'x')",
                 "<matplotlib.legend.Legend at 0x7f>", "[<matplotlib.lines.Line2D at 0x7f>]",
                 "np.float64(0.93)", "24 students in 1 chunk(s), 111.0 s",
                 "0    1.0\n1    2.0\nName: x, dtype: float64"):
        assert stray_repr(text), text
    for text in ("", "The fit used 12 points.", "Epoch's refit: a = 0.34 (CI 0.3–0.4)"):
        assert stray_repr(text) is None, text


@pytest.mark.parametrize("page", [p for p in PAGES if p.notebook], ids=lambda p: p.name)
def test_no_stray_repr_on_the_page(html_root, page):
    """No output area shows a bare value, an object repr, a raw pandas table (index and all)
    or a progress line: what a reader sees is prose, figures and the book's formatted tables."""
    stray = []
    for kind, text in visible_outputs(_html(html_root, page)):
        why = "a pandas default table" if kind == "table" else stray_repr(text)
        if why:
            stray.append(f"{why}: {text.strip()[:80]!r}")
    assert not stray, f"{page.name}: {len(stray)} stray output(s): {stray}"


def _rerun_box(html_root: Path, page) -> tuple[str, Path]:
    """The papermill command of the page's re-run box, as printed, and the notebook its
    download link serves."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_html(html_root, page), "html.parser")
    box = soup.select_one("div.rerun-box")
    assert box is not None, f"{page.name}: no re-run box"
    commands = [pre.get_text() for pre in box.select("pre")
                if pre.get_text().lstrip().startswith(".venv/bin/papermill")]
    assert len(commands) == 1, commands
    links = [a["href"] for a in box.select("a[href]") if a["href"].endswith(f"/{page.name}.ipynb")]
    assert links, f"{page.name}: the re-run box offers no notebook"
    return commands[0], (html_root / page.docname).parent / unquote(links[0])


def _unpacked_source(html_root: Path, dest: Path) -> Path:
    """The source archive the built book ships (the re-run box's download) unpacked under
    ``dest``, then what ``make install`` adds: ``.venv`` (this test's interpreter's environment,
    linked) and the files of ``python -m lib.real fetch`` (linked from this checkout, without
    its caches)."""
    import sys
    import tarfile

    from lib.book.settings import SOURCE_ARCHIVE, SOURCE_DIR

    with tarfile.open(html_root / SOURCE_ARCHIVE) as tar:
        tar.extractall(dest, filter="data")
    root = dest / SOURCE_DIR
    assert (root / "Makefile").exists() and (root / "lib" / "core").is_dir()
    (root / ".venv").symlink_to(Path(sys.prefix))
    fetched = REPO_ROOT / "_vendor" / "real"
    if fetched.is_dir():
        (root / "_vendor" / "real").mkdir(parents=True)
        for item in fetched.iterdir():
            if item.name != "cache":
                (root / "_vendor" / "real" / item.name).symlink_to(item)
    return root


def test_papermill_recipe_runs_verbatim_from_a_clean_clone(html_root, tmp_path):
    """The papermill command printed in the re-run box of the quickest first-stage chapter,
    run as printed (bash, in the root of the source archive the book ships, unpacked, with the
    page's downloaded notebook saved there), succeeds, writes its results inside that copy (so the
    copy's ``lib`` ran, not this checkout's) and repeats the page's run parameters."""
    import os
    import subprocess

    def runtime(page) -> float:
        env = REPO_ROOT / "results" / "smoke" / page.name / "environment.json"
        return json.loads(env.read_text())["runtime_s"] if env.exists() else float("inf")

    first_stage = [p for p in PAGES if p.notebook and p.params_model and p.stage == 1]
    page = min(first_stage, key=runtime)
    command, notebook = _rerun_box(html_root, page)
    clone = _unpacked_source(html_root, tmp_path)
    (clone / f"{page.name}.ipynb").write_bytes(notebook.read_bytes())
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BOOK_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert (clone / f"{page.name}.out.ipynb").exists()
    written = clone / "results" / "smoke" / page.name / "environment.json"
    assert written.exists(), "the recipe's kernel did not run the clone's lib"
    page_run = json.loads(
        (REPO_ROOT / "results" / "smoke" / page.name / "environment.json").read_text())
    assert json.loads(written.read_text())["parameters"] == page_run["parameters"]


def _papermill_parameters(command: str) -> dict:
    """What papermill injects for ``command``, read as papermill reads ``-f``, ``-y``, ``-p``."""
    import shlex

    import yaml
    from papermill.cli import _resolve_type

    args = shlex.split(command.replace("\\\n", " "))
    values: dict = {}
    i = args.index("--cwd") + 2
    while i < len(args):
        if args[i] == "-f":
            values.update(yaml.safe_load((REPO_ROOT / args[i + 1]).read_text()) or {})
            i += 2
        elif args[i] == "-y":
            values.update(yaml.safe_load(args[i + 1]))
            i += 2
        else:
            assert args[i] == "-p", args[i:]
            values[args[i + 1]] = _resolve_type(args[i + 2])
            i += 3
    return values


@pytest.mark.parametrize("profile", ["smoke", "default", "full"])
def test_papermill_recipe_repeats_the_run_parameters(profile):
    """For every chapter and profile, the recipe's parameters, on top of the chapter's defaults,
    are the run's resolved parameters; the up-front ones are seed, device and the main sizes."""
    from lib.book.pages import plan
    from lib.book.rerun import papermill_command, up_front

    for page in (p for p in plan(profile) if p.notebook and p.params_model):
        names = up_front(page.name, page.params)
        assert names[:2] == ["seed", "device"] and len(names) > 2, (page.name, names)
        injected = _papermill_parameters(papermill_command(page.name, page.params, names))
        defaults = page.model.validated({}).model_dump()
        assert page.model.validated({**defaults, **injected}).model_dump() == page.params, (
            page.name, profile)


def test_every_full_profile_states_its_expected_cost_and_the_box_shows_it():
    from lib.book.pages import plan
    from lib.book.rerun import expected_cost, rerun_markdown

    for page in (p for p in plan("full") if p.notebook and p.params_model):
        cost = expected_cost(page.name)
        assert set(cost) == {"time", "memory"}, (page.name, cost)
        box = rerun_markdown(page.name, page.model, page.params)
        assert cost["time"] in box and cost["memory"] in box
        assert "scaling-universality.tar.gz" in box and f"lib.book run {page.name}" in box
        assert "lib.real fetch" in box and "--cwd ." in box
