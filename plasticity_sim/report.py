"""Reports on chunked-protocol results: Table-1 summaries over seeds, Fig.-1 curves, provenance boxes.

A *result* is the dict of one run (one method, one seed) as written by the CLI
(``python -m plasticity_sim run|sweep chunked ...``) and read by :func:`plasticity_sim.runs.load_results`,
or as returned by :func:`plasticity_sim.runs.run_config` for a live run in a chapter. This module turns
a set of them into what the DASH paper reports: test accuracy and steps per experiment (its Fig. 1)
and the Table-1 columns with mean and std over seeds, plus each seed's paired difference from cold.

Standard deviations are population std over seeds (``ddof=0``): the published Table 1's std values
fit that convention (papers.md §C.3), so ours are printed the same way.

No torch import: chapters summarise results files without loading the training stack.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plasticity_sim import runs

# Table-1 columns of a run's ``summary`` (accuracies are fractions; printed as %).
COLUMNS = ("test_acc_last", "test_acc_avg", "steps_last", "steps_avg", "total_steps")
_ACC = ("test_acc_last", "test_acc_avg")
# Fields that may differ between runs that belong in one table (the rest must match).
_PER_RUN_FIELDS = ("method", "method_params", "seed", "progress", "device")


def load_all(sources) -> list[dict]:
    """Results from ``sources``: a directory (every ``*.json`` in it), a path, a results dict, or a
    list of those. Files are read and validated with :func:`plasticity_sim.runs.load_results`.

    A missing path raises ``FileNotFoundError``; a directory without results files too.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    if isinstance(sources, (str, Path, dict)):
        sources = [sources]
    out = []
    for src in sources:
        if isinstance(src, dict):
            out.append(src)
            continue
        path = Path(src)
        if path.is_dir():
            files = sorted(path.glob("*.json"))
            if not files:
                raise FileNotFoundError(f"no results files (*.json) in directory {str(path)!r}")
            out.extend(runs.load_results(f) for f in files)
        else:
            out.append(runs.load_results(path))  # FileNotFoundError names a missing file
    if not out:
        raise ValueError("no results given")
    return out


def _method_order(names) -> list[str]:
    # The CLI's METHODS order (cold, warm, ..., sp, ..., dash) is the paper's table order.
    return sorted(names, key=lambda m: list(runs.METHODS).index(m))


