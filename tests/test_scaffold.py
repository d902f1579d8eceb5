"""Fork in one command: a scaffolded chapter builds strictly on the first try, its own tests
pass, and bad or taken names are refused before anything is written."""

import os
import shutil
import subprocess
import sys

import pytest

from lib.book.scaffold import new_chapter
from lib.core.params import ParameterError
from lib.core.results import REPO_ROOT
from tests.html import page_text

pytestmark = pytest.mark.slow


@pytest.fixture()
def repo_copy(tmp_path):
    for name in ("lib", "data", "benchmarks"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("requirements.txt", "_config.yml", "references.bib"):
        shutil.copy2(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "book").mkdir()
    (tmp_path / "tests").mkdir()
    shutil.copy2(REPO_ROOT / "book" / "intro.md", tmp_path / "book" / "intro.md")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters: []\n")
    return tmp_path


def test_scaffolded_chapter_builds_strictly_and_its_tests_pass(repo_copy):
    env = {**os.environ, "PYTHONPATH": str(repo_copy),
           "BOOK_BUILD_DIR": str(repo_copy / "_build")}
    env.pop("BOOK_TOC", None)
    made = subprocess.run([sys.executable, "-m", "lib.book", "new-chapter", "my_study"],
                          cwd=repo_copy, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert "book/my_study" in (repo_copy / "_toc.yml").read_text()
    built = subprocess.run([sys.executable, "-m", "lib.book", "build", "--profile", "smoke"],
                           cwd=repo_copy, env=env, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    page = repo_copy / "_build" / "html-smoke" / "_build" / "html" / "book" / "my_study.html"
    text = page_text(page.read_text())
    assert "Verdict:" in text and "Traceback" not in text
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "tests/test_my_study.py"], cwd=repo_copy, env=env,
                           capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout
    assert "3 passed" in tests.stdout


@pytest.mark.parametrize("name", ["Bad-Name", "1abc", "class", "core", "x"])
def test_bad_names_are_refused_before_writing(repo_copy, name):
    before = sorted(p.name for p in (repo_copy / "lib").iterdir())
    with pytest.raises(ParameterError, match="chapter name"):
        new_chapter(name, repo_copy)
    assert sorted(p.name for p in (repo_copy / "lib").iterdir()) == before


def test_taken_name_is_refused(repo_copy):
    new_chapter("my_study", repo_copy)
    with pytest.raises(ParameterError, match="taken"):
        new_chapter("my_study", repo_copy)
