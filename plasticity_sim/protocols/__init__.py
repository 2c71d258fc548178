"""Experiment protocols: the loops that train, intervene and evaluate.

``chunked`` is the DASH paper's protocol (explained in book/dash/02_warm_starting_real_networks.ipynb).
Protocols are looked up by name and imported lazily, so ``import plasticity_sim.protocols`` does not
import torch.
"""

from __future__ import annotations

import importlib

# name -> (module, run function, check function). run(config, *, resume_state, on_checkpoint,
# stop_after) returns a result with records/summary; check(config) raises ValueError if it cannot run.
PROTOCOLS = {"chunked": ("plasticity_sim.protocols.chunked", "run_chunked", "check_chunked")}


def _lookup(name: str, which: int):
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; allowed: {', '.join(PROTOCOLS)}")
    module = importlib.import_module(PROTOCOLS[name][0])
    return getattr(module, PROTOCOLS[name][which])


def get_protocol(name: str):
    """The run function of protocol ``name`` (e.g. ``"chunked"``).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    return _lookup(name, 1)


def get_check(name: str):
    """The config check of protocol ``name``: raises ``ValueError`` if a config cannot run.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    return _lookup(name, 2)
