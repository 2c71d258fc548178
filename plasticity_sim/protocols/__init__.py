"""Experiment protocols: the loops that train, intervene and evaluate.

``chunked`` is the DASH paper's protocol (explained in book/dash/02_warm_starting_real_networks.ipynb).
Protocols are looked up by name and imported lazily, so ``import plasticity_sim.protocols`` does not
import torch.
"""

from __future__ import annotations

import importlib

# name -> (module, function); each function takes (config, *, resume_state, on_checkpoint, stop_after)
PROTOCOLS = {"chunked": ("plasticity_sim.protocols.chunked", "run_chunked")}


def get_protocol(name: str):
    """The run function of protocol ``name`` (e.g. ``"chunked"``).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; allowed: {', '.join(PROTOCOLS)}")
    module, function = PROTOCOLS[name]
    return getattr(importlib.import_module(module), function)
