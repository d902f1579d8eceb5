"""Benchmarks: every chapter's batched sweep against the same work trained one model at a time.

Each ``benchmarks/bench_<topic>.py`` exposes ``run(device="cpu", quick=False) -> list[dict]``
with rows ``{chapter, workload, series ("members"|"model_size"|"chunk"|"paper"), mode
("batched"|"loop"), members, size_knob, size, model_size (parameters per member), steps,
wall_s, cpu_s, member_steps_per_s, peak_mem_mb, mem_source, analytic_mem_mb, rss_peak_mb}``
(``benchmarks.harness.make_row``), measured in one process so the ratio is fair.
``benchmarks.report`` turns them into the Performance page's tables and figures.
"""
