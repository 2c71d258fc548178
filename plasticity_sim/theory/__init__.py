"""The DASH paper's theory, runnable: feature/noise data, the discrete learning process, Fig. 3, bounds.

numpy only (scipy is imported inside ``theory.binomial_tail`` alone; torch never).

* ``model``: frequency laws and data points (``sample_frequencies``, ``sample_points``).
* ``process``: the exact rules; ``simulate`` runs cold / warm / ideal / dash / shrink_perturb;
  ``trace_training_run`` steps through one training run; ``expected_test_accuracy``.
* ``experiment``: ``Fig3Config`` and ``run_fig3`` (all seeds and methods, tidy arrays); ``fig3_data``
  draws a configuration's data once for several runs (a gamma / tau slider).
* ``theory``: the bounds and checks of the reconstructed propositions R1-R5.
* ``engine``, ``cold_start``: the fast exact implementation behind ``simulate`` (not needed to use it).

Explained in: book/theory/01_data_model.ipynb, book/theory/02_discrete_process.ipynb,
book/theory/03_warm_cold_ideal.ipynb, book/theory/04_theorems.ipynb
"""
from .experiment import METRICS, Fig3Config, Fig3Data, Fig3Result, MethodCurves, fig3_data, run_fig3, sample_seed
from .model import (FREQUENCY_LAWS, check_frequencies, sample_frequencies, sample_points,
                    sample_test_points)
from .process import (PROCESS_METHODS, Method, MethodResult, SimulationResult, Trace, TraceStep,
                      expected_test_accuracy, simulate, trace_training_run, training_run)
from .bounds import (binomial_tail, chernoff_tail_bound, cold_total_cost, explain_probability,
                     population_accuracy, set_agreement, subset_rate, warm_learn_bound)

__all__ = [
    "FREQUENCY_LAWS", "check_frequencies", "sample_frequencies", "sample_points", "sample_test_points",
    "PROCESS_METHODS", "Method", "MethodResult", "SimulationResult", "Trace", "TraceStep",
    "expected_test_accuracy", "simulate", "trace_training_run", "training_run",
    "METRICS", "Fig3Config", "Fig3Data", "Fig3Result", "MethodCurves", "fig3_data", "run_fig3", "sample_seed",
    "binomial_tail", "chernoff_tail_bound", "cold_total_cost", "explain_probability",
    "population_accuracy", "set_agreement", "subset_rate", "warm_learn_bound",
]
