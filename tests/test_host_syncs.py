"""No training step waits for the device: every batched sweep reads values back to the host only
at its log points and at the end, so doubling the steps (same log points) adds no read.

On a GPU a read (``.item()``, ``if t:``, ``x[mask]``, ``.cpu()``) inside the step stalls the
device every step; on the CPU it costs nothing, so it is counted here (tests/syncs.py)."""

import torch

from tests.syncs import count_host_syncs
from tests.tiny_data import token_data

CPU = torch.device("cpu")


def syncs(fn) -> dict:
    with count_host_syncs() as seen:
        fn()
    return seen


def assert_no_read_per_step(run_steps, steps: int, allowed_per_step: float = 0.0) -> None:
    """Reads at ``2 * steps`` minus reads at ``steps`` must be at most ``allowed_per_step``
    per extra step; the message names the lines that read."""
    short, long = syncs(lambda: run_steps(steps)), syncs(lambda: run_steps(2 * steps))
    extra = long.total - short.total
    assert extra <= allowed_per_step * steps, (
        f"{extra} more host reads for {steps} more steps: {dict(long.by_site)}")


def test_the_counter_sees_reads_and_only_reads():
    x = torch.randn(16)
    with count_host_syncs() as seen:
        for _ in range(3):
            x.sum().item()
        bool(x[0] > 0)
        x[x > 0]
        x.tolist()
    assert seen.by_op["aten._local_scalar_dense"] == 4
    assert seen.by_op["aten.index (boolean mask)"] == 1 and seen.by_op["Tensor.tolist"] == 1
    assert any("test_host_syncs.py" in site for site in seen.by_site)
    with count_host_syncs() as none:
        torch.where(x > 0, x, 0).sum()
        torch.isfinite(x).all()
        x[torch.tensor([0, 2])]
    assert none.total == 0


def test_reads_inside_torch_optim_are_not_counted():
    """torch.optim keeps its step counts on the host (not capturable): nothing waits."""
    w = torch.nn.Parameter(torch.randn(4))
    opt = torch.optim.AdamW([w])
    with count_host_syncs() as seen:
        for _ in range(3):
            (w * w).sum().backward()
            opt.step()
    assert seen.total == 0


def test_one_third_sweep():
    from lib.one_third.sweep import Member, SweepConfig, train_chunk

    members = [Member("adam", 0.01, 0.1, 0), Member("adam", 0.1, 1.0, 1)]
    members_sgd = [Member("sgd", 1.0, 0.1, 0), Member("sgd", 3.0, 1.0, 1)]

    def run(steps):
        cfg = SweepConfig(n_embd=8, vocab_size=16, batch_size=32, steps=steps, n_logs=4,
                          test_batches=1)
        train_chunk(members, cfg)
        train_chunk(members_sgd, cfg)

    assert_no_read_per_step(run, 20)


def test_depth_sweep():
    from lib.depth.sweep import Member, SweepConfig, train_chunk

    members = [Member(3, 0.0, 0, 0.5, "kl", "euler"), Member(2, 1.0, 1, 1.0, "kl", "euler"),
               Member(2, 0.0, 0, 0.5, "mse", "rk2")]

    def run(steps):
        cfg = SweepConfig(teacher_depth=4, steps=steps, batch_size=8, n_checkpoints=2,
                          n_test=32)
        train_chunk(members[:2], cfg, CPU)
        train_chunk(members[2:], cfg, CPU)

    assert_no_read_per_step(run, 6)


def test_superposition_sweep_reads_once_per_block_of_batches():
    """The number of active entries of a sparse batch is random: the host learns it once per
    block of SPARSE_BLOCK batches (the sizes of the block's batches), never once per step."""
    from lib.superposition.data import SPARSE_BLOCK
    from lib.superposition.sweep import Member, SweepConfig, train_chunk

    members = [Member(3, -1.0, "power", 1.0, 0), Member(6, 0.5, "power", 1.0, 0)]

    def run(steps):
        train_chunk(members, SweepConfig(n=20, batch=12, steps=steps, final_window=5), CPU)

    # a block costs one searchsorted read and one unique: 2 reads per SPARSE_BLOCK steps
    assert_no_read_per_step(run, 4 * SPARSE_BLOCK, allowed_per_step=2 / SPARSE_BLOCK)


def test_es_runs_with_padded_populations():
    from lib.es import quadratic
    from lib.es.estimator import Member, train_chunk

    reward = quadratic.quadratic_reward(torch.linspace(0.1, 1.0, 8))
    runs = [Member(5, 0), Member(10, 1)]  # padded: a boolean mask would read every step
    assert_no_read_per_step(
        lambda steps: train_chunk(reward, torch.ones(8), runs, 0.1, 0.5, steps, log_every=steps),
        10)


def test_es_quadratic_monte_carlo():
    from lib.es import quadratic

    spec = quadratic.Spectrum.two_block(4, 1.0, 1.0, 16, 0.01, 0.0)
    assert_no_read_per_step(lambda steps: quadratic.simulate(
        spec, 0.1, 1.0, torch.tensor([10.0, 30.0]), steps, torch.Generator().manual_seed(0)), 20)


def test_gpt_family_member_and_stacked():
    from lib.real.batched import train_family_batched
    from lib.real.train import Member, TrainConfig, family_grid, train_member

    data = token_data(4000, 600)

    def cfg(steps):
        return TrainConfig(steps=steps, batch_size=4, block_size=16, warmup_steps=2, n_evals=3,
                           eval_windows=4, lr=3e-3)

    assert_no_read_per_step(lambda s: train_member(Member(16, 1, 0), data, cfg(s), CPU), 8)
    members = family_grid([16], [1, 2], [0])
    assert_no_read_per_step(
        lambda s: train_family_batched(members, data, cfg(s), CPU, by="width"), 8)
