"""plasticity_sim.arithmetic: what decides the CPU arithmetic is recorded, and the pin is forced."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from plasticity_sim import arithmetic


def test_facts_record_what_decides_the_arithmetic(monkeypatch):
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    facts = arithmetic.arithmetic_facts()
    json.dumps(facts)  # plain values only
    import torch

    assert facts["aten_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert facts["num_threads"] == torch.get_num_threads()
    assert facts["mkl_available"] == torch.backends.mkl.is_available()
    assert facts["mkldnn_enabled"] == torch.backends.mkldnn.enabled
    assert facts["env"]["MKL_CBWR"] == "COMPATIBLE"
    assert set(arithmetic.ARITHMETIC_ENV) <= set(facts["env"])
    assert facts["cpu_model"] and facts["machine"] and facts["torch"] == torch.__version__
    if facts["mkl_available"]:
        assert facts["blas"] == "mkl" and "Math Kernel Library" in facts["blas_version"]
    assert not any(str(v).startswith("/") for v in facts.values()), "no absolute paths of this machine"


def test_importing_does_not_import_torch():
    code = "import sys, plasticity_sim.arithmetic; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pin_is_forced_over_the_readers_settings():
    env = {"OMP_NUM_THREADS": "8", "ATEN_CPU_CAPABILITY": "default", "MPLBACKEND": "Agg", "HOME": "/x"}
    before = arithmetic.pin_environment(env)
    assert before["OMP_NUM_THREADS"] == "8" and before["ATEN_CPU_CAPABILITY"] == "default"
    assert {k: env[k] for k in arithmetic.PINNED_ENV} == arithmetic.PINNED_ENV
    assert "MPLBACKEND" not in env and env["HOME"] == "/x"


def test_pinned_kernel_really_runs_the_pinned_arithmetic():
    """The pin reaches a child process's torch (what a chapter kernel sees), whatever the parent had."""
    env = dict(os.environ, OMP_NUM_THREADS="2", ATEN_CPU_CAPABILITY="default")
    arithmetic.pin_environment(env)
    code = ("import torch, json; print(json.dumps([torch.get_num_threads(), "
            "torch.backends.cpu.get_cpu_capability()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    threads, capability = json.loads(out.stdout)
    assert threads == 1
    assert capability in ("AVX2", "DEFAULT")   # AVX2, or the CPU's best when it has less (never AVX512)
