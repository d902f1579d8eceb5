"""Per-member divergence detection: NaN/inf runs are reported, never plotted or fitted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


def finite_members(values: torch.Tensor) -> torch.Tensor:
    """Boolean mask over the leading (member) dimension: True where every entry is finite."""
    return torch.isfinite(values).reshape(values.shape[0], -1).all(dim=1)


@dataclass
class DivergenceReport:
    """Which members diverged, with a label for each (e.g. 'lr=10, T=0.001, seed=2')."""

    labels: list[str] = field(default_factory=list)

    def add(self, mask_ok: torch.Tensor, labels: Sequence[str]) -> None:
        for ok, label in zip(mask_ok.tolist(), labels, strict=True):
            if not ok:
                self.labels.append(label)

    @property
    def count(self) -> int:
        return len(self.labels)

    def markdown(self) -> str:
        if not self.labels:
            return "No run diverged: every member stayed finite."
        listed = "; ".join(self.labels[:50]) + (" …" if len(self.labels) > 50 else "")
        return (
            f"**{len(self.labels)} run(s) diverged** (NaN/inf) and are excluded from every "
            f"figure and fit: {listed}."
        )
