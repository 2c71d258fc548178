"""Speed cost of the book's pinned arithmetic (plasticity_sim.arithmetic.PINNED_ENV).

Times the same CPU training work in fresh processes under three environments, interleaved, in one run:

* ``unpinned``: what a reader gets with nothing set (all cores, the CPU's best ATen/MKL/oneDNN paths);
* ``threads only``: one thread, nothing else pinned (what the executor pinned before the ISA pin);
* ``pinned``: ``PINNED_ENV`` (one thread, ATen/MKL/oneDNN on AVX2).

The work is an MLP on MNIST-1D (the real-network chapters' preset ``tiny``, cold start, 2 chunks) and
a 1-D CNN (convolutions: oneDNN) trained with SGD. Prints best-of-N wall times and the ratios
pinned / unpinned and pinned / threads only.

    PYTHONPATH=. python benchmarks/pinned_arithmetic.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plasticity_sim.arithmetic import ARITHMETIC_ENV, PINNED_ENV  # noqa: E402

WORK = r"""
import json, time, torch
from plasticity_sim import protocols as runs  # preset_config and run_config live in protocols
torch.manual_seed(0)
# 1) MLP, MNIST-1D, the chapters' tiny preset (2 chunks)
cfg = runs.preset_config("tiny", method="cold", seed=0, progress=False, num_chunks=2)
runs.run_config(runs.preset_config("tiny", method="cold", seed=0, progress=False, num_chunks=1, max_epochs=1))
t0 = time.perf_counter(); runs.run_config(cfg); mlp = time.perf_counter() - t0
# 2) 1-D CNN with SGD (convolutions)
x, y = torch.randn(2048, 1, 40), torch.randint(0, 10, (2048,))
net = torch.nn.Sequential(torch.nn.Conv1d(1, 32, 5), torch.nn.ReLU(), torch.nn.Conv1d(32, 32, 5), torch.nn.ReLU(),
                          torch.nn.Flatten(), torch.nn.Linear(32 * 32, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
t0 = time.perf_counter()
for step in range(300):
    i = torch.randint(0, 2048, (128,))
    opt.zero_grad(); torch.nn.functional.cross_entropy(net(x[i]), y[i]).backward(); opt.step()
cnn = time.perf_counter() - t0
print(json.dumps({"mlp": mlp, "cnn": cnn, "capability": torch.backends.cpu.get_cpu_capability(),
                  "threads": torch.get_num_threads()}))
"""


def environments() -> dict[str, dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if k not in ARITHMETIC_ENV}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {"unpinned": dict(base),
            "threads only": dict(base, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"),
            "pinned": dict(base, **PINNED_ENV)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    envs = environments()
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, env in envs.items():   # interleaved: load changes hit every environment alike
            out = subprocess.run([sys.executable, "-c", WORK], env=env, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            b = best.setdefault(name, dict(r))
            b["mlp"], b["cnn"] = min(b["mlp"], r["mlp"]), min(b["cnn"], r["cnn"])
    print(f"CPU work, best of {args.repeats} (fresh process each, interleaved), {os.cpu_count()} cores")
    print(f"{'environment':<14} {'ATen':>8} {'threads':>7} {'MLP s':>7} {'CNN s':>7}")
    for name, r in best.items():
        print(f"{name:<14} {r['capability']:>8} {r['threads']:>7} {r['mlp']:>7.2f} {r['cnn']:>7.2f}")
    for other in ("unpinned", "threads only"):
        print(f"pinned / {other}: MLP {best['pinned']['mlp'] / best[other]['mlp']:.2f}x, "
              f"CNN {best['pinned']['cnn'] / best[other]['cnn']:.2f}x")


if __name__ == "__main__":
    main()
