"""What each protocol takes and what its results say: configs, presets, costs, summaries.

One dataclass per protocol; each field declares its own checks (:func:`plasticity_sim.runs.option`),
so :func:`plasticity_sim.runs.validate_config` checks every protocol the same way. This module is
torch-free, so the CLI can parse and reject a command line, and chapters can read results files,
without importing torch; the training loops live beside it, one module per protocol.

Accuracies are fractions in [0, 1] everywhere (the papers print percentages).

One module per book part (``dash``, ``continual``, ``hare_tortoise``) and what they share
(``common``); every name is re-exported here, so ``from plasticity_sim.protocols.specs import
ChunkedConfig`` reads the same whichever part the config belongs to.
"""

from __future__ import annotations

from .common import DATASETS, MODELS, OPTIMIZERS, check_device, check_method_params, mean_by
from .continual import (REGRESSION_ACTIVATIONS, REGRESSION_METHODS, ClassIncrementalConfig, PermutedConfig,
                        SlowRegressionConfig, regression_summary)
from .dash import (ADAMW_ABLATION, CHUNKED_COST, CHUNKED_PRESETS, ChunkedConfig, FeatureProbeConfig,
                   PretrainSweepConfig, SubsetCosineConfig, table1_summary)
from .hare_tortoise import (GROWING_DATA_PRESETS, HT_SCALED_PARAMS, NOISY_WARM_START_COST,
                            NOISY_WARM_START_PRESETS, GrowingDataConfig, NoisyWarmStartConfig,
                            growing_data_summary, noisy_warm_start_summary)

__all__ = ["DATASETS", "MODELS", "OPTIMIZERS", "check_device", "check_method_params", "mean_by",
           "ChunkedConfig", "table1_summary", "ADAMW_ABLATION", "CHUNKED_PRESETS", "CHUNKED_COST",
           "PretrainSweepConfig", "SubsetCosineConfig", "FeatureProbeConfig",
           "REGRESSION_ACTIVATIONS", "REGRESSION_METHODS", "SlowRegressionConfig", "regression_summary",
           "PermutedConfig", "ClassIncrementalConfig",
           "NoisyWarmStartConfig", "HT_SCALED_PARAMS", "NOISY_WARM_START_PRESETS", "NOISY_WARM_START_COST",
           "noisy_warm_start_summary", "GrowingDataConfig", "GROWING_DATA_PRESETS", "growing_data_summary"]
