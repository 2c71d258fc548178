"""Seeded generators of the continual-learning benchmarks of Dohare et al. (Nature 2024).

* :class:`SlowlyChangingRegression` - the "slowly-changing regression" (formerly bit-flipping)
  problem: ``num_flipping`` slowly flipping bits (one, chosen at random, flipped every
  ``flip_every`` steps), ``num_iid`` bits redrawn i.i.d. every step and a constant bias bit feed a
  fixed target network of ``target_hidden`` linear-threshold units (LTUs) with +-1 weights and
  thresholds set by ``beta``. Published sizes (Dohare et al. 2024, Extended Data Fig. 2; the
  official code's configs): 15 flipping bits, 5 i.i.d. bits, flip every 10,000 steps, 100 LTUs,
  beta = 0.7, learner with 5 hidden units, 1-3 million steps, squared error binned over 20,000
  steps. The LTU threshold is ``theta_i = (m + 1) * beta - S_i`` with ``m + 1`` inputs (bias
  included) and ``S_i`` the number of negative input weights of unit i (Dohare, Sutton & Mahmood
  2021, "Continual backprop"): an LTU fires when its input exceeds the threshold. The output
  weights are +-1 too. Many independent runs are generated side by side (shape ``(steps, runs,
  ...)``); run ``r`` depends only on its own seed, so a batch of runs equals the same runs made
  one at a time.
* :class:`PermutedInputs` - a new fixed random permutation of the input features per task
  (online permuted MNIST's construction, here on MNIST-1D or digits offline); task ``k``'s
  permutation and sample order are a function of ``(seed, k)`` only (random access).
* :class:`ClassIncremental` - classes added in steps in a seeded random order (class-incremental
  CIFAR-100's construction: start with ``initial_classes``, add ``classes_per_step``).

Every random draw uses an explicit ``torch.Generator`` or a seed; torch's global RNG is never used.
"""

from __future__ import annotations

import numpy as np
import torch

from plasticity_sim.checks import check_positive_int, check_range

#: Published sizes of the slowly-changing regression (Dohare et al. 2024) and the CPU preset the
#: chapters use (same problem, fewer steps per bin and fewer steps).
SCR_PUBLISHED = {"num_flipping": 15, "num_iid": 5, "flip_every": 10_000, "target_hidden": 100,
                 "beta": 0.7, "learner_hidden": 5, "steps": 1_000_000, "bin_size": 20_000}
SCR_CPU = {"num_flipping": 15, "num_iid": 5, "flip_every": 10_000, "target_hidden": 100,
           "beta": 0.7, "learner_hidden": 5, "steps": 600_000, "bin_size": 10_000}

CHUNK = 1000  # steps drawn per run at a time; fixed, so the stream never depends on how it is read


def _seed_int(seed, what="seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{what} must be a non-negative int, got {seed!r}")
    return int(seed)


def _child_seeds(seed: int, names: tuple[str, ...]) -> dict[str, int]:
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: int(c.generate_state(1)[0]) for n, c in zip(names, children)}


def ltu_target(num_inputs: int, hidden: int, beta: float, generator: torch.Generator):
    """A target network of linear-threshold units: ``(W (hidden, num_inputs) in {-1, +1},
    theta (hidden,), v (hidden,) in {-1, +1})``, with ``theta_i = num_inputs * beta - S_i``."""
    check_positive_int("num_inputs", num_inputs)
    check_positive_int("hidden", hidden)
    check_range("beta", beta, 0.0, 1.0)
    w = torch.randint(0, 2, (hidden, num_inputs), generator=generator).float() * 2 - 1
    v = torch.randint(0, 2, (hidden,), generator=generator).float() * 2 - 1
    theta = num_inputs * beta - (w < 0).sum(1).float()
    return w, theta, v


