"""Keep a chapter's paper-scale run in the repository; show it in the book beside the default run.

The ``full`` profile needs a GPU, which neither CI nor most readers have. So a run made on one is
*archived*: ``python -m lib.book archive CH --profile full --device cuda`` executes the chapter (or
reuses its cached execution) and copies, atomically,

    archive/<profile>/<chapter>/
        <chapter>.ipynb      the executed notebook, figures and verdicts included
        results/             every data file the page links, claims, numbers, environment.json
        code/                the lib/ files the page shows with {literalinclude}, as they were
        archive.json         device, GPU name, date, git commit (and whether the tree was dirty),
                             wall time, the command, the parameters

Nothing in ``archive/`` is re-run by CI. When the book is staged, every archived run becomes a page
of its own (``book/<chapter>-<profile>``) under a generated "Paper-scale runs" page, which also
sets each archived claim beside the same claim of the run being built. The archived notebook is
rewritten only where the two copies would clash in one Sphinx project: its labels get a
``<profile>-`` prefix, its download links point into the archive, and a banner names the device and
date that made it. The default chapter gets a banner linking to its paper-scale page.

This module writes, reads and stages archives; the ``archive`` command that first executes the
chapters is in ``lib/book/cli.py``, the staging that calls :func:`stage_archives` in
``lib/book/build.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.book.pages import BookError
from lib.book.settings import ARCHIVE
from lib.core.claims import VERDICT_WORD
from lib.core.results import REPO_ROOT, atomic_write_text

INDEX_DOC = "book/paper_scale"


@dataclass(frozen=True)
class Archived:
    """One archived run of one chapter."""

    profile: str
    chapter: str
    folder: Path
    meta: dict[str, Any]

    @property
    def docname(self) -> str:
        return f"book/{self.chapter}-{self.profile}"

    @property
    def label(self) -> str:
        """How the book names the run: device and date."""
        return f"{self.meta.get('device_name', self.meta.get('device', '?'))}, " \
               f"{self.meta.get('date', '?')[:10]}"


# ---- writing an archive ---------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def device_name(device: str) -> str:
    """The GPU's name for a CUDA run, else the CPU's model name (what a reader compares)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"CPU: {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"CPU ({os.cpu_count()} cores)"


