"""The runner end to end, in a temporary copy of the repository with a tiny chapter:
cache hits and misses (a lib/ edit re-runs), -p overrides reach the page, a failing chapter fails
naming the cell and exception, bad parameters fail before any compute, a killed run leaves no
executed notebook that looks whole and the next run recovers without --force."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib.core.results import REPO_ROOT
from tests.html import page_text

pytestmark = pytest.mark.slow

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
book:
  params_model: lib.core.params:ChapterParams
---
"""

TINY = HEADER + """
# Tiny

```{code-cell} ipython3
:tags: [parameters]

profile: str = "default"  # parameter profile
seed: int = 0  # base random seed
device: str = "cpu"  # cpu or cuda
results_dir: str = ""  # where results go
```

```{code-cell} ipython3
from lib.core.chapter import ChapterRun
from lib.core.params import ChapterParams

run = ChapterRun("tiny", ChapterParams.from_namespace(globals()))
run.glue("the_seed", seed, "d")
run.glue("half", 0.5, ".3f")
run.claim(id="t", claim="tiny claim", kind="toy_test", quantity="seed", estimate=float(seed),
          ci_low=-1.0, ci_high=10.0, target=5.0, tol=20.0)
```

The seed of this run is SEED={glue:text}`the_seed`. Trailing zeros stay: HALF={glue:text}`half`.

```{code-cell} ipython3
run.boxes()
```
"""

FAIL_CELL = """
```{code-cell} ipython3
raise ValueError("boom")
```
"""

SLOW_CELL = """
```{code-cell} ipython3
import os, time
(run.results_dir / "started").write_text(str(os.getpid()))  # the kernel, for the test to stop
time.sleep(600)
```
"""


