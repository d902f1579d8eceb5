"""A chapter's re-run box, for a reader who has nothing but the page: where the code is, the two
commands, a papermill recipe for the page's own notebook that works verbatim from a clean clone,
the parameters that matter up front (every parameter in a collapsed table, with this run's
values), and for the ``full`` profile its expected GPU time and memory and the verdicts it would
settle.

The expected cost of a chapter's ``full`` profile is written in the header of
``book/params/<chapter>/full.yaml`` as two structured comments (comments, so the file stays a
plain parameter file for the runner and for ``papermill -f``)::

    # expected-time: about an hour on one H100 (by the FLOP count; not yet run)
    # expected-memory: about 22 GB of GPU memory (shape bound of the sweep as one program)

Both are estimates until an archived run (``lib/book/archive.py``) has measured them; say how
each was obtained.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from lib.book.settings import SOURCE_ARCHIVE, SOURCE_DIR
from lib.core.claims import VERDICT_WORD
from lib.core.results import REPO_ROOT

#: The parameters a reader changes first, after ``seed`` and ``device`` (the sizes and lengths of
#: each chapter's main sweep); every other parameter is in the collapsed table.
UP_FRONT: dict[str, tuple[str, ...]] = {
    "superposition": ("widths", "steps", "n_seeds"),
    "one_third_time": ("temperatures", "steps", "n_seeds"),
    "inverse_depth": ("depths", "steps", "n_teachers"),
    "es_curvature": ("pop_sizes", "steps", "replicates"),
    "universality": ("n_boot", "chinchilla_grid"),
    "performance": ("run_benchmarks", "quick"),
}
UNSETTLED = ("partly", "not_reached", "fit_failed")  # verdicts a larger run could change
EXPECTED = re.compile(r"^#\s*expected-(time|memory):\s*(.+?)\s*$", re.M)
USES_DEVICE = re.compile(r"\brun\.device\b|\bRealSection\(run\b")
STAGE = re.compile(r"^\s+stage:\s*(\d+)\s*$", re.M)  # in the chapter's front matter


def repository_url() -> str:
    """``git remote get-url origin`` of this checkout when it is a network address, else
    ``''``."""
    try:
        out = subprocess.run(["git", "remote", "get-url", "origin"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    url = out.stdout.strip() if out.returncode == 0 else ""
    # a local path or file:// remote (a clone of a clone, a CI checkout) is no address a
    # reader can use: only a network address is shown
    return url if url.startswith(("https://", "http://", "git@", "ssh://")) else ""


def get_the_code(url: str) -> tuple[str, str]:
    """The sentence saying where the code is and the shell lines that fetch it: the source
    archive shipped with this build (always), and ``git clone`` when a remote is known."""
    archive = (f'<a href="../{SOURCE_ARCHIVE}" download>{SOURCE_ARCHIVE}</a>')
    where = (f"The code of this build ships with the book: download {archive} (the exact "
             "source these pages were computed from)")
    lines = f"tar xzf {SOURCE_ARCHIVE} && cd {SOURCE_DIR}\n"
    if url:
        link = f"[{url}]({url})" if url.startswith("http") else f"`{url}`"
        where += f", or clone it from {link}"
        lines = f"# or: git clone {url} {SOURCE_DIR} && cd {SOURCE_DIR}\n" + lines
    return where + ". On a machine with Python 3.11 and `make`:", lines


def honours_device(chapter: str) -> bool:
    """Whether the chapter puts work on ``run.device``: itself, or through its *Real models*
    section (``RealSection(run, ...)`` trains the GPT family and runs SmolLM2 there)."""
    source = REPO_ROOT / "book" / f"{chapter}.md"
    return not source.exists() or bool(USES_DEVICE.search(source.read_text()))


def reads_other_chapters(chapter: str) -> bool:
    """Whether the chapter is of a later stage (it reads the results of earlier chapters)."""
    source = REPO_ROOT / "book" / f"{chapter}.md"
    match = STAGE.search(source.read_text()) if source.exists() else None
    return bool(match and int(match.group(1)) > 1)


def expected_cost(chapter: str) -> dict[str, str]:
    """``{'time': ..., 'memory': ...}`` from the header of the chapter's ``full.yaml``."""
    path = REPO_ROOT / "book" / "params" / chapter / "full.yaml"
    return dict(EXPECTED.findall(path.read_text())) if path.exists() else {}


def up_front(chapter: str, fields: Iterable[str]) -> list[str]:
    """``seed``, ``device`` where the chapter honours it, then the chapter's main sizes."""
    names = ["seed"] + (["device"] if honours_device(chapter) else [])
    return names + [n for n in UP_FRONT.get(chapter, ("steps", "n_seeds")) if n in fields]


