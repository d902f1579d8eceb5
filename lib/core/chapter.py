"""The run context of one chapter: device, seed, results folder, glued numbers, claims, and the
reproducibility and re-run boxes shown on the page.

A chapter does, right after its parameters cell::

    params = OneThirdParams.from_namespace(globals())   # fails fast on bad input
    run = ChapterRun("one_third_time", params)

then ``run.save_csv``/``run.save_json`` for every figure's data, ``run.glue`` for every number in
the prose (``run.glue_interval`` for an estimate with its CI), ``run.claim`` per claim (judged by
the one rule of ``lib/core/claims.py``; give it the fit's :class:`lib.core.fit.Interval` as
``interval=``), and
``run.finish()`` at the end, which writes ``claims.json``, ``numbers.json`` and
``environment.json`` (all atomically).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lib.core.claims import Claim, decide
from lib.core.device import describe, resolve_device, set_threads
from lib.core.memo import Memo
from lib.core.params import ChapterParams
from lib.core.plotting import use_house_style
from lib.core.report import NO_ESTIMATE, ci_text
from lib.core.results import REPO_ROOT, environment_record, write_csv, write_json


def format_value(value: Any, fmt: str = ".3g") -> str:
    """The text a glued value shows: ``fmt`` for floats, thousands separators for ints (unless
    ``fmt`` says otherwise), 'yes'/'no' for booleans, strings as they are."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return format(int(value), "," if fmt == ".3g" else fmt)
    return format(float(value), fmt)


def results_root(profile: str) -> Path:
    return REPO_ROOT / "results" / profile


