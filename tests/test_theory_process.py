"""The discrete learning process: exact rules on hand-built data, invariants, determinism, validation."""
import numpy as np
import pytest

from plasticity_sim.theory import (Fig3Config, Method, expected_test_accuracy, run_fig3,
                                     sample_frequencies, sample_points, simulate,
                                     trace_training_run, training_run)


def points(C, K, pts):
    """Bool data (C, K, n) from per-class lists of feature lists."""
    n = max(len(p) for p in pts)
    x = np.zeros((C, K, n), bool)
    for c, plist in enumerate(pts):
        for i, feats in enumerate(plist):
            x[c, feats, i] = True
    return x


# --- an independent oracle: the rules as written, counts recomputed at every step ----------------

def oracle_train(X, L, A, gamma, tau):
    C, K, _ = X.shape
    L, A = L.copy(), A.copy()
    while True:
        A &= np.einsum("ckn,ck->cn", X, L) < tau
        counts = np.where(L, -1, np.einsum("ckn,cn->ck", X, A)).ravel()
        best = int(np.argmax(counts))
        if counts[best] < gamma:
            return L, A
        L[divmod(best, K)] = True


def oracle(data, n_per_exp, n_exp, gamma, tau, method, forget_prob=0.0, seed=0):
    C, K, _ = data.shape
    n, X = n_per_exp // C, data.astype(np.int64)
    L, memorised = np.zeros((C, K), bool), np.zeros((C, n * n_exp), bool)
    coins = np.random.default_rng(seed)
    out = {"features": [], "active_at_start": [], "n_memorised": []}
    for j in range(1, n_exp + 1):
        m = j * n
        if method == "cold":
            L, A = np.zeros((C, K), bool), np.ones((C, m), bool)
        elif method == "warm":
            A = np.zeros((C, m), bool)
            A[:, m - n:] = True
        else:  # ideal, dash, shrink_perturb
            if method == "shrink_perturb" and j > 1:
                L = L & ~(coins.random((C, K)) < forget_prob)
            A = np.ones((C, m), bool)
        A &= np.einsum("ckn,ck->cn", X[:, :, :m], L) < tau
        out["active_at_start"].append(A.sum())
        L, left = oracle_train(X[:, :, :m], L, A, gamma, tau)
        if method == "warm":
            memorised[:, :m] |= left
        else:
            memorised[:] = False
            memorised[:, :m] = left
        out["features"].append(L.copy())
        out["n_memorised"].append(memorised.sum())
    return {k: np.array(v) for k, v in out.items()}


def assert_matches_oracle(data, n_per_exp, n_exp, gamma, tau, q=0.4, seed=3):
    methods = ("cold", "warm", "ideal", "dash", Method("shrink_perturb", forget_prob=q, seed=seed))
    res = simulate(data, n_per_exp=n_per_exp, n_exp=n_exp, gamma=gamma, tau=tau, methods=methods)
    for name in ("cold", "warm", "ideal", "dash", "shrink_perturb"):
        want = oracle(data, n_per_exp, n_exp, gamma, tau, name, q, seed)
        got = res[name]
        for key in ("features", "active_at_start", "n_memorised"):
            np.testing.assert_array_equal(getattr(got, key), want[key], err_msg=f"{name}.{key}")


# --- one training run by hand ------------------------------------------------------------------------

def test_tie_goes_to_lowest_flat_index_across_and_within_classes():
    # class 0: feature 1 in 2 points; class 1: features 0 and 1 in 2 points each -> all counts 2
    data = points(2, 2, [[[1], [1]], [[0, 1], [0, 1]]])
    trace = trace_training_run(data, gamma=2, tau=1)
    assert trace.order == [(0, 1), (1, 0)]          # (0,1) has flat index 1 < (1,0) = 2 < (1,1) = 3
    np.testing.assert_array_equal(trace.steps[0].counts, [[0, 2], [2, 2]])
    assert trace.steps[1].chosen == (1, 0) and trace.steps[1].chosen_count == 2
    # after (1,0) every class-1 point is explained (tau = 1): (1,1) has count 0 and the run stops
    assert trace.steps[2].chosen == (0, 0) and not trace.steps[2].learns
    np.testing.assert_array_equal(trace.learned, [[False, True], [True, False]])
    assert not trace.memorised.any()


