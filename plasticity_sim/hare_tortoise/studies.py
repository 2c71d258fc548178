"""Numbers for the Hare & Tortoise part: shipped studies loaded, paired, summarised; small live runs.

The shipped studies (``results/hare_tortoise/<study>/``) are written by one CLI command each
(:data:`STUDIES`); :func:`load_records` reads every results file of a study (with its provenance) and
returns plain records. Claims are paired differences per seed with a 95 % Student-t interval
(:func:`plasticity_sim.stats.paired_ci`, which refuses a seed that one method lacks). The App. C
metrics' Pearson correlations with final test accuracy come from :func:`metric_correlations`.
Torch is imported only by the live helpers.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from plasticity_sim import protocols, runs
from plasticity_sim.stats import SHORT_VERDICTS, holm_verdicts, interval_text, pair_by_seed, paired_ci
from plasticity_sim.diagnostics import HT_METRICS, pearson
from plasticity_sim.protocols.specs.hare_tortoise import HT_SCALED_PARAMS
from plasticity_sim.sweep import Study, Sweep
from plasticity_sim.tables import Table


_NOISY = "noisy_warm_start"
# ReDo as in Lee et al. 2024 App. A.4: every 5 epochs, i.e. 160 steps of phase 2 (5 x 32 batches of
# 256 of its 8,000 clean points), the cadence of the scaled Hare reset. The class default, 1,000
# steps (Dohare et al.'s gntRedo.py), fires only 3 times in the run's 3,200 steps.
_REDO_PARAMS = "method_params=" + json.dumps({**HT_SCALED_PARAMS, "redo": {"every": 160}})
_TABLE7 = ("l2", "augmentation", "spectral", "l2_init_kumar", "redo", "crelu", "dash")
_GROWING = ("cold", "warm", "sp_init", "hare_tortoise")
# The part's shipped studies, run by `python -m plasticity_sim study hare_tortoise/<name>`; each
# lands in results/hare_tortoise/<name>/.
STUDIES = (
    Study("hare_tortoise/grid", "hare_tortoise/grid", (Sweep(_NOISY, "grid", ("warm",)),),
          chapters=("hare_tortoise/01", "hare_tortoise/03"), doc="warm vs fresh over subset ratio x label noise"),
    Study("hare_tortoise/compare", "hare_tortoise/compare",
          (Sweep(_NOISY, "compare", ("cold", "warm", "sp_init", "head_reset", "ema", "self_distill",
                                     "hare_tortoise")),),
          chapters=("hare_tortoise/02", "hare_tortoise/03", "guide/01"),
          doc="H&T and its ablations on the noisy warm start"),
    Study("hare_tortoise/table7", "hare_tortoise/table7",
          (Sweep(_NOISY, "compare", tuple(m for m in _TABLE7 if m != "redo")),
           Sweep(_NOISY, "compare", ("redo",), (_REDO_PARAMS,)),
           # the paper's own cell (Lee et al. 2024 §3.4: 10 % of the data, label noise 0.5), beside ours
           # (the methods the chapter's claims are about; CReLU, spectral decoupling and regenerative L2
           # are left out of this cell to keep the study within the project's 2-core budget)
           Sweep(_NOISY, "compare", ("cold", "warm", "sp_init", "head_reset", "l2", "augmentation", "redo", "dash"),
                 ("ratios=0.1", _REDO_PARAMS), sub="paper_cell")),
          chapters=("hare_tortoise/03", "guide/01"), doc="trainability vs generalisation methods (Table 7's idea), "
                                             "in our cell and in the paper's"),
    Study("hare_tortoise/continual_full", "hare_tortoise/continual_full", (Sweep("growing_data", "small", _GROWING),),
          chapters=("hare_tortoise/02", "guide/01"), doc="growing data, full access to earlier phases"),
    Study("hare_tortoise/continual_buffer", "hare_tortoise/continual_buffer",
          (Sweep("growing_data", "small", _GROWING, ("access=buffer",)),),
          chapters=("hare_tortoise/02",), doc="growing data, a replay buffer of earlier phases"),
)
_BY_NAME = {s.name.split("/", 1)[1]: s for s in STUDIES}


def _study_folder(study: str | Path) -> Path:
    return runs.results_dir(_BY_NAME[study].folder) if isinstance(study, str) and study in _BY_NAME else Path(study)


def _regenerate(study) -> str:
    return f"python -m plasticity_sim study hare_tortoise/{study}" if str(study) in _BY_NAME else \
        "python -m plasticity_sim study (see its listing)"


def load_records(study: str | Path) -> dict:
    """Every results file of a study folder (a name of :data:`STUDIES` or a path): ``records``
    (all files' records; the fresh baseline kept once per seed), ``files`` (count), ``wall_time_s``
    (summed protocol time), ``config`` (the first file's), ``provenance`` (the first file's).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    folder = _study_folder(study)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise ValueError(f"no results files in {str(folder)!r}; regenerate with: {_regenerate(study)}")
    records, seen, wall, first = [], {}, 0.0, None
    for f, data in zip(files, protocols.load_together(files, protocol="noisy_warm_start")):
        first = first or data
        wall += float(data["provenance"].get("wall_time_s") or 0.0)
        for r in data["records"]:
            key = (r["seed"], r["method"], r["ratio"], r["noise"])
            if key in seen:   # the fresh baseline of a seed is in every file of that seed: keep one
                if _numbers(r) != _numbers(seen[key][0]):
                    raise ValueError(f"{f}: record {key} differs from the same record in {seen[key][1]}; "
                                     "the files come from different runs: keep one study per folder")
                continue
            seen[key] = (r, f)
            records.append(r)
    return {"records": records, "files": len(files), "wall_time_s": wall, "config": first["config"],
            "provenance": first["provenance"]}


def _numbers(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "wall_time"}


def _by_seed(records, method, ratio=None, noise=None, key="test_acc") -> dict:
    return {r["seed"]: r[key] for r in records if r["method"] == method
            and (method == "cold" or (r["ratio"] == ratio and r["noise"] == noise))}


def paired_difference(records, method: str, baseline: str, *, ratio=None, noise=None,
                      key: str = "test_acc") -> dict:
    """Paired (per seed) ``method - baseline`` in percentage points of ``key`` at one grid cell
    (``cold``, the fresh network, has no cell): ``ci`` (a :class:`plasticity_sim.stats.PairedCI`),
    ``method``, ``baseline``, ``seeds`` and both means (in %). Both methods must hold the same seeds
    (ValueError naming the missing ones otherwise).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    a, b = _by_seed(records, method, ratio, noise, key), _by_seed(records, baseline, ratio, noise, key)
    seeds = pair_by_seed(a, b, (f"{method} (ratio={ratio}, noise={noise})", baseline))
    ci = paired_ci([100 * (a[s] - b[s]) for s in seeds])
    return {"ci": ci, "method": method, "baseline": baseline, "seeds": seeds,
            "method_mean": 100 * float(np.mean([a[s] for s in seeds])),
            "baseline_mean": 100 * float(np.mean([b[s] for s in seeds]))}


def grid_table(records) -> list[dict]:
    """Per (ratio, noise) of the warm runs: warm test / train accuracy (%), the fresh network's,
    and the paired warm - fresh test difference with its 95 % interval. The cells are one family of
    comparisons: ``p_holm`` is Holm-adjusted over all of them and ``verdict`` is "below", "above" or
    "no measurable difference" (``stats.holm_verdicts``).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    cells = sorted({(r["ratio"], r["noise"]) for r in records if r["method"] == "warm"})
    rows, family = [], {}
    for ratio, noise in cells:
        d = paired_difference(records, "warm", "cold", ratio=ratio, noise=noise)
        family[(ratio, noise)] = d["ci"]
        tr = _by_seed(records, "warm", ratio, noise, "train_acc")
        p1 = _by_seed(records, "warm", ratio, noise, "phase1_train_acc")
        rows.append({"ratio": ratio, "noise": noise, "warm_test": d["method_mean"], "fresh_test": d["baseline_mean"],
                     "diff": d["ci"].mean, "lo": d["ci"].low, "hi": d["ci"].high, "n": d["ci"].n,
                     "warm_train": 100 * float(np.mean(list(tr.values()))),
                     "phase1_fit": 100 * float(np.mean(list(p1.values())))})
    verdicts = holm_verdicts(family)
    for row in rows:
        v = verdicts[(row["ratio"], row["noise"])]
        row.update(p_holm=v["p_holm"], verdict=v["verdict"])
    return rows


def comparison_table(records, methods_order=None, *, ratio=0.5, noise=0.5) -> list[dict]:
    """Per method at one cell: mean test / train accuracy (%), and paired differences (pts, 95 %
    interval) against the warm start and against the fresh network (``cold``). Every method against
    one baseline is one family: ``verdict_vs_warm`` / ``verdict_vs_cold`` are Holm-corrected
    ("above", "below" or "no measurable difference", see :func:`_holm_rows`).

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    names = methods_order or list(dict.fromkeys(r["method"] for r in records))
    rows = []
    for m in names:
        test = _by_seed(records, m, ratio, noise)
        train = _by_seed(records, m, ratio, noise, "train_acc")
        row = {"method": m, "test": 100 * float(np.mean(list(test.values()))),
               "train": 100 * float(np.mean(list(train.values()))), "n": len(test)}
        for base in ("warm", "cold"):
            if m != base:
                row[f"ci_vs_{base}"] = ci = paired_difference(records, m, base, ratio=ratio, noise=noise)["ci"]
                row[f"vs_{base}"] = (ci.mean, ci.low, ci.high)
        rows.append(row)
    return _holm_rows(rows)


def _holm_rows(rows: list[dict]) -> list[dict]:
    """Add ``p_holm_vs_<base>`` and ``verdict_vs_<base>``: Holm over the rows' ``ci_vs_<base>`` (the
    book's statistics policy, :func:`plasticity_sim.stats.holm_verdicts`)."""
    for base in ("warm", "cold"):
        verdicts = holm_verdicts({r["method"]: r[f"ci_vs_{base}"] for r in rows if f"ci_vs_{base}" in r})
        for r in rows:
            if r["method"] in verdicts:
                r[f"p_holm_vs_{base}"] = verdicts[r["method"]]["p_holm"]
                r[f"verdict_vs_{base}"] = verdicts[r["method"]]["verdict"]
    return rows


def metric_correlations(records, *, method_filter=None) -> dict[str, float]:
    """Pearson r between each App. C metric (end of phase 1) and the final test accuracy, over the
    records that have metrics (optionally only ``method_filter``'s methods).
    """
    rs = [r for r in records if r.get("phase1_metrics") and (method_filter is None or r["method"] in method_filter)]
    if len(rs) < 3:
        raise ValueError(f"need at least 3 records with phase-1 metrics, got {len(rs)}")
    acc = [r["test_acc"] for r in rs]
    return {k: pearson([r["phase1_metrics"][k] for r in rs], acc) for k in HT_METRICS}


def live_config(**overrides):
    """The chapters' live setting: the ``compare`` preset on 3,200 MNIST-1D training points (4,000
    generated), 50 epochs, five seeds (seconds per run), as a validated config."""
    values = {"dataset_kwargs": {"num_samples": 4000}, "epochs": 50, "seeds": (0, 1, 2, 3, 4)}
    values.update(overrides)
    return protocols.preset_config("compare", protocol="noisy_warm_start", **values)


def run_live(config) -> list[dict]:
    """Run ``config`` in the kernel (imports torch); the records."""
    from plasticity_sim.protocols.noisy_warm_start import run

    return run(config).records


def load_continual(study: str | Path) -> dict:
    """Every results file of a ``growing_data`` study folder: ``records`` (one per seed, method and
    phase), ``files``, ``wall_time_s``, ``config``.

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    folder = _study_folder(study)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise ValueError(f"no results files in {str(folder)!r}; regenerate with: {_regenerate(study)}")
    datas = protocols.load_together(files, protocol="growing_data")
    return {"records": [r for d in datas for r in d["records"]], "files": len(files),
            "wall_time_s": sum(float(d["provenance"].get("wall_time_s") or 0.0) for d in datas),
            "config": datas[0]["config"]}


def continual_table(records, methods_order) -> list[dict]:
    """Per method: mean test accuracy (%) at the last phase and averaged over phases, and the paired
    last-phase difference to ``warm`` and to ``cold`` (pts, 95 % interval), with Holm verdicts over
    the methods as in :func:`comparison_table`.

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    last = max(r["phase"] for r in records)

    def per_seed(m, key="test_acc", phase=last):
        return {r["seed"]: r[key] for r in records if r["method"] == m and r["phase"] == phase}

    rows = []
    for m in methods_order:
        final = per_seed(m)
        avg = {s: np.mean([r["test_acc"] for r in records if r["method"] == m and r["seed"] == s]) for s in final}
        row = {"method": m, "last": 100 * float(np.mean(list(final.values()))),
               "avg": 100 * float(np.mean(list(avg.values()))), "n": len(final)}
        for base in ("warm", "cold"):
            if m != base:
                b = per_seed(base)
                row[f"ci_vs_{base}"] = d = paired_ci([100 * (final[s] - b[s]) for s in pair_by_seed(final, b, (m, base))])
                row[f"vs_{base}"] = (d.mean, d.low, d.high)
        rows.append(row)
    return _holm_rows(rows)


# ---------------------------------------------------------------------------------------------------
# Tables for the chapters (HTML in the book, aligned text in a terminal)

def _ci_text(t) -> str:
    """``(mean, low, high)`` in points as ``"+1.6 [+0.9, +2.3]"``; blank for a missing comparison."""
    return "" if t is None else interval_text(*t, digits=1)


def _label(method: str) -> str:
    """A method's name in the part's tables: the method table's label; the fresh network is "fresh (cold)"."""
    from plasticity_sim import methods

    return "fresh (cold)" if method == "cold" else methods.get_method(method).label


def grid_display(rows: list[dict]) -> Table:
    """The ratio x noise grid (rows of :func:`grid_table`) as a table: the fresh and warm test
    accuracy (%), warm - fresh with its 95 % interval and Holm verdict (n.m.d. = no measurable
    difference), the warm start's final train accuracy and its fit of the noisy phase-1 labels (%).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    seeds = sorted({r["n"] for r in rows})
    caption = (f"{'/'.join(map(str, seeds))} seeds per cell, paired by seed; Holm over the "
               f"{len(rows)} cells (n.m.d. = no measurable difference)")
    return Table(["ratio", "noise", "fresh\ntest %", "warm\ntest %", "warm − fresh\n(95 % CI)", "Holm",
                  "warm\ntrain %", "fit of\nphase 1 %"],
                 [[f"{r['ratio']:g}", f"{r['noise']:g}", f"{r['fresh_test']:.1f}", f"{r['warm_test']:.1f}",
                   _ci_text((r["diff"], r["lo"], r["hi"])), SHORT_VERDICTS[r["verdict"]],
                   f"{r['warm_train']:.1f}", f"{r['phase1_fit']:.1f}"] for r in rows],
                 caption=caption)


def comparison_display(rows: list[dict], *, groups: dict | None = None, last: bool = False,
                       caption: str = "") -> Table:
    """Rows of :func:`comparison_table` (or of :func:`continual_table` with ``last=True``) as a
    table: each method's mean test and train accuracy (or last-phase and phase-averaged test
    accuracy), its paired difference to the warm start and to the fresh network (pts, 95 %
    interval) and each one's Holm verdict. ``groups`` (``{group: [method, ...]}``) adds a first
    column naming each method's group; methods show by their method-table label (``cold`` as
    "fresh (cold)").

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    group_of = {m: g for g, ms in (groups or {}).items() for m in ms}
    keys = ("last", "avg") if last else ("test", "train")
    head = ["last\ntest %", "mean over\nphases %"] if last else ["test %", "train %"]
    body = []
    for r in rows:
        cells = [_label(r["method"]), *(f"{r[k]:.1f}" for k in keys)]
        for base in ("warm", "cold"):
            cells += [_ci_text(r.get(f"vs_{base}")), SHORT_VERDICTS.get(r.get(f"verdict_vs_{base}"), "")]
        body.append(([group_of.get(r["method"], "")] if groups else []) + cells)
    header = (["group"] if groups else []) + ["method", *head, "vs warm\n(95 % CI)", "Holm",
                                              "vs fresh\n(95 % CI)", "Holm"]
    return Table(header, body, align=("ll" if groups else "l") + "rrrlrl", caption=caption)


