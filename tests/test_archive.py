"""Archived paper-scale runs: written atomically, read back, and shown in the book beside the
built chapter without clashing labels (lib/book/archive.py)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lib.book import archive
from lib.book.pages import BookError
from lib.core.results import REPO_ROOT
from tests.html import page_text


def fake_run(folder: Path, profile: str = "full", chapter: str = "demo") -> tuple[Path, Path]:
    """An executed notebook and a results folder as a finished chapter leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "(demo)=\n# Demo chapter\n\nSee {numref}`fig-demo` and {eq}`eq-demo`, and "
            "{ref}`the intro <intro>`; [back](#demo). The word demo is not a label.\n\n"
            "```{math}\n:label: eq-demo\nx = 1\n```"),
        nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/markdown": "{download}`a.csv </results/"
                                  f"{profile}/{chapter}/a.csv>`, {{download}}`nb "
                                  f"</book/{chapter}.ipynb>`"})]),
        nbformat.v4.new_markdown_cell(
            "```{glue:figure} demo_fig\n:name: fig-demo\n\nCaption.\n```"),
        nbformat.v4.new_markdown_cell("```{literalinclude} ../lib/core/memo.py\n"
                                      ":pyobject: Memo\n```"),
    ]
    notebook = folder / f"{chapter}.ipynb"
    nbformat.write(nb, notebook)
    results = folder / "results"
    results.mkdir(exist_ok=True)
    (results / "a.csv").write_text("x\n1\n")
    (results / "claims.json").write_text(json.dumps([
        {"id": "c1", "claim": "loss falls as 1/width", "estimate": 0.98, "ci_low": 0.9,
         "ci_high": 1.05, "paper_value": 1.0, "verdict": "held"}]))
    (results / "environment.json").write_text(json.dumps(
        {"profile": profile, "device": "cuda", "gpu": "NVIDIA H100 80GB HBM3",
         "runtime_s": 600.0, "finished": "2026-11-24 10:00:00 UTC", "torch": "2.13.0",
         "parameters": {"seed": 0}}))
    return notebook, results


def test_labels_are_prefixed_only_where_defined_on_the_page():
    text = ("(demo)=\n# T\n{numref}`fig-demo` {eq}`eq-demo` {ref}`other <intro>` "
            "{ref}`back <demo>` [x](#demo) the demo word\n:name: fig-demo\n:label: eq-demo\n")
    labels = archive.defined_labels([text])
    assert labels == {"demo", "fig-demo", "eq-demo"}
    out = archive.prefix_labels(text, labels, "full-")
    assert "(full-demo)=" in out and ":name: full-fig-demo" in out
    assert ":label: full-eq-demo" in out and "{eq}`full-eq-demo`" in out
    assert "{numref}`full-fig-demo`" in out and "{ref}`back <full-demo>`" in out
    assert "[x](#full-demo)" in out
    assert "{ref}`other <intro>`" in out  # another page's label is left alone
    assert "the demo word" in out  # plain text is not touched