def ltu_output(x: torch.Tensor, w: torch.Tensor, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Target values ``v . [w x > theta]`` for inputs ``x (..., num_inputs)``."""
    return ((x @ w.T) > theta).float() @ v


class SlowlyChangingRegression:
    """The slowly-changing regression stream of ``len(seeds)`` independent runs.

    Each run ``r`` has its own target network and bit stream, drawn from generators seeded by
    ``seeds[r]`` (``target`` and ``data`` streams). Inputs are ``num_flipping + num_iid`` bits in
    {0, 1} plus a constant 1 (the bias bit), so ``num_inputs = num_flipping + num_iid + 1``.
    Call :meth:`next` for the next ``n`` steps of every run: ``x (n, runs, num_inputs)``,
    ``y (n, runs)``. Step ``t`` (counting from 0) is drawn after the flips of steps before it; a
    flip happens at every step ``t > 0`` with ``t % flip_every == 0``.

    Explained in: book/continual/01_loss_of_plasticity.ipynb
    """

    def __init__(self, seeds, *, num_flipping: int = 15, num_iid: int = 5, flip_every: int = 10_000,
                 target_hidden: int = 100, beta: float = 0.7):
        seeds = [_seed_int(s, "each seed") for s in (seeds if isinstance(seeds, (list, tuple)) else [seeds])]
        if not seeds:
            raise ValueError("seeds must name at least one run")
        self.num_flipping = check_positive_int("num_flipping", num_flipping)
        if isinstance(num_iid, bool) or not isinstance(num_iid, int) or num_iid < 0:
            raise ValueError(f"num_iid={num_iid!r} must be a non-negative int")
        self.num_iid = num_iid
        self.flip_every = check_positive_int("flip_every", flip_every)
        self.target_hidden = check_positive_int("target_hidden", target_hidden)
        self.beta = check_range("beta", beta, 0.0, 1.0)
        self.seeds = seeds
        self.num_inputs = num_flipping + num_iid + 1
        streams = [_child_seeds(s, ("target", "data")) for s in seeds]
        targets = [ltu_target(self.num_inputs, target_hidden, beta, torch.Generator().manual_seed(st["target"]))
                   for st in streams]
        self.w = torch.stack([t[0] for t in targets])       # (R, hidden, inputs)
        self.theta = torch.stack([t[1] for t in targets])   # (R, hidden)
        self.v = torch.stack([t[2] for t in targets])       # (R, hidden)
        self.gens = [torch.Generator().manual_seed(st["data"]) for st in streams]
        self.bits = torch.stack([torch.randint(0, 2, (num_flipping,), generator=g).float() for g in self.gens])
        self.step = 0
        self._buffer = None  # (x, y) of the current chunk
        self._pos = CHUNK

    @property
    def runs(self) -> int:
        return len(self.seeds)

    def _chunk(self):
        """The next CHUNK steps of every run."""
        R, n = self.runs, CHUNK
        iid = torch.stack([torch.randint(0, 2, (n, self.num_iid), generator=g).float() for g in self.gens], 1)
        flips = torch.stack([torch.randint(0, self.num_flipping, (n,), generator=g) for g in self.gens], 1)
        t = self.step + torch.arange(n)
        flip_now = (t > 0) & (t % self.flip_every == 0)
        slow = self.bits.unsqueeze(0).repeat(n, 1, 1)
        bits = self.bits.clone()
        rows = torch.arange(R)
        for k in torch.nonzero(flip_now).flatten().tolist():  # few flips per chunk
            bits[rows, flips[k]] = 1 - bits[rows, flips[k]]
            slow[k:] = bits
        self.bits = bits
        x = torch.cat([slow, iid, torch.ones(n, R, 1)], dim=2)
        y = torch.einsum("nrh,rh->nr", ((torch.einsum("nri,rhi->nrh", x, self.w)) > self.theta).float(), self.v)
        self.step += n
        return x, y

    def next(self, n: int):
        """``(x (n, runs, num_inputs), y (n, runs))`` for the next ``n`` steps."""
        check_positive_int("n", n)
        xs, ys, need = [], [], n
        while need:
            if self._pos >= CHUNK:
                self._buffer, self._pos = self._chunk(), 0
            take = min(need, CHUNK - self._pos)
            xs.append(self._buffer[0][self._pos:self._pos + take])
            ys.append(self._buffer[1][self._pos:self._pos + take])
            self._pos += take
            need -= take
        return torch.cat(xs), torch.cat(ys)


def _generator_for(seed: int, *keys: int) -> torch.Generator:
    entropy = [seed, *keys]
    return torch.Generator().manual_seed(int(np.random.SeedSequence(entropy).generate_state(1)[0]))


class PermutedInputs:
    """Online permuted-input tasks on a fixed dataset ``(x, y)`` (Dohare et al.'s online permuted
    MNIST construction; here on MNIST-1D or digits offline).

    Task ``k`` applies a fixed random permutation of the ``num_features`` flattened input features
    (``permutation(k)``, a function of ``(seed, k)`` only) and shows ``samples_per_task`` samples
    (all of them by default) once each, in a seeded random order. The published benchmark: 60,000
    MNIST images per task, batch 1, 800 tasks.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, seed: int, samples_per_task: int | None = None):
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(f"x and y must hold the same positive number of samples, got {x.shape[0]} and {y.shape[0]}")
        self.seed = _seed_int(seed)
        self.x = x.reshape(x.shape[0], -1)
        self.y = y
        n = x.shape[0]
        self.samples_per_task = n if samples_per_task is None else check_positive_int("samples_per_task", samples_per_task)
        if self.samples_per_task > n:
            raise ValueError(f"samples_per_task={samples_per_task} exceeds the {n} samples available")
        self.num_features = self.x.shape[1]

    def permutation(self, task: int) -> torch.Tensor:
        """The feature permutation of task ``task`` (task 0 is permuted too)."""
        _seed_int(task, "task")
        return torch.randperm(self.num_features, generator=_generator_for(self.seed, 0, task))

    def task(self, task: int):
        """``(x (samples_per_task, num_features), y)`` of task ``task``, in its presentation order."""
        order = torch.randperm(self.x.shape[0], generator=_generator_for(self.seed, 1, task))[:self.samples_per_task]
        return self.x[order][:, self.permutation(task)], self.y[order]