def table7_display(table) -> Table:
    """The paper's Table 7 (``load_table("ht_table7")``) turned on its side: one row per method
    (its group and the book's method, where the book has one), one column of final test accuracy
    per dataset, so that the twelve methods fit the book's column.

    Explained in: book/hare_tortoise/03_trainability_vs_generalisability.ipynb
    """
    datasets = table.levels("dataset")
    by = {(r["dataset"], r["method"]): r for r in table.rows}
    first = table.select(dataset=datasets[0])
    header = ["paper's\nmethod", "group", "the book's\nmethod"] + [
        f"{ds}\n{table.select(dataset=ds)[0]['model']}" for ds in datasets]
    body = [[r["method"], r["group"], _label(r["ours"]) if r["ours"] else "—"]
            + [f"{by[(ds, r['method'])]['test_acc']:.3f}" for ds in datasets] for r in first]
    return Table(header, body, align="lll" + "r" * len(datasets),
                 caption="final test accuracy after phase 2, subset 0.1, label noise 0.5")


def correlation_display(corr: dict, n: int) -> Table:
    """Pearson r of each App. C metric with final test accuracy (from :func:`metric_correlations`).

    Explained in: book/hare_tortoise/03_trainability_vs_generalisability.ipynb
    """
    return Table(["App. C metric (end of phase 1)", "Pearson r"],
                 [[k.replace("_", " "), f"{v:+.2f}"] for k, v in corr.items()],
                 caption=f"correlation with final test accuracy over {n} warm-started runs")