def test_greedy_takes_the_global_maximum_first():
    data = points(2, 2, [[[0], [0]], [[1], [1], [1]]])
    assert trace_training_run(data, gamma=2, tau=1).order == [(1, 1), (0, 0)]


def test_tau_crossing_and_memorisation_by_hand():
    # tau = 2: p0 = p1 = {0,1}, p2 = {0,2}, p3 = {1,2}; counts f0 = 3, f1 = 3, f2 = 2
    data = points(1, 3, [[[0, 1], [0, 1], [0, 2], [1, 2]]])
    t = trace_training_run(data, gamma=2, tau=2)
    assert t.order == [(0, 0), (0, 1), (0, 2)]      # f0 wins the tie with f1
    np.testing.assert_array_equal(t.steps[1].active, [[True] * 4])          # one feature explains nobody
    np.testing.assert_array_equal(t.steps[2].active, [[False, False, True, True]])
    np.testing.assert_array_equal(t.steps[2].counts, [[1, 1, 2]])
    assert t.steps[-1].chosen is None and not t.memorised.any()            # nothing left to learn
    # gamma = 3: f2 reaches only 2 on the two unexplained points, which are memorised
    L, memorised = training_run(data, gamma=3, tau=2)
    np.testing.assert_array_equal(L, [[True, True, False]])
    np.testing.assert_array_equal(memorised, [[False, False, True, True]])


def test_high_gamma_memorises_everything_and_start_state_is_respected():
    data = points(1, 3, [[[0], [1], [0, 1], []]])
    L, memorised = training_run(data, gamma=10, tau=1)
    assert not L.any() and memorised.all()
    # a learned feature at the start explains its points before the first count
    t = trace_training_run(data, gamma=10, tau=1, learned=[[True, False, False]],
                           active=[[True, True, True, False]])
    np.testing.assert_array_equal(t.steps[0].active, [[False, True, False, False]])
    np.testing.assert_array_equal(t.memorised, [[False, True, False, False]])


# --- experiments by hand -----------------------------------------------------------------------------

# C = 1, K = 2, tau = 1, gamma = 2, 2 new points per experiment:
# chunk 1: a = {1}, b = {}     chunk 2: c = {1}, d = {0}     chunk 3: e = {1}, f = {1}
HAND = points(1, 2, [[[1], [], [1], [0], [1], [1]]])


def test_hand_worked_three_experiments():
    res = simulate(HAND, n_per_exp=2, n_exp=3, gamma=2, tau=1)
    learned = lambda r: [tuple(np.flatnonzero(f[0])) for f in r.features]  # noqa: E731
    # exp 1: count(f1) = 1 < 2, everything memorised, for every method
    # cold: exp 2 pools a, c -> learns f1; exp 3 pools a, c, e, f
    assert learned(res["cold"]) == [(), (1,), (1,)]
    assert res["cold"].active_at_start.tolist() == [2, 4, 6]
    assert res["cold"].n_memorised.tolist() == [2, 2, 2]          # b, d
    assert res["cold"].n_explained.tolist() == [0, 2, 4]
    # warm: exp 2 sees only c, d (count 1 each): nothing; exp 3 sees e, f -> learns f1.
    # a and c hold f1 but stay memorised forever
    assert learned(res["warm"]) == [(), (), (1,)]
    assert res["warm"].active_at_start.tolist() == [2, 2, 2]
    assert res["warm"].n_memorised.tolist() == [2, 4, 4]
    assert res["warm"].n_explained.tolist() == [0, 0, 2]
    # ideal: exp 2 re-activates the memorised a, b (4 active) and learns f1 like cold;
    # exp 3 starts with b, d (e, f are explained on arrival)
    assert learned(res["ideal"]) == [(), (1,), (1,)]
    assert res["ideal"].active_at_start.tolist() == [2, 4, 2]
    assert res["ideal"].n_memorised.tolist() == [2, 2, 2]


