"""The remedy map: every remedy the book ran, in every setting, against that setting's baseline.

One cell per (method, setting). Where the method was run, the cell holds

* the **paired effect** method minus baseline over the setting's seeds (the same seed gives both the
  same initial network, data and batch order, so the difference is taken seed by seed), in the
  setting's own metric: points of accuracy, or squared error for the regression;
* its **95 % Student-t interval** (``stats.paired_ci``);
* a **Holm-corrected verdict** (``stats.holm_verdicts``): "above" or "below" the baseline, or
  "no measurable difference"; ``better`` says whether the direction is an improvement (True), a
  harm (False) or neither (None), since for an error "below" is good;
* a **cost ratio**, method over baseline, of what the results record (``cost`` names it).

Where the method was not run the cell's verdict is "not run" and its numbers are None. The cheap
missing cells were run for the map (``continual/map_*`` studies, checked to share each setting's
baseline runs).

**Baselines.** In the four warm-start settings the baseline is the warm start (``warm``: weights
and optimizer carried over); in the three continual settings it is plain backprop (SGD carried
over from task to task, the continual part's ``bp``). Each is the setting's no-remedy method.

**One implementation of each idea.** Every effect comes from the part that owns the study, through
its own loader and pairing function: ``dash.cpu_study.arm_table``, ``hare_tortoise.studies.
paired_difference`` and ``continual_table``, ``continual.studies.regression_headline``, and the
continual remedies' ``window``/``matrix`` fed to ``stats.paired_ci``. The map only chooses which
comparisons to show and corrects them.

**Holm family** = every comparison the map shows in one setting (one column). Settings share no
runs, so they are separate families. In the continual settings the map shows every arm of the
study, so the family and the verdicts are the chapter's; in the other settings the chapters
compare other sets of methods (the DASH part against cold), so a borderline verdict may differ.

**Cost ratio**, mean over seeds of the per-seed ratio: total SGD steps in the chunked protocol (runs
train to a target, so the steps differ); SGD steps in the noisy-label and growing-data protocols
(fixed budgets: the ratio is 1, the same budget; per-step overhead is not counted); run time in the
continual studies, whose steps are fixed (wall time of one-thread runs on the machine that made
them: noisy, a rough guide only; the regression records one time per method, for all 30 seeds).

Explained in: book/guide/01_what_to_use_when.ipynb
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from plasticity_sim import runs, stats
from plasticity_sim.continual import remedies as keeping
from plasticity_sim.continual import studies as regression
from plasticity_sim.dash import cpu_study
from plasticity_sim.hare_tortoise import studies as hare
from plasticity_sim.methods import METHODS
from plasticity_sim.protocols.specs import ChunkedConfig


@dataclass(frozen=True)
class Setting:
    """One column of the map: where the comparisons were made and what they measure."""

    key: str
    title: str              # the column's header
    part: str               # the book part (and chapter) that owns the study
    metric: str             # what the effect measures
    unit: str               # "points" or "squared error"
    higher_is_better: bool
    baseline: str           # the no-remedy method, as the book names it
    cost: str               # what the cost ratio divides
    source: str             # the shipped results under results/


SETTINGS = (
    Setting("mlp", "warm start, MLP", "dash/02", "test accuracy after the last experiment", "points", True,
            "warm start", "total SGD steps",
            "dash_cpu/mlp, continual/keeping_chunked.json, keeping_map_chunked.json"),
    Setting("cnn", "warm start, CNN", "dash/02", "test accuracy after the last experiment", "points", True,
            "warm start", "total SGD steps", "dash_cpu/cnn"),
    Setting("noisy", "noisy-label warm start", "hare_tortoise/03", "test accuracy after the second phase", "points",
            True, "warm start", "SGD steps of the second phase", "hare_tortoise/compare, hare_tortoise/table7"),
    Setting("growing", "growing data", "hare_tortoise/02", "test accuracy after the last phase", "points", True,
            "warm start", "SGD steps", "hare_tortoise/continual_full"),
    Setting("permuted", "permuted digits", "continual/03", "online accuracy over the last fifth of the tasks",
            "points", True, "backprop", "run time", "continual/keeping_permuted.json, keeping_map_permuted.json"),
    Setting("class_incremental", "class-incremental", "continual/04", "test accuracy after the last step",
            "points", True, "backprop", "run time",
            "continual/keeping_class_incremental.json, keeping_map_class_incremental.json"),
    Setting("regression", "slowly-changing regression", "continual/01", "squared error over the last tenth of the run",
            "squared error", False, "backprop", "run time", "continual/regression_bp.json, regression_cbp.json"),
)
WARM_START = ("mlp", "cnn", "noisy", "growing")
CONTINUAL = ("permuted", "class_incremental", "regression")

# The rows, one name per method: the method table's labels, which are the glossary's names. Two
# overrides: "cold start" (the method table says "cold", as the DASH part's tables do) and layer norm
# + WD, which is the warm method on another model. Rows are grouped by what the remedy does:
# the reference, resets and shrinks, unit recycling, averaging, penalties and constraints, data.
_RENAMED = {"cold": "cold start", "ln_wd": keeping.LABELS["ln_wd"]}
ROWS = {m: _RENAMED.get(m) or METHODS[m].label for m in (
    "cold", "sp", "sp_init", "sp_continual", "dash", "dash_row", "head_reset", "fire", "redo", "cbp",
    "hare_tortoise", "l2_init", "l2_init_kumar", "l2", "l2_every_step", "weight_clipping", "parseval", "ln_wd",
    "augmentation")}
# Left out to keep the map to the remedies: the warm start with a new optimizer, the weaker L2 init
# and DASH (row) with a vector bias (DASH part), EMA and self-distillation (ablations of Hare &
# Tortoise), CReLU and spectral decoupling (no measurable effect in their chapter).


# ----------------------------------------------------------------------------- the settings' effects
# Each returns {row: (PairedCI in the setting's unit, cost ratio)} for the methods the study ran.
def _dash(arm: str) -> dict:
    """The DASH part's CPU study against the warm start (its arm_table, paired by seed)."""
    out = {r["method"]: (r["diff"], r["steps_ratio"])
           for r in cpu_study.arm_table(arm, baseline="warm") if r["diff"] is not None}
    if arm == "mlp":   # the continual part ran its remedies in this very setting, and the map the rest
        warm = cpu_study.load_arm(arm)["warm"]
        for study in ("chunked", "map_chunked"):
            out.update(_chunked_remedies(keeping.load_keeping_file(study), warm))
    return out