def test_archive_is_complete_and_replaced_atomically(tmp_path, monkeypatch):
    notebook, results = fake_run(tmp_path / "run")
    root = tmp_path / "archive"
    dest = archive.archive_chapter("demo", "full", notebook, results, ["python", "-m", "x"], root)
    assert dest == root / "full" / "demo"
    assert sorted(p.name for p in dest.iterdir()) == ["archive.json", "code", "demo.ipynb",
                                                       "results"]
    # the code the page shows is kept as it was when the run was made
    assert (dest / "code" / "lib" / "core" / "memo.py").read_bytes() == \
        (REPO_ROOT / "lib" / "core" / "memo.py").read_bytes()
    meta = json.loads((dest / "archive.json").read_text())
    assert meta["device_name"] == "NVIDIA H100 80GB HBM3" and meta["runtime_s"] == 600.0
    assert meta["profile"] == "full" and meta["command"] == ["python", "-m", "x"]
    assert len(meta["git_commit"]) == 40 and isinstance(meta["git_dirty"], bool)

    # a second archive that dies half way leaves the first one whole and nothing else visible
    def broken_copytree(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(archive.shutil, "copytree", broken_copytree)
    with pytest.raises(OSError):
        archive.archive_chapter("demo", "full", notebook, results, ["again"], root)
    runs = archive.archived_runs(root)
    assert [(r.profile, r.chapter) for r in runs] == [("full", "demo")]
    assert runs[0].meta["command"] == ["python", "-m", "x"]


def test_archive_refuses_a_missing_or_mismatched_run(tmp_path):
    notebook, results = fake_run(tmp_path / "run", profile="default")
    with pytest.raises(BookError, match="not 'full'"):
        archive.archive_chapter("demo", "full", notebook, results, [], tmp_path / "a")
    (results / "environment.json").unlink()
    with pytest.raises(BookError, match="no finished"):
        archive.archive_chapter("demo", "default", notebook, results, [], tmp_path / "a")
    assert archive.archived_runs(tmp_path / "a") == []


def test_incomplete_folders_are_not_archived_runs(tmp_path):
    (tmp_path / "full" / "demo").mkdir(parents=True)
    (tmp_path / "full" / "demo" / "demo.ipynb").write_text("{}")  # no archive.json
    assert archive.archived_runs(tmp_path) == []


def test_staged_page_and_index(tmp_path):
    notebook, results = fake_run(tmp_path / "run")
    root = tmp_path / "archive"
    archive.archive_chapter("demo", "full", notebook, results, ["cmd"], root)
    stage = tmp_path / "stage"
    (stage / "book").mkdir(parents=True)
    built = nbformat.v4.new_notebook()
    built.cells = [nbformat.v4.new_markdown_cell("(demo)=\n# Demo chapter\n\nText.")]
    nbformat.write(built, stage / "book" / "demo.ipynb")
    (stage / "results" / "default" / "demo").mkdir(parents=True)
    (stage / "results" / "default" / "demo" / "claims.json").write_text(json.dumps([
        {"id": "c1", "claim": "loss falls as 1/width", "estimate": 0.7, "ci_low": 0.6,
         "ci_high": 0.8, "paper_value": 1.0, "verdict": "not_held"}]))

    docs = archive.stage_archives(stage, ["demo", "other"], "default", root,
                                  differences={"other": [("steps", 2000, 80000)]})
    assert docs == ["book/paper_scale", "book/demo-full"]
    page = nbformat.read(stage / "book" / "demo-full.ipynb", as_version=4)
    text = "\n".join(c.source for c in page.cells if c.cell_type == "markdown")
    assert "# Demo chapter (full profile, NVIDIA H100 80GB HBM3, 2026-" in text
    assert "Archived full-profile run" in text and "(full-demo)=" in text
    assert ":name: full-fig-demo" in text and "{numref}`full-fig-demo`" in text
    out = page.cells[1].outputs[0]["data"]["text/markdown"]
    assert "</archive/full/demo/results/a.csv>" in out
    assert "</archive/full/demo/demo.ipynb>" in out
    assert (stage / "archive" / "full" / "demo" / "results" / "a.csv").exists()
    assert "{literalinclude} ../archive/full/demo/code/lib/core/memo.py" in text
    assert (stage / "archive" / "full" / "demo" / "code" / "lib" / "core" / "memo.py").exists()
    chapter = nbformat.read(stage / "book" / "demo.ipynb", as_version=4)
    assert "{doc}`full profile on NVIDIA H100" in chapter.cells[0].source
    index = (stage / "book" / "paper_scale.md").read_text()
    assert "0.7 [0.6, 0.8], not held" in index and "0.98 [0.9, 1.05], held" in index
    assert "archive other --profile full --device cuda" in index  # how to make the missing one
    assert "### other" in index and "| `steps` | `2000` | `80000` |" in index


@pytest.mark.slow
def test_archived_run_builds_beside_the_chapter(smoke_html, tmp_path):
    """Archive a chapter's executed smoke run, then build intro + that chapter strictly with
    the archive in place: the archived page is there, labelled, and the chapter links to it."""
    chapter = "es_curvature"
    executed = smoke_html.parents[2] / "executed" / "smoke"
    build_dir = tmp_path / "build"  # the session's build is left as it is for other tests
    shutil.copytree(executed, build_dir / "executed" / "smoke")
    notebook = executed / f"{chapter}.ipynb"
    root = tmp_path / "archive"
    archive.archive_chapter(chapter, "smoke", notebook, REPO_ROOT / "results" / "smoke" / chapter,
                            ["python", "-m", "lib.book", "archive", chapter], root)
    toc = tmp_path / "toc.yml"
    toc.write_text(f"format: jb-book\nroot: book/intro\nchapters:\n  - file: book/{chapter}\n")
    env = {**os.environ, "BOOK_BUILD_DIR": str(build_dir), "BOOK_TOC": str(toc),
           "BOOK_ARCHIVE_DIR": str(root)}
    proc = subprocess.run([sys.executable, "-m", "lib.book", "build", "--profile", "smoke"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the chapter's executed notebook was reused (the introduction re-runs: its dashboard
    # depends on which chapters this smaller table of contents holds)
    assert re.search(rf"{chapter}\s+cached", proc.stdout), proc.stdout
    html = build_dir / "html-smoke" / "_build" / "html" / "book"
    page = page_text((html / f"{chapter}-smoke.html").read_text())
    assert "Archived smoke-profile run" in page and "not re-run when the book is built" in page
    assert "Traceback" not in page
    assert (html / "paper_scale.html").exists()
    assert f'href="{chapter}-smoke.html"' in (html / f"{chapter}.html").read_text()
