"""plasticity_sim: the companion package of the Plasticity Book.

Two engines share one vocabulary:

* :mod:`plasticity_sim.theory` (numpy only) - the DASH paper's feature/noise data model and its
  discrete learning process (cold / warm / ideal), explained in ``book/theory/``.
* the torch training engine (:mod:`plasticity_sim.data`, :mod:`plasticity_sim.models`,
  :mod:`plasticity_sim.train`, :mod:`plasticity_sim.interventions`,
  :mod:`plasticity_sim.diagnostics`, :mod:`plasticity_sim.protocols`) - real networks warm-started
  with the published interventions, explained in ``book/dash/``.

Importing the package never imports torch, so the theory chapters stay numpy-only.
"""

__version__ = "0.1.0"