def _chunked_remedies(data: dict, dash_warm: dict) -> dict:
    """Remedies run in the DASH part's MLP setting (keeping_chunked.json, keeping_map_chunked.json).

    The file has warm runs of its own; they must be the DASH study's warm runs (same config and
    seed, same result), so that the whole column has one baseline. Anything else is an error."""
    for seed, run in data["arms"]["warm"]["runs"].items():
        other = dash_warm.get(int(seed))
        same = other is not None and (   # fields added later read as their defaults; device aside
            runs.same_results_config(run["config"], other["config"], ChunkedConfig)
            and run["columns"]["test_acc"][-1] == other["summary"]["test_acc_last"])
        if not same:
            raise ValueError(f"keeping_{data['study']}.json: warm seed {seed} is not the DASH study's warm "
                             "run; the two studies no longer share a baseline")
    return _keeping(data, "warm", "test_acc", "end", cost="steps")


def _continual(study: str, column: str, part: str) -> dict:
    """A continual remedies study and the map's own study of the same setting (``map_<study>``),
    against plain backprop. The map's study re-runs backprop; it must be the shipped study's
    backprop run for run (same config, same numbers), so that the column has one baseline."""
    data, extra = keeping.load_keeping_file(study), keeping.load_keeping_file(f"map_{study}")
    shipped = data["arms"]["bp"]["runs"]
    for seed, run in extra["arms"]["bp"]["runs"].items():
        ref = shipped.get(seed)
        if ref is None or ref["config"] != run["config"] or ref["columns"] != run["columns"]:
            raise ValueError(f"keeping_map_{study}.json: backprop seed {seed} is not keeping_{study}.json's "
                             "run; the two studies no longer share a baseline")
    return {**_keeping(data, "bp", column, part, cost="time"), **_keeping(extra, "bp", column, part, cost="time")}


