"""plasticity_sim.stats: paired confidence intervals used by chapters' claims."""
from __future__ import annotations

import math

import numpy as np
import pytest

from plasticity_sim.stats import paired_ci, t_quantile


def test_paired_ci_by_hand():
    # differences 1, 2, 3: mean 2, sd 1, n 3 -> half width t(2) / sqrt(3) = 4.303 / 1.732
    ci = paired_ci([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    half = 4.303 / math.sqrt(3)
    assert (ci.mean, ci.n) == (2.0, 3)
    assert ci.low == pytest.approx(2 - half) and ci.high == pytest.approx(2 + half)
    assert not ci.excludes_zero()          # 2 - 2.48 < 0: three noisy seeds do not settle it
    assert paired_ci([1.0, 1.1, 0.9]).above(0) and paired_ci([-1.0, -1.1, -0.9]).below(0)


def test_paired_by_seed_key_not_by_order():
    a = {0: 5.0, 1: 6.0, 2: 7.0}
    b = {2: 6.0, 0: 4.0, 1: 5.0}
    assert paired_ci(a, b).mean == 1.0 and paired_ci(a, b).high == pytest.approx(1.0)
    with pytest.raises(ValueError, match="keys differ"):
        paired_ci(a, {0: 1.0, 1: 2.0, 3: 3.0})


def test_matches_the_t_distribution():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 4, 9, 29):
        assert t_quantile(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=1e-3)
        assert t_quantile(df, 0.90) == pytest.approx(scipy_stats.t.ppf(0.95, df), abs=1e-3)
    rng = np.random.default_rng(0)
    d = rng.normal(0.3, 1.0, 12)
    lo, hi = scipy_stats.t.interval(0.95, 11, loc=d.mean(), scale=d.std(ddof=1) / math.sqrt(12))
    ci = paired_ci(d)
    assert (ci.low, ci.high) == (pytest.approx(lo, abs=1e-3), pytest.approx(hi, abs=1e-3))


def test_rejects_what_has_no_interval():
    with pytest.raises(ValueError, match="at least 2"):
        paired_ci([1.0])
    with pytest.raises(ValueError, match="finite"):
        paired_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="0.95 or 0.90"):
        t_quantile(3, 0.99)
    assert "95 % CI" in paired_ci([1.0, 2.0]).format()