def archive_record(chapter: str, profile: str, environment: dict[str, Any],
                   command: list[str]) -> dict[str, Any]:
    """What ``archive.json`` says about a run: where, when, from which code, how long."""
    device = str(environment.get("device", "cpu"))
    return {
        "chapter": chapter,
        "profile": profile,
        "device": device,
        "device_name": environment.get("gpu") or device_name(device),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "finished": environment.get("finished"),
        "runtime_s": environment.get("runtime_s"),
        "git_commit": _git("rev-parse", "HEAD") or environment.get("git_commit"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "torch": environment.get("torch"),
        "cuda": environment.get("cuda"),
        "command": command,
        "parameters": environment.get("parameters", {}),
    }


def archive_chapter(chapter: str, profile: str, notebook: Path, results: Path,
                    command: list[str], root: Path | None = None) -> Path:
    """Copy one executed chapter and its results into ``<root>/<profile>/<chapter>/``.

    The copy is assembled in a temporary sibling folder and renamed into place, so an interrupted
    archive leaves the previous one (or none), never a half one that looks whole."""
    root = ARCHIVE if root is None else root
    env_file = results / "environment.json"
    if not notebook.exists() or not env_file.exists():
        raise BookError(
            f"chapter '{chapter}' has no finished {profile} run to archive "
            f"(need {notebook} and {env_file}); run it first")
    environment = json.loads(env_file.read_text())
    if environment.get("profile") != profile:
        raise BookError(f"{env_file} is a {environment.get('profile')!r} run, not {profile!r}")
    dest = root / profile / chapter
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{chapter}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    shutil.copy2(notebook, tmp / f"{chapter}.ipynb")
    shutil.copytree(results, tmp / "results",
                    ignore=shutil.ignore_patterns("*.tmp*", ".*"))
    for rel in included_sources(notebook):  # the code the page shows, as it was run
        (tmp / "code" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, tmp / "code" / rel)
    record = archive_record(chapter, profile, environment, command)
    atomic_write_text(tmp / "archive.json", json.dumps(record, indent=2, default=str) + "\n")
    old = dest.parent / f".{chapter}.old-{os.getpid()}"
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


_INCLUDE = re.compile(r"^```\{literalinclude\}\s+\.\./(\S+)", re.M)


def included_sources(notebook: Path) -> list[str]:
    """Repository paths of the files a chapter shows with ``{literalinclude} ../<path>``."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    found = {m for c in nb.cells if c.cell_type == "markdown" for m in _INCLUDE.findall(c.source)}
    return sorted(p for p in found if (REPO_ROOT / p).is_file())


# ---- reading the archive --------------------------------------------------------------------


def archived_runs(root: Path | None = None, chapters: set[str] | None = None) -> list[Archived]:
    """Every complete archived run (a folder with archive.json), by profile then chapter."""
    root = ARCHIVE if root is None else root
    runs = []
    for meta_file in sorted(root.glob("*/*/archive.json")):
        folder = meta_file.parent
        if folder.name.startswith(".") or (chapters and folder.name not in chapters):
            continue
        if not (folder / f"{folder.name}.ipynb").exists():
            continue
        runs.append(Archived(folder.parent.name, folder.name, folder,
                             json.loads(meta_file.read_text())))
    return runs


# ---- turning an archived notebook into a page of this book ----------------------------------

_DEFINITIONS = (re.compile(r"^\(([\w\-.:]+)\)=[ \t]*$", re.M),
                re.compile(r"^:(?:name|label):[ \t]*([\w\-.:]+)[ \t]*$", re.M))
_ROLE = re.compile(r"\{(ref|numref|eq)\}`([^`]*)`")


def defined_labels(sources: list[str]) -> set[str]:
    """The Sphinx labels a page defines: ``(label)=`` targets, ``:name:`` and ``:label:``."""
    found: set[str] = set()
    for text in sources:
        for pattern in _DEFINITIONS:
            found.update(pattern.findall(text))
    return found


def prefix_labels(text: str, labels: set[str], prefix: str) -> str:
    """Rename the given labels (definitions and references to them) to ``prefix + label``;
    references to labels of other pages are left alone."""

    def rename(label: str) -> str:
        return prefix + label if label in labels else label

    text = _DEFINITIONS[0].sub(lambda m: f"({rename(m.group(1))})=", text)
    text = re.sub(r"^(:(?:name|label):[ \t]*)([\w\-.:]+)[ \t]*$",
                  lambda m: m.group(1) + rename(m.group(2)), text, flags=re.M)

    def role(m: re.Match) -> str:
        body = m.group(2)
        inner = re.match(r"^(.*<)([^<>]+)(>)$", body, re.S)
        body = inner.group(1) + rename(inner.group(2)) + inner.group(3) if inner else rename(body)
        return f"{{{m.group(1)}}}`{body}`"

    text = _ROLE.sub(role, text)
    return re.sub(r"\]\(#([\w\-.:]+)\)", lambda m: f"](#{rename(m.group(1))})", text)


def _markdown_texts(nb: Any) -> list[tuple[Any, str]]:
    """(owner, key) of every markdown text in the notebook: markdown cells and markdown outputs."""
    places: list[tuple[Any, str]] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            places.append((cell, "source"))
        for out in cell.get("outputs", []):
            if "text/markdown" in out.get("data", {}):
                places.append((out["data"], "text/markdown"))
    return places


def _text(owner: Any, key: str) -> str:
    value = owner[key]
    return "".join(value) if isinstance(value, list) else value


def archive_banner(run: Archived, built_profile: str) -> str:
    m = run.meta
    minutes = f"{m['runtime_s'] / 60:.1f} min" if m.get("runtime_s") else "unknown time"
    dirty = " (with uncommitted changes)" if m.get("git_dirty") else ""
    return (
        f":::{{admonition}} Archived {run.profile}-profile run: {run.label}\n:class: important\n\n"
        f"This page was executed with the **{run.profile}** profile on **{m.get('device_name')}** "
        f"(`{m.get('device')}`), finished {m.get('finished') or m.get('date')}, in {minutes}, "
        f"from commit `{str(m.get('git_commit'))[:12]}`{dirty}. It is kept in "
        f"`archive/{run.profile}/{run.chapter}/` and is not re-run when the book is built; the "
        f"chapter as built now ({built_profile} profile) is {{doc}}`{run.chapter}`. Re-make it "
        f"with `{' '.join(m.get('command') or [])}`.\n:::\n"
    )


def page_from_archive(run: Archived, built_profile: str) -> Any:
    """The archived notebook, made safe to sit beside the built chapter in one book."""
    import nbformat

    nb = nbformat.read(run.folder / f"{run.chapter}.ipynb", as_version=4)
    places = _markdown_texts(nb)
    labels = defined_labels([_text(o, k) for o, k in places])
    prefix = f"{run.profile}-"
    own_results = f"/results/{run.profile}/{run.chapter}/"
    for owner, key in places:
        text = prefix_labels(_text(owner, key), labels, prefix)
        text = text.replace(own_results, f"/archive/{run.profile}/{run.chapter}/results/")
        text = text.replace(f"</book/{run.chapter}.ipynb>",
                            f"</archive/{run.profile}/{run.chapter}/{run.chapter}.ipynb>")
        if (run.folder / "code").is_dir():  # show the code as it was when the run was made
            text = _INCLUDE.sub(
                lambda m: m.group(0).replace(
                    f"../{m.group(1)}", f"../archive/{run.profile}/{run.chapter}/code/{m.group(1)}")
                if (run.folder / "code" / m.group(1)).is_file() else m.group(0), text)
        owner[key] = text
    insert_after_title(nb, archive_banner(run, built_profile),
                       suffix=f" ({run.profile} profile, {run.label})")
    return nb


def link_banner(runs: list[Archived]) -> str:
    links = "; ".join(f"{{doc}}`{r.profile} profile on {r.label} <{r.chapter}-{r.profile}>`"
                      for r in runs)
    return (":::{admonition} Paper scale\n:class: seealso\n\n"
            f"This chapter also has an archived run, shown as it was made: {links}.\n:::\n")


def insert_after_title(nb: Any, text: str, suffix: str = "") -> None:
    """Put ``text`` right under the page's ``# title`` line (and append ``suffix`` to the
    title); a page without a title gets it as its first cell."""
    import nbformat

    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        m = re.search(r"^# .+$", cell.source, re.M)
        if m:
            cell.source = (cell.source[:m.end()] + suffix + "\n\n" + text + "\n"
                           + cell.source[m.end():])
            return
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(text))


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) else "–"


def comparison_markdown(run: Archived, built: list[dict[str, Any]]) -> str:
    """Each archived claim beside the same claim of the run being built."""
    path = run.folder / "results" / "claims.json"
    archived = json.loads(path.read_text()) if path.exists() else []
    if not archived:
        return "_This archived run wrote no claims._"
    now = {c["id"]: c for c in built}
    lines = ["| claim | built now: estimate [CI], verdict | "
             f"{run.profile}: estimate [CI], verdict | paper |", "|---|---|---|---|"]
    for c in archived:
        def cell(rec: dict[str, Any] | None) -> str:
            if rec is None:
                return "–"
            ci = (f" [{_num(rec.get('ci_low'))}, {_num(rec.get('ci_high'))}]"
                  if rec.get("ci_low") is not None else "")
            return f"{_num(rec.get('estimate'))}{ci}, " \
                   f"{VERDICT_WORD.get(rec.get('verdict'), rec.get('verdict'))}"
        lines.append(f"| {c.get('claim', c['id'])} | {cell(now.get(c['id']))} | {cell(c)} | "
                     f"{_num(c.get('paper_value'))} |")
    return "\n".join(lines)


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


def differences_markdown(differences: dict[str, list[tuple[str, Any, Any]]],
                         built_profile: str) -> list[str]:
    """Per chapter, the parameters whose ``full`` value differs from this build's."""
    lines = ["", "## What the full profile runs", "",
             f"The parameters whose `full` value (`book/params/<chapter>/full.yaml`) differs from "
             f"this build's ({built_profile} profile), chapter by chapter: the scale a paper-scale "
             "run reaches."]
    for chapter, rows in differences.items():
        if not rows:
            continue
        lines += ["", f"### {chapter}", "", f"| parameter | {built_profile} | full |",
                  "|---|---|---|"]
        lines += [f"| `{name}` | `{_short(a)}` | `{_short(b)}` |" for name, a, b in rows]
    return lines


