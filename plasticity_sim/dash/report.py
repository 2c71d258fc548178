"""Reports on chunked-protocol results: Table-1 summaries over seeds, the one Table-1 formatter, provenance.

A *result* is the dict of one run (one method, one seed) as written by the CLI
(``python -m plasticity_sim run|sweep chunked ...``) and read by :func:`plasticity_sim.protocols.load_results`,
or as returned by :func:`plasticity_sim.protocols.run_config` for a live run in a chapter. This module turns
a set of them into what the DASH paper reports: test accuracy and steps per experiment (its Fig. 1)
and the Table-1 columns with mean and std over seeds, plus each seed's paired difference from cold.
:func:`format_table1` prints every Table-1 text of the package (this summary, the paper-scale page,
the CLI's sweep summary). Fig. 1 and the other pictures are in :mod:`plasticity_sim.dash.figures`.

Standard deviations are sample std over seeds (``ddof=1``, :func:`plasticity_sim.stats.mean_std`),
the one convention of every table and figure of the book, so a table's std, its error bars and its
paired t intervals describe the same spread. (The published Table 1's std values look like population
std: with 5 seeds ours are sqrt(5/4) = 1.12 times larger for the same spread.)

No torch import: chapters summarise results files without loading the training stack.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plasticity_sim import protocols
from plasticity_sim.methods import METHODS, trainable
from plasticity_sim.protocols.specs import ChunkedConfig
from plasticity_sim.runs import config_defaults
from plasticity_sim.stats import mean_std, pair_by_seed
from plasticity_sim.tables import Table

# Table-1 columns of a run's ``summary`` (accuracies are fractions; printed as %).
COLUMNS = ("test_acc_last", "test_acc_avg", "steps_last", "steps_avg", "total_steps")
_ACC = ("test_acc_last", "test_acc_avg")
# The published table's keys of the first four (``acc_last`` ... ``steps_avg``, accuracy in %).
_PUBLISHED_KEYS = (("test_acc_last", "acc_last"), ("test_acc_avg", "acc_avg"),
                   ("steps_last", "steps_last"), ("steps_avg", "steps_avg"))
# Fields that may differ between runs that belong in one table (the rest must match).
_PER_RUN_FIELDS = ("method", "method_params", "seed", "progress", "device")


def load_all(sources) -> list[dict]:
    """Results from ``sources``: a directory (every ``*.json`` in it), a path, a results dict, or a
    list of those. Files are read and validated with :func:`plasticity_sim.protocols.load_results`.

    A missing path raises ``FileNotFoundError``; a directory without results files too.
    """
    if isinstance(sources, (str, Path, dict)):
        sources = [sources]
    named = []
    for i, src in enumerate(sources):
        if isinstance(src, dict):
            named.append((f"results {i}", src))
            continue
        path = Path(src)
        if path.is_dir():
            files = sorted(path.glob("*.json"))
            if not files:
                raise FileNotFoundError(f"no results files (*.json) in directory {str(path)!r}")
            named.extend(zip(map(str, files), protocols.load_together(files)))
        else:
            named.append((str(path), protocols.load_results(path)))  # FileNotFoundError names a missing file
    if not named:
        raise ValueError("no results given")
    # The Table-1 summaries read chunked runs only; mixtures are refused with the file named.
    protocols.check_together(named, protocol="chunked")
    return [data for _, data in named]


def _method_order(names) -> list[str]:
    # The CLI's METHODS order (cold, warm, ..., sp, ..., dash) is the paper's table order.
    return sorted(names, key=lambda m: list(METHODS).index(m))


def check_methods(methods) -> list[str]:
    """``methods`` as a list, or a ``ValueError`` naming those outside the method table."""
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; allowed: {', '.join(trainable())}")
    return methods


@dataclass(frozen=True)
class ResultsSummary:
    """Table-1 summary of several runs that differ only in method and seed.

    ``per_seed[method][seed]`` is that run's ``summary`` dict; ``config`` the config they share
    (method and seed removed); ``runs`` the results themselves, keyed by ``(method, seed)``.
    """

    methods: tuple
    per_seed: dict
    config: dict
    runs: dict

    def seeds(self, method: str) -> list[int]:
        """Seeds available for ``method``, sorted."""
        return sorted(self._runs_of(method))

    def _runs_of(self, method: str) -> dict:
        check_methods([method])
        if method not in self.per_seed:
            raise ValueError(f"no results for method {method!r}; found: {', '.join(self.methods)}")
        return self.per_seed[method]

    def mean_std(self, method: str, key: str, scale: float = 1.0) -> tuple[float, float]:
        """Mean and sample std over seeds (:func:`plasticity_sim.stats.mean_std`) of Table-1 column
        ``key`` (see ``COLUMNS``), each value times ``scale`` (100 for accuracies in %)."""
        if key not in COLUMNS:
            raise ValueError(f"unknown column {key!r}; allowed: {', '.join(COLUMNS)}")
        return mean_std([scale * s[key] for s in self._runs_of(method).values()])

    def differences(self, method: str, baseline: str = "cold", key: str = "test_acc_last") -> dict:
        """``{seed: value(method) - value(baseline)}`` (paired by seed: same initial model, chunks and
        batch order). Accuracies are returned in percentage points. Both methods must hold the same
        seeds: ValueError naming the missing ones otherwise (:func:`plasticity_sim.stats.pair_by_seed`)."""
        a, b = self._runs_of(method), self._runs_of(baseline)
        if key not in COLUMNS:
            raise ValueError(f"unknown column {key!r}; allowed: {', '.join(COLUMNS)}")
        scale = 100.0 if key in _ACC else 1.0
        # scaled before subtracting, as the table's means are
        return {s: scale * a[s][key] - scale * b[s][key] for s in pair_by_seed(a, b, (method, baseline))}

    def as_published(self) -> dict:
        """Our numbers in the published table's units and keys (accuracy in %), for
        ``plasticity_sim.published.plot_table1(..., ours=...)``."""
        out = {}
        for m in self.methods:
            row = {}
            for key, pub in _PUBLISHED_KEYS:
                row[pub], row[pub + "_std"] = self.mean_std(m, key, 100.0 if key in _ACC else 1.0)
            out[m] = row
        return out

    def format(self) -> str:
        """The Table-1 layout as text: accuracy % and steps, last experiment and average over
        experiments, mean (std) over seeds; one line per method (:func:`format_table1`'s default layout)."""
        pub = self.as_published()
        return format_table1([{"method": label(m), "seeds": len(self.per_seed[m]), **pub[m]} for m in self.methods])


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
    defaults = config_defaults(ChunkedConfig)     # a field added later means its default, as before
    for r in results:
        config = {**defaults, **r["config"]}
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
        methods = check_methods(methods)
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
        mean, std = mean_std(vals)
        digits = 2 if key in _ACC else 0
        per = "  ".join(f"seed {s}: {v:+.{digits}f}" for s, v in d.items())
        lines.append(f"{label(m)} - {label(baseline)} ({unit}): {per}  | "
                     f"{_mean_std_cell('mean {:+.%df} ({:.%df})' % (digits, digits), mean, std)}, "
                     f"below {label(baseline)} on {int((vals < 0).sum())} of {len(vals)}")
    return "\n".join(lines)


def label(method: str) -> str:
    """Display label of a method name (``sp`` -> ``S&P``, ``dash_row`` -> ``DASH (row)``), from the
    one method table.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    check_methods([method])
    return METHODS[method].label


# ---------------------------------------------------------------------------------------------
# The one Table-1 formatter
# The four Table-1 cells of a row: key of the mean (``key + "_std"`` holds the std) and heading.
TABLE1_CELLS = (("acc_last", "acc last %"), ("acc_avg", "acc avg %"), ("steps_last", "steps last"),
                ("steps_avg", "steps avg"))
# Leading columns of the default layout: (row key, heading, alignment and width).
METHOD_LEAD = (("method", "method", "<15"), ("seeds", "seeds", ">6"))


def _mean_std_cell(fmt: str, mean: float, std: float) -> str:
    """``fmt`` ("{mean} ({std})" style) filled in; a std that does not exist (one seed: nan) shows as
    ``(-)``, not as a misleading 0 or a "nan"."""
    if math.isnan(std):
        return fmt.split(" (")[0].format(mean) + " (-)"
    return fmt.format(mean, std)


def format_table1(rows, *, lead=METHOD_LEAD, width: int = 16, sep: str = "",
                  acc_format: str = "{:.2f} ({:.2f})", steps_format: str = "{:.0f} ({:.0f})",
                  extra=()) -> str:
    """Table-1 rows as text: a heading line, then one line per row, trailing spaces stripped.

    Each row is a dict with the ``lead`` keys and the four Table-1 columns as mean and std in the
    published table's keys and units (``acc_last``, ``acc_last_std``, ..., ``steps_avg_std``;
    accuracy in %), as :meth:`ResultsSummary.as_published`, :func:`method_rows` and
    :func:`plasticity_sim.dash.paper_scale.results_rows` give them. A row whose ``status`` is not
    ``"done"`` shows the status in place of the four cells.

    ``lead``: (row key, heading, alignment+width such as ``"<10"``) of the columns before the cells.
    ``width``: each cell's width (right-aligned); ``sep``: the text between any two columns.
    ``acc_format`` / ``steps_format``: how mean and std fill an accuracy / a steps cell (a std of
    one seed, nan, shows as ``(-)``).
    ``extra``: (row key, heading, alignment+width, value format such as ``".2f"``) of columns after
    the cells, blank where a row has no value (``None`` or missing).
    """
    head = ([format(h, align) for _, h, align in lead] + [format(h, f">{width}") for _, h in TABLE1_CELLS]
            + [format(h, align) for _, h, align, _ in extra])
    lines = [sep.join(head).rstrip()]
    for r in rows:
        cols = [format(r[k], align) for k, _, align in lead]
        if r.get("status", "done") != "done":
            cols += [format(r["status"], f">{width}")] + [" " * width] * (len(TABLE1_CELLS) - 1)
        else:
            cols += [format(_mean_std_cell(acc_format if k.startswith("acc") else steps_format, r[k], r[k + "_std"]),
                            f">{width}") for k, _ in TABLE1_CELLS]
        cols += [format("" if r.get(k) is None else format(r[k], fmt), align) for k, _, align, fmt in extra]
        lines.append(sep.join(cols).rstrip())
    return "\n".join(lines)


def table1_display(rows, *, lead=METHOD_LEAD, acc_format: str = "{:.2f} ({:.2f})",
                   steps_format: str = "{:.0f} ({:.0f})", extra=(), caption: str = "") -> Table:
    """The rows of :func:`format_table1` (same arguments; alignments and widths are not used) as a
    :class:`~plasticity_sim.tables.Table`, which the book shows as an HTML table that fits its column
    (:func:`plasticity_sim.dash.paper_scale.rows_display` is the one the book calls).
    """
    header = [h for _, h, _ in lead] + [h for _, h in TABLE1_CELLS] + [h for _, h, _, _ in extra]
    align = "".join("l" if a.startswith("<") else "r" for _, _, a in lead) + "r" * len(TABLE1_CELLS) + "".join(
        "l" if a.startswith("<") else "r" for _, _, a, _ in extra)
    cells = []
    for r in rows:
        cols = [r[k] for k, _, _ in lead]
        if r.get("status", "done") != "done":
            cols += [r["status"]] + [""] * (len(TABLE1_CELLS) - 1)
        else:
            cols += [_mean_std_cell(acc_format if k.startswith("acc") else steps_format, r[k], r[k + "_std"])
                     for k, _ in TABLE1_CELLS]
        cols += ["" if r.get(k) is None else format(r[k], fmt) for k, _, _, fmt in extra]
        cells.append(cols)
    return Table(header, cells, align=align, caption=caption)


def method_rows(results) -> list[dict]:
    """One :func:`format_table1` row per method of ``results`` (result dicts, methods in the order
    they first appear; unlike :func:`summarize_results`, configs are not compared): ``method`` (the CLI
    name), ``seeds`` (number of runs), and mean and sample std over the runs of the four Table-1
    columns (:func:`plasticity_sim.stats.mean_std`; accuracy in %, scaled before averaging)."""
    by_method: dict[str, list[dict]] = {}
    for r in results:
        by_method.setdefault(r["method"]["name"], []).append(r["summary"])
    rows = []
    for method, summaries in by_method.items():
        row = {"method": method, "seeds": len(summaries)}
        for key, pub in _PUBLISHED_KEYS:
            row[pub], row[pub + "_std"] = mean_std(np.array([s[key] for s in summaries], dtype=float)
                                                   * (100 if key in _ACC else 1))
        rows.append(row)
    return rows


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
    for (method, seed), r in sorted(summary.runs.items(), key=lambda kv: (list(METHODS).index(kv[0][0]), kv[0][1])):
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
    width = max(len(c) + 1 for c, _ in cols)
    first = max(len("method"), *(len(label(m)) for m in methods)) + 1   # the longest label sets it
    out = []
    for key, what, fmt in (("acc_last", "test acc. at the last experiment minus cold (pts)", "{:+.2f}"),
                           ("steps_avg", "steps per experiment (average) / cold", "{:.2f}x")):
        out.append(what)
        out.append(f"{'method':<{first}}" + "".join(f"{c:>{width}}" for c, _ in cols))
        for m in methods:
            cells = [fmt.format(rel[m][key]) if m in rel else "-" for _, rel in cols]
            out.append(f"{label(m):<{first}}" + "".join(f"{c:>{width}}" for c in cells))
        out.append("")
    return "\n".join(out).rstrip()