def _keeping(data: dict, base: str, column: str, part: str, *, cost: str) -> dict:
    """A continual remedies study (keeping_<study>.json) against ``base``, in points.

    The same windows as the part's ``paired_table``; ``stats.paired_ci`` directly, because the map's
    Holm family needs each comparison's p-value, which the table keeps to itself."""
    def total(arm, seed):
        run = data["arms"][arm]["runs"][str(seed)]
        return sum(run["columns"]["steps"]) if cost == "steps" else run["wall_time_s"]

    b = keeping.window(keeping.matrix(data, base, column), part)   # rows in the file's seed order
    out = {}
    for arm, entry in data["arms"].items():
        if arm == base:
            continue
        v = keeping.window(keeping.matrix(data, arm, column), part)
        # layer norm + WD is the warm method on another model: its own row, not the warm start's
        row = "ln_wd" if arm == "ln_wd" else entry["method"]
        out[row] = (stats.paired_ci(100 * v, 100 * b, names=(arm, base)),
                    float(np.mean([total(arm, s) / total(base, s) for s in data["seeds"]])))
    return out


def _noisy() -> dict:
    """The noisy-label warm start against the warm start, at the cell both studies ran.

    Of the part's three noisy-label studies, ``grid`` runs only warm and fresh networks over many
    cells, and ``table7`` runs remedies but no warm start of its own: it was designed to be read
    with ``compare``'s warm and fresh runs (same config, seeds and cell), as its chapter does.
    Together they compare every remedy with one warm start; the ``table7/paper_cell`` sub-study is
    another cell (10 % of the data in phase 1) and stays in its chapter."""
    compare, table7 = hare.load_records("compare"), hare.load_records("table7")
    strip = lambda cfg: {k: v for k, v in cfg.items() if k not in ("methods", "method_params", "seeds")}  # noqa: E731
    if strip(compare["config"]) != strip(table7["config"]):
        raise ValueError("hare_tortoise/compare and table7 no longer share a setting")
    (ratio,), (noise,) = compare["config"]["ratios"], compare["config"]["noises"]
    records = compare["records"] + table7["records"]

    def steps(m):   # the fresh network (cold) has no cell of its own, as in the part's pairing
        return {r["seed"]: r["steps"] for r in records
                if r["method"] == m and (m == "cold" or (r["ratio"], r["noise"]) == (ratio, noise))}

    base = steps("warm")
    out = {}
    for m in dict.fromkeys(r["method"] for r in records):
        if m != "warm":
            d = hare.paired_difference(records, m, "warm", ratio=ratio, noise=noise)
            s = steps(m)
            out[m] = (d["ci"], float(np.mean([s[k] / base[k] for k in d["seeds"]])))
    return out


def _growing() -> dict:
    """Growing data with full access to earlier phases, against the warm start (the part's table)."""
    records = hare.load_continual("continual_full")["records"]
    methods = list(dict.fromkeys(r["method"] for r in records))

    def steps(m):
        out = {}
        for r in records:
            if r["method"] == m:
                out[r["seed"]] = out.get(r["seed"], 0) + r["steps"]
        return out

    base = steps("warm")
    return {r["method"]: (r["ci_vs_warm"], float(np.mean([s / base[k] for k, s in steps(r["method"]).items()])))
            for r in hare.continual_table(records, methods) if "ci_vs_warm" in r}


def _regression() -> dict:
    """The slowly-changing regression: CBP minus backprop in the last tenth (the part's headline)."""
    h = regression.regression_headline()
    return {"cbp": (h["cbp_minus_bp_last"], h["wall_time_s"]["cbp"] / h["wall_time_s"]["bp"])}


def _effects() -> dict:
    return {"mlp": _dash("mlp"), "cnn": _dash("cnn"), "noisy": _noisy(), "growing": _growing(),
            "permuted": _continual("permuted", "online_acc", "last"),
            "class_incremental": _continual("class_incremental", "test_acc", "end"),
            "regression": _regression()}