def index_markdown(runs: list[Archived], chapters: list[str], built_profile: str,
                   results_root: Path,
                   differences: dict[str, list[tuple[str, Any, Any]]] | None = None) -> str:
    """The "Paper-scale runs" page: what is archived, on what and when, and the claims side by
    side; chapters without an archived run say how to make one; what the full profile changes."""
    lines = ["(paper-scale)=", "# Paper-scale runs", "",
             f"The chapters above were executed for this build with the **{built_profile}** "
             "profile. The `full` profile reaches the papers' scale on one GPU; such runs are "
             "archived in the repository (`archive/<profile>/<chapter>/`: the executed notebook, "
             "its data and an environment record) and shown here as they were made, labelled "
             "with the device and date. CI does not re-run them.", ""]
    lines += ["| chapter | archived run | device | finished | runtime | commit |",
              "|---|---|---|---|---|---|"]
    by_chapter = {c: [r for r in runs if r.chapter == c] for c in chapters}
    for chapter in chapters:
        for r in by_chapter[chapter]:
            rt = f"{r.meta['runtime_s'] / 60:.1f} min" if r.meta.get("runtime_s") else "–"
            lines.append(f"| {{doc}}`{chapter} <{chapter}>` | {{doc}}`{r.profile} profile "
                         f"<{chapter}-{r.profile}>` | {r.meta.get('device_name')} | "
                         f"{r.meta.get('finished') or r.meta.get('date')} | {rt} | "
                         f"`{str(r.meta.get('git_commit'))[:12]}` |")
        if not by_chapter[chapter]:
            lines.append(f"| {{doc}}`{chapter} <{chapter}>` | none yet | – | – | – | – |")
    missing = [c for c in chapters if not by_chapter[c]]
    if missing:
        lines += ["", "No paper-scale run is archived yet for "
                  + ", ".join(f"`{c}`" for c in missing) + ". On a machine with a GPU:", "",
                  "```bash", *[f".venv/bin/python -m lib.book archive {c} --profile full "
                               "--device cuda" for c in missing],
                  "git add archive/ && git commit -m 'archive full-profile runs'", "```"]
    for r in runs:
        path = results_root / built_profile / r.chapter / "claims.json"
        built = json.loads(path.read_text()) if path.exists() else []
        lines += ["", f"## {r.chapter}: {r.profile} profile beside the {built_profile} build", "",
                  comparison_markdown(r, built)]
    if differences:
        lines += differences_markdown(differences, built_profile)
    return "\n".join(lines) + "\n"