def test_dash_coincides_with_ideal_and_sp_limits():
    data = sample_points(sample_frequencies(2, 20, np.random.default_rng(1)), 600, np.random.default_rng(2))
    kw = dict(n_per_exp=200, n_exp=6, gamma=12, tau=2)
    res = simulate(data, methods=("cold", "ideal", "dash", ("shrink_perturb", {"forget_prob": 0.0, "label": "sp0"}),
                                  ("shrink_perturb", {"forget_prob": 1.0, "label": "sp1"})), **kw)
    for a, b in (("dash", "ideal"), ("sp0", "ideal"), ("sp1", "cold")):
        np.testing.assert_array_equal(res[a].features, res[b].features)
        np.testing.assert_array_equal(res[a].active_at_start, res[b].active_at_start)
        np.testing.assert_array_equal(res[a].n_memorised, res[b].n_memorised)


def test_shrink_perturb_forgets_features_and_depends_on_its_seed():
    data = sample_points(sample_frequencies(2, 20, np.random.default_rng(4)), 800, np.random.default_rng(5))
    kw = dict(n_per_exp=200, n_exp=8, gamma=12, tau=2)
    runs = [simulate(data, methods=(Method("shrink_perturb", forget_prob=0.5, seed=s),), **kw)["shrink_perturb"]
            for s in (0, 0, 1)]
    np.testing.assert_array_equal(runs[0].active_at_start, runs[1].active_at_start)
    ideal = simulate(data, methods=("ideal",), **kw)["ideal"]
    # forgetting features re-activates explained points: S&P starts with more active points
    assert (runs[0].active_at_start[1:] >= ideal.active_at_start[1:]).all()
    assert runs[0].active_at_start[1:].sum() > ideal.active_at_start[1:].sum()
    assert not np.array_equal(runs[0].active_at_start, runs[2].active_at_start)


# --- against the oracle -------------------------------------------------------------------------------

def test_matches_oracle_on_many_small_random_cases():
    rng = np.random.default_rng(11)
    for _ in range(60):
        C, K = int(rng.integers(1, 4)), int(rng.integers(1, 9))
        n, J = int(rng.integers(1, 15)), int(rng.integers(1, 7))
        p = rng.random((C, K)) * rng.choice([0.3, 0.7, 1.0])
        data = sample_points(p, n * J + int(rng.integers(0, 3)), rng)
        assert_matches_oracle(data, n * C, J, int(rng.integers(1, 8)), int(rng.integers(1, K + 1)),
                              q=float(rng.choice([0.2, 0.6])), seed=int(rng.integers(0, 5)))


def test_matches_oracle_on_paper_like_data():
    rng = np.random.default_rng(0)
    data = sample_points(sample_frequencies(2, 30, rng), 150 * 12, rng)
    assert_matches_oracle(data, 300, 12, 15, 3)


def test_matches_oracle_with_more_than_255_features():
    """Past 254 features the engine's per-point counters no longer fit a byte: the wide path."""
    rng = np.random.default_rng(5)
    data = sample_points(np.full((1, 300), 0.9), 30 * 3, rng)
    assert_matches_oracle(data, 30, 3, 20, 280)        # points hold ~270 learned features: > 255
    assert simulate(data, n_per_exp=30, n_exp=3, gamma=20, tau=280)["cold"].features[-1].sum() > 255


