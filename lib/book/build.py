"""Build the HTML book from executed chapters: a staged copy of the book with the executed
notebooks in place of the sources (and the archived runs as pages of their own), then
``jupyter-book build -W -n --keep-going`` with execution off.

:func:`build_book` is the whole run: plan (parameters validated before anything runs), execute
what is stale (``lib/book/execute.py``), stage, build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from lib.book.archive import stage_archives
from lib.book.assets import MATHJAX_ENTRY, copy_mathjax
from lib.book.execute import execute_stale, executed_path
from lib.book.pages import BookError, Page, plan, resolve_params, toc_file
from lib.book.settings import BUILD, SOURCE_ARCHIVE, SOURCE_DIR
from lib.core.params import ParameterError
from lib.core.results import REPO_ROOT

# The vendored MathJax goes to <html>/_static/mathjax/ through Sphinx's html_extra_path: not
# through html_static_path, where jupyter-book would add every .js file under it to every page.
MATHJAX_EXTRA = "_mathjax"
SOURCE_EXTRA = "_source"  # <html>/scaling-universality.tar.gz, also through html_extra_path


#: What a source tree without git holds that is not source (the .gitignore's folders): left out.
NOT_SOURCE = {".git", ".venv", "_build", "_vendor", "results", "__pycache__", ".pytest_cache",
              ".ruff_cache", ".hypothesis", ".whl"}


def source_files(root: Path = REPO_ROOT) -> list[str]:
    """The book's source files, relative to ``root``: git's tracked and unignored files of the
    working tree (uncommitted edits included), or, in a tree without git (an unpacked source
    archive), every file outside :data:`NOT_SOURCE` folders."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                            capture_output=True, text=True)
    if listed.returncode == 0 and (root / ".git").exists():
        names = [f for f in listed.stdout.split("\0") if f]
    else:
        names = []
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = [d for d in subfolders
                             if d not in NOT_SOURCE and not d.endswith(".egg-info")]
            rel = Path(folder).relative_to(root)
            names += [str(rel / f) for f in files if not f.endswith(".pyc")]
    return sorted(n for n in names if (root / n).is_file())


def write_source_archive(target: Path, root: Path = REPO_ROOT) -> Path:
    """The book's source as built (:func:`source_files`) as ``target``, unpacking to
    ``SOURCE_DIR/``."""
    import tarfile

    files = source_files(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for name in files:
            tar.add(root / name, arcname=f"{SOURCE_DIR}/{name}", recursive=False)
    tmp.replace(target)
    return target


def stage(pages: list[Page], profile: str, root: Path = REPO_ROOT) -> Path:
    """A copy of the book with executed notebooks in place of the sources, execution off."""
    dest = BUILD / "stage" / profile
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "book").mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    if copy_mathjax(dest / MATHJAX_EXTRA / "_static" / "mathjax"):  # math offline (assets.py)
        sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
        sphinx_config["mathjax_path"] = f"mathjax/{MATHJAX_ENTRY}"
        sphinx_config.setdefault("html_extra_path", []).append(MATHJAX_EXTRA)
    write_source_archive(dest / SOURCE_EXTRA / SOURCE_ARCHIVE, root)  # the re-run box links it
    config.setdefault("sphinx", {}).setdefault("config", {}).setdefault(
        "html_extra_path", []).append(SOURCE_EXTRA)
    (dest / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy2(toc_file(root), dest / "_toc.yml")
    for extra in ("references.bib", "_static", "book/figures"):
        src = root / extra
        if src.is_dir():
            shutil.copytree(src, dest / extra, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dest / extra)
    # lib/ sources, so chapters can {literalinclude} the code they call (../lib/...)
    shutil.copytree(root / "lib", dest / "lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "template"))
    for page in pages:
        target = dest / f"{page.docname}{'.ipynb' if page.notebook else '.md'}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(executed_path(page, profile) if page.notebook else page.source, target)
    results = root / "results" / profile
    if results.exists():
        shutil.copytree(results, dest / "results" / profile)
    add_archived_pages(dest, pages, profile)
    return dest


def add_archived_pages(dest: Path, pages: list[Page], profile: str) -> None:
    """The archived paper-scale runs (``lib/book/archive.py``) as pages after the chapters."""
    chapters = [p.name for p in pages if p.notebook and p.params_model]  # not intro/closing
    differences = {}
    for page in pages:
        if page.name in chapters and page.params and profile != "full":
            try:
                full = resolve_params(page, "full", {})
            except ParameterError:
                continue
            differences[page.name] = [(k, v, full[k]) for k, v in page.params.items()
                                      if k not in ("profile", "results_dir") and full.get(k) != v]
    docnames = stage_archives(dest, chapters, profile, differences=differences)
    if len(docnames) == 1:  # no archived run yet: the index page stays out of the contents
        (dest / f"{docnames[0]}.md").unlink()
        return
    toc_path = dest / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())
    entry: dict[str, Any] = {"file": docnames[0]}
    if docnames[1:]:
        entry["sections"] = [{"file": d} for d in docnames[1:]]
    toc.setdefault("chapters", []).append(entry)
    toc_path.write_text(yaml.safe_dump(toc, sort_keys=False))


def build_html(staged: Path, profile: str) -> Path:
    """``jupyter-book build -W -n --keep-going``; raise BookError with the warnings on failure."""
    out = BUILD / f"html-{profile}"
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", "-W", "-n", "--keep-going",
           str(staged), "--path-output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines()
                 if "WARNING" in ln or "ERROR" in ln or "Error" in ln]
        raise BookError("jupyter-book build failed (strict):\n  " + "\n  ".join(lines[-40:]))
    return out / "_build" / "html" / "index.html"


def build_book(profile: str = "default", only: list[str] | None = None,
               overrides: dict[str, Any] | None = None, force: bool = False, jobs: int = 1,
               timeout: int = 3600, log: bool = False) -> Path:
    """Execute what is stale (overrides apply to ``only`` when given, else book-wide; ``force``
    re-runs ``only``, else every chapter), then stage and build; return the index page."""
    pages = plan(profile, only, overrides)
    forced = (only or [p.name for p in pages]) if force else []
    execute_stale(pages, profile, force=forced, jobs=jobs, timeout=timeout, log=log)
    index = build_html(stage(pages, profile), profile)
    print(f"book built: {index}", flush=True)
    return index
