"""Evolution strategies on a real LM (SmolLM2) with exact-match arithmetic rewards: the "Real
models" section of the es_curvature chapter.

The estimator is the one of "Evolution Strategies at Scale" (Qiu et al., arXiv:2509.24372;
VsonicV/es-fine-tuning-paper, iid-noise version): each member ``k`` of a population of ``N``
perturbs *every* parameter tensor, ``θ_k = θ + σ ε_k`` with ``ε_k ~ N(0, I)`` drawn from a seed per
(member, tensor), is scored by greedy generation on a fixed pool of prompts, and the update is

    θ ← θ + α · (1/N) Σ_k z_k ε_k,     z = (r − mean r) / std r

(rewards z-scored, no 1/σ, as in the authors' code). The "blessing of dimensionality" paper
(Liang et al., arXiv:2602.00170, App. G) probes the same landscape by *best-of-N*: draw ``M``
perturbations of the base model, and ask how much the best of ``N`` of them improves the reward,
``Δ*_N = E[max_{i ≤ N} ΔR_i]``, normalised by the headroom ``1 − R_0`` (its Eq. 10 and 54).

Noise is regenerated from its seed instead of stored (N copies of 135M floats would not fit a
CI machine); the base weights are kept once, so restoring a member is an exact copy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lib.core.fit import Bootstrap, Interval, bootstrap, t_interval
from lib.es.geometry import gaussian_expected_max
from lib.es.tasks import Problem, reward

PREFILL = "The answer is"  # the assistant turn starts with this, so the reply is a number


@dataclass
class PromptPool:
    """Chat prompts for a fixed list of problems, tokenised once (left padding, for batched
    greedy generation)."""

    problems: list[Problem]
    input_ids: torch.Tensor  # (P, T)
    attention_mask: torch.Tensor  # (P, T)
    pad_token_id: int


def build_pool(tokenizer, problems: Sequence[Problem], device: torch.device) -> PromptPool:
    """Format each problem with the model's chat template, append :data:`PREFILL` to the
    assistant turn, and tokenise with left padding."""
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p.question}],
                                           tokenize=False, add_generation_prompt=True) + PREFILL
             for p in problems]
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    enc = tokenizer(texts, return_tensors="pt", padding=True)
    return PromptPool(list(problems), enc.input_ids.to(device), enc.attention_mask.to(device),
                      int(tokenizer.pad_token_id))


@torch.no_grad()
def pool_rewards(model, tokenizer, pool: PromptPool, max_new_tokens: int = 5,
                 batch: int = 32) -> np.ndarray:
    """Exact-match reward (0/1) of greedy completions for every prompt of the pool (P,)."""
    out = []
    for i in range(0, pool.input_ids.shape[0], batch):
        ids = pool.input_ids[i:i + batch]
        gen = model.generate(input_ids=ids, attention_mask=pool.attention_mask[i:i + batch],
                             max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=pool.pad_token_id)
        texts = tokenizer.batch_decode(gen[:, ids.shape[1]:], skip_special_tokens=True)
        out += [reward(t, p) for t, p in zip(texts, pool.problems[i:i + batch], strict=True)]
    return np.asarray(out, dtype=float)


def noise_seed(base: int, member: int, tensor: int) -> int:
    """Seed of the noise of one (member, tensor): iid across tensors and members."""
    return (base * 1_000_003 + member) * 10_007 + tensor


def _noise(p: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator(device=p.device).manual_seed(seed)
    return torch.randn(p.shape, generator=g, device=p.device, dtype=p.dtype)


class Perturber:
    """Holds the base weights of a model and sets it to ``θ + σ ε_k`` or back to ``θ``."""

    def __init__(self, model) -> None:
        self.params = [p for p in model.parameters()]  # tied weights appear once
        self.base = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def set_member(self, sigma: float, seed: int, member: int) -> None:
        for i, (p, b) in enumerate(zip(self.params, self.base, strict=True)):
            p.copy_(b).add_(_noise(p, noise_seed(seed, member, i)), alpha=sigma)

    @torch.no_grad()
    def restore(self) -> None:
        for p, b in zip(self.params, self.base, strict=True):
            p.copy_(b)

    @torch.no_grad()
    def update(self, alpha: float, weights: np.ndarray, seed: int) -> None:
        """``θ ← θ + α/N Σ_k w_k ε_k`` (then the new θ becomes the base)."""
        n = len(weights)
        for i, (p, b) in enumerate(zip(self.params, self.base, strict=True)):
            step = torch.zeros_like(b)
            for k, w in enumerate(weights):
                if w != 0.0:
                    step.add_(_noise(b, noise_seed(seed, k, i)), alpha=float(w))
            b.add_(step, alpha=alpha / n)
            p.copy_(b)


def zscore(r: np.ndarray) -> np.ndarray:
    """(r − mean) / std; all zeros when every reward is equal (no signal, no step)."""
    sd = float(np.std(r))
    return np.zeros_like(r) if sd == 0.0 else (r - r.mean()) / sd


@dataclass
class PopulationResult:
    base: np.ndarray  # (P,) per-prompt rewards of θ
    members: np.ndarray  # (N, P) per-prompt rewards of θ + σ ε_k
    seconds: float


def evaluate_population(model, tokenizer, pool: PromptPool, sigma: float, n: int, seed: int,
                        max_new_tokens: int = 5, perturber: Perturber | None = None
                        ) -> PopulationResult:
    """Rewards of the base model and of ``n`` perturbations ``θ + σ ε_k`` on the pool."""
    started = time.time()
    perturber = perturber or Perturber(model)
    base = pool_rewards(model, tokenizer, pool, max_new_tokens)
    rows = []
    try:
        for k in range(n):
            perturber.set_member(sigma, seed, k)
            rows.append(pool_rewards(model, tokenizer, pool, max_new_tokens))
    finally:
        perturber.restore()
    return PopulationResult(base, np.asarray(rows).reshape(n, -1), time.time() - started)


def best_of_n(base_reward: float, member_rewards: np.ndarray, ns: Sequence[int],
              n_subsets: int = 2000, seed: int = 0) -> np.ndarray:
    """``Δ*_N / (1 − R_0)``: the mean over ``n_subsets`` random size-N subsets (without
    replacement) of the best reward improvement over the base, normalised by the headroom
    (arXiv:2602.00170, Eqs. 10 and 54). NaN for N larger than the pool or no headroom."""
    r = np.asarray(member_rewards, float)
    delta = r - base_reward
    head = 1.0 - base_reward
    rng = np.random.default_rng(seed)
    out = []
    for n in ns:
        if n > r.size or head <= 0:
            out.append(float("nan"))
            continue
        if n == r.size:
            out.append(float(delta.max()) / head)
            continue
        best = [delta[rng.choice(r.size, n, replace=False)].max() for _ in range(n_subsets)]
        out.append(float(np.mean(best)) / head)
    return np.asarray(out)


@dataclass
class ESRun:
    history: list[dict]  # per iteration: base reward, population mean/max, seconds
    populations: list[PopulationResult]
    final: np.ndarray  # (P,) per-prompt rewards of the last θ


def run_es(model, tokenizer, pool: PromptPool, sigma: float, alpha: float, population: int,
           iterations: int, seed: int, max_new_tokens: int = 5, restore: bool = True) -> ESRun:
    """``iterations`` ES updates (see the module docstring); each iteration scores the current θ
    and its ``population`` perturbations on the pool, then steps. A final evaluation of θ closes
    the history. With ``restore`` the model gets its original weights back at the end."""
    perturber = Perturber(model)
    original = [b.clone() for b in perturber.base] if restore else None
    history, pops = [], []
    for it in range(iterations):
        pop = evaluate_population(model, tokenizer, pool, sigma, population, seed + it,
                                  max_new_tokens, perturber)
        r = pop.members.mean(axis=1)  # (N,) mean reward of each member
        perturber.update(alpha, zscore(r), seed + it)
        pops.append(pop)
        history.append({"iteration": it, "base_reward": float(pop.base.mean()),
                        "member_mean": float(r.mean()), "member_max": float(r.max()),
                        "frac_improving": float(np.mean(r > pop.base.mean())),
                        "seconds": pop.seconds})
    final = pool_rewards(model, tokenizer, pool, max_new_tokens)
    history.append({"iteration": iterations, "base_reward": float(final.mean()),
                    "member_mean": math.nan, "member_max": math.nan, "frac_improving": math.nan,
                    "seconds": 0.0})
    if original is not None:
        with torch.no_grad():
            for p, o in zip(perturber.params, original, strict=True):
                p.copy_(o)
    return ESRun(history, pops, final)


# ---- rewards before and after, and best-of-N saturation -----------------------------------


def paired_gain(before: np.ndarray, after: np.ndarray, n_boot: int = 0, seed: int = 0
                ) -> Interval:
    """Mean reward gain ``after − before`` over the same prompts, with the book's Student-t
    interval over prompts (:func:`lib.core.fit.t_interval`; no interval when every prompt's
    change is the same, e.g. all 0). ``n_boot`` and ``seed`` are unused (kept for callers)."""
    d = np.asarray(after, float).ravel() - np.asarray(before, float).ravel()
    return t_interval(d, method=f"Student t over {d.size} prompts (paired)")


def saturation_ratio(base: float, member_rewards: np.ndarray, n_small: int, n_large: int,
                     n_boot: int, seed: int, n_subsets: int = 200) -> Bootstrap:
    """``Δ*_{n_small} / Δ*_{n_large}`` of the best-of-N curve: 1 when the best-of-N gain has
    saturated by ``n_small``. CI by resampling the perturbation pool (percentile bootstrap over
    its M members, M ≥ 60 where the chapter judges it). A centred Gaussian ΔR gives
    :func:`gaussian_saturation_ratio`, the control a claim must beat."""
    r = np.asarray(member_rewards, float)

    def ratio(pool: np.ndarray) -> float:
        small, large = best_of_n(base, pool, [n_small, n_large], n_subsets, seed)
        return float(small / large) if large > 0 else float("nan")

    return bootstrap(ratio, r, n_boot, 0.95, seed)


def gaussian_saturation_ratio(n_small: int, n_large: int) -> float:
    """``E[max of n_small] / E[max of n_large]`` for i.i.d. centred Gaussians: the saturation
    ratio that light tails give whatever the model (0.90 for 30 vs 50, 0.75 for 30 vs 240)."""
    m = gaussian_expected_max(max(n_small, n_large))
    return float(m[n_small - 1] / m[n_large - 1])
