"""The DASH paper's Table-1 runs at full scale: CLI commands, cost estimates, a results table.

Nothing here trains. :func:`paper_command` writes the exact ``python -m plasticity_sim sweep`` command
for one (dataset, optimizer) cell of Table 1; :func:`check_command` parses it with the CLI's own parser
and builds every job's config (so a typo fails here, not after a download); :func:`estimate_cost`
turns the published step counts into GPU hours under a stated throughput assumption; and
:func:`results_rows` fills a table from whatever results files exist, saying "not run yet" for the
rest (never a made-up number).

Importing this module does not import torch (only :func:`resnet18_step_flops` does).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from plasticity_sim import protocols, runs
from plasticity_sim.methods import trainable

# One entry per Table-1 dataset: how the `paper` preset (CIFAR-10) is turned into it, and the paper's
# seed count (5 for CIFAR/SVHN, 3 for Tiny-ImageNet: inferred from the published std, not stated).
@dataclass(frozen=True)
class PaperSetting:
    """One dataset of the paper's Table 1 as a CLI run."""
    label: str                # as in the published table
    dataset: str              # our dataset name
    overrides: tuple          # --set assignments on top of the `paper` preset
    seeds: int
    image_size: int
    num_classes: int
    num_train: int
    num_test: int


PAPER_SETTINGS = {
    "CIFAR-10": PaperSetting("CIFAR-10", "cifar10", (), 5, 32, 10, 50000, 10000),
    "CIFAR-100": PaperSetting("CIFAR-100", "cifar100", ("dataset=cifar100",), 5, 32, 100, 50000, 10000),
    # the official DASH code trains on a random 50,000-image subset of SVHN's 73,257
    "SVHN": PaperSetting("SVHN", "svhn", ("dataset=svhn", "dataset_kwargs.train_subset=50000"),
                         5, 32, 10, 50000, 26032),
    "Tiny-ImageNet": PaperSetting("Tiny-ImageNet", "tiny_imagenet", ("dataset=tiny_imagenet",),
                                  3, 64, 200, 100000, 10000),
}
# SAM: Foret et al. around the same SGD; rho 0.1 is the official code's default (the paper's value is
# not stated in the paper), written out so the command says what it runs.
OPTIMIZER_OVERRIDES = {"SGD": (), "SAM": ("optimizer=sam", "rho=0.1")}
PAPER_METHODS = ("cold", "warm", "sp", "dash")

# Cost assumptions (estimates, not measurements of a GPU):
# - FLOPs of one training step (forward + backward, batch 128) of the official ResNet-18, counted with
#   torch.utils.flop_counter; the chapter recounts them live. Optimizer arithmetic is negligible.
# - An effective GPU throughput for this small network at batch 128 in bf16 with a plain PyTorch loop.
#   25 TFLOP/s is about 8 % of an A100's bf16 peak (312 TFLOP/s): ResNet-18 at batch 128 is too small
#   to fill a GPU. Readers with a GPU can measure their own with benchmarks/train_throughput.py.
ASSUMED_GPU_TFLOPS = 25.0
# Measured while writing the chapter (not at build time): one SGD step of the same ResNet-18, batch
# 128, on the book's 2-core x86 CPU with 1 torch thread, as process CPU time: 32x32 and 64x64 images.
MEASURED_CPU_STEP_S = {32: 1.4, 64: 6.1}
SAM_PASSES = 2   # SAM computes two forward-backward passes per step


def _setting(dataset: str) -> PaperSetting:
    if dataset not in PAPER_SETTINGS:
        raise ValueError(f"unknown paper dataset {dataset!r}; allowed: {', '.join(PAPER_SETTINGS)}")
    return PAPER_SETTINGS[dataset]


def _optimizer(optimizer: str) -> tuple:
    if optimizer not in OPTIMIZER_OVERRIDES:
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: {', '.join(OPTIMIZER_OVERRIDES)}")
    return OPTIMIZER_OVERRIDES[optimizer]


def slug(dataset: str, optimizer: str) -> str:
    """Folder name of one Table-1 cell group, e.g. ``cifar10_sgd``."""
    _optimizer(optimizer)
    return f"{_setting(dataset).dataset}_{optimizer.lower()}"


