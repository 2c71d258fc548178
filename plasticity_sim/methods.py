"""The one method table: every method the CLI, the protocols, the reports and the plots can name.

A *method* is a name a reader types (``--method dash``) bound to an intervention of
:mod:`plasticity_sim.interventions` with the parameters that pin one published variant, plus how
the book shows it (label, colour) and when it acts. Adding a method is one :class:`Method` entry
here: the CLI accepts it, every protocol can run it (protocols never test a method's name; they
call the intervention this table builds), and reports and plots label and colour it.

``acts`` says when the method changes the network:

* ``"between"`` - once between experiments / phases (cold, warm, S&P, DASH, head reset);
* ``"during"``  - during training, as a step hook or a loss term (CBP, ReDo, Hare & Tortoise,
  L2-init); between experiments these are warm starts.

``evaluates`` is ``"model"`` for every method except Hare & Tortoise, which evaluates the Tortoise
(the slow EMA network), as in Lee et al. (2024).

This module imports no torch: the CLI parses and checks a command line, and chapters label
results files, without paying for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTS = ("between", "during", "none")


@dataclass(frozen=True)
class Method:
    """One method: ``name`` -> ``interventions.get_intervention(intervention, **params)``.

    ``params`` pin the published variant (the config's ``method_params`` are added on top and may
    override the numeric defaults); ``source`` names where the variant and its defaults come from.
    ``intervention=None`` marks a name that only the theory engine runs (``ideal``).
    """

    name: str
    intervention: str | None
    params: dict = field(default_factory=dict)
    source: str = ""
    label: str = ""
    color: str = "#333333"
    acts: str = "between"
    evaluates: str = "model"
    resumable: bool = True     # False: in-training state (utilities, the Tortoise) is not checkpointed
    only_in: tuple = ()        # protocols that can run it (empty: every protocol); others refuse it

    def __post_init__(self):
        if self.acts not in ACTS:
            raise ValueError(f"method {self.name!r}: acts={self.acts!r}; allowed: {', '.join(ACTS)}")
        if self.evaluates not in ("model", "tortoise"):
            raise ValueError(f"method {self.name!r}: evaluates={self.evaluates!r}; allowed: model, tortoise")


# Cold is green and warm is navy as in the DASH paper's Fig. 3; the ideal learner is red.
_TABLE = (
    Method("cold", "cold", {}, "DASH code `cold`: new init + new optimizer", "cold", "#2ca02c"),
    Method("warm", "warm", {}, "DASH code `warm`: keep weights and optimizer state", "warm", "#1f2f7a"),
    Method("warm_reset_opt", "warm_reset_opt", {}, "DASH code `warm_rm`: keep weights, new optimizer",
           "warm (reset opt.)", "#6baed6"),
    Method("sp", "shrink_perturb", {"mode": "gaussian"},
           "DASH code S&P: θ ← λθ + N(0, σ²) on Conv/Linear, λ = 0.3, σ = 0.01 (Ash & Adams's idea, DASH's setting)",
           "S&P (Gaussian)", "#ff7f0e"),
    Method("sp_fresh", "shrink_perturb", {"mode": "fresh_init"},
           "Ash & Adams (2020) run.py: θ ← λθ + p·θ_fresh, λ = 0.4, p = 0.1", "S&P (fresh init)", "#fdae6b"),
    Method("sp_init", "shrink_perturb", {"mode": "toward_init"},
           "Hare & Tortoise (Lee et al. 2024) App. A.4: θ ← (1 − b)θ + b·θ_init, b = 0.8", "S&P (toward init)", "#e6550d"),
    Method("dash", "dash", {"granularity": "kernel"},
           "official DASH code: per (out, in) kernel slice, λ = 0.3, α = 0.3", "DASH", "#9467bd"),
    Method("dash_row", "dash", {"granularity": "row"},
           "per-output-row variant (lucidrains' port)", "DASH (row)", "#c5b0d5"),
    Method("dash_row_vbias", "dash", {"granularity": "row", "bias": "vector"},
           "row weights with the official whole-vector bias cosine: on Linear layers identical to `dash`, so "
           "`dash_row` - `dash` on an MLP is the bias rule alone", "DASH (row, vector bias)", "#7b6ba8"),
    Method("l2_init", "l2_init", {"form": "dash"},
           "DASH code `l2_init`: λ(Σ_layers ||W − W_init||_F)², λ = 1e-2", "L2 init", "#8c564b",
           acts="during"),
    Method("l2_init_port", "l2_init", {"form": "dash", "lam": 1e-5},
           "DASH code's form with the λ = 1e-5 of the authors' Gaudi port and command builder",
           "L2 init (λ=1e-5)", "#a0785a", acts="during"),
    Method("l2_init_kumar", "l2_init", {"form": "kumar"},
           "Kumar et al. (2024) regenerative regularisation: λ||θ − θ_init||², λ = 1e-2",
           "L2 init (Kumar)", "#c49c94", acts="during"),
    Method("head_reset", "head_reset", {}, "DASH code `reset`: re-initialise the classifier head",
           "head reset", "#e377c2"),
    Method("head_reset_init", "head_reset", {"to": "initial"},
           "Hare & Tortoise App. A.4 reading: the head back to its initial weights (not a new draw)",
           "head reset (to init)", "#8c6d31"),
    Method("cbp", "cbp", {}, "Continual Backprop (Dohare et al. 2024), replacement rate 1e-4, maturity 100",
           "CBP", "#bcbd22", acts="during", resumable=False),
    Method("redo", "redo", {}, "ReDo (Sokar et al. 2023): recycle τ-dormant units, τ = 0.1",
           "ReDo", "#7f7f7f", acts="during", resumable=False),
    Method("hare_tortoise", "hare_tortoise", {},
           "Hare & Tortoise (Lee et al. 2024): EMA Tortoise (μ = 0.999), Hare reset to it every 1000 steps",
           "Hare & Tortoise", "#17becf", acts="during", evaluates="tortoise", resumable=False),
    Method("ideal", None, {}, "DASH paper's ideal learner (theory engine only)", "ideal", "#d62728",
           acts="none"),
    Method("l2_every_step", "l2_every_step", {}, "every-step L2 (Dohare et al. 2024): gradient + wd·θ, wd = 1e-4",
           "L2 (every step)", "#393b79", acts="during"),
    Method("sp_continual", "sp_continual", {},
           "continual S&P (Dohare et al. 2024): after every step θ ← (1 − lr·wd)θ + σ·N(0, 1), wd = 1e-4, σ = 1e-5",
           "S&P (every step)", "#f0a030", acts="during", resumable=False),
    Method("weight_clipping", "weight_clipping", {},
           "weight clipping (Elsayed et al. 2024): clip to ±κ·(init bound), κ = 2 (their grid: 1 ... 5)", "weight clipping",
           "#637939", acts="during"),
    Method("parseval", "parseval", {},
           "Parseval regularisation (Chung et al. 2024): λ Σ||WWᵀ − I||², λ = 1e-3", "Parseval",
           "#843c39", acts="during"),
    Method("fire", "fire", {},
           "FIRE (Han et al. 2026, authors' code): polar factor of each weight matrix by 10 Newton–Schulz steps, "
           "times √(out/in), at task boundaries",
           "FIRE", "#ad494a"),
    # Hare & Tortoise part (Lee et al. 2024, §3.4, §5.1, App. A.4): the method comparison.
    Method("ema", "ema", {"momentum": 0.999},
           "Hare & Tortoise §5.1: plain EMA of the weights (μ = 0.999), evaluated; no resets",
           "EMA", "#2b8cbe", acts="during", evaluates="tortoise", resumable=False),
    Method("self_distill", "self_distill", {"momentum": 0.999, "strength": 1.0},
           "Hare & Tortoise §5.1: EMA teacher (μ = 0.999) + strength·MSE(logits, teacher logits), strength 1",
           "self-distillation", "#74a9cf", acts="during", evaluates="tortoise", resumable=False),
    Method("l2", "l2", {"lam": 1e-3},
           "Hare & Tortoise App. A.4: L2 regularisation λ Σ||W||², λ = 1e-3 (grid 1 ... 1e-4)",
           "L2", "#31a354", acts="during"),
    Method("augmentation", "augmentation", {"pad": 4},
           "Hare & Tortoise App. A.4: random crop with 4-pixel padding + flip (1-D: random shift ≤ 4)",
           "augmentation", "#a1d99b", acts="during", only_in=("noisy_warm_start", "growing_data")),
    Method("spectral", "spectral_decoupling", {"lam": 1e-3},
           "Pezeshki et al. (2021) spectral decoupling λ·mean||logits||², λ = 1e-3 (H&T grid 1 ... 1e-5)",
           "spectral decoupling", "#de2d26", acts="during"),
    Method("crelu", "architecture", {"model": "mlp_crelu"},
           "Abbas et al. (2023) CReLU at every MLP activation, widths halved (H&T App. A.4)",
           "CReLU", "#fc9272", acts="during", only_in=("noisy_warm_start", "growing_data")),
)
METHODS: dict[str, Method] = {m.name: m for m in _TABLE}


def get_method(name: str) -> Method:
    """The :class:`Method` called ``name``; a ``ValueError`` lists the allowed names."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; allowed: {', '.join(METHODS)}")
    return METHODS[name]


