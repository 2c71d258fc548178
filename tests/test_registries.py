"""Every registry of the package, declared once: asking for a name it does not hold gives an error
whose "allowed:" list is exactly the names it accepts, in its order, and every listed name is
accepted (the bug this guards against: a name accepted by the code but missing from the message, or
a config's list differing from the factory's)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from plasticity_sim import diagnostics, methods, protocols, registry, runs
from plasticity_sim.data import load_dataset
from plasticity_sim.interventions import INTERVENTIONS, STEP_HOOKS, StepHookIntervention, get_intervention
from plasticity_sim.interventions.dash import GRANULARITIES, group_cosines
from plasticity_sim.models import HEAD_INIT_SCHEMES, MODEL_NAMES, build_model, check_model_size
from plasticity_sim.train import OPTIMIZER_NAMES, make_optimizer

UNKNOWN = "no_such_name"


def listed(message: str) -> list[str]:
    """The names after "allowed:" (or "choose one of") in an error message, quotes and brackets dropped."""
    m = re.search(r"(?:allowed:|choose one of)(.*)", message)
    assert m, f"no list of allowed names in: {message}"
    text = re.split(r" or (?:their labels|a callable|pass a callable)", m.group(1))[0]
    return re.findall(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]*", text)


def refused(message: str, name) -> bool:
    """Whether ``message`` is the unknown-name error for ``name`` (not some other complaint)."""
    # the first quoted value after "unknown" is the name, and the message goes on to list the allowed ones
    return re.search(rf"unknown [^'\"\[]*\[?{re.escape(repr(name))}.*(allowed:|choose one of)", message) is not None


def check_registry(call, accepted) -> None:
    accepted = [str(a) for a in accepted]
    with pytest.raises(ValueError) as err:
        call(UNKNOWN)
    assert refused(str(err.value), UNKNOWN), str(err.value)
    assert listed(str(err.value)) == accepted, str(err.value)
    for name in accepted:
        try:
            call(name)
        except (ValueError, TypeError, FileNotFoundError) as other:  # other complaints are fine
            assert not refused(str(other), name), f"{name!r} is listed but refused: {other}"


def test_the_checker_can_fail():
    def short_list(name):  # accepts "c" but leaves it out of the message
        if name not in ("a", "b", "c"):
            raise ValueError(f"unknown thing {name!r}; allowed: a, b")
    with pytest.raises(AssertionError):
        check_registry(short_list, ["a", "b", "c"])

    def refuses_listed(name):
        if name != "a":
            raise ValueError(f"unknown thing {name!r}; allowed: a, b")
    with pytest.raises(AssertionError):
        check_registry(refuses_listed, ["a", "b"])


def test_models():
    check_registry(lambda n: build_model(n, (3, 32, 32), 10) if n == UNKNOWN else None, MODEL_NAMES)
    check_registry(lambda n: check_model_size(n, (3, 32, 32), 10), MODEL_NAMES)
    assert MODEL_NAMES == registry.MODEL_NAMES and "mlp_ln" in MODEL_NAMES
    # the cheap ones are really built by the factory
    for name in ("mlp", "mlp_ln", "mlp_crelu", "cnn"):
        assert build_model(name, (1, 40), 10).head is not None


def test_head_init_schemes():
    model = build_model("mlp", (1, 8), 2, width=4)
    check_registry(lambda s: model.reset_head(torch.Generator(), scheme=s), HEAD_INIT_SCHEMES)


def test_datasets():
    # an unknown option stops the loader before any data is made, past the name check
    check_registry(lambda n: load_dataset(n, no_such_option=1), registry.DATASET_NAMES)


def test_optimizers():
    params = [torch.nn.Parameter(torch.zeros(2))]
    check_registry(lambda n: make_optimizer(n, params, lr=0.1), OPTIMIZER_NAMES)
    assert OPTIMIZER_NAMES == registry.OPTIMIZER_NAMES


def test_protocols_and_their_presets():
    check_registry(protocols.get, protocols.PROTOCOLS)
    for name, entry in protocols.PROTOCOLS.items():
        check_registry(lambda p, name=name: protocols.preset_config(p, protocol=name), entry.presets)


def test_interventions_and_step_hooks():
    check_registry(get_intervention, INTERVENTIONS)
    check_registry(lambda n: StepHookIntervention(n), STEP_HOOKS)


def test_method_table():
    check_registry(methods.get_method, methods.METHODS)
    check_registry(methods.resolve, sorted(methods.METHODS))


@pytest.mark.parametrize("protocol", list(protocols.PROTOCOLS))
def test_every_config_choice(protocol):
    """Each config field that declares its choices refuses others, listing exactly those."""
    cls = protocols.get(protocol).config
    fields = [f for f in dataclasses.fields(cls) if f.metadata.get("check", {}).get("choices") is not None]
    for f in fields:
        choices = f.metadata["check"]["choices"]
        choices = choices() if callable(choices) else choices
        is_tuple = isinstance(getattr(cls(), f.name), tuple)

        def validate(value, f=f, is_tuple=is_tuple):
            runs.validate_config(dataclasses.replace(cls(), **{f.name: (value,) if is_tuple else value}))
        check_registry(validate, choices)
        if f.name in ("model", "dataset", "optimizer") and len(choices) > 3:
            # a config taking "any" model / dataset / optimizer takes the factory's list, not a copy
            assert tuple(choices) == {"model": MODEL_NAMES, "dataset": registry.DATASET_NAMES,
                                      "optimizer": OPTIMIZER_NAMES}[f.name]


def test_diagnostics_choices():
    model = build_model("mlp", (1, 8), 2, width=4)
    x, y = torch.zeros(4, 1, 8), torch.zeros(4, dtype=torch.long)
    check_registry(lambda d: diagnostics.summarize(model, x, y, taus={d: 0.1}) if d == UNKNOWN else None,
                   diagnostics.DEFINITIONS)


def test_dash_granularities():
    p, d = torch.ones(2, 3), torch.ones(2, 3)
    check_registry(lambda g: group_cosines(p, d, g), GRANULARITIES)


def test_theory_registries():
    from plasticity_sim.frequencies import FREQUENCY_LAWS, sample_frequencies
    from plasticity_sim.theory import process

    check_registry(lambda law: sample_frequencies(2, 3, np.random.default_rng(0), law=law), FREQUENCY_LAWS)
    check_registry(lambda name: process.Method(name), process.PROCESS_METHODS)


def test_published_tables_and_their_levels():
    import ast

    from plasticity_sim import published

    check_registry(published.load_table, published.available())
    table = published.load_table()
    for key in ("dataset", "optimizer"):
        levels = table.levels(key)
        with pytest.raises(ValueError) as err:
            table.select(**{key: UNKNOWN})
        assert ast.literal_eval(str(err.value).split("allowed:", 1)[1].strip()) == levels
        for value in levels:
            assert table.select(**{key: value})


def test_config_keys():
    cls = protocols.get("chunked").config
    names = sorted(f.name for f in dataclasses.fields(cls))
    with pytest.raises(ValueError) as err:
        runs.config_from_dict(cls, {UNKNOWN: 1})
    assert listed(str(err.value)) == names
