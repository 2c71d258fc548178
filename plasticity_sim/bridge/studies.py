"""The bridge study: the discrete model's regime drawn as images, two networks, five methods.

    python -m plasticity_sim study bridge/networks            # results/bridge/<network>_<method>.json
    python -m plasticity_sim study bridge/networks --list     # one command per job, for a cluster

The regime (:data:`DATA`, :data:`PROTOCOL`): C = 2 classes of K = 30 features each with the
discrete model's power law p_k = 0.3 / k (a few common features, a long tail down to p = 0.01),
N = 1,500 training images of 16 x 16 pixels (3 channels, 4 x 4 patch slots), two noise patches per
image, J = 5 chunks. The discrete simulator, fed the same frequencies, N and J, predicts a clear
warm penalty in the rare features for every threshold gamma from 3 to 8
(:func:`plasticity_sim.bridge.compare.model_prediction`).

Each job runs one network with one method over every seed (data, initial weights and chunks drawn
from the seed, so the methods of a seed are paired) and stores, per experiment, the per-feature
measurements of :mod:`plasticity_sim.bridge.measure`.

Explained in: book/bridge/01_theory_meets_network.ipynb
"""
from __future__ import annotations

import time
from pathlib import Path

from plasticity_sim import runs
from plasticity_sim.sweep import Call, Study

RESULTS = runs.results_dir("bridge")
DATA = {"num_classes": 2, "features_per_class": 30, "frequencies": "power_law",
        "frequency_params": {"p_max": 0.3, "alpha": 1.0}, "patch_size": 4, "image_size": 16,
        "channels": 3, "noise_patches": 2, "noise_std": 1.0, "n_train": 1500, "n_test": 500}
PROTOCOL = {"num_chunks": 5, "optimizer": "adamw", "lr": 1e-2, "batch_size": 64,
            "target_train_acc": 1.0, "max_epochs": 300}
# The patch CNN: the network of the feature-learning theory (one filter = one patch-shaped unit).
# The small CNN: the ordinary network of the DASH chapters (three 3x3/5x5 strided convolutions).
NETWORKS = {"patch_cnn": {"model": "patch_cnn", "width": 64}, "cnn": {"model": "cnn", "width": 32}}
METHODS = {"patch_cnn": ("cold", "warm", "sp", "dash", "oracle"), "cnn": ("cold", "warm", "sp", "dash")}
SEEDS = (0, 1, 2, 3, 4)
FORMAT = "plasticity_sim.bridge_network/1"


def config(network: str, method: str, seed: int, **overrides):
    """The ``feature_chunked`` config of one run of the study."""
    from plasticity_sim.protocols.feature_chunked import FeatureChunkedConfig

    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; allowed: {', '.join(NETWORKS)}")
    return FeatureChunkedConfig(**{"data": dict(DATA), **NETWORKS[network], **PROTOCOL, "method": method,
                                   "seed": int(seed), **overrides})


def network_file(out, *, network: str, method: str, seeds, overwrite: bool = False,
                 check_only: bool = False, **overrides) -> str:
    """The study runner's job: ``network`` x ``method`` over ``seeds`` into one results file."""
    from plasticity_sim.bridge.measure import Measurer
    from plasticity_sim.protocols import feature_chunked

    out = Path(out)
    runs.check_output(out, overwrite=overwrite, what="results file")
    configs = [config(network, method, s, **overrides) for s in seeds]
    for c in configs:
        feature_chunked.check(c)
    if check_only:
        return str(out)
    t0, per_seed = time.perf_counter(), []
    for c in configs:
        data = feature_chunked.load_data(c)
        outcome = feature_chunked.run(c, measure=Measurer(data, c.seed))
        per_seed.append({"seed": c.seed, "experiments": outcome.records, "dataset": outcome.dataset_meta,
                         "intervention": outcome.intervention, "wall_time_s": outcome.elapsed})
    runs.write_json_atomic(out, {
        "format": FORMAT, "network": network, "method": method,
        "config": runs.to_dict(configs[0]) | {"seed": None}, "seeds": [c.seed for c in configs],
        "runs": per_seed, "provenance": dict(runs.provenance("cpu"), wall_time_s=time.perf_counter() - t0)})
    return str(out)


def rerun_seed(config_values: dict) -> list:
    """One seed of a results file again, from the config it stored (with ``seed`` set): the
    per-experiment measurements, as the file holds them (``python -m plasticity_sim verify``)."""
    from plasticity_sim.bridge.measure import Measurer
    from plasticity_sim.protocols import feature_chunked
    from plasticity_sim.protocols.feature_chunked import FeatureChunkedConfig

    c = runs.config_from_dict(FeatureChunkedConfig, config_values)
    feature_chunked.check(c)
    return feature_chunked.run(c, measure=Measurer(feature_chunked.load_data(c), c.seed)).records


def load(network: str, method: str, results_dir=RESULTS) -> dict:
    """One results file of the study, checked: its format, network, method and one run per seed."""
    path = Path(results_dir) / f"{network}_{method}.json"
    data = runs.read_json(path, "bridge results file")
    if data.get("format") != FORMAT or data.get("network") != network or data.get("method") != method:
        raise ValueError(f"{path} is not the bridge results file of {network} / {method}")
    if [r["seed"] for r in data["runs"]] != data["seeds"]:
        raise ValueError(f"{path}: its runs do not match its seeds {data['seeds']}")
    return data


STUDIES = (
    Study("bridge/networks", "bridge",
          tuple(Call("plasticity_sim.bridge.studies:network_file", f"{net}_{m}.json",
                     {"network": net, "method": m}) for net in NETWORKS for m in METHODS[net]),
          seeds=SEEDS, chapters=("bridge/01",),
          doc="the discrete model's regime as images: patch CNN and small CNN, cold/warm/S&P/DASH(/oracle), "
              "per-feature ground truth after every experiment, 5 paired seeds"),
)
