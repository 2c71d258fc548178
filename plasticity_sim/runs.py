"""Runs: typed configs with declared checks, overrides, seeds, provenance, results files, checkpoints.

Why one module of ~400 lines: the pieces (declared checks, overrides, provenance, output checks,
checkpoints) are each short and are used together by every protocol; split, they would import
each other.

Everything a run needs besides the science, for every protocol alike. A protocol's config is a
dataclass whose fields declare their own checks with :func:`option` (bounds, allowed values,
whether the field changes the numbers); :func:`validate_config`, :func:`config_from_dict` and
:func:`apply_overrides` (``--set key=value``) work on any such dataclass. This module knows no
protocol: :mod:`plasticity_sim.protocols` holds the registry and turns a config into a results
file with the helpers here.

No torch at import time: chapters read results files and the CLI rejects a bad command line
without paying for it. Files are written atomically (temp file, then rename), so an interrupted
run never leaves a half-written results file or checkpoint behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import typing
from dataclasses import MISSING, field
from pathlib import Path

import numpy as np

from plasticity_sim import __version__
from plasticity_sim.atomic import atomic_path, write_bytes

RESULTS_FORMAT = "plasticity_sim.results/1"
CHECKPOINT_FORMAT = "plasticity_sim.checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"
# The shipped results live in the checkout's results/ folder; this is the one place that says so.
RESULTS_ROOT = Path(__file__).resolve().parent.parent / "results"


def results_dir(*parts: str) -> Path:
    """``results/<parts...>`` of the checkout (the shipped studies' folders), an absolute path."""
    return RESULTS_ROOT.joinpath(*parts)


# ---------------------------------------------------------------------------------------------
# Declared checks: each config field says what it accepts, once.
def option(default=MISSING, *, gt=None, ge=None, lt=None, le=None, choices=None, nonempty=False,
           unique=False, increasing=False, result=True, default_factory=MISSING):
    """A dataclass field with its checks. Bounds and ``choices`` apply to a number / string, or to
    every element of a tuple field; ``choices`` may be a callable returning the allowed names (read
    when checked, e.g. the method table). ``result=False`` marks a field that does not change the
    numbers (progress bars, device): it may differ on resume and in a sweep's "already done" test.
    """
    meta = {"gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices, "nonempty": nonempty,
            "unique": unique, "increasing": increasing, "result": result}
    if isinstance(default, (dict, list)):
        default, default_factory = MISSING, (lambda d=default: type(d)(d))
    return field(default=default, default_factory=default_factory, metadata={"check": meta})


def _bounds_text(m) -> str:
    lo = (m["gt"], "(") if m["gt"] is not None else (m["ge"], "[") if m["ge"] is not None else None
    hi = (m["lt"], ")") if m["lt"] is not None else (m["le"], "]") if m["le"] is not None else None
    if lo and hi:
        return f"must lie in {lo[1]}{lo[0]:g}, {hi[0]:g}{hi[1]}"
    if lo:
        return f"must be {'>' if lo[1] == '(' else '>='} {lo[0]:g}"
    return f"must be {'<' if hi[1] == ')' else '<='} {hi[0]:g}"


def _in_bounds(value, m) -> bool:
    return not ((m["gt"] is not None and not value > m["gt"]) or (m["ge"] is not None and not value >= m["ge"])
                or (m["lt"] is not None and not value < m["lt"]) or (m["le"] is not None and not value <= m["le"]))


def _nonfinite_path(obj, path: str) -> str | None:
    """``path.key`` of the first NaN/inf inside a JSON-like value, or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return path
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for k, v in items:
        found = _nonfinite_path(v, f"{path}.{k}")
        if found:
            return found
    return None


def _type_ok(value, kind) -> bool:
    if kind is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    return isinstance(value, kind)


def validate_config(config) -> None:
    """Raise ``ValueError`` naming the first bad field of a config dataclass and what is allowed.

    Types come from the annotations, checks from :func:`option`; numbers must be finite (also
    inside dict fields, which must be JSON); then the config's own ``check()`` (cross-field rules).
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ValueError(f"expected a config dataclass instance, got {type(config).__name__}")
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, kind, name = getattr(config, f.name), hints[f.name], f.name
        if kind is tuple and isinstance(value, list):
            value = tuple(value)
            setattr(config, name, value)
        if not _type_ok(value, kind):
            raise ValueError(f"{name}={value!r} has type {type(value).__name__}; expected {kind.__name__}")
        bad = _nonfinite_path(value, name)
        if bad:
            shown = f"{name}={value!r}" if bad == name else bad
            raise ValueError(f"{shown} is not a finite number (NaN or infinity)")
        if kind is dict:
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{name} must be JSON-serialisable: {err}") from None
        m = f.metadata.get("check")
        if not m:
            continue
        items = value if kind is tuple else (value,)
        if m["nonempty"] and not items:
            raise ValueError(f"{name}={value!r} must name at least one value")
        if m["unique"] and len(set(items)) != len(items):
            raise ValueError(f"{name}={value!r} has repeated values")
        if m["increasing"] and list(items) != sorted(items):
            raise ValueError(f"{name}={value!r} must be strictly increasing")
        choices = m["choices"]() if callable(m["choices"]) else m["choices"]
        for item in items:
            if choices is not None and item not in choices:
                what = f"{name} {item!r}" if kind is not tuple else f"value {item!r} in {name}"
                raise ValueError(f"unknown {what}; allowed: {', '.join(map(str, choices))}")
            if any(m[k] is not None for k in ("gt", "ge", "lt", "le")):
                if not isinstance(item, (int, float, np.integer, np.floating)) or isinstance(item, bool):
                    raise ValueError(f"{name}={value!r}: {item!r} is not a number")
                if not _in_bounds(item, m):
                    shown = item if kind is not tuple else value
                    raise ValueError(f"{name}={shown!r} {_bounds_text(m)}" if kind is tuple
                                     else f"{name}={item} {_bounds_text(m)}")
    check = getattr(config, "check", None)
    if callable(check):
        check()
    config.__dict__[_STAMP] = _values(config)


# A config remembers the values it was validated with, so the steps of one run (builder, run_config,
# the protocol's prepare) validate it once; a change since (even inside a dict field) shows in the repr.
_STAMP = "_validated_values"


def _values(config) -> str:
    return repr([getattr(config, f.name) for f in dataclasses.fields(config)])


def ensure_valid(config) -> None:
    """:func:`validate_config`, unless ``config`` was validated already with its current values."""
    if not (dataclasses.is_dataclass(config) and getattr(config, _STAMP, None) == _values(config)):
        validate_config(config)


def result_fields(config_or_cls) -> tuple[str, ...]:
    """Names of the fields that change a run's numbers (all but ``option(result=False)`` ones)."""
    return tuple(f.name for f in dataclasses.fields(config_or_cls)
                 if f.metadata.get("check", {}).get("result", True))


def same_results_config(a: dict, b: dict, cls) -> bool:
    """True when two config dicts of ``cls`` describe the same numbers (non-result fields aside). A
    missing field takes the class default: a field added later defaults to what the code did before."""
    defaults = config_defaults(cls)
    return all(a.get(k, defaults.get(k)) == b.get(k, defaults.get(k)) for k in result_fields(cls))


def config_defaults(cls) -> dict:
    """Every field of ``cls`` that has a default, as plain JSON values (what a missing key means)."""
    return {f.name: json.loads(json.dumps(f.default if f.default_factory is dataclasses.MISSING else f.default_factory()))
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


def config_from_dict(cls, values: dict):
    """Build and validate a ``cls`` config from a dict; unknown keys are an error."""
    if not isinstance(values, dict):
        raise ValueError(f"a config must be a JSON object, got {type(values).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown}; allowed: {', '.join(sorted(names))}")
    hints = typing.get_type_hints(cls)
    values = {k: tuple(v) if hints[k] is tuple and isinstance(v, list) else v for k, v in values.items()}
    config = cls(**values)
    validate_config(config)
    return config


def to_dict(config) -> dict:
    """Plain JSON-able dict of every field of a config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


# Typed overrides: `--set key=value`, typed by the dataclass field (nanoGPT's idea without exec).
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _parse_value(key: str, kind, text: str):
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError("expected true/false")
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError("expected a finite number")
            return value
        if kind in (dict, tuple):
            value = json.loads(text) if kind is dict or text.lstrip().startswith("[") else \
                [json.loads(t) if t.strip().lstrip("-").replace(".", "", 1).isdigit() else t.strip()
                 for t in text.split(",") if t.strip()]
            if kind is dict and not isinstance(value, dict):
                raise ValueError("expected a JSON object such as {\"lam\": 0.3}")
            if kind is tuple and not isinstance(value, list):
                raise ValueError("expected a list such as 0,1,2 or [0, 1, 2]")
            return value if kind is dict else tuple(value)
        return text
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"bad value {text!r} for {key} ({kind.__name__}): {err}") from None


def apply_overrides(config, assignments: list[str]):
    """Apply ``key=value`` strings to a config dataclass, each parsed with its field's type.

    ``key.sub=value`` sets one entry of a dict field (``method_params.lam=0.5``); the value is read
    as JSON when it parses as JSON, else kept as a string; a tuple field takes ``0,1,2``. Unknown
    keys and unparsable values raise ``ValueError`` naming them. The result is validated.
    """
    return config_from_dict(type(config), override_values(type(config), dataclasses.asdict(config), assignments))


def override_values(cls, values: dict, assignments: list[str]) -> dict:
    """``values`` (a dict of ``cls`` fields) with the ``key=value`` strings applied (see
    :func:`apply_overrides`); not validated, so a builder can validate the final config once."""
    hints = typing.get_type_hints(cls)
    values = dict(values)
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"bad override {assignment!r}; expected key=value")
        top, _, sub = key.partition(".")
        if top not in hints:
            raise ValueError(f"unknown config key {top!r}; allowed: {', '.join(sorted(hints))}")
        if sub:
            if hints[top] is not dict:
                raise ValueError(f"{top!r} is not a dict field, so {key!r} is not a key")
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = text
            values[top] = dict(values[top], **{sub: parsed})
        else:
            values[top] = _parse_value(top, hints[top], text)
    return values


# ---------------------------------------------------------------------------------------------
# Seeds
def seed_streams(seed: int, names: tuple[str, ...] = ("init", "chunks", "train", "intervention"),
                 key: int | None = None) -> dict[str, int]:
    """Independent integer seeds for the named random streams of one run, derived from ``seed``.

    Separate streams keep methods paired: changing what an intervention draws never changes the
    initial model, the chunks or the batch order. Every protocol derives its streams here.
    ``key`` (an int >= 0) gives each stream a sub-stream of its own for that key - the chunked
    protocol keys an experiment's streams by the number of points it trains on, so they do not
    depend on what ran before (``streams="by_size"``). Without a key the streams are unchanged.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if key is None:
        children = np.random.SeedSequence(int(seed)).spawn(len(names))
    else:
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
            raise ValueError(f"key must be a non-negative int, got {key!r}")
        # the key-th grandchild of each stream: never one of the unkeyed streams themselves
        children = [np.random.SeedSequence(int(seed), spawn_key=(i, int(key))) for i in range(len(names))]
    return {name: int(child.generate_state(1)[0]) for name, child in zip(names, children)}


# ---------------------------------------------------------------------------------------------
# Provenance (git commit, versions, arithmetic) lives in plasticity_sim.provenance; the names stay
# here too because every writer of a results file reaches them through runs.
from plasticity_sim.provenance import CODE_PATHS, git_commit, provenance  # noqa: E402,F401


# ---------------------------------------------------------------------------------------------
# Files: results JSON, output checks, checkpoints
class RunFailed(RuntimeError):
    """A run that failed after it started (divergence, a results file taken meanwhile): reported as
    ``run failed: ...`` with exit status 1, never as a usage error."""


def write_json_atomic(path: str | os.PathLike, obj, *, exclusive: bool = False) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically: temp file in the same directory, then rename.

    If serialisation fails the target is untouched and no temp file remains. ``exclusive=True``
    never replaces an existing ``path`` (``FileExistsError``).
    """
    text = json.dumps(obj, indent=1, allow_nan=False)  # fail before touching the disk
    return write_bytes(Path(path), text + "\n", exclusive=exclusive)


def read_json(path: str | os.PathLike, what: str = "file"):
    """JSON of ``path``; a missing file is ``FileNotFoundError``, bad JSON a ``ValueError``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _writable_dir(folder: Path, what: str, target: Path | None = None) -> None:
    """Raise ``ValueError`` unless files can be created under ``folder`` (made later); the message
    names ``target`` (the path the user gave) when it is given."""
    named = str(target if target is not None else folder)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{what} {named!r}: {str(probe)!r} is a file, not a folder; choose another location")
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise ValueError(f"{what} {named!r} cannot be written: cannot create files in {str(probe)!r} "
                         f"({err.strerror or err}); choose another location") from None


def check_output(path: str | os.PathLike, *, overwrite: bool = False, what: str = "--out") -> Path:
    """Check before any work that ``path`` can receive a results file: a non-empty path, not a
    folder nor any other non-regular file (FIFO, device: refused even with ``overwrite``, which
    replaces only results files), its folder writable, and not an existing file unless
    ``overwrite``. Nothing is created."""
    if str(path).strip() == "":
        raise ValueError(f"{what} {str(path)!r} is empty; give a file path such as 'results/run.json'")
    path = Path(path)
    if path.is_dir() or str(path).endswith(os.sep):
        raise ValueError(f"{what} {str(path)!r} is a folder; give a file path such as "
                         f"{str(path / 'results.json')!r}")
    if path.exists() and not path.is_file():
        raise ValueError(f"{what} {str(path)!r} exists and is not a regular file (a FIFO, device or "
                         "socket); give the path of a results file")
    if path.exists() and not overwrite:
        raise ValueError(f"{what} {str(path)!r} already exists; pass --overwrite to replace it "
                         "or choose another path")
    _writable_dir(path.parent, what, path)
    return path


def check_checkpoint_dir(folder: str | os.PathLike, *, resume: bool, overwrite: bool) -> Path:
    """Check before any work that ``folder`` can hold this run's checkpoint: a folder (or creatable),
    writable, and not holding another run's checkpoint unless resuming or overwriting."""
    if str(folder).strip() == "":
        raise ValueError("--checkpoint-dir '' is empty; give a folder path such as 'checkpoints/run'")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--checkpoint-dir {str(folder)!r} is a file, not a folder")
    ckpt = folder / CHECKPOINT_NAME
    if ckpt.exists() and not (resume or overwrite):
        raise ValueError(f"checkpoint {str(ckpt)!r} already exists; pass --resume to continue that "
                         "run or --overwrite to start again and replace it")
    _writable_dir(folder, "--checkpoint-dir")
    return ckpt


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """``torch.save`` ``state`` (tensors, ints, floats, strings) to ``path`` atomically."""
    import torch

    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    A damaged or foreign file is a ``ValueError`` naming the path and what to do.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # zip errors, truncation, unsafe content: torch raises many kinds
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint {str(path)!r} cannot be read ({type(err).__name__}: {reason}); "
                         "it is damaged or not ours: delete it, or run without --resume "
                         "and with --overwrite") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    return state


def json_dumps(obj) -> str:
    """Strict JSON text (no NaN): how checkpoints carry configs and records as plain strings."""
    return json.dumps(obj, allow_nan=False)


def json_loads(text: str):
    """Inverse of :func:`json_dumps`."""
    return json.loads(text)


@dataclasses.dataclass
class RunOutcome:
    """What every protocol's ``run`` returns: plain records and how they were made.

    ``records``: one dict per experiment / phase / run (the protocol says what a record is);
    ``complete``: False when stopped early (``stop_after``); ``seeds``: the seeds and streams;
    ``intervention``: the method(s) and their parameters as built; ``elapsed``: seconds of
    protocol time, including earlier runs before a resume.
    """

    records: list[dict]
    complete: bool = True
    device: str = "cpu"
    device_name: str | None = None
    seeds: dict = dataclasses.field(default_factory=dict)
    dataset_meta: dict = dataclasses.field(default_factory=dict)
    intervention: dict = dataclasses.field(default_factory=dict)
    elapsed: float = 0.0