def trainable() -> tuple[str, ...]:
    """Names of the methods that real-network protocols can run (all but theory-only ones)."""
    return tuple(m.name for m in _TABLE if m.intervention is not None)


def resolve(name: str) -> Method:
    """The method a plot or label asks for: a method name, its label (any case) or the name of its
    intervention (``"shrink_perturb"`` -> ``sp``, the first method using it)."""
    if name in METHODS:
        return METHODS[name]
    for m in _TABLE:
        if name.lower() == m.label.lower():
            return m
    for m in _TABLE:
        if name == m.intervention:
            return m
    raise ValueError(f"unknown method {name!r}; allowed: {sorted(METHODS)} "
                     f"or their labels {sorted(m.label for m in _TABLE)}")


def check_runs_in(name: str, protocol: str) -> None:
    """A ``ValueError`` if method ``name`` cannot run in ``protocol`` (e.g. an architecture change
    that only some protocols build), instead of silently running as something else. Names outside
    the table (a protocol's own, e.g. the vectorised regression's ``bp``) are the protocol's to check."""
    method = METHODS.get(name)
    if method is not None and method.only_in and protocol not in method.only_in:
        raise ValueError(f"method {name!r} runs only in protocol(s) {', '.join(method.only_in)}, "
                         f"not in {protocol!r}")


def intervention_spec(name: str, method_params: dict | None = None) -> tuple[str, dict]:
    """``(intervention name, params)`` of method ``name``: its pinned params plus ``method_params``."""
    method = get_method(name)
    if method.intervention is None:
        raise ValueError(f"method {name!r} runs only in the theory engine")
    return method.intervention, {**method.params, **(method_params or {})}


def params_record(names, method_params: dict | None = None) -> dict:
    """What a multi-method results file records: the methods and each one's parameters as built
    (defaults filled in). ``method_params`` maps a method name to its overrides."""
    method_params = method_params or {}
    return {"methods": list(names), "params": {m: build(m, method_params.get(m)).params for m in names}}


def build(name: str, method_params: dict | None = None):
    """Build the intervention of method ``name`` (imports torch)."""
    from plasticity_sim.interventions import get_intervention

    intervention, params = intervention_spec(name, method_params)
    return get_intervention(intervention, **params)