# ----------------------------------------------------------------------------- the map
def remedy_map() -> list[dict]:
    """Every (method, setting) cell of the map, rows in :data:`ROWS` order, settings in
    :data:`SETTINGS` order, from the shipped results. Keys of a cell: ``method``, ``label``,
    ``setting``, ``metric``, ``unit``, ``baseline``, ``cost`` (what the ratio divides), ``verdict``
    ("above", "below", "no measurable difference" or "not run"), and, None where not run, ``mean``,
    ``low``, ``high`` (95 % interval), ``n`` (seeds), ``p`` (paired t test), ``p_holm`` (Holm over
    the setting's shown comparisons, ``family`` of them), ``better`` and ``cost_ratio``. The baseline
    is the warm start in the warm-start settings and plain backprop in the continual ones.

    Explained in: book/guide/01_what_to_use_when.ipynb
    """
    effects = _effects()
    cells = []
    for s in SETTINGS:
        shown = {m: e for m, e in effects[s.key].items() if m in ROWS}
        verdicts = stats.holm_verdicts({m: ci for m, (ci, _) in shown.items()})
        for m, label in ROWS.items():
            cell = {"method": m, "label": label, "setting": s.key, "metric": s.metric, "unit": s.unit,
                    "baseline": s.baseline, "cost": s.cost, "verdict": "not run", "family": len(shown),
                    **dict.fromkeys(("mean", "low", "high", "n", "p", "p_holm", "better", "cost_ratio"))}
            if m in shown:
                ci, cost = shown[m]
                verdict = verdicts[m]["verdict"]
                good = "above" if s.higher_is_better else "below"
                cell.update(mean=ci.mean, low=ci.low, high=ci.high, n=ci.n, p=ci.pvalue, p_holm=verdicts[m]["p_holm"],
                            verdict=verdict, cost_ratio=cost,
                            better=None if verdict == "no measurable difference" else verdict == good)
            cells.append(cell)
    return cells


def lookup(cells: list[dict]) -> dict:
    """``{(method, setting): cell}``, for reading one cell."""
    return {(c["method"], c["setting"]): c for c in cells}


# ----------------------------------------------------------------------------- rendering
SHORT = {**stats.SHORT_VERDICTS, "not run": "not run"}
# Background of a cell: an improvement, a harm, or neither. The verdict is also written in the cell,
# so the colour is never the only cue.
SHADE = {True: "#deebf7", False: "#fee6ce", None: "transparent"}   # the figure's blue and orange, lighter


def effect_text(cell: dict, digits: int | None = None) -> str:
    """``"+1.8 [+1.3, +2.3]"``: the effect and its interval, with ``digits`` decimals (default: one
    for points, two otherwise)."""
    d = digits if digits is not None else 1 if cell["unit"] == "points" else 2
    return stats.interval_text(cell["mean"], cell["low"], cell["high"], d)


def to_html(cells: list[dict], settings=None) -> str:
    """The map (or the ``settings`` columns of it) as an HTML table narrow enough for the book's
    ~690 px column: per cell the effect and its 95 % interval, then the verdict and the cost ratio.
    Rows not run in any of these settings are left out."""
    keys = list(settings or [s.key for s in SETTINGS])
    by = lookup(cells)
    cols = [s for s in SETTINGS if s.key in keys]
    rows = [m for m in ROWS if any(by[(m, s.key)]["verdict"] != "not run" for s in cols)]
    td = 'style="padding:2px 6px;border-top:1px solid #ddd;{}"'
    head = "".join(f'<th style="padding:2px 6px;text-align:center">{html.escape(s.title)}<br>'
                   f'<span style="font-weight:normal">vs {html.escape(s.baseline)}</span></th>' for s in cols)
    body = []
    for m in rows:
        tds = []
        for s in cols:
            c = by[(m, s.key)]
            if c["verdict"] == "not run":
                tds.append(f'<td {td.format("text-align:center;color:#888")}>not run</td>')
                continue
            tds.append(f'<td {td.format("text-align:center;white-space:nowrap;background:" + SHADE[c["better"]])}>'
                       f"{effect_text(c)}<br>{SHORT[c['verdict']]} · ×{c['cost_ratio']:.2f}</td>")
        body.append(f'<tr><td {td.format("white-space:nowrap")}>{html.escape(ROWS[m])}</td>{"".join(tds)}</tr>')
    return ('<table style="font-size:0.8em;border-collapse:collapse;margin:0">'
            f'<tr><th style="padding:2px 6px;text-align:left">method</th>{head}</tr>{"".join(body)}</table>')


# ----------------------------------------------------------------------------- the settings table
_DATA = {"mnist1d": "MNIST-1D", "digits": "8×8 digits"}


