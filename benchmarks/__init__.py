"""Benchmarks: every chapter's batched sweep against the same work trained one model at a time.

Each ``benchmarks/bench_<topic>.py`` exposes ``run(device="cpu", quick=False) -> list[dict]``
with rows ``{chapter, workload, mode ("batched"|"loop"), members, steps, wall_s,
member_steps_per_s, peak_mem_mb}``, measured in one process so the ratio is fair.
"""