def papermill_arguments(params: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """``-p name value`` for scalars (papermill reads numbers and True/False), ``-y 'name: [..]'``
    for lists and dicts (papermill's ``-p`` would pass them as strings)."""
    args: list[str] = []
    for name in names:
        value = params[name]
        if isinstance(value, (list, tuple, dict)):
            args += ["-y", shlex.quote(f"{name}: {_yaml_flow(value)}")]
        else:
            args += ["-p", name, shlex.quote(str(value))]
    return args


def papermill_command(chapter: str, params: Mapping[str, Any], names: Iterable[str]) -> str:
    """The recipe's command (bash, one option group per line), run in the source's root with the
    page's notebook saved there."""
    profile = params.get("profile", "default")
    lines = [f".venv/bin/papermill {chapter}.ipynb {chapter}.out.ipynb --cwd ."]
    if (REPO_ROOT / "book" / "params" / chapter / f"{profile}.yaml").exists():
        lines.append(f"-f book/params/{chapter}/{profile}.yaml -p profile {profile}")
    args = papermill_arguments(params, names)
    pairs = [" ".join(args[i:i + 3]) if args[i] == "-p" else " ".join(args[i:i + 2])
             for i in _option_starts(args)]
    line = ""
    for pair in pairs:  # lines of at most ~60 characters, one option never split
        if line and len(line) + len(pair) > 60:
            lines.append(line)
            line = ""
        line = f"{line} {pair}".strip()
    lines += [line] if line else []
    return " \\\n    ".join(lines)


def _option_starts(args: list[str]) -> list[int]:
    """Where each ``-p name value`` or ``-y text`` option starts in ``args``."""
    starts, i = [], 0
    while i < len(args):
        starts.append(i)
        i += 3 if args[i] == "-p" else 2
    return starts


def runner_commands(chapter: str, profile: str) -> str:
    device = " --device cuda" if honours_device(chapter) else ""
    return (f".venv/bin/python -m lib.book run {chapter} --profile {profile} -p seed 1\n"
            f".venv/bin/python -m lib.book run {chapter} --profile full{device}")


def parameter_rows(model: Any, params: Mapping[str, Any]) -> str:
    """Every parameter: name, this run's value, default, allowed values, meaning."""
    rows = []
    for r in model.describe():
        value = _cell(_show(params.get(r["name"], "")))
        rows.append(f"| `{r['name']}` | {value} | {_cell(r['default'])} | {_cell(r['allowed'])} "
                    f"| {_cell(r['meaning'])} |")
    return ("| parameter | this run | default | allowed | meaning |\n|---|---|---|---|---|\n"
            + "\n".join(rows))


def full_profile_text(chapter: str, claims: Iterable[Any], has_real: bool) -> str:
    """What the ``full`` profile costs and which of this run's verdicts it could change."""
    cost = expected_cost(chapter)
    time_text = cost.get("time", "not estimated yet")
    memory_text = cost.get("memory", "not estimated yet")
    open_claims = [c for c in claims if c.verdict in UNSETTLED]
    settles = ("".join(f"\n- {c.quantity} ({VERDICT_WORD[c.verdict]} here)" for c in open_claims)
               or " none: every claim of this run is already decided.")
    real = ("\n\nThe *Real models* section reads the files of `python -m lib.real fetch` (part "
            "of `make install`)." if has_real else "")
    return (f"**The `full` profile** (paper scale). Expected time: {time_text}. Memory: "
            f"{memory_text}. The claims this run leaves open, which it could settle:"
            f"{settles}{real}")


def rerun_markdown(chapter: str, model: Any, params: Mapping[str, Any],
                   claims: Iterable[Any] = ()) -> str:
    """The re-run box (MyST) of ``chapter`` run with ``params``."""
    where, fetch = get_the_code(repository_url())
    profile = params.get("profile", "default")
    names = up_front(chapter, params)
    command = papermill_command(chapter, params, names)
    has_real = any(n.startswith("real_") for n in params)
    nb = f"{chapter}.ipynb"
    upstream = (f" This chapter reads the results of the chapters before it: run them first, "
                f"with the same profile (`make book PROFILE={profile}`)."
                if reads_other_chapters(chapter) else "")
    n_params = len(model.describe())
    shown = ", ".join(f"`{n}`" for n in names)
    profile_note = (f"`-f` loads the `{profile}` profile this page was built with; "
                    if "-f book/params/" in command else "")
    return (
        "::::{admonition} Re-run this chapter\n:class: tip rerun-box\n\n"
        f"{where}\n\n"
        f"```bash\n{fetch}"
        "make book   # installs .venv, then runs and builds every page\n"
        f"{runner_commands(chapter, profile)}\n```\n\n"
        "The runner validates the parameters before any compute and caches the run "
        f"(`.venv/bin/python -m lib.book params {chapter}` lists them).\n\n"
        f"**With papermill, on this page's notebook.** Save {{download}}`{nb} </book/{nb}>` in "
        "the source's root after `make install` (which installs the pinned packages into `.venv` "
        "and runs `python -m lib.real fetch`, the model and text files the *Real models* "
        "sections read), then:\n\n"
        f"```bash\n{command}\n```\n\n"
        "`--cwd .` runs the kernel in the source's root, so `import lib` finds its "
        f"`lib/`; {profile_note}{shown} are this run's values, to change (lists go with "
        "`-y 'name: [...]'`). A parameter not given takes the chapter's `default`-profile value, "
        f"not this run's.{upstream}\n\n"
        f"{full_profile_text(chapter, claims, has_real)}\n\n"
        f":::{{dropdown}} All {n_params} parameters, with this run's values\n"
        ":class-container: rerun-params\n\n"
        f"{parameter_rows(model, params)}\n:::\n::::\n"
    )


def _show(value: Any) -> str:
    return _yaml_flow(value) if isinstance(value, (list, tuple, dict)) else str(value)


def _yaml_flow(value: Any) -> str:
    """A list or dict as one line of YAML flow style (``[8, 16]``, ``{steps: 600}``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_flow(v) for v in value) + "]"
    if isinstance(value, str):  # quoted where YAML would read it as something else
        return value if value and yaml.safe_load(value) == value else repr(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ") or "–"
