"""The benchmark harness and report on synthetic frames (known ratios and exponents), and every
benchmark module's series on a tiny configuration (row schema, same work both ways). No timing
assertions."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import bench_depth, bench_es, bench_one_third, bench_real, bench_superposition
from benchmarks.harness import (
    Scaling,
    Timing,
    add_hardware_use,
    count_flops,
    flop_per_member_step,
    make_row,
    matmul_peak_gflops,
    scaling_exponents,
    scaling_rows,
    speedups,
    timed,
)
from benchmarks.report import (
    chapter_figure,
    hardware_summary,
    hardware_table,
    scaling_table,
    short_number,
    slowest_case,
    speedup_by_members,
    speedup_by_size,
    summary,
)

CPU = torch.device("cpu")
SCHEMA = {"chapter", "workload", "series", "mode", "members", "size_knob", "size", "model_size",
          "steps", "chunk_members", "wall_s", "cpu_s", "member_steps_per_s", "peak_mem_mb",
          "mem_source", "analytic_mem_mb", "rss_peak_mb", "repeats"}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the benchmarks run (two threads on two busy cores spin: the tiny
    depth sweep takes seconds instead of milliseconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic(batched_slope: float = 0.5, loop_slope: float = 1.0, size_slope: float = 0.8):
    """Rows with wall = c · members^slope (members series) and c · size^size_slope."""
    rows = []
    for mode, slope, c in (("batched", batched_slope, 0.1), ("loop", loop_slope, 1.0)):
        for m in (1, 4, 16, 64):
            wall = c * m**slope * (3.0 if m == 1 else 1.0)  # M = 1 is off the line: not fitted
            rows.append(make_row("toy", "w", "members", mode, m, 10, Timing(wall, wall, None,
                                 2.0 * m, 1), 2**20 * m, size_knob="n", size=8,
                                 model_size=64))
        for n in (8, 16, 32):
            wall = c * (n * n) ** size_slope
            rows.append(make_row("toy", "w", "model_size", mode, 4, 10,
                                 Timing(wall, wall, None, None, 1), 2**20, size_knob="n",
                                 size=n, model_size=n * n))
    return pd.DataFrame(rows).assign(device="cpu")


def test_row_schema_and_throughput():
    row = make_row("c", "w", "members", "batched", 8, 100, Timing(2.0, 1.5, None, 3.0, 2),
                   5 * 2**20, size_knob="V", size=128, model_size=4096, chunk_members=4)
    assert set(row) == SCHEMA
    assert row["member_steps_per_s"] == 400 and row["peak_mem_mb"] == 5
    assert row["mem_source"] == "analytic"
    cuda = make_row("c", "w", "members", "loop", 1, 10, Timing(1.0, 1.0, 7.0, None, 1), 2**20)
    assert cuda["peak_mem_mb"] == 7 and cuda["analytic_mem_mb"] == 1
    assert cuda["mem_source"] == "cuda max allocated"


def test_speedups_pair_the_same_work_only():
    frame = synthetic()
    ratio = speedups(frame)
    members = ratio[ratio["series"] == "members"].set_index("members")["speedup"]
    expected = {m: 1.0 * m / (0.1 * m**0.5) for m in (4, 16, 64)}  # M = 1: both ×3
    for m, value in expected.items():
        assert members[m] == pytest.approx(value)
    assert members[1] == pytest.approx(10.0)
    assert len(ratio) == 4 + 3
    # a loop measured only at some sizes gives speed-ups only there
    partial = frame[~((frame["mode"] == "loop") & (frame["members"] == 64))]
    assert 64 not in set(speedups(partial)["members"][speedups(partial)["series"] == "members"])
    assert speedups(frame[frame["mode"] == "batched"]).empty
    assert speedups(pd.DataFrame()).empty


def test_speedups_use_the_chapter_chunk_not_the_best():
    t = lambda w: Timing(w, w, None, None, 1)  # noqa: E731
    rows = [make_row("c", "w", "chunk", "batched", 32, 10, t(1.0), 1, chunk_members=4,
                     chapter_default=False),
            make_row("c", "w", "chunk", "batched", 32, 10, t(2.0), 1, chunk_members=8,
                     chapter_default=True),
            make_row("c", "w", "chunk", "loop", 32, 10, t(6.0), 1, chunk_members=1)]
    ratio = speedups(pd.DataFrame(rows).assign(device="cpu"))
    assert ratio["speedup"].tolist() == [pytest.approx(3.0)]


def test_scaling_exponents_recover_known_slopes():
    frame = synthetic(batched_slope=0.5, loop_slope=1.0, size_slope=0.8)
    members = scaling_exponents(frame).set_index("mode")
    assert members.loc["batched", "slope"] == pytest.approx(0.5, rel=1e-4)
    assert members.loc["loop", "slope"] == pytest.approx(1.0, rel=1e-4)
    assert (members["n_points"] == 3).all() and (members["x_min"] == 4).all()
    size = scaling_exponents(frame, "model_size", "model_size", min_x=0).set_index("mode")
    assert size.loc["batched", "slope"] == pytest.approx(0.8, rel=1e-4)
    table = scaling_table(frame).set_index("mode")
    assert table.loc["batched", "slope vs members"] == pytest.approx(0.5, rel=1e-4)
    assert table.loc["loop", "slope vs size"] == pytest.approx(0.8, rel=1e-4)
    assert scaling_exponents(pd.DataFrame()).empty


def test_scaling_exponent_needs_two_member_counts():
    frame = synthetic()
    one = frame[(frame["series"] != "members") | (frame["members"] <= 4)]
    assert scaling_exponents(one).empty  # only M = 4 is >= 4


def test_report_tables_and_summary():
    frame = synthetic()
    wide = speedup_by_members(frame)
    assert list(wide.columns) == ["chapter", "workload", "M = 1", "M = 4", "M = 16", "M = 64"]
    long = speedup_by_size(frame)
    assert long["params/member"].tolist() == [64, 256, 1024]
    numbers = summary(frame, at_members=16)
    assert numbers["slope_batched_lo"] == pytest.approx(0.5, rel=1e-4)
    assert numbers["speedup_at_lo"] == pytest.approx(16 / (0.1 * 4))
    assert numbers["speedup_best"] == pytest.approx(64 / (0.1 * 8))
    assert numbers["rss_ratio_lo"] == pytest.approx(2.0)  # rss = 2 MB × M, analytic = 1 MB × M
    empty = summary(pd.DataFrame())
    assert all(np.isnan(v) for v in empty.values())
    assert speedup_by_members(pd.DataFrame()).empty and speedup_by_size(pd.DataFrame()).empty
    slow_start = frame.copy()
    first = (slow_start["mode"] == "batched") & (slow_start["members"] == 1)
    slow_start.loc[first, "wall_s"] = 20.0  # the loop (3 s) wins at one member
    assert slowest_case(slow_start) == "toy, w, 1 member, members series"
    assert slowest_case(pd.DataFrame()) == ""


def test_chapter_figure_draws_measured_and_empty():
    fig = chapter_figure(synthetic(), "toy")
    axes = fig.axes
    assert len(axes) == 4 and all(ax.get_xscale() == "log" for ax in axes)
    assert len(axes[0].lines) == 2  # batched and loop throughput
    empty = chapter_figure(pd.DataFrame(), "toy")
    assert "not measured" in empty.axes[0].texts[0].get_text()
    assert short_number(2048) == "2k" and short_number(16640) == "17k"
    assert short_number(1_500_000) == "1.5M" and short_number(64) == "64"


def test_timed_repeats_and_measures_rss_growth():
    calls = []
    t = timed(lambda: calls.append(1), CPU, min_wall_s=10.0, max_repeats=3)
    assert t.repeats == 3 and len(calls) == 3  # repeated while the total stays under 10 s
    assert timed(lambda: None, CPU).repeats == 1
    big = timed(lambda: torch.ones(16 * 2**20).sum(), CPU)  # a 64 MB tensor, touched
    if big.rss_peak_mb is None:
        pytest.skip("peak RSS cannot be reset on this system")
    assert big.rss_peak_mb >= 48


def toy_scaling(limit_members: int = 10**9) -> Scaling:
    """A Scaling whose 'training' does nothing, to test the series logic."""
    return Scaling(
        chapter="toy", workload="toy", size_knob="n", base_size=8, sizes=(8, 16), size_members=4,
        steps=3, build=lambda m, n, steps: (m, n), batched=lambda w, d: None,
        loop=lambda w, d: None,
        memory=lambda w, mode, d: 10**15 if w[0] > limit_members else 100 * w[0] * w[1],
        chunk=lambda w, d: min(w[0], 4), n_params=lambda n: n * n)


def test_scaling_rows_series_and_memory_cap():
    rows = pd.DataFrame(scaling_rows(toy_scaling(), CPU, quick=True))
    batched = rows[(rows["series"] == "members") & (rows["mode"] == "batched")]
    loop = rows[(rows["series"] == "members") & (rows["mode"] == "loop")]
    assert batched["members"].tolist() == [1, 4, 16, 64]
    assert loop["members"].tolist() == [1, 4, 16]
    sizes = rows[rows["series"] == "model_size"]
    assert sorted(sizes["size"].unique()) == [8, 16] and (sizes["members"] == 4).all()
    assert (sizes["model_size"] == sizes["size"] ** 2).all()
    assert batched["chunk_members"].tolist() == [1, 4, 4, 4]
    # the analytic memory over the bound stops the series
    capped = pd.DataFrame(scaling_rows(toy_scaling(limit_members=16), CPU, quick=False))
    assert capped[capped["series"] == "members"]["members"].max() == 16
    # outside quick mode the time cap stops a series, but only beyond the quick mode's points
    timed_out = pd.DataFrame(scaling_rows(toy_scaling(), CPU, quick=False, time_cap_s=0.0))
    members = timed_out[timed_out["series"] == "members"]
    assert members[members["mode"] == "batched"]["members"].tolist() == [1, 4, 16, 64]
    assert members[members["mode"] == "loop"]["members"].tolist() == [1, 4, 16]
    assert len(timed_out[timed_out["series"] == "model_size"]) == 4


def _tiny(s: Scaling) -> Scaling:
    return dataclasses.replace(s, steps=2, sizes=(s.base_size,), size_members=1,
                               quick_members=(1, 2), quick_loop_members=(1, 2))


TINY = {
    "one_third": lambda: bench_one_third.scaling(True),
    "superposition": lambda: bench_superposition.scaling(True),
    "depth": lambda: bench_depth.scaling(True),
    "es_mc": lambda: bench_es.mc_scaling(True),
    "es_net": lambda: bench_es.net_scaling(True, CPU),
    "real": lambda: bench_real.scaling(True),
}


@pytest.mark.parametrize("name", list(TINY))
def test_module_series_rows_on_a_tiny_configuration(name):
    rows = pd.DataFrame(scaling_rows(_tiny(TINY[name]()), CPU, quick=True))
    assert SCHEMA <= set(rows.columns)
    assert set(rows["series"]) == {"members", "model_size"}
    assert set(rows["mode"]) == {"batched", "loop"}
    assert (rows["wall_s"] > 0).all() and (rows["analytic_mem_mb"] > 0).all()
    assert (rows["model_size"] > 0).all() and (rows["steps"] == 2).all()
    ratio = speedups(rows.assign(device="cpu"))
    assert set(ratio[ratio["series"] == "members"]["members"]) == {1, 2}  # same work both ways


@pytest.mark.parametrize("name", list(TINY))
def test_batched_memory_grows_no_faster_than_members_times_size(name):
    s = TINY[name]()
    small, big = s.build(4, s.base_size, 2), s.build(16, s.base_size, 2)
    assert s.memory(big, "batched", CPU) <= 4.5 * s.memory(small, "batched", CPU)
    wide = s.build(4, max(s.sizes), 2)
    ratio = s.n_params(max(s.sizes)) / s.n_params(s.base_size)
    assert s.memory(wide, "batched", CPU) <= 1.1 * max(ratio, 1) * s.memory(small, "batched", CPU)


def test_chunk_series_flags_the_chapter_default():
    from lib.superposition.sweep import Member, SweepConfig

    members = [Member(8, g, "power", 1.2, 0) for g in (-1.0, 1.0)]
    cfg = SweepConfig(n=32, batch=8, steps=2, final_window=1)
    rows = bench_superposition.compare("tiny", "chunk", members, cfg, CPU, [1, 8])
    assert [r["chapter_default"] for r in rows if r["mode"] == "batched"] == [False, True]
    assert len(speedups(pd.DataFrame(rows).assign(device="cpu"))) == 1


# ---- FLOPs and the device's peak ----------------------------------------------------------


def test_flop_count_of_known_products():
    """A matrix product costs 2·m·k·n; a linear layer's forward + backward three times its
    forward (grad of the input and of the weight), 6·B·in·out."""
    a, b = torch.randn(3, 5), torch.randn(5, 7)
    assert count_flops(lambda: a @ b) == 2 * 3 * 5 * 7
    layer = torch.nn.Linear(16, 8, bias=False)
    x = torch.randn(4, 16, requires_grad=True)
    assert count_flops(lambda: layer(x).sum().backward()) == 6 * 4 * 16 * 8
    assert count_flops(lambda: torch.exp(a)) == 0  # elementwise work is not counted


@pytest.mark.parametrize("name", ["superposition", "depth", "es_net"])
def test_loop_flops_per_member_step_do_not_depend_on_members(name):
    s = _tiny(TINY[name]())
    two = flop_per_member_step(s, "loop", s.base_size, CPU, members=2)
    four = flop_per_member_step(s, "loop", s.base_size, CPU, members=4)
    assert two > 0 and four == pytest.approx(two, rel=1e-9)


def test_shared_teachers_cost_fewer_flops_per_member_when_batched():
    """The depth sweep runs a teacher once for all its students: per member-step the batched
    program counts fewer FLOPs than the loop, which re-runs it for every student."""
    s = TINY["depth"]()  # the quick workload's steps: at 2 steps the test-set evaluations weigh
    batched = flop_per_member_step(s, "batched", s.base_size, CPU, members=8)
    loop = flop_per_member_step(s, "loop", s.base_size, CPU, members=2)
    assert 0 < batched < loop


def test_matmul_peak_and_hardware_use():
    peak = matmul_peak_gflops(CPU, n=128, repeats=2)
    assert np.isfinite(peak) and peak > 0
    frame = synthetic().assign(flop_per_member_step=np.nan)
    top = frame.index[(frame["series"] == "members") & (frame["members"] == 64)
                      & (frame["mode"] == "batched")]
    frame.loc[top, "flop_per_member_step"] = 2e6
    out = add_hardware_use(frame, {"cpu": 100.0})
    row = out.loc[top[0]]
    assert row["achieved_gflops"] == pytest.approx(2e6 * row["member_steps_per_s"] / 1e9)
    assert row["fraction_of_peak"] == pytest.approx(row["achieved_gflops"] / 100.0)
    table = hardware_table(out)
    assert len(table) == 1 and table["members"].tolist() == [64]
    assert table["% of peak"].iloc[0] == pytest.approx(100 * row["fraction_of_peak"])
    summary_numbers = hardware_summary(table)
    assert summary_numbers["peak_gflops"] == 100.0
    assert summary_numbers["peak_share_lo"] == pytest.approx(table["% of peak"].iloc[0])
    # a frame without FLOP counts (no benchmark run, or an older one) gives empty results
    assert hardware_table(synthetic()).empty
    assert np.isnan(hardware_summary(hardware_table(pd.DataFrame()))["peak_share_lo"])
