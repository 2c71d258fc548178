"""The discrete learning process of the DASH paper: one training run, and experiments that reuse it.

The rules (the specification; ``simulate`` follows them bit for bit):

* State: a learned set ``L`` (C x K bool). A point is *explained* when it holds >= ``tau`` learned
  features of its own class, *memorised* when it was fitted through its own noise, else *active*
  (non-zero gradient).
* One training run TRAIN(L, A): count, for every unlearned feature (c, k), the active class-c points
  containing it. Take the largest count; ties go to the lowest flat index ``c*K + k``. If it is >=
  ``gamma``, learn it, drop every point that is now explained, recount, repeat. Otherwise stop: every
  point still active becomes memorised.
* Experiment j (1-based) sees the first ``j * n_per_exp / C`` points of every class; its new chunk is the
  last ``n_per_exp / C`` of them. What carries over from experiment j-1 is the *method* (``Method``).

Source: official DASH code, ``Discrete_Feature_Learning.ipynb`` (cell 3), and DASH Section 3.

Explained in: book/theory/02_discrete_process.ipynb
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .engine import run_lanes
from .model import int_at_least

__all__ = ["PROCESS_METHODS", "Method", "MethodResult", "SimulationResult", "TraceStep", "Trace",
           "training_run", "trace_training_run", "simulate", "expected_test_accuracy"]

PROCESS_METHODS = ("cold", "warm", "ideal", "shrink_perturb", "dash")


@dataclass(frozen=True)
class Method:
    """How experiment j starts from the state left by experiment j-1.

    * ``"cold"`` (random init): forget everything; A = all points seen so far.
    * ``"warm"``: keep L, explained and memorised points; A = the new chunk's points not explained by L.
      Memorised points stay memorised forever (their noise is fitted, their gradient stays zero).
    * ``"ideal"``: keep L and explained points, forget memorisation; A = every seen point not explained
      by L (old memorised points become active again).
    * ``"dash"``: stands for DASH (Shin et al. 2024): shrink weights by their cosine with the negative
      gradient of all data. A learned feature is aligned with that gradient and is kept; memorised
      noise is point-specific, orthogonal to it, and is shrunk away. In this model that is exactly
      "keep L, forget memorisation", so ``dash`` coincides with ``ideal``: the model has no partial
      shrinkage, and explained points have zero gradient whatever happens to the noise.
    * ``"shrink_perturb"``: stands for shrink & perturb (Ash & Adams 2020): shrinking every weight and
      adding noise erases memorised noise and damages some features. Here: forget all memorisation
      and each learned feature independently with probability ``forget_prob`` (default 0.3), coins
      from ``np.random.default_rng(seed)`` (default seed 0), one ``(C, K)`` draw before each
      experiment j >= 2. ``forget_prob=0`` gives ``ideal`` and ``forget_prob=1`` gives ``cold``.

    ``label`` names the result (default: ``name``), so one call can compare several variants.
    """

    name: str
    forget_prob: float | None = None
    seed: int | tuple | None = None
    label: str | None = None

    def __post_init__(self):
        if self.name not in PROCESS_METHODS:
            raise ValueError(f"unknown method {self.name!r}; choose one of {PROCESS_METHODS}")
        if self.name == "shrink_perturb":
            q = 0.3 if self.forget_prob is None else self.forget_prob
            if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 <= q <= 1.0:
                raise ValueError(f"forget_prob must be a number in [0, 1], got {self.forget_prob!r}")
            object.__setattr__(self, "forget_prob", float(q))
            seed = 0 if self.seed is None else self.seed
            parts = seed if isinstance(seed, tuple) else (seed,)
            if not parts or any(isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 0
                                for x in parts):
                raise ValueError(f"seed must be an int >= 0 or a tuple of them, got {self.seed!r}")
            object.__setattr__(self, "seed", seed)
        elif self.forget_prob is not None or self.seed is not None:
            raise ValueError(f"forget_prob and seed are parameters of 'shrink_perturb' only, not of {self.name!r}")
        if self.label is None:
            object.__setattr__(self, "label", self.name)
        elif not isinstance(self.label, str) or not self.label:
            raise ValueError(f"label must be a non-empty string, got {self.label!r}")

    @classmethod
    def parse(cls, spec) -> "Method":
        """A Method from a name (``"warm"``), a Method, or ``(name, {param: value})``.
        """
        if isinstance(spec, cls):
            return spec
        if isinstance(spec, str):
            return cls(spec)
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
            try:
                return cls(spec[0], **spec[1])
            except TypeError:
                raise ValueError(f"unknown parameters {sorted(spec[1])} for method {spec[0]!r}; "
                                 "allowed: forget_prob, seed, label") from None
        raise ValueError(f"a method must be a name {PROCESS_METHODS}, a Method or (name, params), got {spec!r}")

    def seed_for(self, data_seed: int | None):
        """The coin seed used on data set ``data_seed`` by ``run_fig3`` (``seed`` itself when None).
        """
        if data_seed is None:
            return self.seed
        return (int(data_seed),) + (self.seed if isinstance(self.seed, tuple) else (self.seed,))

    def _engine(self, n_classes, data_seeds):
        # What the engine must run, and a key: equal keys run once (dash and ideal share a run).
        if self.name == "cold":
            return ("cold",), ("cold",)
        if self.name == "warm":
            return ("keep", "chunk", 0.0, (), 1), ("warm",)
        if self.name == "shrink_perturb" and self.forget_prob > 0:
            rngs = tuple(np.random.default_rng(self.seed_for(s)) for s in data_seeds)
            return ("keep", "all", self.forget_prob, rngs, n_classes), ("sp", self.forget_prob, self.seed)
        return ("keep", "all", 0.0, (), 1), ("ideal",)


@dataclass(frozen=True)
class MethodResult:
    """One method's trajectory over ``n_exp`` experiments (index 0 = experiment 1).

    ``features`` (n_exp, C, K) bool: L after each experiment. ``active_at_start`` (n_exp,): size of the
    active set when each experiment starts (the paper's training-time proxy). ``n_explained`` and
    ``n_memorised`` (n_exp,): counts over all points seen so far after each experiment (they add up to
    ``j * n_per_exp``).
    """

    method: Method
    features: np.ndarray
    active_at_start: np.ndarray
    n_explained: np.ndarray
    n_memorised: np.ndarray

    @property
    def n_learned(self) -> np.ndarray:
        """Learned features after each experiment, summed over classes: (n_exp,).

        Explained in: book/theory/03_warm_cold_ideal.ipynb
        """
        return self.features.sum(axis=(1, 2))


@dataclass(frozen=True)
class SimulationResult(Mapping):
    """``result[label]`` -> MethodResult, plus the parameters of the run.
    """

    n_per_exp: int
    n_exp: int
    gamma: int
    tau: int
    results: dict = field(repr=False)

    def __getitem__(self, label):
        if label not in self.results:
            raise KeyError(f"no method {label!r} in this result; it has {list(self.results)}")
        return self.results[label]

    def __iter__(self):
        return iter(self.results)

    def __len__(self):
        return len(self.results)


def _check_data(data) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise ValueError(f"data must be a numpy bool array of shape (C, K, n), got {type(data).__name__}")
    if data.dtype != bool:
        raise ValueError(f"data must have dtype bool, got {data.dtype}")
    if data.ndim != 3 or min(data.shape) < 1:
        raise ValueError(f"data must have shape (C, K, n) with C, K, n >= 1, got {data.shape}")
    return data


def check_gamma_tau(gamma, tau, n_features):
    gamma = int_at_least("gamma", gamma, 1)
    tau = int_at_least("tau", tau, 1)
    if tau > n_features:
        raise ValueError(f"tau must satisfy 1 <= tau <= K={n_features}, got {tau}")
    return gamma, tau


def parse_methods(methods):
    if isinstance(methods, (str, Method)):
        methods = (methods,)
    try:
        items = list(methods)
    except TypeError:
        items = None
    if items is None or isinstance(methods, Mapping):
        raise ValueError(f"methods must be a method or a list of them (names from {PROCESS_METHODS}, Method "
                         f"objects or (name, params) pairs), got {methods!r}")
    methods = [Method.parse(m) for m in items]
    if not methods:
        raise ValueError("methods must name at least one method")
    labels = [m.label for m in methods]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"method labels must be unique, got {dup} more than once; set Method(label=...)")
    return methods


def simulate(data, *, n_per_exp, n_exp, gamma, tau, methods=("cold", "warm", "ideal")) -> SimulationResult:
    """Run ``n_exp`` experiments on ``data`` (C, K, n) bool for every method; exact rules above.

    ``methods``: names from ``PROCESS_METHODS``, ``Method`` objects or ``(name, params)`` pairs, e.g.
    ``("cold", "warm", Method("shrink_perturb", forget_prob=0.5, seed=1))``.
    Returns ``SimulationResult``; ``result["warm"].features`` etc. (see ``MethodResult``).

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    data = _check_data(data)
    C, K, n_points = data.shape
    gamma, tau = check_gamma_tau(gamma, tau, K)
    n_per_exp = int_at_least("n_per_exp", n_per_exp, 1)
    n_exp = int_at_least("n_exp", n_exp, 1)
    if n_per_exp % C:
        raise ValueError(f"n_per_exp must be divisible by the number of classes C={C}, got {n_per_exp}")
    n_chunk = n_per_exp // C
    if n_exp * n_chunk > n_points:
        raise ValueError(f"n_exp * n_per_exp / C = {n_exp * n_chunk} points per class are needed, "
                         f"but data has only {n_points}")
    methods = parse_methods(methods)
    runs = run_methods(data, n_chunk=n_chunk, n_exp=n_exp, gamma=gamma, tau=tau, methods=methods,
                       n_classes=C)
    seen = n_per_exp * np.arange(1, n_exp + 1)
    results = {}
    for m in methods:
        r = runs[m.label]
        memorised = r["memorised"].sum(axis=1)
        results[m.label] = MethodResult(m, r["learned"], r["active"].sum(axis=1), seen - memorised,
                                        memorised)
    return SimulationResult(n_per_exp, n_exp, gamma, tau, results)


def run_methods(X, *, n_chunk, n_exp, gamma, tau, methods, n_classes, data_seeds=(None,),
                progress=False, index=None):
    """Engine call shared by ``simulate`` and ``run_fig3``: label -> arrays over lanes (see engine).

    ``X`` (len(data_seeds) * C, K, n) stacks the classes of several data sets; ``data_seeds`` names them
    (``Method.seed_for``) so shrink & perturb draws its coins per data set. ``index``: see
    ``engine.run_lanes``.
    """
    engines, key_of = {}, {}
    for m in parse_methods(methods):
        spec, key = m._engine(n_classes, data_seeds)
        engines.setdefault(key, spec)
        key_of[m.label] = key
    out = run_lanes(X, n_chunk=n_chunk, n_exp=n_exp, gamma=gamma, tau=tau, engines=engines,
                    progress=progress, index=index)
    return {label: {k: v.copy() for k, v in out[key].items()} for label, key in key_of.items()}


# --- one training run, step by step (readable; used by the step-through chapter) ---------------------

@dataclass(frozen=True)
class TraceStep:
    """The state a training run sees before one greedy decision.

    ``counts`` (C, K): active class-c points containing each feature (learned features included, for
    display; the rule ignores them). ``chosen`` = (c, k) with the largest count among unlearned features
    (ties: lowest ``c*K + k``), or None when every feature is learned; ``learns`` = count >= gamma.
    """

    counts: np.ndarray
    learned: np.ndarray
    active: np.ndarray
    explained: np.ndarray
    chosen: tuple | None
    chosen_count: int
    gamma: int
    learns: bool


@dataclass(frozen=True)
class Trace:
    """A whole training run: ``steps`` (the last one stops), then the final state.
    """

    steps: list
    learned: np.ndarray
    explained: np.ndarray
    memorised: np.ndarray

    @property
    def order(self) -> list:
        """Learned features in the order they were learned, as (c, k).

        Explained in: book/theory/02_discrete_process.ipynb
        """
        return [s.chosen for s in self.steps if s.learns]


def trace_training_run(data, *, gamma, tau, learned=None, active=None) -> Trace:
    """TRAIN(L, A) on points ``data`` (C, K, n), recording every greedy step.

    ``learned`` (C, K) bool: L at the start (default empty). ``active`` (C, n) bool: A at the start
    (default all points); points of A already explained by L have zero gradient and are dropped.
    Counts are recomputed from scratch at every step: slow, but it is the rule as written.

    Explained in: book/theory/02_discrete_process.ipynb
    """
    data = _check_data(data)
    C, K, n = data.shape
    gamma, tau = check_gamma_tau(gamma, tau, K)
    L = np.zeros((C, K), bool) if learned is None else np.array(learned, dtype=bool)
    A = np.ones((C, n), bool) if active is None else np.array(active, dtype=bool)
    if L.shape != (C, K) or A.shape != (C, n):
        raise ValueError(f"learned must have shape {(C, K)} and active {(C, n)}, got {L.shape} and {A.shape}")
    X = data.astype(np.int64)
    steps = []
    while True:
        explained = np.einsum("ckn,ck->cn", X, L) >= tau
        A &= ~explained
        counts = np.einsum("ckn,cn->ck", X, A)
        masked = np.where(L, -1, counts).ravel()
        flat = int(np.argmax(masked))           # first maximum = lowest flat index c*K + k
        best = int(masked[flat])
        chosen = divmod(flat, K) if best >= 0 else None
        learns = chosen is not None and best >= gamma
        steps.append(TraceStep(counts, L.copy(), A.copy(), explained, chosen, max(best, 0), gamma, learns))
        if not learns:
            return Trace(steps, L, explained, A)
        L = L.copy()
        L[chosen] = True


def training_run(data, *, gamma, tau, learned=None, active=None):
    """TRAIN(L, A): returns (learned (C, K), memorised (C, n)) after the run. See ``trace_training_run``.

    Explained in: book/theory/02_discrete_process.ipynb
    """
    t = trace_training_run(data, gamma=gamma, tau=tau, learned=learned, active=active)
    return t.learned, t.memorised


# --- prediction rule -----------------------------------------------------------------------------

def expected_test_accuracy(features, test_data, tau) -> np.ndarray:
    """Expected accuracy of learned sets ``features`` (..., C, K) on ``test_data`` (C, K, n) bool.

    A test point of class c is correct when it holds >= tau learned class-c features, otherwise the
    model guesses and is right with probability 1/C. Returns the exact expectation over the guesses
    (no coin flips), shape ``features.shape[:-2]``. Source: ``cal_testacc`` in the DASH notebook (which
    flips the coins).
    """
    test_data = _check_data(test_data)
    C, K, n = test_data.shape
    features = np.asarray(features)
    if features.dtype != bool or features.shape[-2:] != (C, K):
        raise ValueError(f"features must be a bool array of shape (..., {C}, {K}), "
                         f"got {features.dtype} {features.shape}")
    tau = int_at_least("tau", tau, 1)
    if tau > K:  # no point can hold more than K features: every prediction would be a guess
        raise ValueError(f"tau must satisfy 1 <= tau <= K={K}, got {tau}")
    lead = features.shape[:-2]
    flat = features.reshape(-1, C, K)
    p_explained = np.empty((flat.shape[0], C))
    for c in range(C):
        # Distinct learned sets only (runs repeat them), then one matrix product per class:
        # learned features held by each test point (float32 counts are exact).
        sets, which = np.unique(flat[:, c, :], axis=0, return_inverse=True)
        held = sets.astype(np.float32) @ test_data[c].astype(np.float32)
        p_explained[:, c] = (held >= tau).mean(axis=1)[which.ravel()]
    return (p_explained + (1.0 - p_explained) / C).mean(axis=1).reshape(lead)
