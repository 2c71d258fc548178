"""plasticity_sim.stats: paired confidence intervals used by chapters' claims."""
from __future__ import annotations

import math

import numpy as np
import pytest

from plasticity_sim.stats import holm, pair_by_seed, paired_ci, t_quantile, t_sf2


def test_paired_ci_by_hand():
    # differences 1, 2, 3: mean 2, sd 1, n 3 -> half width t(2) / sqrt(3) = 4.302653 / 1.732
    ci = paired_ci([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)
    assert (ci.mean, ci.n) == (2.0, 3)
    assert ci.low == pytest.approx(2 - half) and ci.high == pytest.approx(2 + half)
    assert not ci.excludes_zero()          # 2 - 2.48 < 0: three noisy seeds do not settle it
    assert paired_ci([1.0, 1.1, 0.9]).above(0) and paired_ci([-1.0, -1.1, -0.9]).below(0)


def test_paired_by_seed_key_not_by_order():
    a = {0: 5.0, 1: 6.0, 2: 7.0}
    b = {2: 6.0, 0: 4.0, 1: 5.0}
    assert paired_ci(a, b).mean == 1.0 and paired_ci(a, b).high == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"cold lacks seed\(s\) \[2\]; dash lacks seed\(s\) \[3\]"):
        paired_ci(a, {0: 1.0, 1: 2.0, 3: 3.0}, names=("dash", "cold"))
    with pytest.raises(ValueError, match="cannot pair 3 values of a with 2 of b"):
        paired_ci([1.0, 2.0, 3.0], [1.0, 2.0])


def test_pair_by_seed_refuses_a_seed_missing_on_one_side():
    assert pair_by_seed({2: 0.0, 0: 1.0}, {0: 5.0, 2: 6.0}) == [0, 2]
    with pytest.raises(ValueError, match=r"cannot pair warm with cold by seed: cold lacks seed\(s\) \[4\]"):
        pair_by_seed({0: 1.0, 4: 1.0}, {0: 1.0}, ("warm", "cold"))


def test_matches_the_t_distribution():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 9, 29, 30, 120):
        assert t_quantile(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=1e-10)
        assert t_quantile(df, 0.90) == pytest.approx(scipy_stats.t.ppf(0.95, df), rel=1e-10)
        assert t_quantile(df, 0.99) == pytest.approx(scipy_stats.t.ppf(0.995, df), rel=1e-10)
        for t in (0.0, 0.3, 1.0, 2.2, 8.0):
            assert t_sf2(t, df) == pytest.approx(2 * scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-15)
    rng = np.random.default_rng(0)
    d = rng.normal(0.3, 1.0, 12)
    lo, hi = scipy_stats.t.interval(0.95, 11, loc=d.mean(), scale=d.std(ddof=1) / math.sqrt(12))
    ci = paired_ci(d)
    assert (ci.low, ci.high) == (pytest.approx(lo, rel=1e-10), pytest.approx(hi, rel=1e-10))
    b = rng.normal(0.0, 1.0, 12)
    assert paired_ci(d + b, b).pvalue == pytest.approx(scipy_stats.ttest_rel(d + b, b).pvalue, rel=1e-6)


def test_p_value_by_hand():
    # differences 1, 2, 3: t = 2 / (1 / sqrt 3) = 2 sqrt 3 on 2 df; for df = 2 the two-sided tail
    # is 1 - t / sqrt(2 + t^2) = 1 - sqrt(12) / sqrt(14)
    assert paired_ci([1.0, 2.0, 3.0]).pvalue == pytest.approx(1 - math.sqrt(12 / 14), rel=1e-12)
    # df = 1 is the Cauchy distribution: P(|T| >= 1) = 1/2
    assert t_sf2(1.0, 1) == pytest.approx(0.5, rel=1e-12) and t_sf2(0.0, 5) == 1.0
    # no spread: decided by the sign of the mean
    assert paired_ci([1.0, 1.0]).pvalue == 0.0 and paired_ci([0.0, 0.0]).pvalue == 1.0


def test_holm_by_hand():
    # m = 4; sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone:
    # 0.02, 0.03, 0.06, 0.06; returned in the input's order
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


def test_rejects_what_has_no_interval():
    with pytest.raises(ValueError, match="at least 2"):
        paired_ci([1.0])
    with pytest.raises(ValueError, match="finite"):
        paired_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        t_quantile(3, 1.0)
    with pytest.raises(ValueError, match="degree"):
        t_quantile(0)
    assert "95 % CI" in paired_ci([1.0, 2.0]).format()


def test_holm_verdicts_call_what_does_not_survive_no_measurable_difference():
    from plasticity_sim.stats import holm_verdicts
    family = {"a": paired_ci([1.0, 1.1, 0.9, 1.2, 1.0]),          # clearly above zero
              "b": paired_ci([-0.5, 0.0, -0.9, -0.3, -0.6]),     # significant alone ...
              "c": paired_ci([-2.0, -2.2, -1.9, -2.1, -2.3]),     # clearly below
              "d": paired_ci([0.3, -0.4, 0.1, -0.2, 0.5])}        # nothing
    assert family["b"].pvalue < 0.05
    v = holm_verdicts(family)
    assert v["a"]["verdict"] == "above" and v["c"]["verdict"] == "below"
    assert v["b"]["p_holm"] == pytest.approx(2 * family["b"].pvalue)          # third smallest of four: x2
    assert v["b"]["verdict"] == "no measurable difference"                    # ... not in the family
    assert v["d"]["verdict"] == "no measurable difference"
    with pytest.raises(ValueError, match="alpha"):
        holm_verdicts(family, alpha=1.5)


def test_interval_text_is_the_books_one_format():
    from plasticity_sim.stats import SHORT_VERDICTS, interval_text

    assert interval_text(1.234, 0.456, 2.012) == "+1.23 [+0.46, +2.01]"
    assert interval_text(-0.05, -1.0, 0.9, digits=1, sep=",") == "-0.1 [-1.0,+0.9]"
    ci = paired_ci([0.01, 0.02, 0.03])
    assert ci.text(1, scale=100) == interval_text(100 * ci.mean, 100 * ci.low, 100 * ci.high, 1)
    assert set(SHORT_VERDICTS) == {"above", "below", "no measurable difference"}
