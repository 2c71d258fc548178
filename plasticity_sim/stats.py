"""Small statistics for chapters' claims: mean (std) over seeds, paired differences, their confidence
intervals and p-values.

The package's one home for these: every table and figure summarises seeds with :func:`mean_std`
(sample std); every part pairs its runs by seed through :func:`paired_ci` (which refuses seeds present
on one side only, :func:`pair_by_seed`) and corrects several comparisons with :func:`holm`.

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


def t_sf2(t: float, df: int) -> float:
    """Two-sided tail probability P(|T| >= |t|) of Student's t with ``df`` >= 1 degrees of freedom.

    Exact closed form for integer ``df`` (Abramowitz & Stegun 26.7.3-4: a finite series in
    cos(theta), theta = atan(t / sqrt(df))), so the package needs no scipy for its p-values.
    Computed as 1 - P(|T| < |t|): accurate to about 1e-15 in absolute terms, which is all a
    p-value compared with 0.05 (or Holm's alpha / m) needs.
    """
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"need an integer number of degrees of freedom >= 1, got {df!r}")
    if math.isnan(t):
        raise ValueError("t must be a number, got nan")
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:   # odd: A = 2/pi (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        a = 2 / math.pi * (theta + s * math.cos(theta) * total)
    else:        # even: A = sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        a = s * total
    return min(1.0, max(0.0, 1.0 - a))


def t_quantile(df: int, level: float = 0.95) -> float:
    """Two-sided Student-t critical value: the t with P(|T| >= t) = 1 - ``level``, ``df`` >= 1.

    Found by bisection on :func:`t_sf2` to double precision: the same value as scipy's
    ``t.ppf(0.5 + level / 2, df)``, for any level (a three-decimal table served 0.95 and 0.90 before).
    """
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {df}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    alpha = 1.0 - level
    lo, hi = 0.0, 1.0
    while t_sf2(hi, df) > alpha:     # bracket: the tail falls as t grows
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if t_sf2(mid, df) > alpha else (lo, mid)
    return hi


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and *sample* standard deviation (``ddof=1``) over seeds: the book's one convention for
    "mean (std) over seeds", in every table and figure. The std of a single value is undefined (nan).

    Sample, not population, std: the seeds are a sample of the seeds one could run, and the same
    spread then enters the paired t intervals, so a table's std and its interval agree.
    """
    v = np.ravel(np.asarray(values, dtype=float))
    if v.size == 0:
        raise ValueError("mean_std needs at least one value")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


@dataclass(frozen=True)
class PairedCI:
    """Mean of paired differences over seeds and its two-sided confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    level: float
    pvalue: float   # two-sided, of the t test "the mean paired difference is 0"

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

    def text(self, digits: int = 2, scale: float = 1.0, sep: str = ", ") -> str:
        """``"+1.23 [+0.45, +2.01]"`` (times ``scale``): :func:`interval_text` of this interval."""
        return interval_text(scale * self.mean, scale * self.low, scale * self.high, digits, sep)


def interval_text(mean: float, low: float, high: float, digits: int = 2, sep: str = ", ") -> str:
    """A difference and its interval as the book prints them everywhere: ``"+1.23 [+0.45, +2.01]"``
    (``sep=","`` for a narrow table column)."""
    return f"{mean:+.{digits}f} [{low:+.{digits}f}{sep}{high:+.{digits}f}]"


def pair_by_seed(a: Mapping, b: Mapping, names: tuple[str, str] = ("a", "b")) -> list:
    """The seeds (keys) of ``a`` and ``b``, sorted, when both hold exactly the same ones.

    A paired comparison over the seeds both happen to have would silently compare different sets of
    runs (a crashed or unfinished run drops out of one side only), so a mismatch is an error that
    names both sides (``names``, e.g. the two methods) and the seeds each one lacks.
    """
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        lacks = [f"{names[1]!s} lacks seed(s) {only_a}" if only_a else "",
                 f"{names[0]!s} lacks seed(s) {only_b}" if only_b else ""]
        raise ValueError(f"cannot pair {names[0]!s} with {names[1]!s} by seed: "
                         + "; ".join(x for x in lacks if x) + "; run the missing seeds or drop them from both")
    return sorted(a)


def paired_ci(a: Sequence[float] | Mapping, b: Sequence[float] | Mapping | None = None, *,
              level: float = 0.95, names: tuple[str, str] = ("a", "b")) -> PairedCI:
    """Confidence interval of the mean paired difference ``a - b`` (t interval over the pairs), with
    the two-sided p-value of the paired t test.

    ``a`` and ``b`` are equal-length sequences, or mappings keyed by seed, paired by key through
    :func:`pair_by_seed` (the keys must match; the error names ``names`` and the missing seeds). With
    ``b`` omitted, ``a`` holds the differences already. Needs at least 2 pairs.
    """
    if isinstance(a, Mapping):
        if b is not None:
            if not isinstance(b, Mapping):
                raise ValueError(f"paired by key, but {names[1]} is a sequence, not a mapping of seeds")
            d = np.array([a[k] - b[k] for k in pair_by_seed(a, b, names)], dtype=float)
        else:
            d = np.array([a[k] for k in sorted(a)], dtype=float)
    else:
        a_arr = np.ravel(np.asarray(a, dtype=float))
        if b is not None:
            b_arr = np.ravel(np.asarray(b, dtype=float))
            if a_arr.shape != b_arr.shape:
                raise ValueError(f"cannot pair {len(a_arr)} values of {names[0]} with {len(b_arr)} of {names[1]}")
            a_arr = a_arr - b_arr
        d = a_arr
    d = np.ravel(d)
    if d.size < 2:
        raise ValueError(f"a confidence interval needs at least 2 pairs, got {d.size}")
    if not np.all(np.isfinite(d)):
        raise ValueError("paired differences must be finite")
    mean, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(d.size)
    half = t_quantile(d.size - 1, level) * se
    # all differences equal: no spread, so the test is decided by the sign of the mean alone
    pvalue = t_sf2(mean / se, d.size - 1) if se > 0 else (1.0 if mean == 0 else 0.0)
    return PairedCI(mean=mean, low=mean - half, high=mean + half, n=int(d.size), level=level, pvalue=pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    Sorted ascending, the i-th smallest (i = 0, 1, ...) of m p-values is multiplied by m - i, each
    adjusted value is made at least the one before it (so the adjustment keeps the order) and capped
    at 1. Rejecting every hypothesis whose adjusted p-value is <= alpha controls the family-wise
    error rate at alpha, for several comparisons made on the same seeds.
    """
    p = [float(v) for v in pvalues]
    if any(not (0.0 <= v <= 1.0) for v in p):
        raise ValueError(f"p-values must lie in [0, 1], got {p}")
    m, out, running = len(p), [0.0] * len(p), 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p[j])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


# A verdict of holm_verdicts, short enough for a table column.
SHORT_VERDICTS = {"above": "above", "below": "below", "no measurable difference": "n.m.d."}


def holm_verdicts(family: Mapping, alpha: float = 0.05) -> dict:
    """The book's statistics policy on one family of comparisons (``{name: PairedCI}``): Holm's
    correction over the family, then per comparison ``{"ci", "p_holm", "verdict"}`` with verdict
    ``"above"`` or ``"below"`` (the difference survives the correction at ``alpha``) or
    ``"no measurable difference"`` (it does not)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha={alpha!r} must lie in (0, 1)")
    names = list(family)
    adjusted = holm([family[n].pvalue for n in names])
    return {n: {"ci": family[n], "p_holm": p,
                "verdict": "no measurable difference" if p > alpha else ("above" if family[n].mean > 0 else "below")}
            for n, p in zip(names, adjusted)}
