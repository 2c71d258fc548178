"""Bounds of the theorems chapter (plasticity_sim.theory.bounds) against hand values and simulation."""
import math

import numpy as np
import pytest

from plasticity_sim.theory import (binomial_tail, chernoff_tail_bound, cold_total_cost,
                                     expected_test_accuracy, explain_probability, population_accuracy,
                                     sample_frequencies, sample_points, set_agreement, simulate,
                                     subset_rate, warm_learn_bound)


def exact_tail(n, p, g):
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(g, n + 1))


def test_binomial_tail_by_hand():
    assert binomial_tail(2, 0.5, 1) == pytest.approx(0.75)
    assert binomial_tail(2, 0.5, 2) == pytest.approx(0.25)
    assert binomial_tail(2, 0.5, 0) == pytest.approx(1.0)
    assert binomial_tail(2, 0.5, 3) == pytest.approx(0.0)
    np.testing.assert_allclose(binomial_tail(50, [0.3, 0.5], 20),
                               [exact_tail(50, 0.3, 20), exact_tail(50, 0.5, 20)], rtol=1e-10)


def test_chernoff_bound_formula_and_validity():
    assert chernoff_tail_bound(100, 0.1, 20) == pytest.approx(math.exp(-100 / 30))
    assert chernoff_tail_bound(100, 0.3, 20) == 1.0                     # n p >= gamma: no bound
    for n, p, g in [(500, 0.05, 50), (500, 0.08, 50), (200, 0.1, 30), (1000, 0.01, 15)]:
        assert binomial_tail(n, p, g) <= chernoff_tail_bound(n, p, g)


def test_warm_learn_bound_is_a_union_bound():
    p = np.array([0.02, 0.08, 0.15])
    tail = binomial_tail(500, p, 50)
    np.testing.assert_allclose(warm_learn_bound(p, n=500, gamma=50, n_exp=10), np.minimum(1, 10 * tail))
    chern = warm_learn_bound(p, n=500, gamma=50, n_exp=10, kind="chernoff")
    assert (chern >= warm_learn_bound(p, n=500, gamma=50, n_exp=10)).all()
    with pytest.raises(ValueError, match="'union'"):
        warm_learn_bound(p, n=500, gamma=50, n_exp=10, kind="union")


def test_warm_respects_its_ceiling_in_simulation():
    # R2: with every frequency 0.07 and n = 500 new points per class, Bin(500, 0.07) >= 50 is rare,
    # so warm should learn at most about J * tail of the features, however much data piles up
    K, J, n = 20, 10, 500
    p = np.full((2, K), 0.07)
    bound = warm_learn_bound(0.07, n=n, gamma=50, n_exp=J)
    learned = []
    for seed in range(8):
        data = sample_points(p, n * J, np.random.default_rng(seed))
        res = simulate(data, n_per_exp=2 * n, n_exp=J, gamma=50, tau=3, methods=("warm", "cold"))
        warm = res["warm"].features[-1]
        # exact form of R2: a feature warm learned reached gamma among the new points of some chunk
        reached = (data.reshape(2, K, J, n).sum(axis=3) >= 50).any(axis=2)
        assert not (warm & ~reached).any()
        learned.append(warm.mean())
        assert res["cold"].features[-1].mean() > 0.5   # pooled data: cold learns most of them (R3)
    se = np.sqrt(bound * (1 - bound) / (8 * 2 * K))
    assert np.mean(learned) <= bound + 4 * se


def test_cold_cost_is_n_j_j_plus_one_over_two():
    assert cold_total_cost(1000, 50) == 1_275_000
    rng = np.random.default_rng(0)
    data = sample_points(sample_frequencies(2, 10, rng), 300, rng)
    res = simulate(data, n_per_exp=60, n_exp=10, gamma=5, tau=2, methods=("cold",))
    assert res["cold"].active_at_start.sum() == cold_total_cost(60, 10)
    with pytest.raises(ValueError, match="n_exp"):
        cold_total_cost(10, 0)


def test_explain_probability_by_hand_and_by_sampling():
    p = np.array([[0.5, 0.5, 0.0]])
    all_ = np.ones((1, 3), bool)
    assert explain_probability(p, all_, 1)[0] == pytest.approx(0.75)    # 1 - 0.5 * 0.5
    assert explain_probability(p, all_, 2)[0] == pytest.approx(0.25)
    assert explain_probability(p, all_, 3)[0] == pytest.approx(0.0)     # feature 2 never present
    assert explain_probability(p, np.zeros((1, 3), bool), 1)[0] == 0.0
    rng = np.random.default_rng(2)
    q = sample_frequencies(2, 30, rng)
    L = rng.random((5, 2, 30)) < 0.5
    test = sample_points(q, 50_000, rng)
    np.testing.assert_allclose(population_accuracy(q, L, 3), expected_test_accuracy(L, test, 3), atol=0.006)


def test_population_accuracy_is_monotone_in_L():
    rng = np.random.default_rng(4)
    q = sample_frequencies(2, 25, rng)
    L = np.zeros((2, 25), bool)
    last = population_accuracy(q, L, 3)
    assert last == pytest.approx(0.5)                                   # nothing learned: chance
    for k in rng.permutation(50):
        L.flat[k] = True
        acc = population_accuracy(q, L, 3)
        assert acc >= last - 1e-12
        last = acc


def test_set_agreement_and_subset_rate():
    a = np.array([[[1, 0], [0, 1]], [[1, 1], [0, 0]]], bool)
    b = np.array([[[1, 0], [0, 1]], [[1, 0], [0, 0]]], bool)
    np.testing.assert_array_equal(set_agreement(a, b), [True, False])
    assert subset_rate(b, a) == 1.0
    assert subset_rate(a, b) == 0.5
    with pytest.raises(ValueError, match="same shape"):
        set_agreement(a, b[0])


def test_probability_validation():
    with pytest.raises(ValueError, match="1.5"):
        binomial_tail(10, 1.5, 2)
    with pytest.raises(ValueError, match="gamma"):
        chernoff_tail_bound(10, 0.5, 0)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 1, 3\)"):
        explain_probability(np.full((1, 3), 0.1), np.ones((3, 1), bool), 1)
