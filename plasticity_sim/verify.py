"""Verify shipped results: re-run a results file from its stored config and say whether it comes out the same.

    python -m plasticity_sim verify results/small/chunked_small_sp_seed0.json
    python -m plasticity_sim verify results/ --cheapest      # the cheapest file of every folder

Per file the answer is *identical* (every recorded number the same, timings aside), *differs* (which
summary fields, by how much, and how many record values), or *not re-runnable by verify* with the
reason. Each re-run happens in a fresh process that gets the recorded arithmetic settings (the
``ATEN_CPU_CAPABILITY`` / ``MKL_CBWR`` / ... environment and the torch thread count of the producing
run), because bit-identity is only expected where the arithmetic is the same: the report compares what
the file recorded (CPU model, ATen capability, BLAS and oneDNN builds, threads, torch, device) with what
the re-run got here and says whether identical bits are expected (see :mod:`plasticity_sim.arithmetic`).

Three kinds of file are re-run: every protocol's results file (:func:`protocols.load_results`; one
run), the continual part's ``keeping_*.json`` (``plasticity_sim.keeping_plasticity/1``; one run per
arm and seed, each with its own config: every run is re-run and its columns compared), and the bridge
part's ``results/bridge/*.json`` (``plasticity_sim.bridge_network/1``; one run per seed, re-run by
:func:`plasticity_sim.bridge.studies.rerun_seed`, its per-experiment measurements compared).
``regression_frames.json`` is a grid of animation frames written by
``study continual/frames`` with no per-frame config: it is reported as not
re-runnable, with the command that regenerates it.

Exit status of the command: 0 when nothing differs, 1 when a file differs or a re-run fails,
2 on bad input (a path that does not exist, a file that is not a results file), before any re-run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from plasticity_sim import runs
from plasticity_sim.arithmetic import ARITHMETIC_ENV

KEEPING_FORMAT = "plasticity_sim.keeping_plasticity/1"   # plasticity_sim.continual.remedies.FORMAT
FRAMES_FORMAT = "plasticity_sim.continual_frames/1"
BRIDGE_FORMAT = "plasticity_sim.bridge_network/1"        # plasticity_sim.bridge.studies.FORMAT
BRIDGE_RERUN = "plasticity_sim.bridge.studies:rerun_seed"
# Not compared: how long things took differs on every run.
TIMING_KEYS = frozenset({"wall_time", "wall_time_s", "intervention_time", "elapsed"})
# What decides the last bits (arithmetic_facts keys). A file that recorded none gives "unknown".
ARITHMETIC_KEYS = ("machine", "cpu_model", "torch", "aten_cpu_capability", "mkl_available", "mkldnn_enabled",
                   "num_threads", "blas", "blas_version", "onednn_version")
# Environment settings with no read-out of their effect (MKL / oneDNN code branches): compared as set.
UNOBSERVED_ENV = ("MKL_CBWR", "DNNL_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


@dataclass
class Unit:
    """One re-runnable run of a file: its protocol, config and the numbers it recorded."""
    label: str
    protocol: str
    config: dict
    cost_s: float
    expected: dict          # {"summary": ..., "records": ...} or {"columns": ...}
    columns: tuple = ()     # keeping files: the record columns the file kept


@dataclass
class Report:
    """The verdict on one file. ``verdict``: identical | differs | not re-runnable by verify | failed."""
    path: str
    verdict: str
    reason: str = ""
    summary_diffs: list = field(default_factory=list)   # (field, recorded, re-run)
    record_diffs: int = 0
    values_compared: int = 0
    runs: int = 0
    identity_expected: bool | None = None
    arithmetic: str = ""
    wall_s: float = 0.0

    def line(self) -> str:
        head = f"{self.path}: {self.verdict}"
        if self.verdict == "identical":
            head += f" ({self.values_compared} recorded values in {self.runs} run(s))"
        elif self.verdict == "differs":
            shown = "; ".join(f"{k} {_fmt(a)} -> {_fmt(b)}" + (f" ({_fmt(b - a, sign=True)})"
                                                                if _number(a) and _number(b) else "")
                              for k, a, b in self.summary_diffs[:8])
            more = f" (+{len(self.summary_diffs) - 8} more)" if len(self.summary_diffs) > 8 else ""
            head += (f" in {len(self.summary_diffs)} summary field(s): {shown}{more}" if self.summary_diffs
                     else " in no summary field") + \
                f"; {self.record_diffs} of {self.values_compared} recorded values differ"
        else:
            head += f": {self.reason}"
        if self.arithmetic:
            head += f"\n    arithmetic: {self.arithmetic}"
        if self.wall_s:
            head += f"\n    re-run {self.wall_s:.1f} s"
        return head


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _mean(values) -> float:
    return sum(values) / len(values) if values else math.nan


def _fmt(x, sign: bool = False) -> str:
    if not _number(x):
        return repr(x)
    if isinstance(x, int):
        return f"{x:+d}" if sign else str(x)
    return f"{x:+.6g}" if sign else f"{x:.6g}"


# ---------------------------------------------------------------------------------------------
# Reading files
def collect(paths) -> list[Path]:
    """Every results file the arguments name: a file as it is, a folder's ``*.json`` (recursively).
    A missing path or an empty folder is a ``ValueError`` (bad input)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.rglob("*.json"))
            if not found:
                raise ValueError(f"{p}: a folder with no .json results files; name a results file or folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"{p}: no such file or folder; name a results file or a folder of them")
    return list(dict.fromkeys(files))


def read(path: Path) -> dict:
    """The file's JSON, checked to be a results file of a kind verify knows (``ValueError`` if not)."""
    data = runs.read_json(path, "results file")
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt == runs.RESULTS_FORMAT:
        from plasticity_sim import protocols

        return protocols.load_results(path)
    if fmt in (KEEPING_FORMAT, FRAMES_FORMAT, BRIDGE_FORMAT):
        return data
    raise ValueError(f"{path}: format {fmt!r} is not a results file verify knows "
                     f"({runs.RESULTS_FORMAT}, {KEEPING_FORMAT}, {FRAMES_FORMAT}, {BRIDGE_FORMAT})")


def cost_s(data: dict) -> float:
    """The recorded wall time of the file's runs (inf when it recorded none)."""
    wall = (data.get("provenance") or {}).get("wall_time_s")
    return float(wall) if _number(wall) else math.inf


def units(data: dict) -> list[Unit] | str:
    """The file's re-runnable runs, or the reason it has none."""
    from plasticity_sim import protocols

    if data.get("format") == FRAMES_FORMAT:
        return ("a grid of animation frames with no per-frame config; regenerate it with "
                "`python -m plasticity_sim study continual/frames --out-dir DIR` and compare")
    if data.get("format") == BRIDGE_FORMAT:
        # one run per seed; the protocol field names the function that re-runs one seed
        return [Unit(f"seed {run['seed']}", "call:" + BRIDGE_RERUN, {**data["config"], "seed": run["seed"]},
                     float(run.get("wall_time_s", math.inf)), {"records": run["experiments"]})
                for run in data["runs"]]
    if data.get("format") == KEEPING_FORMAT:
        out = []
        for arm, entry in data["arms"].items():
            for seed, run in entry["runs"].items():
                out.append(Unit(f"{arm} seed {seed}", data["protocol"], run["config"],
                                float(run.get("wall_time_s", math.inf)), {"columns": run["columns"]},
                                tuple(run["columns"])))
        return out
    entry = protocols.get(data["protocol"])
    return [Unit(data["protocol"], data["protocol"], data["config"], cost_s(data),
                 {"summary": data["summary"], "records": data[entry.records_key]})]


def cheapest(files: list[Path]) -> list[Path]:
    """The cheapest file (by recorded wall time) of each folder, re-runnable files first."""
    best: dict[Path, tuple] = {}
    for f in files:
        data = read(f)
        key = (isinstance(units(data), str), cost_s(data), str(f))
        if f.parent not in best or key < best[f.parent][0]:
            best[f.parent] = (key, f)
    return [f for _, f in sorted(best.values(), key=lambda kv: str(kv[1]))]


# ---------------------------------------------------------------------------------------------
# Comparing
def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k in sorted(obj):
            if k not in TIMING_KEYS:
                yield from _leaves(obj[k], f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def diff(recorded, rerun) -> tuple[list, int]:
    """``([(path, recorded, re-run)], number of leaves compared)``; timings are left out, a key
    present on one side only counts as a difference."""
    a, b = dict(_leaves(recorded)), dict(_leaves(rerun))
    keys = list(dict.fromkeys([*a, *b]))
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)], len(keys)


