"""The universality chapter's figures, drawn from fit results and the frames the chapter saves.

Each function returns a matplotlib Figure in the book's style (:mod:`lib.core.plotting`): at most
two panels side by side, the claimed exponent drawn as a dotted guide on every exponent figure
(1/m, 1/ℓ, D^(−1/3), C^(−1/6)), and discrete axes (widths, depths, run counts) ticked at plain
integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lib.core.plotting import figure, integer_ticks, loglog, slope_guide
from lib.universality import fits, frontier

FREE_COLOR = "#1f77b4"  # free exponents (blue)
FIXED_COLOR = "#d62728"  # exponents fixed at (1, 1, 1/3) (red)
EPOCH_COLOR = "#d62728"
HOFFMANN_COLOR = "#2ca02c"

#: Tick values for the Chinchilla widths and depths (all of them are model sizes it trained,
#: doubling or nearly so, so a log axis reads evenly).
WIDTH_TICKS = (640, 1280, 2560, 5120)
DEPTH_TICKS = (10, 15, 20, 30, 40)
#: The law's exponent per term, with the guide's label.
TERM_GUIDES = {
    "width": (1.0, r"$\propto m^{-1}$"),
    "depth": (1.0, r"$\propto \ell^{-1}$"),
    "data": (1 / 3, r"$\propto D^{-1/3}$"),
}


def _spread_ticks(values: Sequence[float], min_gap: float) -> list[float]:
    """The sorted ``values`` with any closer than ``min_gap`` to the last kept one left out
    (their labels would overlap on a linear axis)."""
    kept: list[float] = []
    for v in sorted(set(values)):
        if not kept or v - kept[-1] >= min_gap:
            kept.append(v)
    return kept


def chinchilla_refit_figure(resid: pd.DataFrame, refit: fits.ChinchillaResult) -> Figure:
    """(a) log-residuals of Hoffmann et al.'s published fit and of the refit against model size;
    (b) the bootstrap cloud of (α, β), Epoch's estimate ±SE (a hollow square), Hoffmann et al.'s
    values and the refit with its 95% CI (a filled dot drawn on top, so it shows inside Epoch's
    square when the two agree)."""
    fig, axes = figure(ncols=2, width=3.5, height=3.3)
    ax = axes[0, 0]
    ax.scatter(resid["model_size"], resid["log_resid_hoffmann"], s=10, alpha=0.6,
               color=HOFFMANN_COLOR, label="Hoffmann et al.")
    ax.scatter(resid["model_size"], resid["log_resid_refit"], s=10, alpha=0.6,
               color=FREE_COLOR, label="this refit")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("parameters $N$")
    ax.set_ylabel(r"$\log L - \log \hat L$")
    ax.set_title("(a) residuals")
    ax.legend(loc="upper left", markerscale=2)

    ax = axes[0, 1]
    ax.scatter(refit.samples["alpha"], refit.samples["beta"], s=4, alpha=0.3, color="#7f7f7f",
               label="bootstrap refits", zorder=1)
    epoch, se = fits.EPOCH_2024, fits.EPOCH_2024_SE
    ax.errorbar(epoch["alpha"], epoch["beta"], xerr=se["alpha"], yerr=se["beta"], fmt="s",
                ms=12, mfc="none", mew=1.6, color=EPOCH_COLOR, capsize=3, zorder=3,
                label="Epoch AI (±SE)")
    hoff = fits.HOFFMANN_2022
    ax.plot(hoff["alpha"], hoff["beta"], "D", ms=7, color=HOFFMANN_COLOR, zorder=3,
            label="Hoffmann et al.")
    a, b = refit.estimate["alpha"], refit.estimate["beta"]
    err = np.array([[a - refit.ci_low["alpha"], refit.ci_high["alpha"] - a],
                    [b - refit.ci_low["beta"], refit.ci_high["beta"] - b]]).clip(min=0)
    ax.errorbar(a, b, xerr=err[:1].T, yerr=err[1:].T, fmt="o", ms=5, mec="white", mew=0.8,
                color=FREE_COLOR, elinewidth=1.0, capsize=0, zorder=5,
                label="this refit (95% CI)")
    ax.set_xlabel(r"$\alpha$ (parameters)")
    ax.set_ylabel(r"$\beta$ (tokens)")
    ax.set_title("(b) exponents")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def four_term_parts_figure(variables: Mapping[str, np.ndarray],
                           partial: Mapping[str, np.ndarray],
                           free_parts: Mapping[str, np.ndarray],
                           fixed_parts: Mapping[str, np.ndarray]) -> Figure:
    """One panel per term (width, depth, data), 2 × 2 with the legend in the fourth: the
    partial residuals (dots, positive ones only on log axes), the fitted term with free
    exponents (solid), the term of the fixed-exponent fit (dashed) and the law's exponent as a
    dotted guide drawn above the data."""
    labels = {"width": "width $m$", "depth": r"depth $\ell$", "data": "tokens $D$"}
    fig, axes = figure(ncols=2, nrows=2, width=3.5, height=2.9)
    panels = [axes[0, 0], axes[0, 1], axes[1, 0]]
    for ax, name in zip(panels, ("width", "depth", "data"), strict=True):
        x, y = np.asarray(variables[name], float), np.asarray(partial[name], float)
        ok = y > 0
        ax.scatter(x[ok], y[ok], s=8, alpha=0.4, color="k", label="partial residual")
        order = np.argsort(x)
        ax.plot(x[order], free_parts[name][order], "-", color=FREE_COLOR,
                label="fitted term, free exponents")
        ax.plot(x[order], fixed_parts[name][order], "--", color=FIXED_COLOR,
                label="fitted term, fixed (1, 1, 1/3)")
        exponent, text = TERM_GUIDES[name]
        slope_guide(ax, exponent, x, float(np.max(y[ok])) if ok.any() else 1.0,
                    label="guide: the law's exponent", offset=1.6)
        ax.text(0.97, 0.95, text, transform=ax.transAxes, ha="right", va="top",
                color="#555555")
        loglog(ax, labels[name], f"{name} term (nats)")
    integer_ticks(axes[0, 0], WIDTH_TICKS)
    integer_ticks(axes[0, 1], DEPTH_TICKS)
    spare = axes[1, 1]
    spare.axis("off")
    spare.legend(*axes[0, 0].get_legend_handles_labels(), loc="center", fontsize=9)
    fig.tight_layout()
    return fig


def held_out_figure(wide: pd.DataFrame) -> Figure:
    """Held-out mean squared log-residual of the fixed form against the free one, per split."""
    fig, axes = figure(width=4.2, height=3.8)
    ax = axes[0, 0]
    free, fixed = 1e5 * wide["free"].to_numpy(), 1e5 * wide["universal"].to_numpy()
    ax.scatter(free, fixed, s=18, color=FREE_COLOR, label="one random split")
    both = np.concatenate([free, fixed])
    lim = [both.min() * 0.9, both.max() * 1.1]
    ax.plot(lim, lim, "k--", lw=0.8, label="equal error")
    ax.set_xlabel(r"free exponents: held-out MSE of $\log L$ ($\times 10^{-5}$)")
    ax.set_ylabel(r"fixed (1, 1, 1/3) ($\times 10^{-5}$)")
    ax.legend()
    fig.tight_layout()
    return fig


def exclusion_scan_figure(scan: pd.DataFrame, default_cut: int) -> Figure:
    """Each free exponent (with its 95% CI) against the number of highest-loss runs excluded,
    with the law's value (dashed) and the default cut (grey); 2 × 2 with the legend in the
    fourth panel."""
    names = {"alpha_m": r"width exponent $\alpha_m$", "alpha_l": r"depth exponent $\alpha_\ell$",
             "alpha_D": r"data exponent $\alpha_D$"}
    fig, axes = figure(ncols=2, nrows=2, width=3.5, height=2.6)
    cuts = scan["exclude_top"].to_numpy()
    span = float(cuts.max() - cuts.min()) or 1.0
    for ax, k in zip([axes[0, 0], axes[0, 1], axes[1, 0]], fits.EXPONENTS, strict=True):
        err = np.vstack([scan[k] - scan[f"{k}_lo"], scan[f"{k}_hi"] - scan[k]]).clip(min=0)
        ax.errorbar(cuts, scan[k], yerr=err, fmt="o-", ms=4, capsize=2, color=FREE_COLOR,
                    label="free fit, 95% CI")
        ax.axhline(fits.UNIVERSAL_EXPONENTS[k], color=FIXED_COLOR, ls="--",
                   label="the law's value")
        ax.axvline(default_cut, color="#7f7f7f", lw=0.8, label="default cut")
        ax.set_xlabel("highest-loss runs excluded")
        ax.set_ylabel(names[k])
        integer_ticks(ax, _spread_ticks(cuts, 0.09 * span))
        ax.grid(True, axis="x", alpha=0.3)
    spare = axes[1, 1]
    spare.axis("off")
    spare.legend(*axes[0, 0].get_legend_handles_labels(), loc="center", fontsize=9)
    fig.tight_layout()
    return fig


def frontier_figure(shapes: pd.DataFrame, excess: np.ndarray, free: fits.FourTermResult,
                    universal: fits.FourTermResult, universal_samples: pd.DataFrame | None,
                    budgets: np.ndarray) -> tuple[Figure, pd.DataFrame, pd.DataFrame]:
    """(a) Chinchilla's shapes coloured by the loss their shape costs, the fixed-exponent
    optimal aspect ratio with its bootstrap band, the free fit's compute-optimal shapes;
    (b) the compute-optimal loss above the floor against compute, closed form (lines) and direct
    minimisation (circles), with the law's C^(−1/6) as a guide. Two rows, so each panel is as
    wide as the column. Returns the figure and the free and fixed paths over ``budgets``."""
    fig, axes = figure(nrows=2, width=5.6, height=3.4)
    point_uni = frontier.closed_form(universal.estimate, budgets[0]).iloc[0]
    free_path = pd.concat([frontier.closed_form(free.estimate, c) for c in budgets])
    uni_path = pd.concat([frontier.closed_form(universal.estimate, c) for c in budgets])

    ax = axes[0, 0]
    sc = ax.scatter(shapes["n_layers"], shapes["d_model"], c=1e3 * np.asarray(excess), s=25,
                    cmap="viridis", zorder=3)
    fig.colorbar(sc, ax=ax, label="shape excess loss\n(millinats)")
    ls = np.geomspace(shapes["n_layers"].min() * 0.8, 120, 50)
    ax.plot(ls, point_uni["shape_ratio"] * ls, "--", color=FIXED_COLOR,
            label=r"$m^* = c_m \ell^* / (2 c_\ell)$ (fixed)")
    if universal_samples is not None and len(universal_samples) > 1:
        lo, hi = universal_samples["shape_ratio"].quantile([0.025, 0.975])
        ax.fill_between(ls, lo * ls, hi * ls, color=FIXED_COLOR, alpha=0.15, lw=0)
    ax.plot(free_path["l_star"], free_path["m_star"], "-", color=FREE_COLOR,
            label="compute-optimal shape (free)")
    loglog(ax, r"depth $\ell$", r"width $m$")
    integer_ticks(ax, (10, 20, 40, 80))
    integer_ticks(ax, (500, 1000, 2000, 4000, 8000, 16000, 32000), axis="y")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("(a) shape")

    ax = axes[1, 0]
    uni_gap = uni_path["L_star"].to_numpy() - universal.estimate["E"]
    ax.plot(budgets, uni_gap, "--", color=FIXED_COLOR, label="fixed (1, 1, 1/3)")
    gamma_free = float(free_path["gamma"].iloc[0])
    ax.plot(budgets, free_path["L_star"] - free.estimate["E"], "-", color=FREE_COLOR,
            label=rf"free: $\propto C^{{-{gamma_free:.3f}}}$")
    for fit, color in ((universal, FIXED_COLOR), (free, FREE_COLOR)):
        for c in (1e19, 1e21, 1e23, 1e25):
            num = frontier.numeric_optimum(fit.estimate, c)
            ax.plot(c, num["L_star"] - fit.estimate["E"], "o", mfc="none", color=color)
    slope_guide(ax, 1 / 6, budgets, float(uni_gap[0]), label=r"guide $\propto C^{-1/6}$",
                offset=1.5)
    loglog(ax, "training compute $C$ (FLOP)", r"$L^* - E$ (nats)")
    ax.set_title("(b) compute-optimal loss")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig, free_path, uni_path


def real_family_figure(grid: pd.DataFrame, free: fits.FourTermResult,
                       fixed: fits.FourTermResult) -> Figure:
    """Every family evaluation in the four-term fit: measured held-out loss against the
    prediction with free exponents (circles) and with (1, 1, 1/3) (crosses)."""
    fig, axes = figure(width=5.0, height=4.0)
    ax = axes[0, 0]
    args = (grid.d_model, grid.n_layers, grid.num_tokens)
    ax.plot(grid.loss, free.predict(*args), "o", ms=3, color=FREE_COLOR,
            label=f"free (rms log-residual {free.rmse_log:.3f})")
    ax.plot(grid.loss, fixed.predict(*args), "x", ms=4, color=FIXED_COLOR,
            label=f"fixed 1, 1, 1/3 (rms log-residual {fixed.rmse_log:.3f})")
    lim = [grid.loss.min() * 0.98, grid.loss.max() * 1.02]
    ax.plot(lim, lim, ":", color="gray", label="exact prediction")
    ax.set_xlabel("held-out loss (nats per token)")
    ax.set_ylabel("four-term prediction (nats)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
