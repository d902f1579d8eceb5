"""Execute chapters with papermill, each in a kernel of its own, and keep them cached.

A chapter's executed notebook is ``<build>/executed/<profile>/<chapter>.ipynb``, written
atomically, with its cache key in its metadata. The key covers the chapter's source, every file
under ``lib/``, ``data/``, ``benchmarks/`` and ``book/params/family/`` (the shared GPT family's
profiles), the resolved parameters, ``requirements.txt`` and,
for chapters of a later stage (the universality chapter, the introduction), the results of the
chapters they read. jupyter-cache alone would miss a change in ``lib/``
(``shared/notes/ecosystem.md`` §1.3).

The kernel's threads and memo folder are given to the kernel's process (:func:`kernel_env`);
the runner's own environment is left as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

from lib.book.pages import BookError, Page
from lib.book.settings import BUILD, MEMO_DIR, THREADS
from lib.core.device import THREADS_VAR
from lib.core.memo import MEMO_DIR_VAR
from lib.core.results import REPO_ROOT, atomic_write_text

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
    _hash_tree(h, root / "book" / "params" / "family", root)  # the shared GPT family's profiles
    if page.stage > 1:  # reads earlier chapters' results
        for f in sorted((root / "results" / profile).glob("*/*.json")):
            if upstream is not None and f.parent.name not in upstream:
                continue
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def executed_path(page: Page, profile: str) -> Path:
    return BUILD / "executed" / profile / f"{page.name}.ipynb"


def is_cached(page: Page, profile: str, key: str) -> bool:
    """Whether the executed notebook on disk is whole, unfailed and made with ``key``."""
    path = executed_path(page, profile)
    if not path.exists():
        return False
    try:
        meta = json.loads(path.read_text())["metadata"]
    except (json.JSONDecodeError, KeyError):
        return False
    return meta.get("book", {}).get("cache_key") == key and not meta.get(
        "papermill", {}
    ).get("exception")


# ---- one chapter ---------------------------------------------------------------------------


def kernel_env(threads: int) -> dict[str, str]:
    """What a chapter's kernel adds to the runner's environment: its torch threads
    (``lib.core.device.set_threads``), its memo folder (``lib.core.memo``), and one BLAS thread
    for numpy/scipy (small fits run many times slower, in CPU time, with threads spinning on
    shared cores, and chapters run side by side with ``-j``)."""
    return {THREADS_VAR: str(threads), MEMO_DIR_VAR: str(MEMO_DIR),
            "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": str(threads)}


class _KernelManager(AsyncKernelManager):
    """Starts the kernel with ``extra_env`` on top of the runner's environment."""

    extra_env: dict[str, str] = {}

    async def start_kernel(self, **kw: Any) -> None:
        kw["env"] = {**os.environ, **kw.get("env", {}), **self.extra_env}
        await super().start_kernel(**kw)


def execute(page: Page, profile: str, key: str, threads: int, timeout: int,
            log: bool = False) -> float:
    """Run one chapter with papermill; write the executed notebook atomically, ``key`` in its
    metadata. On failure keep the partial notebook as ``<chapter>.failed.ipynb`` and raise
    BookError naming the cell."""
    import jupytext
    import nbformat
    import papermill as pm

    nb = jupytext.read(page.source)
    declared = parameters_cell_names(nb)
    params = {k: v for k, v in page.params.items() if k in declared}
    nb.metadata.setdefault("book", {})["cache_key"] = key
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    out = executed_path(page, profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.ipynb")
    failed = out.with_suffix(".failed.ipynb")
    manager = type("ChapterKernelManager", (_KernelManager,), {"extra_env": kernel_env(threads)})
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
            kernel_manager_class=manager,
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


def _shown(path: Path) -> str:
    """A path relative to the repository when inside it (shorter messages), else as is."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# ---- every stale chapter -------------------------------------------------------------------


def execute_stale(pages: list[Page], profile: str, chapters: list[str] | None = None,
                  force: Collection[str] = (), jobs: int = 1, timeout: int = 3600,
                  log: bool = False) -> None:
    """Execute the notebook pages (those named in ``chapters``; all when None) whose executed
    copy is stale, stage by stage, ``jobs`` at a time; the ones named in ``force`` re-run from
    scratch. Raise BookError with every failure of the first stage that had one."""
    notebooks = [p for p in pages if p.notebook and (chapters is None or p.name in chapters)]
    threads = THREADS or max(1, (os.cpu_count() or 1) // max(1, jobs))
    total = len(notebooks)
    failures: list[str] = []
    done = 0
    for stage_no in sorted({p.stage for p in notebooks}):
        # a later stage reads every earlier-stage chapter of the book, executed now or not
        upstream = {p.name for p in pages if p.notebook and p.stage < stage_no}
        todo: list[tuple[Page, str]] = []
        for page in (p for p in notebooks if p.stage == stage_no):
            key = cache_key(page, profile, upstream=upstream)
            if is_cached(page, profile, key) and page.name not in force:
                done += 1
                print(f"[{done}/{total}] {page.name:<18} cached", flush=True)
                continue
            if page.name in force:  # from scratch: no stored sweep results either
                shutil.rmtree(MEMO_DIR / profile / page.name, ignore_errors=True)
            todo.append((page, key))

        def work(item: tuple[Page, str]) -> tuple[Page, float | None, str | None]:
            page, key = item
            try:
                return page, execute(page, profile, key, threads, timeout, log), None
            except BookError as err:
                return page, None, str(err)

        for i, (page, _) in enumerate(todo):
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
            raise BookError("\n".join(failures))