def compare_arithmetic(recorded: dict | None, here: dict | None, recorded_device: str | None,
                       device: str | None) -> tuple[bool | None, str]:
    """Whether bit-identity is expected (None: unknown) and one line saying why."""
    if recorded_device and device and recorded_device != device:
        return False, f"not expected: recorded on {recorded_device}, re-run on {device}"
    if not recorded:
        return None, "unknown: the file records no arithmetic (made before provenance recorded it)"
    if not here:
        return None, "unknown: the re-run recorded no arithmetic"
    differ = [f"{k} {here.get(k)!r} here vs {recorded.get(k)!r}" for k in ARITHMETIC_KEYS
              if recorded.get(k) != here.get(k)]
    env_a, env_b = recorded.get("env") or {}, here.get("env") or {}
    differ += [f"{k}={env_b.get(k)!r} here vs {env_a.get(k)!r}" for k in UNOBSERVED_ENV if env_a.get(k) != env_b.get(k)]
    if differ:
        return False, "bit-identity not expected: " + "; ".join(differ)
    return True, (f"bit-identity expected: same CPU model ({recorded.get('cpu_model')}), ATen "
                  f"{recorded.get('aten_cpu_capability')}, {recorded.get('blas') or 'no BLAS record'}, "
                  f"{recorded.get('num_threads')} thread(s), torch {recorded.get('torch')}")