def stage_archives(dest: Path, chapters: list[str], built_profile: str,
                   root: Path | None = None,
                   differences: dict[str, list[tuple[str, Any, Any]]] | None = None) -> list[str]:
    """Write the archived pages and the index into a staged book; return the docnames to add
    to its table of contents (the index first). ``differences``: per chapter, (parameter, this
    build's value, the full profile's value) where they differ."""
    import nbformat

    runs = archived_runs(root, set(chapters))
    for r in runs:
        nbformat.write(page_from_archive(r, built_profile), dest / f"{r.docname}.ipynb")
        target = dest / "archive" / r.profile / r.chapter
        shutil.copytree(r.folder / "results", target / "results", dirs_exist_ok=True)
        shutil.copy2(r.folder / f"{r.chapter}.ipynb", target / f"{r.chapter}.ipynb")
        if (r.folder / "code").is_dir():
            shutil.copytree(r.folder / "code", target / "code", dirs_exist_ok=True)
    for chapter in chapters:
        mine = [r for r in runs if r.chapter == chapter]
        page = dest / "book" / f"{chapter}.ipynb"
        if mine and page.exists():
            nb = nbformat.read(page, as_version=4)
            insert_after_title(nb, link_banner(mine))
            nbformat.write(nb, page)
    (dest / f"{INDEX_DOC}.md").write_text(
        index_markdown(runs, chapters, built_profile, dest / "results", differences))
    return [INDEX_DOC] + [r.docname for r in runs]