def test_engine_thresholds_per_lane_match_separate_runs():
    from plasticity_sim.theory.process import run_methods
    rng = np.random.default_rng(8)
    data = sample_points(sample_frequencies(2, 25, rng), 1200, rng)
    both = run_methods(np.concatenate([data, data]), n_chunk=200, n_exp=6, gamma=[10, 10, 30, 30],
                       tau=[2, 2, 3, 3], methods=("cold", "warm", "ideal"), n_classes=2)
    for half, (g, t) in enumerate(((10, 2), (30, 3))):
        alone = simulate(data, n_per_exp=400, n_exp=6, gamma=g, tau=t)
        for m in ("cold", "warm", "ideal"):
            np.testing.assert_array_equal(both[m]["learned"][:, 2 * half:2 * half + 2], alone[m].features)
            np.testing.assert_array_equal(both[m]["memorised"][:, 2 * half:2 * half + 2].sum(axis=1),
                                          alone[m].n_memorised)


# --- invariants on random data -------------------------------------------------------------------------

def test_invariants_on_paper_like_data():
    rng = np.random.default_rng(3)
    N, J = 400, 15
    res = simulate(sample_points(sample_frequencies(2, 40, rng), N // 2 * J, rng),
                   n_per_exp=N, n_exp=J, gamma=20, tau=3)
    seen = N * np.arange(1, J + 1)
    cold, warm, ideal = res["cold"], res["warm"], res["ideal"]
    np.testing.assert_array_equal(cold.active_at_start, seen)              # cold trains on everything
    for r in (cold, warm, ideal):
        np.testing.assert_array_equal(r.n_explained + r.n_memorised, seen)
        assert r.features.shape == (J, 2, 40) and r.features.dtype == bool
    assert (warm.active_at_start <= N).all()                               # warm only sees a chunk
    assert (ideal.active_at_start <= cold.active_at_start).all()
    assert (np.diff(warm.n_memorised) >= 0).all()                           # memorised forever
    # warm and ideal only ever add features
    for r in (warm, ideal):
        assert (r.features[1:] >= r.features[:-1]).all()
    warm_in_cold = (~warm.features | cold.features).all(axis=(1, 2))
    assert warm_in_cold.mean() >= 0.9
    assert warm.n_learned[-1] < cold.n_learned[-1]


def test_determinism_and_global_rng_untouched():
    data = sample_points(sample_frequencies(2, 20, np.random.default_rng(0)), 1000, np.random.default_rng(1))
    state = np.random.get_state()[1].copy()
    a = simulate(data, n_per_exp=200, n_exp=10, gamma=15, tau=2, methods=("cold", "warm", "shrink_perturb"))
    b = simulate(data, n_per_exp=200, n_exp=10, gamma=15, tau=2, methods=("cold", "warm", "shrink_perturb"))
    for m in a:
        np.testing.assert_array_equal(a[m].features, b[m].features)
        np.testing.assert_array_equal(a[m].active_at_start, b[m].active_at_start)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    cfg = Fig3Config(n_seeds=2, n_exp=5, n_per_exp=200, n_features=20, gamma=15)
    r1, r2 = run_fig3(cfg), run_fig3(cfg)
    np.testing.assert_array_equal(r1["cold"].accuracy, r2["cold"].accuracy)


def test_run_fig3_seed_equals_simulate_on_that_seed():
    from plasticity_sim.theory import sample_seed
    cfg = Fig3Config(n_seeds=2, first_seed=4, n_exp=6, n_per_exp=200, n_features=20, gamma=15,
                     methods=("cold", "warm", Method("shrink_perturb", forget_prob=0.5, seed=2)))
    fig = run_fig3(cfg)
    _, train, test = sample_seed(cfg, 5)
    sim = simulate(train, n_per_exp=200, n_exp=6, gamma=15, tau=3,
                   methods=("cold", "warm", Method("shrink_perturb", forget_prob=0.5, seed=(5, 2))))
    for m in ("cold", "warm", "shrink_perturb"):
        np.testing.assert_array_equal(fig[m].features[1], sim[m].features)
        np.testing.assert_array_equal(fig[m].n_memorised[1], sim[m].n_memorised)
        np.testing.assert_allclose(fig[m].accuracy[1], expected_test_accuracy(sim[m].features, test, 3))


# --- prediction rule -------------------------------------------------------------------------------

def test_expected_test_accuracy_by_hand():
    test = points(2, 2, [[[0], []], [[1], [1]]])
    # class 0 knows feature 0: half its points explained -> 1/2 + 1/2 * 1/2 = 0.75; class 1: 1/2
    L = np.array([[True, False], [False, False]])
    assert expected_test_accuracy(L, test, 1) == pytest.approx(0.625)
    # everything learned: class 0 still misses its empty point (0.75), class 1 is perfect (1.0)
    assert expected_test_accuracy(np.ones((2, 2), bool), test, 1) == pytest.approx(0.875)
    stack = np.stack([L, np.ones((2, 2), bool), np.zeros((2, 2), bool)]).reshape(3, 1, 2, 2)
    np.testing.assert_allclose(expected_test_accuracy(stack, test, 1), [[0.625], [0.875], [0.5]])
    with pytest.raises(ValueError, match="bool array of shape"):
        expected_test_accuracy(L.astype(int), test, 1)
    with pytest.raises(ValueError, match="tau"):
        expected_test_accuracy(L, test, 0)


# --- default configuration vs papers.md B.2 (our RNG differs: ranges, not digits) -------------------

def test_default_fig3_reproduces_the_paper_numbers_approximately():
    fig = run_fig3()
    cold, warm, ideal = fig["cold"], fig["warm"], fig["ideal"]
    assert 0.70 <= warm.mean("accuracy")[-1] <= 0.80              # paper: 75.3 %
    assert 0.92 <= cold.mean("accuracy")[-1] <= 0.96              # paper: 94.3 %
    assert 85 <= cold.mean("n_learned")[-1] <= 97                 # paper: 91.8
    assert 28 <= warm.mean("n_learned")[-1] <= 37                 # paper: 32.0
    assert abs(ideal.mean("accuracy")[-1] - cold.mean("accuracy")[-1]) < 0.005
    assert cold.mean("active_at_start")[-1] == 50_000
    assert 400 <= warm.mean("active_at_start")[-1] <= 600         # paper: 492
    assert 3_000 <= ideal.mean("active_at_start")[-1] <= 9_000    # paper: 5793
    same = (ideal.features == cold.features).all(axis=(2, 3))
    assert same.mean() >= 0.85                                    # paper: 458 / 500
    assert fig.summary()["warm"]["n_learned"][0] == warm.mean("n_learned")[-1]


# --- validation --------------------------------------------------------------------------------------

DATA = np.zeros((2, 4, 30), bool)


@pytest.mark.parametrize("kwargs, message", [
    (dict(gamma=0), "gamma.*0"),
    (dict(gamma=2.5), "gamma.*2.5"),
    (dict(tau=0), "tau.*0"),
    (dict(tau=5), "tau.*K=4.*5"),
    (dict(n_per_exp=5), "divisible.*C=2.*5"),
    (dict(n_exp=7), "35 points per class.*only 30"),
    (dict(n_exp=0), "n_exp.*0"),
    (dict(methods=("cold", "hot")), "'hot'"),
    (dict(methods=("cold", "cold")), "unique.*cold"),
    (dict(methods=()), "at least one"),
    (dict(methods=(("shrink_perturb", {"forget_prob": 1.5}),)), "forget_prob.*1.5"),
    (dict(methods=(("shrink_perturb", {"speed": 1}),)), "'speed'"),
    (dict(methods=(("warm", {"forget_prob": 0.1}),)), "shrink_perturb.*'warm'"),
    (dict(methods=(("shrink_perturb", {"seed": -1}),)), "seed.*-1"),
    (dict(methods=(3,)), "method.*3"),
])
def test_simulate_validation(kwargs, message):
    args = dict(n_per_exp=10, n_exp=3, gamma=2, tau=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        simulate(DATA, **args)


@pytest.mark.parametrize("data, message", [
    (DATA.astype(int), "dtype bool.*int"),
    (np.zeros((4, 30), bool), r"shape \(C, K, n\).*\(4, 30\)"),
    ([[[True]]], "numpy bool array.*list"),
])
def test_simulate_data_validation(data, message):
    with pytest.raises(ValueError, match=message):
        simulate(data, n_per_exp=2, n_exp=1, gamma=1, tau=1)


def test_trace_validation():
    with pytest.raises(ValueError, match=r"learned must have shape \(2, 4\)"):
        trace_training_run(DATA, gamma=1, tau=1, learned=np.zeros((4, 2), bool))
    with pytest.raises(ValueError, match="tau"):
        trace_training_run(DATA, gamma=1, tau=9)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_per_exp=999), "n_per_exp.*999"),
    (dict(tau=60), "tau.*60"),
    (dict(law="zipf"), "'zipf'"),
    (dict(n_seeds=0), "n_seeds.*0"),
    (dict(n_test=9_999), "n_test.*9999"),
    (dict(methods=("cold", "lukewarm")), "'lukewarm'"),
])
def test_fig3_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Fig3Config(**kwargs)