class ClassIncremental:
    """Classes added in steps (Dohare et al.'s class-incremental CIFAR-100 construction).

    ``class_order`` is a seeded random order of the ``num_classes`` classes; step ``k`` (from 0)
    trains on the first ``initial_classes + k * classes_per_step`` of them. Published: 5 classes,
    +5 every 200 epochs, 20 increments on CIFAR-100.
    """

    def __init__(self, num_classes: int, *, seed: int, initial_classes: int = 2, classes_per_step: int = 2):
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.initial_classes = check_positive_int("initial_classes", initial_classes)
        self.classes_per_step = check_positive_int("classes_per_step", classes_per_step)
        if initial_classes > num_classes:
            raise ValueError(f"initial_classes={initial_classes} exceeds num_classes={num_classes}")
        self.seed = _seed_int(seed)
        self.class_order = torch.randperm(num_classes, generator=_generator_for(self.seed, 2)).tolist()
        extra = num_classes - initial_classes
        self.num_steps = 1 + -(-extra // classes_per_step)

    def classes(self, step: int) -> list[int]:
        """The classes of step ``step`` (0-based)."""
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < self.num_steps:
            raise ValueError(f"step={step!r} must be an int in [0, {self.num_steps - 1}]")
        return self.class_order[:min(self.num_classes, self.initial_classes + step * self.classes_per_step)]

    def mask(self, y: torch.Tensor, step: int) -> torch.Tensor:
        """Boolean mask of the samples of ``y`` whose class belongs to step ``step``."""
        return torch.isin(y, torch.tensor(self.classes(step), device=y.device))