def _training(cfg: dict) -> str:
    text = f"{cfg['optimizer'].replace('adamw', 'AdamW').replace('sgd', 'SGD')}, lr {cfg['lr']:g}"
    if cfg.get("momentum"):
        text += f", momentum {cfg['momentum']:g}"
    return text + (f", weight decay {cfg['weight_decay']:g}" if cfg.get("weight_decay") else "")


def _network(cfg: dict) -> str:
    if cfg.get("model") == "cnn":
        return "1-D CNN"
    if "hidden" in cfg:
        return f"{cfg['hidden']} hidden units"
    k = cfg.get("model_kwargs") or cfg
    return f"MLP {k['depth']}×{k['width']}"


def setting_facts() -> list[dict]:
    """Per setting, read from a shipped results file's config: ``data`` (data and network),
    ``training`` (optimizer, learning rate), ``protocol`` (what changes over the run), with the
    :class:`Setting` fields. The parts' settings differ; this is what the map's columns compare."""
    warm = {arm: cpu_study.load_arm(arm)["warm"] for arm in ("mlp", "cnn")}
    cfgs = {"mlp": warm["mlp"][min(warm["mlp"])]["config"], "cnn": warm["cnn"][min(warm["cnn"])]["config"],
            "noisy": hare.load_records("compare")["config"], "growing": hare.load_continual("continual_full")["config"],
            "regression": regression.load_regression("bp")["config"]}
    for study in ("permuted", "class_incremental"):
        data = keeping.load_keeping_file(study)
        cfgs[study] = data["arms"]["bp"]["runs"][str(data["seeds"][0])]["config"]
    c = cfgs
    protocol = {
        "mlp": f"{c['mlp']['num_chunks']} chunks; experiment j trains on chunks 1..j to "
               f"{100 * c['mlp']['target_train_acc']:.1f} % train accuracy",
        "noisy": f"phase 1: {100 * c['noisy']['ratios'][0]:.0f} % of the data, "
                 f"label noise {c['noisy']['noises'][0]:g}; "
                 f"phase 2: all of it, clean labels, {c['noisy']['epochs']} epochs",
        "growing": f"{c['growing']['num_phases']} phases of new data, label noise {c['growing']['noise_start']:g} "
                   f"falling to {c['growing']['noise_end']:g}, {c['growing']['epochs']} epochs each",
        "permuted": f"{c['permuted']['num_tasks']} tasks (pixel permutations) of {c['permuted']['samples_per_task']} "
                    f"images, seen once, batch {c['permuted']['batch_size']}",
        "class_incremental": f"{c['class_incremental']['initial_classes']} classes, "
                             f"+{c['class_incremental']['classes_per_step']} per step, "
                             f"{c['class_incremental']['epochs_per_step']} epochs per step",
        "regression": f"{c['regression']['steps']:,} steps; the target changes every "
                      f"{c['regression']['flip_every']:,}"}
    protocol["cnn"] = protocol["mlp"]
    data_of = {k: "slowly-changing regression" if k == "regression" else _DATA.get(cfg["dataset"], cfg["dataset"])
               for k, cfg in cfgs.items()}
    return [{**vars(s), "data": f"{data_of[s.key]}, {_network(cfgs[s.key])}", "training": _training(cfgs[s.key]),
             "protocol": protocol[s.key]} for s in SETTINGS]


def settings_html(facts: list[dict], seeds: dict) -> str:
    """The settings as a compact HTML table; ``seeds``: setting -> number of seeds."""
    cols = (("title", "setting"), ("data", "data, network"), ("training", "training"), ("protocol", "what changes"),
            ("metric", "the effect measures"))
    td = 'style="padding:2px 6px;border-top:1px solid #ddd;vertical-align:top"'
    head = "".join(f'<th style="padding:2px 6px;text-align:left">{h}</th>' for _, h in cols)
    body = "".join("<tr>" + "".join(f"<td {td}>{html.escape(str(f[k]))}"
                                    + (f" ({seeds[f['key']]} seeds)" if k == "title" else "") + "</td>"
                                    for k, _ in cols) + "</tr>" for f in facts)
    return f'<table style="font-size:0.8em;border-collapse:collapse;margin:0"><tr>{head}</tr>{body}</table>'