def _copy_repo(dest: Path) -> None:
    for name in ("lib", "data"):
        shutil.copytree(REPO_ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("requirements.txt", "_config.yml", "references.bib"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    (dest / "book").mkdir()
    shutil.copy2(REPO_ROOT / "book" / "intro.md", dest / "book" / "intro.md")
    (dest / "book" / "tiny.md").write_text(TINY)
    (dest / "book" / "broken.md").write_text(TINY.replace('"tiny"', '"broken"') + FAIL_CELL)
    (dest / "book" / "slow.md").write_text(TINY.replace('"tiny"', '"slow"')
                                           .replace("run.boxes()", SLOW_CELL.strip("`\n")
                                                    .split("\n", 1)[1].rsplit("\n", 1)[0]))
    _toc(dest, ["tiny"])


def _toc(dest: Path, chapters: list[str]) -> None:
    lines = ["format: jb-book", "root: book/intro", "chapters:"]
    lines += [f"  - file: book/{c}" for c in chapters]
    (dest / "_toc.yml").write_text("\n".join(lines) + "\n")


def _env(root: Path) -> dict[str, str]:
    """The runner's environment for the copy at ``root`` (its own build folder and toc)."""
    env = {**os.environ, "PYTHONPATH": str(root), "BOOK_BUILD_DIR": str(root / "_build")}
    env.pop("BOOK_TOC", None)
    return env


def book(root: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lib.book", *args], cwd=root, env=_env(root),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    _copy_repo(root)
    first = book(root, "build", "--profile", "smoke")
    assert first.returncode == 0, first.stderr + first.stdout
    return root


def _page(root: Path, name: str) -> str:
    html = (root / "_build" / "html-smoke" / "_build" / "html" / "book" / f"{name}.html")
    return page_text(html.read_text())


def test_build_renders_glued_numbers_and_dashboard(repo):
    assert "SEED=0." in _page(repo, "tiny")
    assert "HALF=0.500." in _page(repo, "tiny")
    intro = _page(repo, "intro")
    assert "tiny claim" in intro and "Traceback" not in intro


def test_nothing_changed_runs_nothing(repo):
    out = book(repo, "build", "--profile", "smoke")
    assert out.returncode == 0, out.stderr
    assert "tiny" in out.stdout and "cached" in out.stdout and "running" not in out.stdout


def test_late_page_writing_results_is_cached_on_the_next_run(repo):
    """A later-stage page that reads earlier results and writes its own (like the Performance
    page) is not made stale by what it wrote itself."""
    late = TINY.replace('"tiny"', '"late"').replace(
        "  params_model: lib.core.params:ChapterParams", "  params_model: lib.core.params:"
        "ChapterParams\n  stage: 3").replace("run.boxes()", "run.boxes()  # writes results")
    (repo / "book" / "late.md").write_text(late)
    _toc(repo, ["tiny", "late"])
    try:
        first = book(repo, "run", "tiny", "late", "--profile", "smoke")
        assert first.returncode == 0, first.stderr
        assert (repo / "results" / "smoke" / "late" / "environment.json").exists()
        again = book(repo, "run", "tiny", "late", "--profile", "smoke")
        assert again.returncode == 0, again.stderr
        assert "running" not in again.stdout, again.stdout
    finally:
        _toc(repo, ["tiny"])


def test_lib_edit_reruns_chapters(repo):
    target = repo / "lib" / "core" / "fit.py"
    target.write_text(target.read_text() + "\n# an edit\n")
    out = book(repo, "build", "--profile", "smoke")
    assert out.returncode == 0, out.stderr
    assert "tiny               running" in out.stdout


def test_override_reaches_rendered_page(repo):
    out = book(repo, "build", "--profile", "smoke", "--only", "tiny", "-p", "seed", "5")
    assert out.returncode == 0, out.stderr
    assert "SEED=5." in _page(repo, "tiny")
    # the dashboard (stage 3) re-ran because tiny's claims changed
    assert "intro              running" in out.stdout


def test_bad_parameter_fails_before_any_compute(repo):
    t0 = time.time()
    out = book(repo, "run", "tiny", "--profile", "smoke", "-p", "seed", "-1")
    assert out.returncode == 2
    assert "'seed'" in out.stderr and ">= 0" in out.stderr
    assert "running" not in out.stdout
    assert time.time() - t0 < 30  # interpreter start + imports only, no kernel
    out = book(repo, "run", "tiny", "--profile", "smoke", "-p", "steps", "3")
    assert out.returncode == 2 and "'steps' is unknown" in out.stderr


def test_failing_chapter_fails_naming_cell_and_exception(repo):
    _toc(repo, ["tiny", "broken"])
    try:
        out = book(repo, "build", "--profile", "smoke")
    finally:
        _toc(repo, ["tiny"])
    assert out.returncode == 1
    assert "chapter 'broken' failed in cell" in out.stderr
    assert "ValueError: boom" in out.stderr
    assert (repo / "_build" / "executed" / "smoke" / "broken.failed.ipynb").exists()
    assert not (repo / "_build" / "executed" / "smoke" / "broken.ipynb").exists()


def test_killed_run_leaves_nothing_whole_and_next_run_recovers(repo):
    _toc(repo, ["tiny", "slow"])
    executed = repo / "_build" / "executed" / "smoke" / "slow.ipynb"
    results = repo / "results" / "smoke" / "slow"
    started = results / "started"
    shutil.rmtree(results, ignore_errors=True)
    executed.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "lib.book", "run", "slow", "--profile",
                             "smoke"], cwd=repo, env=_env(repo), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, kernel = time.time() + 240, ""
    while not kernel and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)  # the marker exists a moment before the pid is written into it
        kernel = started.read_text().strip() if started.exists() else ""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    output = proc.communicate()[0]
    if kernel.isdigit():  # the kernel runs in a session of its own: stop it too
        try:
            os.kill(int(kernel), signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert kernel, f"the slow chapter never started:\n{output}"
    # the runner died mid-chapter (the cell sleeps 600 s): nothing may look finished
    assert not executed.exists(), output
    assert not (results / "claims.json").exists(), output
    # recover without --force: the chapter is not taken as cached (it re-runs)
    (repo / "book" / "slow.md").write_text(
        (repo / "book" / "slow.md").read_text().replace("time.sleep(600)", "time.sleep(0)"))
    out = book(repo, "run", "slow", "--profile", "smoke")
    _toc(repo, ["tiny"])
    assert out.returncode == 0, out.stderr
    assert "slow               running" in out.stdout and executed.exists()
