"""``python -m lib.book new-chapter NAME``: scaffold a chapter that builds on the first try.

It writes the chapter source, its params profiles, a ``lib/NAME/`` topic folder with a working
batched experiment built from ``lib/core``, a test file, and adds the chapter to ``_toc.yml``
(before the Performance page). Templates live in ``lib/book/template/``.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

import yaml

from lib.core.params import ParameterError
from lib.core.results import REPO_ROOT

TEMPLATES = Path(__file__).parent / "template"
RESERVED = {"core", "book", "template", "intro", "performance"}


def _targets(name: str, root: Path) -> dict[str, Path]:
    return {
        "chapter.md.tmpl": root / "book" / f"{name}.md",
        "params.py.tmpl": root / "lib" / name / "params.py",
        "experiment.py.tmpl": root / "lib" / name / "experiment.py",
        "test.py.tmpl": root / "tests" / f"test_{name}.py",
        "smoke.yaml.tmpl": root / "book" / "params" / name / "smoke.yaml",
        "full.yaml.tmpl": root / "book" / "params" / name / "full.yaml",
    }


def new_chapter(name: str, root: Path = REPO_ROOT) -> list[Path]:
    """Create the chapter ``name``; refuse bad or taken names before writing anything."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,40}", name) or keyword.iskeyword(name):
        raise ParameterError(
            f"chapter name {name!r}: use 2-41 lowercase letters, digits and underscores, "
            "starting with a letter (it becomes a Python package and a page name)")
    taken = (root / "lib" / name).exists() or (root / "book" / f"{name}.md").exists()
    if name in RESERVED or taken:
        raise ParameterError(f"chapter name {name!r} is taken; choose another")
    words = {"__NAME__": name,
             "__CLASS__": "".join(w.capitalize() for w in name.split("_")),
             "__TITLE__": name.replace("_", " ").capitalize()}
    written = []
    for template, target in _targets(name, root).items():
        text = (TEMPLATES / template).read_text()
        for key, value in words.items():
            text = text.replace(key, value)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    init = root / "lib" / name / "__init__.py"
    init.write_text(f'"""The {name} study: models and experiments for book/{name}.md."""\n')
    written.append(init)
    _add_to_toc(root / "_toc.yml", name)
    return written


def _add_to_toc(toc: Path, name: str) -> None:
    """Insert ``book/NAME`` before the closing chapter and the Performance page (or at the end),
    keeping comments."""
    text = toc.read_text()
    comments = [ln for ln in text.splitlines() if ln.startswith("#")]
    data = yaml.safe_load(text)
    chapters = data.get("chapters") or []
    files = [c.get("file") for c in chapters]
    at = next((files.index(f) for f in ("book/closing", "book/performance") if f in files),
              len(chapters))
    chapters.insert(at, {"file": f"book/{name}"})
    data["chapters"] = chapters
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    toc.write_text("\n".join(comments + [body]))