def _check_methods(methods) -> list[str]:
    methods = list(methods)
    unknown = [m for m in methods if m not in runs.METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; allowed: {', '.join(runs.METHODS)}")
    return methods


@dataclass(frozen=True)
class ResultsSummary:
    """Table-1 summary of several runs that differ only in method and seed.

    ``per_seed[method][seed]`` is that run's ``summary`` dict; ``config`` the config they share
    (method and seed removed); ``runs`` the results themselves, keyed by ``(method, seed)``.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """

    methods: tuple
    per_seed: dict
    config: dict
    runs: dict

    def seeds(self, method: str) -> list[int]:
        """Seeds available for ``method``, sorted."""
        return sorted(self._runs_of(method))

    def _runs_of(self, method: str) -> dict:
        _check_methods([method])
        if method not in self.per_seed:
            raise ValueError(f"no results for method {method!r}; found: {', '.join(self.methods)}")
        return self.per_seed[method]

    def mean_std(self, method: str, key: str) -> tuple[float, float]:
        """Mean and population std over seeds of Table-1 column ``key`` (see ``COLUMNS``)."""
        if key not in COLUMNS:
            raise ValueError(f"unknown column {key!r}; allowed: {', '.join(COLUMNS)}")
        values = np.array([s[key] for s in self._runs_of(method).values()], dtype=float)
        return float(values.mean()), float(values.std())

    def differences(self, method: str, baseline: str = "cold", key: str = "test_acc_last") -> dict:
        """``{seed: value(method) - value(baseline)}`` over the seeds both have (paired by seed: same
        initial model, chunks and batch order). Accuracies are returned in percentage points.
        Raises ValueError if the two share no seed."""
        a, b = self._runs_of(method), self._runs_of(baseline)
        if key not in COLUMNS:
            raise ValueError(f"unknown column {key!r}; allowed: {', '.join(COLUMNS)}")
        common = sorted(set(a) & set(b))
        if not common:
            raise ValueError(f"methods {method!r} and {baseline!r} share no seed "
                             f"({sorted(a)} vs {sorted(b)})")
        scale = 100.0 if key in _ACC else 1.0
        return {s: scale * (a[s][key] - b[s][key]) for s in common}

    def as_published(self) -> dict:
        """Our numbers in the published table's units and keys (accuracy in %), for
        ``plasticity_sim.published.plot_table1(..., ours=...)``."""
        out = {}
        for m in self.methods:
            row = {}
            for key, pub in (("test_acc_last", "acc_last"), ("test_acc_avg", "acc_avg"),
                             ("steps_last", "steps_last"), ("steps_avg", "steps_avg")):
                mean, std = self.mean_std(m, key)
                scale = 100.0 if key in _ACC else 1.0
                row[pub], row[pub + "_std"] = scale * mean, scale * std
            out[m] = row
        return out

    def format(self) -> str:
        """The Table-1 layout as text: accuracy % and steps, last experiment and average over
        experiments, mean (std) over seeds; one line per method."""
        head = (f"{'method':<10}{'seeds':>6}{'acc last %':>16}{'acc avg %':>16}"
                f"{'steps last':>16}{'steps avg':>16}")
        lines = [head]
        for m in self.methods:
            cells = []
            for key in COLUMNS[:4]:
                mean, std = self.mean_std(m, key)
                if key in _ACC:
                    cells.append(f"{100 * mean:.2f} ({100 * std:.2f})")
                else:
                    cells.append(f"{mean:.0f} ({std:.0f})")
            lines.append(f"{label(m):<10}{len(self.per_seed[m]):>6}" + "".join(f"{c:>16}" for c in cells))
        return "\n".join(lines)


def summarize_results(sources, *, methods=None) -> ResultsSummary:
    """Group results (paths, a directory, or dicts: see :func:`load_all`) by method and seed.

    ``methods`` restricts and orders the methods (default: every method found, in the CLI's order).
    Raises ``ValueError`` for an unknown method, a requested method with no results, two results for
    the same (method, seed), or runs whose configs differ in anything but method and seed (they would
    not belong in one table); ``FileNotFoundError`` for a missing file.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    results = load_all(sources)
    shared, by_key = None, {}
    for r in results:
        config = dict(r["config"])
        method, seed = r["method"]["name"], int(config["seed"])
        common = {k: v for k, v in config.items() if k not in _PER_RUN_FIELDS}
        if shared is None:
            shared = common
        elif common != shared:
            diff = sorted(k for k in set(common) | set(shared) if common.get(k) != shared.get(k))
            raise ValueError(f"results differ in config field(s) {diff} (not only method and seed); "
                             "summarise them separately")
        if (method, seed) in by_key:
            raise ValueError(f"two results for method {method!r} seed {seed}")
        by_key[(method, seed)] = r
    found = _method_order({m for m, _ in by_key})
    if methods is None:
        methods = found
    else:
        methods = _check_methods(methods)
        missing = [m for m in methods if m not in found]
        if missing:
            raise ValueError(f"no results for method(s) {missing}; found: {', '.join(found)}")
    per_seed = {m: {s: by_key[(m, s)]["summary"] for (mm, s) in sorted(by_key) if mm == m} for m in methods}
    kept = {k: v for k, v in by_key.items() if k[0] in methods}
    return ResultsSummary(methods=tuple(methods), per_seed=per_seed, config=shared, runs=kept)


def format_differences(summary: ResultsSummary, methods=None, baseline: str = "cold",
                       key: str = "test_acc_last") -> str:
    """Per-seed paired differences from ``baseline`` as text, one line per method, ending with the
    mean (std) over seeds and how many seeds are worse than the baseline.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    methods = [m for m in (methods or summary.methods) if m != baseline]
    unit = "pts" if key in _ACC else "steps"
    lines = []
    for m in methods:
        d = summary.differences(m, baseline, key)
        vals = np.array(list(d.values()))
        digits = 2 if key in _ACC else 0
        per = "  ".join(f"seed {s}: {v:+.{digits}f}" for s, v in d.items())
        lines.append(f"{label(m)} - {label(baseline)} ({unit}): {per}  | mean {vals.mean():+.{digits}f} "
                     f"({vals.std():.{digits}f}), below {label(baseline)} on {int((vals < 0).sum())} of {len(vals)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Names and colours
def plot_key(method: str) -> str:
    """The plotting-colour key of a CLI method name (``sp`` -> ``shrink_perturb``, ``dash_row`` -> ``dash``).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    _check_methods([method])
    return runs.METHODS[method][0]


def label(method: str) -> str:
    """Display label of a CLI method name (``sp`` -> ``S&P``), as in the book's figures.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    from plasticity_sim.plotting import method_label

    return method_label(plot_key(method)) + (" (row)" if method == "dash_row" else "")


# ---------------------------------------------------------------------------------------------
# Figures
def experiment_curves(sources, method: str, key: str = "test_acc") -> dict[int, np.ndarray]:
    """``{seed: values per experiment}`` of record field ``key`` (``test_acc``, ``steps``, ...) for one
    method. Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    summary = sources if isinstance(sources, ResultsSummary) else summarize_results(sources)
    return {s: np.array([e[key] for e in summary.runs[(method, s)]["experiments"]], dtype=float)
            for s in summary.seeds(method)}


def plot_experiment_curves(sources, *, methods=None, seed=None, fig=None, title=None):
    """The DASH paper's Fig. 1 layout: test accuracy (left) and optimizer steps (right) per experiment.

    ``sources``: results (see :func:`load_all`) or a :class:`ResultsSummary`. With several seeds per
    method, lines are means over seeds and the band spans the lowest to the highest seed (steps are on a
    log scale, where a ± std band would go negative); ``seed=`` draws that seed only. Returns a
    matplotlib Figure (off pyplot; show it with ``plasticity_sim.plotting.show``).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    from plasticity_sim.plotting import method_color, new_figure

    summary = sources if isinstance(sources, ResultsSummary) else summarize_results(sources)
    methods = _check_methods(methods) if methods is not None else list(summary.methods)
    if fig is None:
        fig, axes = new_figure(2, figsize=(8.0, 3.2))
    else:
        axes = fig.subplots(1, 2)
    for m in methods:
        acc, steps = experiment_curves(summary, m, "test_acc"), experiment_curves(summary, m, "steps")
        seeds = [seed] if seed is not None else sorted(acc)
        if seed is not None and seed not in acc:
            raise ValueError(f"no results for method {m!r} seed {seed}; seeds: {sorted(acc)}")
        for ax, curves, scale in ((axes[0], acc, 100.0), (axes[1], steps, 1.0)):
            data = np.stack([curves[s] for s in seeds]) * scale
            x = np.arange(1, data.shape[1] + 1)
            color = method_color(plot_key(m))
            ax.plot(x, data.mean(0), label=label(m), color=color)
            if len(seeds) > 1:  # lowest to highest seed: stays positive on the log-scale steps axis
                ax.fill_between(x, data.min(0), data.max(0), color=color, alpha=0.2, linewidth=0)
    n_seeds = len(summary.seeds(methods[0]))
    which = f"seed {seed}" if seed is not None else (
        "seed " + str(summary.seeds(methods[0])[0]) if n_seeds == 1 else f"mean over {n_seeds} seeds, band = range")
    axes[0].set(xlabel="experiment (chunks seen)", ylabel="test accuracy (%)", title="test accuracy")
    axes[1].set(xlabel="experiment (chunks seen)", ylabel="optimizer steps (log scale)",
                title="steps to reach the target", yscale="log")
    axes[0].legend(loc="lower right")
    fig.suptitle(title or f"{summary.config.get('dataset')}, {summary.config.get('model')}: {which}", fontsize=10)
    return fig


def plot_differences(summaries: dict, *, methods=("warm", "sp", "dash"), baseline: str = "cold",
                     fig=None, title=None):
    """Per-seed paired differences from ``baseline`` in final test accuracy (points), one dot per seed
    and a bar for the mean, for several settings side by side (``{name: ResultsSummary}``).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    from plasticity_sim.plotting import method_color, new_figure

    methods = _check_methods(methods)
    if fig is None:
        fig, ax = new_figure(1, figsize=(8.0, 3.2))
    else:
        ax = fig.subplots(1, 1)
    width = 0.8 / len(methods)
    for i, summary in enumerate(summaries.values()):
        for k, m in enumerate(methods):
            d = np.array(list(summary.differences(m, baseline).values()))
            x = i + (k - (len(methods) - 1) / 2) * width
            color = method_color(plot_key(m))
            ax.bar(x, d.mean(), width * 0.9, color=color, alpha=0.35, label=label(m) if i == 0 else None)
            ax.plot(np.full(len(d), x), d, "o", color=color, markersize=4)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(summaries)), list(summaries), fontsize=9)
    ax.set_ylabel(f"final test acc. minus {label(baseline)} (pts)")
    ax.set_title(title or "paired by seed: each dot one seed, bars the mean", fontsize=10)
    ax.legend(loc="best")
    return fig


# ---------------------------------------------------------------------------------------------
# Provenance
_PROV_KEYS = ("package_version", "git_commit", "torch_version", "numpy_version", "python_version",
              "device", "device_name", "torch_threads", "platform")


def provenance_html(sources, *, title: str = "Provenance of these results") -> str:
    """A collapsed HTML box (``<details>``) describing where results came from: the shared config,
    then one row per run with method, seed, package version, git commit, torch version, device and
    wall time, and when it was made.

    Deterministic (a function of the files only), so strict nbval can compare the cell's text/html.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    summary = sources if isinstance(sources, ResultsSummary) else summarize_results(sources)
    esc = html.escape
    rows = []
    for (method, seed), r in sorted(summary.runs.items(), key=lambda kv: (list(runs.METHODS).index(kv[0][0]), kv[0][1])):
        p = r["provenance"]
        cells = [label(method), str(seed)] + [str(p.get(k)) for k in _PROV_KEYS[:6]] + \
                [f"{p.get('wall_time_s', float('nan')):.0f} s", str(p.get("created"))]
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    heads = ["method", "seed", "package", "git commit", "torch", "numpy", "python", "device",
             "wall time", "created"]
    first = next(iter(summary.runs.values()))["provenance"]
    total = sum(r["provenance"].get("wall_time_s", 0.0) for r in summary.runs.values())
    config = json.dumps(summary.config, indent=1, sort_keys=True)
    return (
        f"<details><summary><b>{esc(title)}</b> ({len(summary.runs)} runs, "
        f"{total / 60:.1f} min of run time in all)</summary>\n"
        f"<p>Shared config (method and seed vary per run):</p>\n<pre>{esc(config)}</pre>\n"
        f"<p>Machine: {esc(str(first.get('platform')))}, {esc(str(first.get('torch_threads')))} torch "
        f"thread(s) per run.</p>\n"
        "<table>\n<tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>\n" + "\n".join(rows)
        + "\n</table>\n</details>")


# ---------------------------------------------------------------------------------------------
# Beside the published Table 1 (different scales: compare relative to each table's own cold start)
def relative_to_cold(summary: ResultsSummary | None = None, *, dataset: str | None = None,
                     optimizer: str = "SGD") -> dict:
    """``{method: {"acc_last": pts vs cold, "acc_avg": pts vs cold, "steps_avg": ratio to cold}}``.

    From our ``summary`` (means over seeds) or, with ``dataset=``, from the published Table 1
    (``plasticity_sim.published.table1(dataset, optimizer)``). Absolute numbers of an MNIST-1D MLP
    and a CIFAR ResNet-18 are not comparable; differences from each setting's own cold start are.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    if (summary is None) == (dataset is None):
        raise ValueError("pass exactly one of summary= or dataset=")
    if summary is not None:
        rows = summary.as_published()
    else:
        from plasticity_sim.published import table1

        rows = {r["short"]: r for r in table1(dataset, optimizer)}
    if "cold" not in rows:
        raise ValueError(f"relative_to_cold needs cold-start results; found {sorted(rows)}")
    cold = rows["cold"]
    return {m: {"acc_last": r["acc_last"] - cold["acc_last"], "acc_avg": r["acc_avg"] - cold["acc_avg"],
                "steps_avg": r["steps_avg"] / cold["steps_avg"] if cold["steps_avg"] else math.nan}
            for m, r in rows.items()}


def format_beside_published(summary: ResultsSummary, *, optimizer: str = "SGD",
                            datasets=("CIFAR-10", "CIFAR-100", "SVHN", "Tiny-ImageNet"),
                            ours_name: str = "ours") -> str:
    """Text table: for each method, accuracy at the last experiment minus cold (pts) and average
    steps as a multiple of cold, for our runs and each published Table-1 dataset.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    cols = [(ours_name, relative_to_cold(summary))] + \
           [(d, relative_to_cold(dataset=d, optimizer=optimizer)) for d in datasets]
    methods = [m for m in summary.methods if m != "cold"]
    width = max(14, *(len(c) + 2 for c, _ in cols))
    out = []
    for key, what, fmt in (("acc_last", "test acc. at the last experiment minus cold (pts)", "{:+.2f}"),
                           ("steps_avg", "steps per experiment (average) / cold", "{:.2f}x")):
        out.append(what)
        out.append(f"{'method':<10}" + "".join(f"{c:>{width}}" for c, _ in cols))
        for m in methods:
            cells = [fmt.format(rel[m][key]) if m in rel else "-" for _, rel in cols]
            out.append(f"{label(m):<10}" + "".join(f"{c:>{width}}" for c in cells))
        out.append("")
    return "\n".join(out).rstrip()
