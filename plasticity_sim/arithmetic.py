"""What decides a CPU float's last bits, recorded and (where we can) pinned.

Training the same network with the same seed gives different last bits on another CPU: ATen picks a
vectorised kernel by the CPU's instruction set (``ATEN_CPU_CAPABILITY``), MKL picks a code branch by CPU
(``MKL_CBWR``), oneDNN picks its own ISA (``DNNL_MAX_CPU_ISA``), and every thread count splits sums
differently. SGD then amplifies one last bit into a different accuracy after a few hundred steps.

Two things live here:

* ``PINNED_ENV`` / ``pin_environment``: the settings the book's executor (``tools/book.py execute``) and
  every ``pytest`` run in the checkout (root ``conftest.py``) force on the chapters' kernels before torch
  is imported, so re-executing a chapter on one machine is bit-for-bit repeatable and x86-64 machines
  with AVX2 run the same code paths. They are *not* a promise of equal bits everywhere (another
  vendor's MKL path, macOS arm64 without MKL); chapters therefore assert their claims with margins and
  do not print live torch numbers under strict comparison.
* ``arithmetic_facts``: what decided the arithmetic of this process, for results files' provenance.

Importing this module does not import torch.

Explained in: book/appendix_arithmetic.md
"""
from __future__ import annotations

import os
import platform
import re

# Forced (not defaults): a reader's OMP_NUM_THREADS=8 or ATEN_CPU_CAPABILITY must not change the
# verdict of the tests. Each entry removes one measured source of different last bits.
PINNED_ENV: dict[str, str] = {
    "OMP_NUM_THREADS": "1",          # one thread: sums split the same way every run
    "MKL_NUM_THREADS": "1",
    "ATEN_CPU_CAPABILITY": "avx2",   # ATen's AVX2 kernels, also on AVX-512 CPUs (capped, never raised)
    "MKL_CBWR": "AVX2",              # MKL's conditional numerical reproducibility: the AVX2 branch
    "DNNL_MAX_CPU_ISA": "AVX2",      # oneDNN (convolutions) limited to AVX2 code
    "PYTHONHASHSEED": "0",           # set/dict order of strings in printed output
    "TQDM_MININTERVAL": "1000",      # no intermediate progress-bar frames in outputs
}

# Environment variables that decide the arithmetic (recorded by ``arithmetic_facts``).
ARITHMETIC_ENV = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "DNNL_MAX_CPU_ISA", "OMP_NUM_THREADS",
                  "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


def pin_environment(environ: dict | None = None) -> dict:
    """Force ``PINNED_ENV`` into ``environ`` (default ``os.environ``) and drop ``MPLBACKEND``.

    Only child processes started afterwards (notebook kernels) and a torch imported afterwards see it.
    Returns the previous values of the keys it changed (``None``: unset).
    """
    env = os.environ if environ is None else environ
    before = {k: env.get(k) for k in (*PINNED_ENV, "MPLBACKEND") if env.get(k) != PINNED_ENV.get(k)}
    env.update(PINNED_ENV)
    env.pop("MPLBACKEND", None)  # a non-inline backend would drop every figure output
    return before


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform``), '' when unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            import subprocess

            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                 text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def _blas_from_config(config: str) -> dict:
    facts = {}
    m = re.search(r"BLAS_INFO=([^,\s]+)", config)
    if m:
        facts["blas"] = m.group(1)
    for line in config.splitlines():
        line = line.strip(" -")
        if "Math Kernel Library" in line and "blas_version" not in facts:
            facts["blas_version"] = line
        elif line.startswith(("Intel(R) MKL-DNN", "oneDNN")) and "onednn_version" not in facts:
            facts["onednn_version"] = line
    return facts


def arithmetic_facts() -> dict:
    """What decides this process's torch CPU arithmetic, as plain JSON-able values.

    Keys: ``machine``, ``system``, ``cpu_model``, ``torch``, ``aten_cpu_capability`` (what ATen
    dispatches to now), ``mkl_available``, ``mkldnn_available``, ``mkldnn_enabled``, ``num_threads``,
    ``blas`` / ``blas_version`` / ``onednn_version`` (from ``torch.__config__.show()``) and ``env`` (the
    variables in ``ARITHMETIC_ENV``, ``None`` when unset). Imports torch.
    """
    import torch

    facts: dict = {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu_model": cpu_model(),
        "torch": torch.__version__,
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl_available": bool(torch.backends.mkl.is_available()),
        "mkldnn_available": bool(torch.backends.mkldnn.is_available()),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "num_threads": int(torch.get_num_threads()),
    }
    try:
        facts.update(_blas_from_config(torch.__config__.show()))
    except Exception:  # noqa: BLE001 - provenance must never break a run
        pass
    facts["env"] = {k: os.environ.get(k) for k in ARITHMETIC_ENV}
    return facts
