"""Execute the book's chapters with papermill, cache them, stage them and build the HTML.

Pipeline (``shared/DESIGN.md``): chapter source (jupytext MyST ``.md``) -> parameters resolved
from the chapter's parameter model, ``book/params/<chapter>/<profile>.yaml`` and ``-p``
overrides, validated before anything runs -> papermill (in memory, no ``.ipynb`` in ``book/``)
-> ``_build/executed/<profile>/<chapter>.ipynb`` -> a staged copy of the book with executed
notebooks -> ``jupyter-book build -W -n --keep-going`` with execution off.

The cache key of a chapter covers its source, every file under ``lib/`` and ``data/``, the
resolved parameters, ``requirements.txt`` and, for chapters of a later stage (the universality
chapter, the introduction), the results of the chapters they read. jupyter-cache alone would miss
a change in ``lib/`` (``shared/notes/ecosystem.md`` §1.3).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lib.book.assets import MATHJAX_ENTRY, mathjax_dir
from lib.core.params import ChapterParams, ParameterError
from lib.core.results import REPO_ROOT, atomic_write_text

PROFILES = ("smoke", "default", "full")
# BOOK_BUILD_DIR lets several people (or tests) build side by side without sharing a stage.
BUILD = Path(os.environ.get("BOOK_BUILD_DIR", REPO_ROOT / "_build")).resolve()
# BOOK_TOC names another table of contents (e.g. intro + one chapter while drafting it).
TOC = Path(os.environ.get("BOOK_TOC", REPO_ROOT / "_toc.yml")).resolve()


class BookError(RuntimeError):
    """A chapter failed or the build failed; the message says which and why."""


@dataclass
class Page:
    """One entry of ``_toc.yml``: a notebook chapter (executed) or a plain markdown page."""

    name: str  # e.g. "one_third_time"
    docname: str  # e.g. "book/one_third_time"
    source: Path
    notebook: bool
    stage: int = 1
    params_model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    key: str = ""

    @property
    def model(self) -> type[ChapterParams]:
        if not self.params_model:
            return ChapterParams
        module, _, attr = self.params_model.partition(":")
        return getattr(importlib.import_module(module), attr)


# ---- discovering pages ---------------------------------------------------------------------


def toc_docnames(root: Path = REPO_ROOT) -> list[str]:
    """Docnames in ``_toc.yml`` order (root first, then chapters and sections)."""
    toc = yaml.safe_load((TOC if root == REPO_ROOT else root / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries: Iterable[dict[str, Any]]) -> None:
        for e in entries:
            if "file" in e:
                names.append(e["file"])
            walk(e.get("sections", []))
            for part in e.get("parts", []):
                walk(part.get("chapters", []))
            walk(e.get("chapters", []))

    walk(toc.get("chapters", []))
    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return names


def discover(root: Path = REPO_ROOT) -> list[Page]:
    """Every page of the book with its kind, stage and parameter model."""
    import jupytext

    pages = []
    for doc in toc_docnames(root):
        src = root / f"{doc}.md"
        if not src.exists():
            raise BookError(f"_toc.yml lists '{doc}' but {src.relative_to(root)} does not exist")
        text = src.read_text()
        is_nb = text.startswith("---") and "kernelspec:" in text.split("\n---", 2)[0]
        meta = jupytext.reads(text, fmt="md:myst").metadata.get("book", {}) if is_nb else {}
        pages.append(
            Page(
                name=Path(doc).name,
                docname=doc,
                source=src,
                notebook=is_nb,
                stage=int(meta.get("stage", 1)),
                params_model=meta.get("params_model"),
            )
        )
    return pages


# ---- parameters ----------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A ``-p`` value: numbers (``1e-3`` too), booleans, lists (``[8,16]``), else a string."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if value is None and text.strip().lower() not in ("null", "none", "~") else value


def resolve_params(
    page: Page, profile: str, overrides: dict[str, Any], root: Path = REPO_ROOT
) -> dict[str, Any]:
    """Model defaults, then the profile file, then overrides; validated (ParameterError)."""
    values: dict[str, Any] = {}
    pfile = root / "book" / "params" / page.name / f"{profile}.yaml"
    if pfile.exists():
        values.update(yaml.safe_load(pfile.read_text()) or {})
    values.update(overrides)
    values["profile"] = profile
    try:
        params = page.model.validated(values)
    except ParameterError as err:
        raise ParameterError(f"chapter '{page.name}' ({profile} profile): {err}") from None
    return params.model_dump()


# ---- cache ---------------------------------------------------------------------------------


def _hash_tree(h: Any, folder: Path, root: Path) -> None:
    if not folder.exists():
        return
    for f in sorted(folder.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())


def cache_key(page: Page, profile: str, root: Path = REPO_ROOT,
              upstream: set[str] | None = None) -> str:
    """sha256 of what the chapter's output depends on (see module docstring). A later-stage
    page's key covers the results of ``upstream`` (the pages of earlier stages, which it reads),
    not its own nor those of its stage, which it writes or runs beside: otherwise every build
    would find it stale."""
    h = hashlib.sha256()
    h.update(page.source.read_bytes())
    h.update(json.dumps(page.params, sort_keys=True, default=str).encode())
    h.update((root / "requirements.txt").read_bytes())
    _hash_tree(h, root / "lib", root)
    _hash_tree(h, root / "data", root)
    _hash_tree(h, root / "benchmarks", root)
    if page.stage > 1:  # reads earlier chapters' results
        for f in sorted((root / "results" / profile).glob("*/*.json")):
            if upstream is not None and f.parent.name not in upstream:
                continue
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def executed_path(page: Page, profile: str) -> Path:
    return BUILD / "executed" / profile / f"{page.name}.ipynb"


def is_cached(page: Page, profile: str) -> bool:
    path = executed_path(page, profile)
    if not path.exists():
        return False
    try:
        meta = json.loads(path.read_text())["metadata"]
    except (json.JSONDecodeError, KeyError):
        return False
    return meta.get("book", {}).get("cache_key") == page.key and not meta.get(
        "papermill", {}
    ).get("exception")


# ---- execution -----------------------------------------------------------------------------


def execute(page: Page, profile: str, timeout: int, log: bool = False) -> float:
    """Run one chapter with papermill; write the executed notebook atomically. On failure keep
    the partial notebook as ``<chapter>.failed.ipynb`` and raise BookError naming the cell."""
    import jupytext
    import nbformat
    import papermill as pm

    nb = jupytext.read(page.source)
    declared = parameters_cell_names(nb)
    params = {k: v for k, v in page.params.items() if k in declared}
    nb.metadata.setdefault("book", {})["cache_key"] = page.key
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    out = executed_path(page, profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.ipynb")
    failed = out.with_suffix(".failed.ipynb")
    started = time.time()
    try:
        pm.execute_notebook(
            nb,
            str(partial),
            parameters=params,
            kernel_name="python3",
            cwd=str(REPO_ROOT / "book"),
            progress_bar=False,
            log_output=log,
            execution_timeout=timeout,
            report_mode=False,
        )
    except pm.PapermillExecutionError as err:
        partial.replace(failed)
        raise BookError(
            f"chapter '{page.name}' failed in cell {err.cell_index} (In [{err.exec_count}]): "
            f"{err.ename}: {err.evalue}\n  partial executed notebook kept at "
            f"{_shown(failed)}"
        ) from None
    except BaseException:
        if partial.exists():
            partial.replace(failed)
        raise
    executed = nbformat.read(partial, as_version=4)
    _hide_injected_parameters(executed)
    atomic_write_text(out, nbformat.writes(executed))
    partial.unlink(missing_ok=True)
    failed.unlink(missing_ok=True)
    return time.time() - started


def parameters_cell_names(nb: Any) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell (``name: type = value`` or
    ``name = value`` at the start of a line)."""
    import re

    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            return set(re.findall(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=", cell.source, re.M))
    return set()


def _hide_injected_parameters(nb: Any) -> None:
    """Show papermill's injected cell like the parameters cell it overrides (same display tags),
    collapsed: its values are also in the page's reproducibility box."""
    display = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
    tags_of_parameters: set[str] = set()
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if "parameters" in tags:
            tags_of_parameters = tags & display
            cell.metadata["tags"] = sorted(tags | ({"hide-input"} if not tags & display else set()))
        elif "injected-parameters" in tags:
            extra = tags_of_parameters or {"hide-input"}
            cell.metadata["tags"] = sorted(tags | extra)


# ---- staging and building ------------------------------------------------------------------


def stage(pages: list[Page], profile: str, root: Path = REPO_ROOT) -> Path:
    """A copy of the book with executed notebooks in place of the sources, execution off."""
    dest = BUILD / "stage" / profile
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "book").mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    mathjax = mathjax_dir()
    if mathjax is not None:  # render math offline (see lib/book/assets.py)
        shutil.copytree(mathjax, dest / "_static" / "mathjax")
        sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
        sphinx_config["mathjax_path"] = f"mathjax/{MATHJAX_ENTRY}"
    (dest / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy2(TOC if root == REPO_ROOT else root / "_toc.yml", dest / "_toc.yml")
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
    from lib.book.archive import stage_archives

    chapters = [p.name for p in pages if p.notebook and p.docname != pages[0].docname]
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
    toc_file = dest / "_toc.yml"
    toc = yaml.safe_load(toc_file.read_text())
    entry: dict[str, Any] = {"file": docnames[0]}
    if docnames[1:]:
        entry["sections"] = [{"file": d} for d in docnames[1:]]
    toc.setdefault("chapters", []).append(entry)
    toc_file.write_text(yaml.safe_dump(toc, sort_keys=False))


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


# ---- the whole run -------------------------------------------------------------------------


def plan(
    profile: str,
    only: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    root: Path = REPO_ROOT,
) -> list[Page]:
    """Discover pages and resolve/validate every chapter's parameters before running any."""
    if profile not in PROFILES:
        raise ParameterError(f"profile {profile!r} is unknown; allowed: {', '.join(PROFILES)}")
    pages = discover(root)
    names = {p.name for p in pages}
    for name in only or []:
        if name not in names:
            raise ParameterError(f"chapter {name!r} is not in _toc.yml; chapters: "
                                 + ", ".join(p.name for p in pages if p.notebook))
    overrides = overrides or {}
    notebooks = [p for p in pages if p.notebook]
    if not only:  # book-wide overrides go to every chapter that has the parameter
        used = {k for p in notebooks for k in overrides if k in p.model.model_fields}
        unknown = sorted(set(overrides) - used)
        if unknown:
            raise ParameterError(f"parameter(s) {', '.join(unknown)} exist in no chapter")
    for page in notebooks:
        if only:
            mine = overrides if page.name in only else {}
        else:
            mine = {k: v for k, v in overrides.items() if k in page.model.model_fields}
        page.params = resolve_params(page, profile, mine, root)
    return pages


def run_book(
    profile: str = "default",
    only: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    jobs: int = 1,
    build: bool = True,
    execute_only_selected: bool = False,
    timeout: int = 3600,
    log: bool = False,
) -> Path | None:
    """Execute what is stale (by stage, ``jobs`` chapters at a time), then stage and build."""
    pages = plan(profile, only, overrides)
    notebooks = [p for p in pages if p.notebook]
    if execute_only_selected and only:
        notebooks = [p for p in notebooks if p.name in only]
    total = len(notebooks)
    # torch threads per chapter: BOOK_THREADS if the caller set it, else the cores shared out
    threads = int(os.environ.get("BOOK_THREADS", "0")) or max(
        1, (os.cpu_count() or 1) // max(1, jobs))
    os.environ["BOOK_THREADS"] = str(threads)  # torch threads per chapter (lib.core.device)
    os.environ.setdefault("BOOK_MEMO_DIR", str(BUILD / "memo"))  # lib/core/memo.py
    # BLAS inside numpy/scipy: small fits run many times slower (in CPU time) with threads
    # spinning on 2 cores, and chapters run side by side with -j; one thread each.
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = "1" if var != "OMP_NUM_THREADS" else str(threads)
    failures: list[str] = []
    done = 0
    for stage_no in sorted({p.stage for p in notebooks}):
        group = [p for p in notebooks if p.stage == stage_no]
        todo = []
        for page in group:
            page.key = cache_key(page, profile,
                                 upstream={p.name for p in pages
                                           if p.notebook and p.stage < page.stage})
            selected = not only or page.name in only
            if is_cached(page, profile) and not (force and selected):
                done += 1
                print(f"[{done}/{total}] {page.name:<18} cached", flush=True)
            else:
                if force and selected:  # from scratch: no stored sweep results either
                    shutil.rmtree(Path(os.environ["BOOK_MEMO_DIR"]) / profile / page.name,
                                  ignore_errors=True)
                todo.append(page)

        def work(page: Page) -> tuple[Page, float | None, str | None]:
            try:
                return page, execute(page, profile, timeout, log), None
            except BookError as err:
                return page, None, str(err)

        for i, page in enumerate(todo):
            print(f"[{done + i + 1}/{total}] {page.name:<18} running ({profile})", flush=True)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for page, seconds, error in pool.map(work, todo):
                done += 1
                if error:
                    failures.append(error)
                    print(f"[{done}/{total}] {page.name:<18} FAILED", flush=True)
                else:
                    print(f"[{done}/{total}] {page.name:<18} done in {seconds:.1f} s", flush=True)
        if failures:
            break
    if failures:
        raise BookError("\n".join(failures))
    if not build:
        return None
    staged = stage(pages, profile)
    index = build_html(staged, profile)
    print(f"book built: {index}", flush=True)
    return index


def _shown(path: Path) -> str:
    """A path relative to the repository when inside it (shorter messages), else as is."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