def test_result_accessors_validate():
    fig = run_fig3(Fig3Config(n_seeds=1, n_exp=2, n_per_exp=100, n_features=10, gamma=10))
    with pytest.raises(ValueError, match="'speed'"):
        fig["cold"].mean("speed")
    with pytest.raises(ValueError, match="at must be.*1..2"):
        fig.summary(at=3)
    with pytest.raises(KeyError, match="dash"):
        fig["dash"]
    with pytest.raises(ValueError, match="Fig3Config"):
        run_fig3({"n_seeds": 1})


def test_fig3_data_reused_across_thresholds_gives_fresh_run_results():
    from plasticity_sim.theory import fig3_data
    cfg = Fig3Config(n_seeds=2, first_seed=3, n_exp=6, n_per_exp=200, n_features=20, gamma=15,
                     methods=("cold", "warm", Method("shrink_perturb", forget_prob=0.4)))
    data = fig3_data(cfg)
    assert not data.train.flags.writeable and not data.tests[0].flags.writeable
    for gamma, tau in ((15, 3), (8, 2), (30, 4), (15, 3)):   # reused in any order, never modified
        c = Fig3Config(**{**cfg.__dict__, "gamma": gamma, "tau": tau})
        fresh, reused = run_fig3(c), run_fig3(c, data=data)
        for m in fresh.methods:
            for metric in ("features", "accuracy", "active_at_start", "n_memorised"):
                np.testing.assert_array_equal(getattr(fresh[m], metric), getattr(reused[m], metric))


@pytest.mark.parametrize("field, value", [("n_per_exp", 400), ("n_exp", 5), ("n_seeds", 3), ("first_seed", 0),
                                          ("n_test", 1000), ("law", "uniform"), ("law_params", {"p_max": 0.3})])
def test_fig3_data_must_match_the_config(field, value):
    from plasticity_sim.theory import fig3_data
    cfg = Fig3Config(n_seeds=2, first_seed=3, n_exp=6, n_per_exp=200, n_features=20, gamma=15)
    data = fig3_data(cfg)
    other = Fig3Config(**{**cfg.__dict__, field: value})
    with pytest.raises(ValueError, match=f"drawn for {field}="):
        run_fig3(other, data=data)
    with pytest.raises(ValueError, match="fig3_data"):
        run_fig3(cfg, data=data.train)


def test_engine_rejects_an_index_of_other_data():
    from plasticity_sim.theory.engine import Lanes, run_lanes
    X = sample_points(sample_frequencies(2, 10, np.random.default_rng(0)), 400, np.random.default_rng(1))
    with pytest.raises(ValueError, match="index was built for"):
        run_lanes(X, n_chunk=100, n_exp=4, gamma=5, tau=2, engines={"c": ("cold",)}, index=Lanes(X, 100, 3))
