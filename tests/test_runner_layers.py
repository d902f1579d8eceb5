"""The runner's layers (lib/book): imports go one way, no module-level or lazy import closes a
circle; the runner gives a chapter's kernel its threads and memo folder without writing its own
process's environment; pages are immutable."""

import ast
import asyncio
import dataclasses
import os
from pathlib import Path

import nbformat
import pytest

from lib.book import execute as book_execute
from lib.book.pages import Page, discover, plan
from lib.core.results import REPO_ROOT

PACKAGE = REPO_ROOT / "lib" / "book"


def book_imports() -> dict[str, set[str]]:
    """Per module of lib/book, the lib.book modules it imports anywhere in its source (at the
    top, inside functions, ``from lib.book import x`` as well as ``import lib.book.x``)."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "lib.book":
                    found |= {a.name for a in node.names if a.name in modules}
                elif node.module.startswith("lib.book."):
                    found.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[2] for a in node.names
                          if a.name.startswith("lib.book.")}
        graph[path.stem] = found - {path.stem}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of the graph as a path (first == last), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return []


def test_cycle_finder_finds_a_lazy_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_lib_book_has_no_import_cycle():
    graph = book_imports()
    assert graph["cli"] >= {"build", "execute", "pages"}  # the scan sees the imports
    assert cycle(graph) == [], f"import circle in lib/book: {' -> '.join(cycle(graph))}"


def test_lib_book_layers_import_downwards_only():
    """pages at the bottom, then execute, archive, build, and the command line on top."""
    graph = book_imports()
    assert graph["pages"] <= {"settings"}
    assert graph["execute"] <= {"settings", "pages"}
    assert graph["archive"] <= {"settings", "pages"}
    assert graph["build"] <= {"settings", "pages", "assets", "execute", "archive"}
    assert not any("cli" in deps for name, deps in graph.items() if name != "__main__")


def test_pages_are_immutable_and_plan_returns_resolved_copies():
    pages = discover()
    with pytest.raises(dataclasses.FrozenInstanceError):
        pages[0].params = {}  # type: ignore[misc]
    planned = plan("smoke")
    chapter = next(p for p in planned if p.notebook and p.name != "intro")
    assert chapter.params["profile"] == "smoke"
    assert next(p for p in pages if p.name == chapter.name).params == {}


def test_kernel_gets_threads_and_memo_dir_and_runner_environment_is_untouched(
        tmp_path, monkeypatch):
    """``execute`` hands the kernel its environment through papermill's kernel manager; the
    runner's own os.environ is the same before and after."""
    source = tmp_path / "demo.md"
    source.write_text("---\njupytext:\n  text_representation:\n    extension: .md\n"
                      "    format_name: myst\nkernelspec:\n  display_name: Python 3\n"
                      "  language: python\n  name: python3\n---\n\n# Demo\n\n"
                      "```{code-cell} ipython3\n:tags: [parameters]\n\nseed = 0\n```\n")
    page = Page("demo", "book/demo", source, True, params={"seed": 3, "profile": "smoke"})
    seen: dict = {}

    def fake_papermill(nb, out, **kwargs):
        seen.update(kwargs)
        nbformat.write(nb, out)

    monkeypatch.setattr("papermill.execute_notebook", fake_papermill)
    monkeypatch.setattr(book_execute, "BUILD", tmp_path / "build")
    before = dict(os.environ)
    book_execute.execute(page, "smoke", "key", threads=3, timeout=60)
    assert dict(os.environ) == before
    assert seen["parameters"] == {"seed": 3}
    env = seen["kernel_manager_class"].extra_env
    assert env["BOOK_THREADS"] == "3" and env["OMP_NUM_THREADS"] == "3"
    assert env["OPENBLAS_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert Path(env["BOOK_MEMO_DIR"]).name == "memo"
    assert (tmp_path / "build" / "executed" / "smoke" / "demo.ipynb").exists()


def test_kernel_manager_starts_the_kernel_with_the_extra_environment(monkeypatch):
    captured: dict = {}

    async def fake_start(self, **kw):
        captured.update(kw)

    monkeypatch.setattr(book_execute.AsyncKernelManager, "start_kernel", fake_start)
    manager = type("M", (book_execute._KernelManager,), {"extra_env": {"BOOK_THREADS": "2"}})
    asyncio.run(manager().start_kernel(cwd="/tmp"))
    assert captured["env"]["BOOK_THREADS"] == "2" and captured["cwd"] == "/tmp"
    assert captured["env"]["PATH"] == os.environ["PATH"]  # on top of the runner's environment
