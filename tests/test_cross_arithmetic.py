"""A second machine, simulated: the torch chapters verify under deliberately different arithmetic.

A reader's CPU (another vendor or generation), MKL branch, oneDNN ISA or thread count changes the last
bits of every torch float, and SGD grows them into different accuracies. The committed chapters must
still pass strict nbval there. This test re-executes every torch chapter with strict nbval against its
committed outputs, in a pytest that loads no conftest (so the book's pin in the root ``conftest.py``
does not apply) and with an environment unlike the pinned one on every axis we can set:

* ATen's and oneDNN's AVX-512 kernels instead of AVX2 (on a CPU without AVX-512: ATen's scalar
  ``default`` kernels and oneDNN on SSE4.1),
* ``MKL_CBWR=COMPATIBLE`` (MKL's oldest code branch instead of AVX2),
* 2 threads instead of 1.

``test_other_arithmetic_really_differs`` shows the environment changes the bits of a small training
run, so passing means "the chapters' verdict survives other arithmetic", not "the pin overrode it".

Run it against another checkout (for example the old main) with
``python tests/test_cross_arithmetic.py --root /path/to/checkout``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
def _torch_chapters() -> tuple[str, ...]:
    """Every chapter of the book except the numpy-only theory part (a new part is covered at once)."""
    from tools.book import toc_notebooks

    return tuple(str(p.relative_to(ROOT)) for p in toc_notebooks(ROOT) if "theory" not in p.parts)


TORCH_CHAPTERS = _torch_chapters()


def _has_avx512() -> bool:
    try:
        return " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


# Different from plasticity_sim.arithmetic.PINNED_ENV on every axis we can set. ATen and oneDNN go to
# AVX-512 where the CPU has it (faster than the scalar path, and as different from the pinned AVX2),
# else to their scalar / SSE4.1 paths.
OTHER_ARITHMETIC = {"ATEN_CPU_CAPABILITY": "avx512" if _has_avx512() else "default",
                    "DNNL_MAX_CPU_ISA": "AVX512_CORE" if _has_avx512() else "SSE41",
                    "MKL_CBWR": "COMPATIBLE",
                    "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
                    # not arithmetic: no busy-waiting threads when this runs beside other tests (xdist),
                    # and the same hash seed and progress-bar setting as the pin, so that only the
                    # arithmetic differs
                    "OMP_WAIT_POLICY": "PASSIVE", "PYTHONHASHSEED": "0", "TQDM_MININTERVAL": "1000"}

# A small Conv1d + MLP trained with SGD for a few hundred steps; prints a hash of its final weights.
FINGERPRINT = """
import hashlib, torch
torch.manual_seed(0)
x, y = torch.randn(512, 1, 40), torch.randint(0, 10, (512,))
net = torch.nn.Sequential(torch.nn.Conv1d(1, 16, 5), torch.nn.ReLU(), torch.nn.Flatten(),
                          torch.nn.Linear(16 * 36, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.05)
for step in range(200):
    i = torch.randint(0, 512, (64,))
    opt.zero_grad(); torch.nn.functional.cross_entropy(net(x[i]), y[i]).backward(); opt.step()
print(hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in net.parameters())).hexdigest()[:16])
"""


def _env(root: Path, overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "DNNL_MAX_CPU_ISA", "OMP_NUM_THREADS",
                        "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "MPLBACKEND", "PYTEST_ADDOPTS")
           and not k.startswith("PYTEST_XDIST")}
    env.update(overrides)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def fingerprint(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", FINGERPRINT], env=env, capture_output=True, text=True,
                         check=True, timeout=300)
    return out.stdout.strip()


def strict_nbval(root: Path, chapters=TORCH_CHAPTERS, env_overrides=OTHER_ARITHMETIC) -> subprocess.CompletedProcess:
    """Strict nbval of ``chapters`` (paths under ``root``) against their committed outputs, no conftest."""
    cmd = [sys.executable, "-m", "pytest", "--noconftest", "-p", "no:cacheprovider", "-p", "no:xdist",
           "-q", "-rf", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(root / "tests" / "nbval_sanitize.cfg"), *chapters]
    return subprocess.run(cmd, cwd=root, env=_env(root, env_overrides), capture_output=True, text=True,
                          timeout=1500)


def test_uncompared_torch_outputs_carry_asserted_claims():
    """An output nbval does not compare is either a widget or comes with the claims it supports.

    (The rule "claims, not bits": a live number may be hidden from the comparison only where the cell,
    or the next code cell, asserts what the prose says about it.)
    """
    import json

    for rel in TORCH_CHAPTERS:
        doc = json.loads((ROOT / rel).read_text())
        code = [(i, c) for i, c in enumerate(doc["cells"]) if c["cell_type"] == "code"]
        for k, (i, cell) in enumerate(code):
            if "nbval-ignore-output" not in cell["metadata"].get("tags", []):
                continue
            widget = any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                         for o in cell.get("outputs", []))
            source = "".join(cell["source"]) + "".join(code[k + 1][1]["source"] if k + 1 < len(code) else "")
            report_only = "frame_report(" in source      # the widgets' size report (removed from the page)
            assert widget or report_only or "assert " in source, \
                f"{rel} cell {i}: output not compared by nbval, and no claim asserted"


def test_other_arithmetic_really_differs():
    from plasticity_sim.arithmetic import PINNED_ENV

    pinned = fingerprint(_env(ROOT, PINNED_ENV))
    assert pinned == fingerprint(_env(ROOT, PINNED_ENV)), "the pinned arithmetic is not repeatable"
    assert fingerprint(_env(ROOT, OTHER_ARITHMETIC)) != pinned, \
        "OTHER_ARITHMETIC gives the same bits as the pin: this test would not stand in for another machine"


def test_torch_chapters_verify_under_other_arithmetic():
    proc = strict_nbval(ROOT)
    assert proc.returncode == 0, ("strict nbval failed under other arithmetic "
                                  f"({OTHER_ARITHMETIC}):\n" + proc.stdout[-6000:] + proc.stderr[-2000:])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="strict nbval of the torch chapters under other arithmetic")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout whose chapters and package to test")
    args = ap.parse_args()
    root = args.root.resolve()
    proc = strict_nbval(root)
    print(proc.stdout[-8000:], proc.stderr[-2000:])
    sys.exit(proc.returncode)
