"""Small statistics for chapters' claims: paired differences and their confidence intervals.

A chapter that trains real networks live cannot promise the same last digits on a reader's machine
(see ``plasticity_sim.arithmetic``); it asserts its *claims* instead, with a margin taken from the
seed-to-seed spread: "S&P beats cold" becomes "the 95 % confidence interval of the paired difference
S&P - cold, over seeds, lies above 0".

Explained in: book/appendix_arithmetic.md
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

# Two-sided Student-t quantiles t_{1 - alpha/2, df} for df = 1..30 (alpha = 0.05 and 0.10), so that
# the package needs no scipy; beyond 30 degrees of freedom the normal quantile is within 2 %.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
_T95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782, 1.771, 1.761,
        1.753, 1.746, 1.740, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701,
        1.699, 1.697)


def t_quantile(df: int, level: float = 0.95) -> float:
    """Two-sided Student-t critical value for ``level`` (0.95 or 0.90) and ``df`` >= 1 degrees of freedom."""
    if df < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {df}")
    table = {0.95: (_T975, 1.960), 0.90: (_T95, 1.645)}
    if level not in table:
        raise ValueError(f"level must be 0.95 or 0.90, got {level}")
    values, normal = table[level]
    return values[df - 1] if df <= len(values) else normal


@dataclass(frozen=True)
class PairedCI:
    """Mean of paired differences over seeds and its two-sided confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    level: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def above(self, value: float = 0.0) -> bool:
        """The whole interval lies above ``value``."""
        return self.low > value

    def below(self, value: float = 0.0) -> bool:
        """The whole interval lies below ``value``."""
        return self.high < value

    def format(self, fmt: str = "+.2f") -> str:
        return f"{self.mean:{fmt}} ({100 * self.level:.0f} % CI {self.low:{fmt}} to {self.high:{fmt}}, n = {self.n})"


def paired_ci(a: Sequence[float] | Mapping, b: Sequence[float] | Mapping | None = None, *,
              level: float = 0.95) -> PairedCI:
    """Confidence interval of the mean paired difference ``a - b`` (t interval over the pairs).

    ``a`` and ``b`` are equal-length sequences, or mappings keyed by seed (paired by key; the keys must
    match). With ``b`` omitted, ``a`` holds the differences already. Needs at least 2 pairs.
    """
    if isinstance(a, Mapping):
        if b is not None:
            if not isinstance(b, Mapping) or set(a) != set(b):
                raise ValueError(f"paired by key, but the keys differ: {sorted(a)} vs "
                                 f"{sorted(b) if isinstance(b, Mapping) else 'a sequence'}")
            keys = sorted(a)
            d = np.array([a[k] - b[k] for k in keys], dtype=float)
        else:
            d = np.array([a[k] for k in sorted(a)], dtype=float)
    else:
        d = np.asarray(a, dtype=float) - (0.0 if b is None else np.asarray(b, dtype=float))
    d = np.ravel(d)
    if d.size < 2:
        raise ValueError(f"a confidence interval needs at least 2 pairs, got {d.size}")
    if not np.all(np.isfinite(d)):
        raise ValueError("paired differences must be finite")
    mean = float(d.mean())
    half = t_quantile(d.size - 1, level) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return PairedCI(mean=mean, low=mean - half, high=mean + half, n=int(d.size), level=level)
