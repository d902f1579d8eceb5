"""The book's pages and their parameters: what ``_toc.yml`` lists, and each chapter's parameters
resolved from its parameter model, ``book/params/<chapter>/<profile>.yaml`` and ``-p`` overrides,
validated before anything runs (the bottom layer of ``lib/book``; it imports no other part)."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lib.book.settings import TOC
from lib.core.params import ChapterParams, ParameterError
from lib.core.results import REPO_ROOT

PROFILES = ("smoke", "default", "long", "full")  # long: hours on a CPU, resumable


class BookError(RuntimeError):
    """A chapter failed or the build failed; the message says which and why."""


@dataclass(frozen=True)
class Page:
    """One entry of ``_toc.yml``: a notebook chapter (executed) or a plain markdown page.
    ``params`` are the resolved parameters of a chapter (empty until :func:`plan` resolves
    them, in a new Page)."""

    name: str  # e.g. "one_third_time"
    docname: str  # e.g. "book/one_third_time"
    source: Path
    notebook: bool
    stage: int = 1
    params_model: str | None = None
    params: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def model(self) -> type[ChapterParams]:
        if not self.params_model:
            return ChapterParams
        module, _, attr = self.params_model.partition(":")
        return getattr(importlib.import_module(module), attr)


def toc_file(root: Path = REPO_ROOT) -> Path:
    """The table of contents of the book at ``root`` (``BOOK_TOC`` for this repository)."""
    return TOC if root == REPO_ROOT else root / "_toc.yml"


def toc_docnames(root: Path = REPO_ROOT) -> list[str]:
    """Docnames in ``_toc.yml`` order (root first, then chapters and sections)."""
    toc = yaml.safe_load(toc_file(root).read_text())
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


def plan(
    profile: str,
    only: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    root: Path = REPO_ROOT,
) -> list[Page]:
    """Every page, each chapter with its parameters resolved and validated before any runs."""
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

    def mine(page: Page) -> dict[str, Any]:
        if only:
            return overrides if page.name in only else {}
        return {k: v for k, v in overrides.items() if k in page.model.model_fields}

    return [dataclasses.replace(p, params=resolve_params(p, profile, mine(p), root))
            if p.notebook else p for p in pages]