class ChapterRun:
    """Device, seeds, results folder and provenance for one execution of a chapter."""

    def __init__(self, chapter: str, params: ChapterParams) -> None:
        self.chapter = chapter
        self.params = params
        self.started = time.time()
        self.threads = set_threads()
        self.device = resolve_device(params.device)
        self.results_dir = (
            Path(params.results_dir) if params.results_dir
            else results_root(params.profile) / chapter
        )
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.numbers: dict[str, str] = {}
        self.claims: list[Claim] = []
        self.files: list[str] = []
        # run.memo("kl_sweep", train_sweep, ...): a sweep's stored result where recomputing
        # would give the same (lib/core/memo.py)
        self.memo = Memo.for_chapter(chapter, params.profile)
        seed_everything(params.seed)
        use_house_style()

    # ---- data behind figures -------------------------------------------------------------
    def save_csv(self, name: str, frame: pd.DataFrame) -> Path:
        path = write_csv(self.results_dir / f"{name}.csv", frame)
        self._record(path)
        return path

    def save_json(self, name: str, obj: Any) -> Path:
        path = write_json(self.results_dir / f"{name}.json", obj)
        self._record(path)
        return path

    def _record(self, path: Path) -> None:
        if path.name not in self.files:
            self.files.append(path.name)

    # ---- numbers in the prose ------------------------------------------------------------
    def glue(self, key: str, value: Any, fmt: str = ".3g") -> str:
        """Glue ``value`` under ``key`` for ``{glue:text}`key``` as text fixed by ``fmt``, and
        record that text in numbers.json (tests look for it on the page). A plain ``str`` is
        glued because myst-nb ``literal_eval``s the glued text: '0.950' would show as 0.95."""
        text = format_value(value, fmt)
        self.numbers[key] = text
        _glue(key, text)
        return text

    def glue_interval(self, key: str, value: Any, fmt: str = ".2f") -> tuple[str, str]:
        """Glue an estimate under ``key`` and its CI text under ``key_ci`` (``'[lo, hi]'``, or
        :data:`lib.core.report.NO_INTERVAL`). ``value`` is an :class:`lib.core.fit.Interval`
        (or anything with ``estimate``/``ci_low``/``ci_high``) or an ``(estimate, low, high)``
        triple; a missing estimate glues :data:`lib.core.report.NO_ESTIMATE`."""
        if hasattr(value, "estimate"):
            estimate, low, high = value.estimate, value.ci_low, value.ci_high
        else:
            estimate, low, high = value
        finite = estimate is not None and np.isfinite(float(estimate))
        text = self.glue(key, estimate if finite else NO_ESTIMATE, fmt)
        return text, self.glue(f"{key}_ci", ci_text(low, high, fmt))

    def glue_figure(self, key: str, fig: Any) -> None:
        """Glue a matplotlib figure for ``{glue:figure}`` and close it (no duplicate output)."""
        import matplotlib.pyplot as plt

        _glue(key, fig)
        plt.close(fig)

    # ---- claims --------------------------------------------------------------------------
    def claim(self, **fields: Any) -> Claim:
        """Judge a claim by the book's one rule (:func:`lib.core.claims.decide`) and record it.

        Pass the fit result as ``interval=`` (a :class:`lib.core.fit.Interval`: its estimate,
        CI, method, seed count and bound flag), or ``estimate``/``ci_low``/``ci_high``."""
        return self._keep(decide(**fields))

    def _keep(self, claim: Claim) -> Claim:
        self.claims = [c for c in self.claims if c.id != claim.id] + [claim]
        return claim

    # ---- provenance ----------------------------------------------------------------------
    def environment(self) -> dict[str, Any]:
        rec = environment_record(self.device)
        rec.update(
            chapter=self.chapter,
            device_description=describe(self.device),
            seed=self.params.seed,
            profile=self.params.profile,
            parameters=self.params.model_dump(),
            runtime_s=round(time.time() - self.started, 2),
            memo_loaded=list(self.memo.hits),
            finished=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        )
        return rec

    def finish(self) -> dict[str, Any]:
        """Write claims, numbers and the environment record; return the environment."""
        env = self.environment()
        write_json(self.results_dir / "claims.json", [c.model_dump() for c in self.claims])
        write_json(self.results_dir / "numbers.json", self.numbers)
        env["files"] = sorted(set(self.files) | {"claims.json", "numbers.json"})
        write_json(self.results_dir / "environment.json", env)
        return env

    def reproducibility_markdown(self, env: dict[str, Any]) -> str:
        """The page's reproducibility box: versions, device, seed, commit, runtime, downloads."""
        rel = f"/results/{self.params.profile}/{self.chapter}"
        rows = [
            ("profile", env["profile"]),
            ("device", env["device_description"]),
            ("seed", env["seed"]),
            ("git commit", env["git_commit"]),
            ("runtime", f"{env['runtime_s']:.1f} s"
             + (f" (stored results loaded: {', '.join(env['memo_loaded'])})"
                if env.get("memo_loaded") else "")),
            ("finished", env["finished"]),
            ("python / torch / numpy / scipy",
             f"{env['python']} / {env['torch']} / {env['numpy']} / {env['scipy']}"),
            ("machine", f"{env['platform']}, {env['cpu_count']} cores"),
        ]
        table = "\n".join(f"| {k} | {v} |" for k, v in rows)
        links = ", ".join(
            f"{{download}}`{name} <{rel}/{name}>`" for name in env["files"] + ["environment.json"]
        )
        nb = f"{self.chapter}.ipynb"
        return (
            ":::{admonition} Reproducibility\n:class: note\n\n"
            f"| | |\n|---|---|\n{table}\n\n"
            f"**Data behind every figure:** {links}. "
            f"The executed notebook: {{download}}`{nb} </book/{nb}>`. "
            "This run's parameters are the *this run* column of the table in the re-run box "
            "below.\n:::\n"
        )

    def rerun_markdown(self) -> str:
        """The page's re-run box (``lib/book/rerun.py``): where the code is, the commands, a
        papermill recipe for the page's notebook, every parameter with this run's value, and
        what the ``full`` profile costs and would settle."""
        from lib.book.rerun import rerun_markdown

        return rerun_markdown(self.chapter, type(self.params), self.params.model_dump(),
                              self.claims)

    def boxes(self):
        """Finish the run and return the reproducibility and re-run boxes for display."""
        from IPython.display import Markdown

        env = self.finish()
        return Markdown(self.reproducibility_markdown(env) + "\n" + self.rerun_markdown())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _glue(key: str, value: Any) -> None:
    try:
        from myst_nb import glue
    except ImportError:  # running outside the book environment: nothing to glue into
        return
    glue(key, value, display=False)
