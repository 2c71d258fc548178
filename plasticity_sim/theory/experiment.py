"""The paper's Figure 3 experiment: every seed, every method, tidy arrays ready to plot.

Seeds: data seed ``s`` uses ``rng = np.random.default_rng(s)`` and draws, in this order, the frequencies
(``sample_frequencies``), the training points (``sample_points``, ``n_exp * n_per_exp / C`` per class)
and the test points (``sample_test_points``). So one seed of ``run_fig3`` equals
``simulate(train, ...)`` on data drawn that way (shrink & perturb then uses coin seed
``Method.seed_for(s)``). The notebook's own RNG calls (scipy per point, one test seed for all runs) are
not reproduced, so curves agree with the authors' notebook re-run (package data
``plasticity_sim/published/dash_fig3_rerun.json``) statistically, not digit for digit.

Explained in: book/theory/03_warm_cold_ideal.ipynb
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .model import (FREQUENCY_LAWS, MAX_SAMPLE_CELLS, int_at_least, sample_frequencies,
                    sample_points, sample_test_points)
from .engine import Lanes, in_threads
from .process import (Method, check_gamma_tau, parse_methods, expected_test_accuracy, run_methods)

__all__ = ["Fig3Config", "Fig3Data", "MethodCurves", "Fig3Result", "fig3_data", "run_fig3", "sample_seed",
           "METRICS"]

# The fields of Fig3Config that decide the data; gamma, tau and methods only decide what runs on it.
DATA_FIELDS = ("n_per_exp", "n_exp", "n_features", "n_classes", "n_seeds", "first_seed", "n_test", "law",
               "law_params")

METRICS = ("accuracy", "n_learned", "active_at_start", "n_memorised", "n_explained")


@dataclass(frozen=True)
class Fig3Config:
    """Parameters of the synthetic experiment; defaults are the official DASH notebook's
    (``Discrete_Feature_Learning.ipynb``).

    ``n_per_exp`` N new points per experiment (all classes), ``n_exp`` J experiments, ``n_features``
    K per class, ``n_classes`` C, ``gamma`` learning threshold, ``tau`` features needed to explain a
    point, seeds ``first_seed .. first_seed + n_seeds - 1``, ``n_test`` test points (all classes),
    ``law`` / ``law_params`` the frequency law (see ``sample_frequencies``), ``methods`` as in
    ``simulate``.

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """

    n_per_exp: int = 1000
    n_exp: int = 50
    n_features: int = 50
    n_classes: int = 2
    gamma: int = 50
    tau: int = 3
    n_seeds: int = 10
    first_seed: int = 0
    n_test: int = 10_000
    law: str | Callable = "paper"
    law_params: dict = field(default_factory=dict)
    methods: tuple = ("cold", "warm", "ideal")

    def __post_init__(self):
        for name, low in (("n_per_exp", 1), ("n_exp", 1), ("n_features", 1), ("n_classes", 1),
                          ("n_seeds", 1), ("first_seed", 0), ("n_test", 1)):
            int_at_least(name, getattr(self, name), low)
        check_gamma_tau(self.gamma, self.tau, self.n_features)
        if self.n_per_exp % self.n_classes:
            raise ValueError(f"n_per_exp must be divisible by n_classes={self.n_classes}, got {self.n_per_exp}")
        if self.n_test % self.n_classes:
            raise ValueError(f"n_test must be divisible by n_classes={self.n_classes}, got {self.n_test}")
        for what, cells in (("n_exp * n_per_exp", self.n_exp * self.n_per_exp),
                            ("n_test", self.n_test)):
            cells *= self.n_seeds * self.n_features
            if cells > MAX_SAMPLE_CELLS:   # refused before fig3_data allocates the points
                raise ValueError(f"n_seeds={self.n_seeds} x n_features={self.n_features} x {what} = "
                                 f"{cells:,} draws, more than the {MAX_SAMPLE_CELLS:,} allowed; use "
                                 "fewer seeds, features, experiments or points")
        if not callable(self.law) and self.law not in FREQUENCY_LAWS:
            raise ValueError(f"unknown frequency law {self.law!r}; choose one of {FREQUENCY_LAWS} or a callable")
        object.__setattr__(self, "methods", tuple(parse_methods(self.methods)))

    @property
    def seeds(self) -> np.ndarray:
        """The data seeds ``first_seed .. first_seed + n_seeds - 1``.

        Explained in: book/theory/03_warm_cold_ideal.ipynb
        """
        return np.arange(self.first_seed, self.first_seed + self.n_seeds)


@dataclass(frozen=True)
class MethodCurves:
    """One method over seeds and experiments: arrays (n_seeds, n_exp); ``features`` (n_seeds, n_exp, C, K).
    """

    method: Method
    accuracy: np.ndarray
    n_learned: np.ndarray
    active_at_start: np.ndarray
    n_memorised: np.ndarray
    n_explained: np.ndarray
    features: np.ndarray = field(repr=False)

    def _metric(self, metric):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
        return getattr(self, metric)

    def mean(self, metric: str) -> np.ndarray:
        """Mean over seeds, shape (n_exp,).

        Explained in: book/theory/03_warm_cold_ideal.ipynb
        """
        return self._metric(metric).mean(axis=0)

    def std(self, metric: str) -> np.ndarray:
        """Standard deviation over seeds (ddof=0, like np.std in the notebook), shape (n_exp,).
        """
        return self._metric(metric).std(axis=0)


@dataclass(frozen=True)
class Fig3Result:
    """``result["cold"]`` -> MethodCurves; ``experiments`` = 1..J, ``seeds``, ``config``.
    """

    config: Fig3Config
    experiments: np.ndarray
    seeds: np.ndarray
    curves: dict = field(repr=False)

    @property
    def methods(self) -> tuple:
        """Method labels in the order of the config.

        Explained in: book/theory/03_warm_cold_ideal.ipynb
        """
        return tuple(self.curves)

    def __getitem__(self, label) -> MethodCurves:
        if label not in self.curves:
            raise KeyError(f"no method {label!r}; this result has {list(self.curves)}")
        return self.curves[label]

    def summary(self, at: int | None = None) -> dict:
        """{method: {metric: (mean, std)}} at experiment ``at`` (1-based, default the last).

        Explained in: book/theory/03_warm_cold_ideal.ipynb
        """
        j = self.config.n_exp if at is None else at
        if not 1 <= j <= self.config.n_exp:
            raise ValueError(f"at must be an experiment in 1..{self.config.n_exp}, got {at}")
        return {m: {k: (float(c.mean(k)[j - 1]), float(c.std(k)[j - 1])) for k in METRICS}
                for m, c in self.curves.items()}


def sample_seed(cfg: Fig3Config, seed: int, *, out=None):
    """(frequencies, train points, test points) of one seed, drawn as the module docstring says.

    ``out``: optional bool array (C, K, n_exp * n_per_exp / C) to receive the training points.

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    rng = np.random.default_rng(seed)
    p = sample_frequencies(cfg.n_classes, cfg.n_features, rng, cfg.law, **cfg.law_params)
    train = sample_points(p, cfg.n_exp * cfg.n_per_exp // cfg.n_classes, rng, out=out)
    test = sample_test_points(p, cfg.n_test, rng)
    return p, train, test


@dataclass(frozen=True, eq=False)
class Fig3Data:
    """The data of a configuration's seeds, drawn once and indexed for the engine: make it with
    ``fig3_data(cfg)`` and pass it to ``run_fig3(..., data=...)`` for every gamma, tau or method set.

    A gamma or tau slider changes neither the points nor the engine's index of them (drawing and
    indexing are about a quarter of a 3-seed run), so a redraw reuses them. ``train`` (S * C, K, n)
    stacks the seeds' classes, ``tests`` holds one (C, K, n_test / C) array per seed; both read-only.
    """

    config: Fig3Config
    train: np.ndarray = field(repr=False)
    tests: tuple = field(repr=False)
    index: Lanes = field(repr=False)

    def check(self, cfg: Fig3Config):
        """Raise ValueError naming the first field where ``cfg`` asks for other data than this.
        """
        for name in DATA_FIELDS:
            mine, theirs = getattr(self.config, name), getattr(cfg, name)
            if mine != theirs:
                raise ValueError(f"data was drawn for {name}={mine!r}, but the config asks for {name}={theirs!r}; "
                                 "draw it again with fig3_data(cfg)")


def fig3_data(cfg: Fig3Config = Fig3Config()) -> Fig3Data:
    """Draw every seed of ``cfg`` (``sample_seed``) and index the training points for the engine.

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    if not isinstance(cfg, Fig3Config):
        raise ValueError(f"cfg must be a Fig3Config, got {type(cfg).__name__}")
    C, K, J, S = cfg.n_classes, cfg.n_features, cfg.n_exp, cfg.n_seeds
    X = np.empty((S * C, K, J * cfg.n_per_exp // C), bool)

    def draw(i):   # seed i writes only its own rows, from its own generator: threads cannot interfere
        return sample_seed(cfg, int(cfg.seeds[i]), out=X[i * C:(i + 1) * C])[2]
    tests = tuple(in_threads(draw, range(S)))
    for a in (X,) + tests:
        a.flags.writeable = False   # shared by every run that reuses it
    return Fig3Data(cfg, X, tests, Lanes(X, cfg.n_per_exp // C, J))


def run_fig3(cfg: Fig3Config = Fig3Config(), progress: bool = False, *, data: Fig3Data | None = None
             ) -> Fig3Result:
    """Run every seed and method of ``cfg``; all seeds go through the engine together (fast).

    ``data``: from ``fig3_data`` for a config with the same data fields (it may differ in gamma, tau
    and methods); drawn here when None. The result is the same either way.

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    if not isinstance(cfg, Fig3Config):
        raise ValueError(f"cfg must be a Fig3Config, got {type(cfg).__name__}")
    if data is None:
        data = fig3_data(cfg)
    elif not isinstance(data, Fig3Data):
        raise ValueError(f"data must come from fig3_data(cfg), got {type(data).__name__}")
    else:
        data.check(cfg)
    runs = run_methods(data.train, n_chunk=cfg.n_per_exp // cfg.n_classes, n_exp=cfg.n_exp, gamma=cfg.gamma,
                       tau=cfg.tau, methods=cfg.methods, n_classes=cfg.n_classes,
                       data_seeds=[int(s) for s in cfg.seeds], progress=progress, index=data.index)
    return _curves(cfg, runs, data.tests)


def _curves(cfg, runs, tests) -> Fig3Result:
    C, K, J, S = cfg.n_classes, cfg.n_features, cfg.n_exp, cfg.n_seeds
    seen = cfg.n_per_exp * np.arange(1, J + 1)
    labels = [m.label for m in cfg.methods]
    # (S, methods, J, C, K): every learned set of a seed is scored on that seed's test points at once
    features = np.stack([runs[x]["learned"].reshape(J, S, C, K).transpose(1, 0, 2, 3) for x in labels], 1)
    accuracy = np.stack([expected_test_accuracy(features[i], tests[i], cfg.tau) for i in range(S)])
    curves = {}
    for i, m in enumerate(cfg.methods):
        r = runs[m.label]
        memorised = r["memorised"].reshape(J, S, C).sum(axis=2).T
        curves[m.label] = MethodCurves(
            method=m, accuracy=accuracy[:, i], n_learned=features[:, i].sum(axis=(2, 3)),
            active_at_start=r["active"].reshape(J, S, C).sum(axis=2).T,
            n_memorised=memorised, n_explained=seen[None, :] - memorised, features=features[:, i])
    return Fig3Result(cfg, np.arange(1, J + 1), cfg.seeds, curves)