def paper_command(dataset: str, optimizer: str = "SGD", *, methods=PAPER_METHODS, seeds: int | None = None,
                  workers: int = 1, results_root: str = "results/paper",
                  checkpoint_root: str = "checkpoints/paper") -> list[str]:
    """The CLI arguments (after ``python -m plasticity_sim``) of one Table-1 cell group: every method
    and seed of ``dataset`` with ``optimizer``, checkpointed after each experiment and resumable
    (re-running the same command continues where it stopped and skips finished runs).

    ``seeds`` defaults to the paper's count for the dataset; seeds are 0..seeds-1.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    s, extra = _setting(dataset), _optimizer(optimizer)
    n = s.seeds if seeds is None else seeds
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"seeds={seeds!r} must be a positive int")
    methods = list(methods)
    bad = [m for m in methods if m not in trainable()]
    if bad or not methods:
        raise ValueError(f"unknown method(s) {bad}; allowed: {', '.join(trainable())}")
    name = slug(dataset, optimizer)
    argv = ["sweep", "chunked", "--preset", "paper", "--methods", ",".join(methods),
            "--seeds", ",".join(str(i) for i in range(n)), "--workers", str(workers),
            "--out-dir", f"{results_root}/{name}", "--checkpoint-dir", f"{checkpoint_root}/{name}",
            "--resume"]
    for assignment in (*s.overrides, *extra):
        argv += ["--set", assignment]
    return argv


def format_command(argv: list[str], width: int | None = None) -> str:
    """``argv`` as a shell command line (``python -m plasticity_sim ...``), quoted where needed.

    With ``width``, the line is broken with shell continuations (`` \\``) into lines of at most
    ``width`` characters where possible (a single option longer than that stays whole): an option
    stays on one line with its value, and the ``--set`` overrides, which tell the commands apart,
    start a line of their own.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    words = [shlex.quote(w) for w in ["python", "-m", "plasticity_sim", *argv]]
    if width is None:
        return " ".join(words)
    groups = []
    for w in words:     # an option and its value form one group
        if groups and groups[-1].startswith("--") and " " not in groups[-1] and not w.startswith("--"):
            groups[-1] += " " + w
        else:
            groups.append(w)
    lines, cur, seen_set = [], "", False
    for g in groups:
        first_set = g.startswith("--set ") and not seen_set
        seen_set |= g.startswith("--set ")
        if cur and (first_set or len(cur) + 1 + len(g) > width - 2):
            lines.append(cur)
            cur = "  " + g
        else:
            cur = f"{cur} {g}" if cur else g
    return " \\\n".join(lines + [cur])


def check_command(argv: list[str]) -> list:
    """Parse ``argv`` with the CLI's own parser and build (and validate) the config of every job it
    would run, without running, loading or downloading anything. Raises ``ValueError`` for anything
    the CLI would reject.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    from plasticity_sim import cli, sweep

    try:
        args = cli.build_parser().parse_args(list(argv))  # the parser the CLI itself uses
    except SystemExit:
        raise ValueError(f"the CLI rejects the arguments {argv!r}") from None
    if args.command == "sweep":
        entry = protocols.get(args.protocol)
        jobs = sweep.make_jobs(args.protocol, args.preset, cli.parse_csv(args.methods or ""), cli.parse_seeds(args.seeds),
                               args.overrides, out_dir=args.out_dir)
        return [runs.config_from_dict(entry.config, job["config"]) for job in jobs]
    if args.command == "run":
        return [cli.run_config_of(args)]
    raise ValueError(f"check_command handles 'run' and 'sweep', not {args.command!r}")


# ---------------------------------------------------------------------------------------------
# Cost
def resnet18_step_flops(image_size: int, num_classes: int, batch_size: int = 128) -> float:
    """FLOPs of one training step (forward + backward of the cross-entropy loss) of the official
    ResNet-18 at ``batch_size``, counted by ``torch.utils.flop_counter`` on a batch of 2 and scaled
    (every counted operation is linear in the batch size).

    Explained in: book/dash/05_paper_scale.ipynb
    """
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from plasticity_sim.models import build_model

    model = build_model("resnet18", (3, image_size, image_size), num_classes, seed=0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, image_size, image_size, generator=g)
    y = torch.randint(0, num_classes, (2,), generator=g)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() * batch_size / 2


def estimate_cost(dataset: str, optimizer: str, method: str, *, flops_per_step: float,
                  tflops: float = ASSUMED_GPU_TFLOPS, num_experiments: int = 50,
                  batch_size: int = 128) -> dict:
    """Estimated GPU hours of one seed of one method: the published average steps per experiment
    (Table 1) x ``num_experiments`` steps, each ``flops_per_step`` (x2 passes for SAM), plus DASH's
    gradient pass over all data seen so far before experiments 2..J and one test-set forward pass per
    experiment (a forward pass is taken as a third of forward + backward), at ``tflops`` effective.

    Returns steps, step-equivalents of the extra passes, and hours. An estimate, not a measurement.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    from plasticity_sim.published import table1

    s = _setting(dataset)
    _optimizer(optimizer)
    rows = {r["short"]: r for r in table1(dataset, optimizer)}
    if method not in rows:
        raise ValueError(f"no published steps for method {method!r}; allowed: {', '.join(rows)}")
    if not tflops > 0 or not flops_per_step > 0:
        raise ValueError(f"tflops={tflops} and flops_per_step={flops_per_step} must be > 0")
    steps = rows[method]["steps_avg"] * num_experiments
    chunk = s.num_train // num_experiments
    dash_images = sum(j * chunk for j in range(2, num_experiments + 1)) if method == "dash" else 0
    extra = dash_images / batch_size + num_experiments * s.num_test / batch_size / 3
    passes = SAM_PASSES if optimizer == "SAM" else 1
    seconds = (steps * passes + extra) * flops_per_step / (tflops * 1e12)
    return {"steps": steps, "extra_step_equivalents": extra, "hours": seconds / 3600}


