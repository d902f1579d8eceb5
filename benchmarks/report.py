"""Tables, summary numbers and figures of the Performance page, from ``collect``'s frame.

Kept out of the page so they can be tested on synthetic frames (``tests/test_benchmarks.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from benchmarks.harness import scaling_exponents, speedups
from lib.core.plotting import figure, loglog

RSS_MIN_MB = 1.0  # compare measured RSS growth with the analytic size only above this size


def speedup_by_members(frame: pd.DataFrame) -> pd.DataFrame:
    """Speed-up (loop / batched wall time) of the ``members`` series: one row per workload,
    one column per number of members measured both ways."""
    ratio = speedups(frame)
    if ratio.empty:
        return pd.DataFrame()
    part = ratio[ratio["series"] == "members"]
    table = part.pivot_table(index=["chapter", "workload"], columns="members", values="speedup")
    table.columns = [f"M = {m}" for m in table.columns]
    return table.reset_index()


def speedup_by_size(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``model_size`` series in long form: knob value, parameters per member, both wall
    times and their ratio."""
    ratio = speedups(frame)
    if ratio.empty:
        return pd.DataFrame()
    part = ratio[ratio["series"] == "model_size"]
    params = frame[["chapter", "workload", "size", "size_knob", "model_size"]].drop_duplicates(
        ["chapter", "workload", "size"])
    out = part.merge(params, on=["chapter", "workload", "size"], how="left")
    return out[["chapter", "workload", "size_knob", "size", "model_size", "members",
                "batched_s", "loop_s", "speedup"]].rename(
        columns={"size_knob": "knob", "model_size": "params/member"})


def scaling_table(frame: pd.DataFrame, min_members: int = 4) -> pd.DataFrame:
    """Per workload and mode: the slope of log wall time against log members (members ≥
    ``min_members``) and against log parameters per member, each with its standard error."""
    keys = ["device", "chapter", "workload", "mode"]
    members = scaling_exponents(frame, "members", "members", "wall_s", min_members)
    size = scaling_exponents(frame, "model_size", "model_size", "wall_s", 0)
    members = members[keys + ["slope", "stderr", "n_points"]].rename(columns={
        "slope": "slope vs members", "stderr": "± (members)", "n_points": "points (members)"})
    size = size[keys + ["slope", "stderr", "n_points"]].rename(columns={
        "slope": "slope vs size", "stderr": "± (size)", "n_points": "points (size)"})
    return members.merge(size, on=keys, how="outer")


def hardware_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per workload: the batched program at the largest number of members measured and the loop
    at its largest, each with its counted FLOPs per member-step, achieved GFLOP/s and share of
    the device's measured float32 matmul peak (rows without a FLOP count are left out)."""
    cols = ["device", "chapter", "workload", "mode", "members", "FLOP/member-step", "GFLOP/s",
            "peak GFLOP/s", "% of peak"]
    if frame.empty or "fraction_of_peak" not in frame:
        return pd.DataFrame(columns=cols)
    part = frame[(frame["series"] == "members") & frame["flop_per_member_step"].notna()]
    rows = []
    for _, g in part.groupby(["device", "chapter", "workload", "mode"], sort=False):
        r = g.loc[g["members"].idxmax()]
        rows.append({"device": r["device"], "chapter": r["chapter"], "workload": r["workload"],
                     "mode": r["mode"], "members": int(r["members"]),
                     "FLOP/member-step": r["flop_per_member_step"],
                     "GFLOP/s": r["achieved_gflops"], "peak GFLOP/s": r["peak_gflops"],
                     "% of peak": 100 * r["fraction_of_peak"]})
    table = pd.DataFrame(rows, columns=cols)
    none = table["FLOP/member-step"] == 0  # no matrix product: no rate to compare with a peak
    table.loc[none, ["GFLOP/s", "% of peak"]] = np.nan
    return table


def hardware_summary(table: pd.DataFrame) -> dict[str, float]:
    """The range of % of peak over the batched rows that did matmul work, and the device's
    peak (NaN where nothing was measured)."""
    batched = table[(table["mode"] == "batched") & (table["FLOP/member-step"] > 0)] \
        if not table.empty else table
    lo, hi = _range(batched["% of peak"]) if not batched.empty else (np.nan, np.nan)
    peak = float(table["peak GFLOP/s"].iloc[0]) if not table.empty else np.nan
    return {"peak_share_lo": lo, "peak_share_hi": hi, "peak_gflops": peak}


def _range(values: pd.Series) -> tuple[float, float]:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return (float(values.min()), float(values.max())) if len(values) else (np.nan, np.nan)


