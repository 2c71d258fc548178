"""The feature/noise data model: frequency laws, point sampling, validation (plasticity_sim.theory.model)."""
import subprocess
import sys

import numpy as np
import pytest

from plasticity_sim.theory import (FREQUENCY_LAWS, check_frequencies, sample_frequencies,
                                     sample_points, sample_test_points)


def rng(seed=0):
    return np.random.default_rng(seed)


# --- frequency laws ---------------------------------------------------------------------------------

def test_paper_law_is_sorted_uniform_0_to_0_2():
    p = sample_frequencies(3, 50, rng(1))
    assert p.shape == (3, 50)
    assert (p >= 0).all() and (p < 0.2).all()
    assert (np.diff(p, axis=1) <= 0).all()          # descending within each class
    assert not np.array_equal(p[0], p[1])           # classes drawn independently
    # 150 draws of Uniform(0, 0.2): mean 0.1, sd of the mean 0.2/sqrt(12*150) ~ 0.0047
    assert abs(p.mean() - 0.1) < 0.02


def test_paper_law_is_the_notebook_recipe():
    # per class: sort(0.2 * U(K)) descending, the U drawn as one (C, K) block from the generator
    expected = np.sort(0.2 * rng(5).random((2, 7)), axis=1)[:, ::-1]
    np.testing.assert_array_equal(sample_frequencies(2, 7, rng(5)), expected)


def test_named_laws_by_hand():
    np.testing.assert_array_equal(sample_frequencies(2, 3, rng(), "uniform", p=0.25), np.full((2, 3), 0.25))
    pw = sample_frequencies(1, 4, rng(), "power_law", p_max=0.2, alpha=1.0)
    np.testing.assert_allclose(pw, [[0.2, 0.1, 0.2 / 3, 0.05]])
    tl = sample_frequencies(2, 10, rng(), "two_level")
    np.testing.assert_array_equal(tl[0], [0.2, 0.2] + [0.02] * 8)   # K // 5 = 2 common features
    tl3 = sample_frequencies(1, 4, rng(), "two_level", n_common=3, p_common=0.5, p_rare=0.1)
    np.testing.assert_array_equal(tl3, [[0.5, 0.5, 0.5, 0.1]])
    assert set(FREQUENCY_LAWS) == {"paper", "uniform", "power_law", "two_level"}


def test_callable_law():
    law = lambda g, C, K: np.linspace(0, 1, C * K).reshape(C, K)  # noqa: E731
    np.testing.assert_array_equal(sample_frequencies(2, 3, rng(), law), np.linspace(0, 1, 6).reshape(2, 3))
    with pytest.raises(ValueError, match=r"p\[0, 1\] = 1.5"):
        sample_frequencies(1, 2, rng(), lambda g, C, K: np.array([[0.1, 1.5]]))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        sample_frequencies(2, 3, rng(), lambda g, C, K: np.zeros((3, 2)))
    with pytest.raises(ValueError, match="only for named laws"):
        sample_frequencies(2, 3, rng(), law, p=0.1)


def test_frequency_validation():
    with pytest.raises(ValueError, match="'zipf'"):
        sample_frequencies(2, 3, rng(), "zipf")
    with pytest.raises(ValueError, match="'bogus'"):
        sample_frequencies(2, 3, rng(), "uniform", bogus=1)
    with pytest.raises(ValueError, match="n_common"):
        sample_frequencies(1, 4, rng(), "two_level", n_common=9)
    with pytest.raises(ValueError, match="n_classes"):
        sample_frequencies(0, 3, rng())
    with pytest.raises(ValueError, match="n_features"):
        sample_frequencies(2, 2.5, rng())
    with pytest.raises(ValueError, match="Generator"):
        sample_frequencies(2, 3, 0)
    with pytest.raises(ValueError, match=r"-0.1"):
        check_frequencies([[0.5, -0.1]])
    with pytest.raises(ValueError, match="nan"):
        check_frequencies([[np.nan]])
    with pytest.raises(ValueError, match="shape"):
        check_frequencies([0.1, 0.2])


# --- points ------------------------------------------------------------------------------------------

def test_sample_points_shape_extremes_and_rates():
    p = np.array([[0.0, 1.0, 0.3], [0.05, 0.5, 0.9]])
    x = sample_points(p, 20_000, rng(3))
    assert x.shape == (2, 3, 20_000) and x.dtype == bool
    assert not x[0, 0].any() and x[0, 1].all()
    rate = x.mean(axis=2)
    sd = np.sqrt(p * (1 - p) / 20_000)
    assert (np.abs(rate - p) <= 5 * sd + 1e-12).all()
    # features independent within a point: P(both) ~ p1 * p2
    both = (x[1, 1] & x[1, 2]).mean()
    assert abs(both - 0.45) < 0.02


def test_sample_points_deterministic_and_uses_the_generator():
    p = sample_frequencies(2, 5, rng(0))
    a, b = sample_points(p, 100, rng(7)), sample_points(p, 100, rng(7))
    np.testing.assert_array_equal(a, b)
    g = rng(7)
    first, second = sample_points(p, 100, g), sample_points(p, 100, g)
    assert not np.array_equal(first, second)                 # the generator advanced
    state = np.random.get_state()[1].copy()
    sample_points(p, 10, rng(1))
    np.testing.assert_array_equal(np.random.get_state()[1], state)   # global RNG untouched


def test_sample_points_into_a_given_array_draws_the_same_points():
    p = sample_frequencies(2, 5, rng(0))
    buf = np.zeros((2, 5, 50), bool)
    got = sample_points(p, 50, rng(9), out=buf)
    assert got is buf
    np.testing.assert_array_equal(buf, sample_points(p, 50, rng(9)))
    with pytest.raises(ValueError, match=r"out must be a bool array of shape \(2, 5, 50\)"):
        sample_points(p, 50, rng(9), out=np.zeros((2, 5, 49), bool))


def test_sample_points_validation():
    p = np.full((2, 3), 0.1)
    with pytest.raises(ValueError, match="n_per_class"):
        sample_points(p, -1, rng())
    with pytest.raises(ValueError, match="Generator"):
        sample_points(p, 5, np.random.RandomState(0))
    with pytest.raises(ValueError, match=r"1.2"):
        sample_points([[0.1, 1.2]], 5, rng())
    assert sample_points(p, 0, rng()).shape == (2, 3, 0)


def test_sample_test_points_balanced():
    p = np.full((4, 3), 0.2)
    assert sample_test_points(p, 100, rng()).shape == (4, 3, 25)
    with pytest.raises(ValueError, match="divisible.*C=4.*10"):
        sample_test_points(p, 10, rng())
    with pytest.raises(ValueError, match="n_test"):
        sample_test_points(p, 0, rng())


def test_import_is_numpy_only():
    code = ("import sys, plasticity_sim.theory; "
            "bad = [m for m in ('torch', 'scipy') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