# ---------------------------------------------------------------------------------------------
# Re-running
def _child_env(arith: dict | None) -> dict:
    env = dict(os.environ)
    for k, v in ((arith or {}).get("env") or {}).items():
        if k not in ARITHMETIC_ENV:
            continue
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    return env


def rerun(unit: Unit, arith: dict | None, threads: int | None) -> dict:
    """Run ``unit`` in a fresh process under the recorded arithmetic settings; its results dict.
    A failed run raises ``RuntimeError`` with the run's last error line."""
    with tempfile.TemporaryDirectory(prefix="verify-") as tmp:
        job, out = Path(tmp) / "job.json", Path(tmp) / "rerun.json"
        job.write_text(json.dumps({"protocol": unit.protocol, "config": unit.config, "threads": threads}))
        proc = subprocess.run([sys.executable, "-m", "plasticity_sim.verify", "--child", str(job), str(out)],
                              env=_child_env(arith), capture_output=True, text=True, cwd=_PACKAGE_PARENT)
        if proc.returncode != 0 or not out.is_file():
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit status {proc.returncode}")
        return runs.read_json(out, "re-run results")


def _child_main(job_path: str, out_path: str) -> int:
    import dataclasses

    import torch

    from plasticity_sim import protocols

    job = json.loads(Path(job_path).read_text())
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    if job["protocol"].startswith("call:"):   # a part's own re-run function: config dict -> records
        import importlib

        module, _, func = job["protocol"][len("call:"):].partition(":")
        records = getattr(importlib.import_module(module), func)(job["config"])
        runs.write_json_atomic(out_path, {"records": records, "provenance": runs.provenance("cpu")})
        return 0
    config = protocols.config_from_dict(job["config"], job["protocol"])
    if hasattr(config, "progress"):
        config = dataclasses.replace(config, progress=False)
    results = protocols.run_config(config)
    runs.write_json_atomic(out_path, results)
    return 0