def summary(frame: pd.DataFrame, at_members: int = 16) -> dict[str, float]:
    """The numbers the page's prose quotes (NaN where nothing was measured)."""
    ratio = speedups(frame)
    table = scaling_table(frame)
    out: dict[str, float] = {}
    out["speedup_worst"], out["speedup_best"] = _range(
        ratio["speedup"] if not ratio.empty else pd.Series(dtype=float))
    at = (ratio[(ratio["series"] == "members") & (ratio["members"] == at_members)]
          if not ratio.empty else ratio)
    out["speedup_at_lo"], out["speedup_at_hi"] = _range(
        at["speedup"] if not at.empty else pd.Series(dtype=float))
    for mode in ("batched", "loop"):
        rows = table[table["mode"] == mode] if not table.empty else table
        get = (lambda c, r=rows: r[c] if not r.empty else pd.Series(dtype=float))
        out[f"slope_{mode}_lo"], out[f"slope_{mode}_hi"] = _range(get("slope vs members"))
        out[f"size_slope_{mode}_lo"], out[f"size_slope_{mode}_hi"] = _range(get("slope vs size"))
    if not frame.empty and frame["rss_peak_mb"].notna().any():
        big = frame[frame["analytic_mem_mb"] >= RSS_MIN_MB]
        out["rss_ratio_lo"], out["rss_ratio_hi"] = _range(
            big["rss_peak_mb"] / big["analytic_mem_mb"])
    else:
        out["rss_ratio_lo"] = out["rss_ratio_hi"] = np.nan
    return out


def short_number(value: float) -> str:
    """2,048 -> '2k', 16,640 -> '17k', 1,500,000 -> '1.5M' (tick labels)."""
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:.2g}{unit}"
    return f"{value:.3g}"


def slowest_case(frame: pd.DataFrame) -> str:
    """Where the batched program gained least over the loop, in words ('' if none)."""
    ratio = speedups(frame)
    if ratio.empty:
        return ""
    r = ratio.loc[ratio["speedup"].idxmin()]
    members = f"{r['members']} member" + ("s" if r["members"] != 1 else "")
    return f"{r['chapter']}, {r['workload']}, {members}, {r['series']} series"


PANELS = [("members", "members", "member_steps_per_s", "throughput vs members"),
          ("members", "members", "peak_mem_mb", "peak memory vs members"),
          ("model_size", "model_size", "member_steps_per_s", "throughput vs model size"),
          ("model_size", "model_size", "peak_mem_mb", "peak memory vs model size")]


def chapter_figure(frame: pd.DataFrame, chapter: str):
    """Four log-log panels for one chapter: throughput and peak memory against members, then
    against parameters per member; batched solid, loop dotted, one colour per workload; the
    measured peak-RSS growth as crosses (batched ×, loop +) beside the analytic memory (CPU)."""
    fig, axes = figure(ncols=2, nrows=2, width=4.4, height=3.2)
    part = frame[frame["chapter"] == chapter] if not frame.empty else frame
    source = part["mem_source"].iloc[0] if not part.empty else "analytic"
    workloads = list(dict.fromkeys(part["workload"])) if not part.empty else []
    for ax, (series, x, y, title) in zip(axes.ravel(), PANELS, strict=True):
        for (workload, mode), g in part.groupby(["workload", "mode"]) if not part.empty else []:
            g = g[g["series"] == series].sort_values(x)
            if g.empty:
                continue
            color = f"C{workloads.index(workload)}"
            label = f"{mode}" if len(workloads) == 1 else f"{workload}: {mode}"
            ax.plot(g[x], g[y], "-o" if mode == "batched" else ":s", color=color, label=label,
                    markersize=4)
            if y == "peak_mem_mb" and g["rss_peak_mb"].notna().any():
                rss = g[g["rss_peak_mb"] > 0]
                ax.plot(rss[x], rss["rss_peak_mb"], "+" if mode == "loop" else "x",
                        color=color, alpha=0.7)
        if not ax.lines:
            ax.text(0.5, 0.5, "not measured in this build", ha="center", va="center",
                    transform=ax.transAxes)
        else:
            loglog(ax, "members trained" if x == "members" else "parameters per member",
                   "member-steps per second" if y == "member_steps_per_s"
                   else f"peak memory (MB, {source})", title)
            if x == "model_size":  # label the measured sizes (the span is often < 1 decade)
                sizes = sorted(part.loc[part["series"] == series, x].unique())
                ax.set_xticks(sizes, [short_number(v) for v in sizes], fontsize=7)
                ax.xaxis.set_minor_formatter(NullFormatter())
    if axes[0][0].lines:
        axes[0][0].legend(fontsize=7)
    if not part.empty and source == "analytic" and part["rss_peak_mb"].notna().any():
        axes[0][1].legend(handles=[
            Line2D([], [], color="gray", marker="o", label="analytic (batched)"),
            Line2D([], [], color="gray", ls=":", marker="s", label="analytic (loop)"),
            Line2D([], [], color="gray", ls="", marker="x", label="measured RSS growth (batched)"),
            Line2D([], [], color="gray", ls="", marker="+", label="measured RSS growth (loop)")],
            fontsize=6)
    fig.suptitle(chapter)
    fig.tight_layout()
    return fig