# ---------------------------------------------------------------------------------------------
# Results table
_CPU_LABELS = {"mnist1d": "MNIST-1D", "digits": "digits", "feature_noise": "feature/noise"}


def _label_of(dataset: str) -> str:
    for s in PAPER_SETTINGS.values():
        if s.dataset == dataset:
            return s.label
    return _CPU_LABELS.get(dataset, dataset)


def results_groups(root: str | Path) -> dict[tuple, list[dict]]:
    """Results files under ``root`` (recursively), validated and grouped by (dataset label, optimizer
    label), e.g. ``("CIFAR-10", "SGD")``. A missing ``root`` gives no groups.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    root = Path(root)
    groups: dict[tuple, list] = {}
    for f in sorted(root.rglob("*.json")) if root.is_dir() else []:
        r = protocols.load_results(f)
        groups.setdefault((_label_of(r["config"]["dataset"]), r["config"]["optimizer"].upper()), []).append(r)
    return groups


def results_rows(root: str | Path, *, expected=None, methods=PAPER_METHODS) -> list[dict]:
    """Rows of the reproduction table from the results files under ``root`` (searched recursively).

    Files are grouped by (dataset, optimizer) and summarised over seeds with
    :func:`plasticity_sim.dash.report.summarize_results`. ``expected`` lists (paper dataset label,
    optimizer label) pairs that must appear (e.g. the 8 cells of Table 1); a missing one, or a method
    with no file, gives a row with ``status="not run yet"`` and no numbers. A missing ``root`` means
    nothing has been run. Each row: setting, optimizer, method, status, seeds, acc_last/acc_avg (%),
    steps_last/steps_avg, each with ``_std`` (sample std over seeds, ``stats.mean_std``).

    Explained in: book/dash/05_paper_scale.ipynb
    """
    from plasticity_sim.dash import report

    groups = results_groups(root)
    keys = list(expected or [])
    for key in expected or []:
        _setting(key[0])
        _optimizer(key[1])
    keys += [k for k in sorted(groups) if k not in keys]
    rows = []
    for setting, opt in keys:
        summary = report.summarize_results(groups[(setting, opt)]) if (setting, opt) in groups else None
        for m in methods:
            row = {"setting": setting, "optimizer": opt, "method": m}
            if summary is None or m not in summary.methods:
                rows.append(dict(row, status="not run yet", seeds=0))
                continue
            pub = summary.as_published()[m]
            rows.append(dict(row, status="done", seeds=len(summary.seeds(m)), **pub))
    return rows


def _published(setting: str, optimizer: str, method: str) -> dict | None:
    from plasticity_sim.published import table1

    if setting not in PAPER_SETTINGS or optimizer not in OPTIMIZER_OVERRIDES:
        return None
    return next(r for r in table1(setting, optimizer) if r["short"] == method)


def format_rows(rows: list[dict], *, published: bool = True) -> str:
    """The rows of :func:`results_rows` as text: accuracy % and steps, mean (std) over seeds; with
    ``published``, the paper's accuracy and average steps for the same cell (blank where the setting
    is not one of Table 1's).

    The book shows the same table with :func:`rows_display`.
    """
    from plasticity_sim.dash.report import format_table1

    return format_table1(_shown(rows, published), lead=_ROWS_LEAD, width=15,
                         extra=_ROWS_EXTRA if published else ())


def rows_display(rows: list[dict], *, published: bool = True):
    """The table of :func:`format_rows` as a :class:`~plasticity_sim.tables.Table`, which the book
    shows as an HTML table that fits its column: the same cells, except that a setting or optimizer
    shared by every row moves into the caption, and a paper column blank in every row (a setting that
    is not one of Table 1's) is left out.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    from plasticity_sim.dash.report import table1_display

    shown = _shown(rows, published)
    shared = [k for k, _, _ in _ROWS_LEAD[:2] if shown and len({r[k] for r in shown}) == 1]
    lead = tuple(c for c in _ROWS_LEAD if c[0] not in shared)
    extra = tuple((k, h.replace("paper ", "paper\n"), a, f) for k, h, a, f in _ROWS_EXTRA
                  if published and any(r[k] is not None for r in shown))
    caption = ", ".join(f"{'optimizer' if k == 'optimizer' else k} {shown[0][k]}" for k in shared)
    return table1_display(shown, lead=lead, extra=extra, caption=caption)


_ROWS_LEAD = (("setting", "setting", "<15"), ("optimizer", "opt.", "<6"), ("method", "method", "<15"),
              ("seeds", "seeds", ">6"))
_ROWS_EXTRA = (("paper_acc_last", "paper acc last", ">16", ".2f"), ("paper_steps_avg", "paper steps avg", ">16", ".0f"))


def _shown(rows: list[dict], published: bool) -> list[dict]:
    """``rows`` with the method's display label and, with ``published``, the paper's two numbers."""
    from plasticity_sim.dash.report import label

    shown = []
    for r in rows:
        pub = _published(r["setting"], r["optimizer"], r["method"]) if published else None
        shown.append(dict(r, method=label(r["method"]), paper_acc_last=pub["acc_last"] if pub else None,
                          paper_steps_avg=pub["steps_avg"] if pub else None))
    return shown