def verify_file(path, *, one_run: bool = False) -> Report:
    """Re-run ``path`` (every run it holds; ``one_run``: only its cheapest run) and compare."""
    from plasticity_sim import protocols

    path = Path(path)
    data = read(path)
    found = units(data)
    if isinstance(found, str):
        return Report(str(path), "not re-runnable by verify", found)
    if one_run:
        found = [min(found, key=lambda u: u.cost_s)]
    prov = data.get("provenance") or {}
    arith = prov.get("arithmetic")
    threads = (arith or {}).get("num_threads") or prov.get("threads") or prov.get("torch_threads")
    report = Report(str(path), "identical", runs=len(found))
    t0 = time.perf_counter()
    expected = []
    for unit in found:
        try:
            new = rerun(unit, arith, threads)
        except RuntimeError as err:
            report.verdict, report.reason = "failed", f"run failed ({unit.label}): {err}"
            break
        exp, why = compare_arithmetic(arith, new["provenance"].get("arithmetic"), prov.get("device"),
                                      new["provenance"].get("device"))
        expected.append((exp, why))
        if "summary" not in unit.expected and "columns" not in unit.expected:
            rdiffs, n = diff(unit.expected["records"], new["records"])
            report.summary_diffs += [(f"{unit.label} {k}", a, b) for k, a, b in rdiffs[:3]]
            report.record_diffs += len(rdiffs)
        elif "columns" in unit.expected:
            key = protocols.get(unit.protocol).records_key
            cols = {c: [float(r[c]) for r in new[key]] for c in unit.columns}
            diffs, n = diff(unit.expected["columns"], cols)
            # a keeping file has no summary: its per-run column means stand in for one
            report.summary_diffs += [(f"{unit.label} mean {c}", _mean(unit.expected["columns"][c]), _mean(cols[c]))
                                     for c in unit.columns if unit.expected["columns"][c] != cols[c]]
            report.record_diffs += len(diffs)
        else:
            sdiffs, ns = diff(unit.expected["summary"], new["summary"])
            rdiffs, n = diff(unit.expected["records"], new[protocols.get(unit.protocol).records_key])
            report.summary_diffs += sdiffs
            report.record_diffs += len(rdiffs)
            n += ns
        report.values_compared += n
    report.wall_s = time.perf_counter() - t0
    if expected:
        report.identity_expected = expected[0][0]
        report.arithmetic = expected[0][1]
    if report.verdict == "identical" and report.record_diffs + len(report.summary_diffs):
        report.verdict = "differs"
    return report


def main(argv=None) -> int:
    """``python -m plasticity_sim verify PATH... [--cheapest] [--one-run]`` (see the module docstring)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m plasticity_sim verify",
                                 description="Re-run results files from their stored config and compare.")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="results files or folders (searched recursively)")
    ap.add_argument("--cheapest", action="store_true",
                    help="only the cheapest file of each folder (by recorded wall time)")
    ap.add_argument("--one-run", action="store_true",
                    help="in files holding several runs (keeping_*.json), re-run only the cheapest one")
    args = ap.parse_args(argv)
    files = collect(args.paths)
    for f in files:   # every file checked before any re-run: bad input costs nothing
        read(f)
    if args.cheapest:
        files = cheapest(files)
    worst = 0
    counts: dict[str, int] = {}
    for f in files:
        report = verify_file(f, one_run=args.one_run)
        print(report.line(), flush=True)
        counts[report.verdict] = counts.get(report.verdict, 0) + 1
        if report.verdict in ("differs", "failed"):
            worst = 1
    print(", ".join(f"{n} {v}" for v, n in counts.items()))
    return worst


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.exit(_child_main(sys.argv[2], sys.argv[3]))
    sys.exit(main())
