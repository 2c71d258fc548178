"""The papers' own numbers, shipped as data files, so the book can put our reproductions beside them.

Each file in this folder is a JSON document with a ``citation``, a ``protocol`` summary, ``columns``
(what each number means), ``notes`` (known quirks of the published table) and ``rows`` (one dict per
table cell group). Nothing here is computed by this package: the numbers are transcribed from the source
named in ``citation`` (``dash_fig3_rerun``: the authors' own notebook re-run, since the paper prints
curves only; its ``source_kind`` says so).

Explained in: book/00_headline_results.ipynb
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PublishedTable", "available", "load_table", "table1", "plot_table1"]

_HERE = Path(__file__).resolve().parent
# Short names the book uses for the DASH Table 1 methods (our CLI method names on the right).
METHOD_ALIASES = {"Random Init": "cold", "Warm Init": "warm", "S&P": "sp", "DASH": "dash"}


def available() -> list[str]:
    """Names of the published tables shipped with the package.
    """
    return sorted(p.stem for p in _HERE.glob("*.json"))


@dataclass(frozen=True)
class PublishedTable:
    """A published results table: provenance plus rows of numbers.
    """

    name: str
    title: str
    citation: str
    protocol: str
    columns: dict
    notes: list
    rows: list = field(repr=False)
    meta: dict = field(default_factory=dict, repr=False)

    def levels(self, key: str) -> list:
        """Distinct values of ``key`` (e.g. ``"dataset"``) in table order."""
        if not self.rows or key not in self.rows[0]:
            raise ValueError(f"unknown key {key!r}; keys are {sorted(self.rows[0]) if self.rows else []}")
        out = []
        for r in self.rows:
            if r[key] not in out:
                out.append(r[key])
        return out

    def select(self, **where) -> list[dict]:
        """Rows whose fields equal every ``key=value`` given; unknown keys or values raise ValueError."""
        rows = self.rows
        for key, value in where.items():
            allowed = self.levels(key)
            if value not in allowed:
                raise ValueError(f"unknown {key} {value!r} in table {self.name!r}; allowed: {allowed}")
            rows = [r for r in rows if r[key] == value]
        return rows


def _check_document(doc, path: Path) -> None:
    """ValueError naming the file and the first thing wrong with its structure, if anything is."""
    where = f"published table {str(path)!r}"
    if not isinstance(doc, dict):
        raise ValueError(f"{where} holds a JSON {type(doc).__name__}, not an object with keys "
                         "'name', 'citation' and 'rows'")
    missing = [k for k in ("name", "citation", "rows") if k not in doc]
    if missing:
        raise ValueError(f"{where} lacks required keys {missing}")
    for key, kind in (("name", str), ("title", str), ("citation", str), ("protocol", str),
                      ("columns", dict), ("notes", list), ("rows", list)):
        if key in doc and not isinstance(doc[key], kind):
            raise ValueError(f"{where}: {key!r} must be a JSON "
                             f"{ {str: 'string', dict: 'object', list: 'array'}[kind]}, got "
                             f"{type(doc[key]).__name__} {doc[key]!r:.60}")
    rows = doc["rows"]
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise ValueError(f"{where}: rows[{bad}] must be a JSON object, got {rows[bad]!r:.60}")
    if rows and any(set(r) != set(rows[0]) for r in rows):
        i = next(i for i, r in enumerate(rows) if set(r) != set(rows[0]))
        raise ValueError(f"{where}: rows[{i}] has keys {sorted(rows[i])}, rows[0] has "
                         f"{sorted(rows[0])}; every row needs the same keys")


def load_table(name_or_path: str | Path = "dash_table1") -> PublishedTable:
    """Load a published table by name (see :func:`available`) or from a JSON file path.

    Raises ``ValueError`` for an unknown name and ``FileNotFoundError`` for a missing path, each naming
    the value.

    Explained in: book/00_headline_results.ipynb
    """
    text = str(name_or_path)
    if text.endswith(".json") or "/" in text or "\\" in text:
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"published table file not found: {str(path)!r}")
    else:
        if text not in available():
            raise ValueError(f"unknown published table {text!r}; allowed: {', '.join(available())}")
        path = _HERE / f"{text}.json"
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"published table {str(path)!r} is not valid JSON: {e}") from None
    except OSError as e:
        raise ValueError(f"published table {str(path)!r} cannot be read: {e.strerror or e}") from None
    _check_document(doc, path)
    known = {"name", "title", "citation", "protocol", "columns", "notes", "rows"}
    return PublishedTable(
        name=doc["name"], title=doc.get("title", doc["name"]), citation=doc["citation"],
        protocol=doc.get("protocol", ""), columns=doc.get("columns", {}), notes=doc.get("notes", []),
        rows=doc["rows"], meta={k: v for k, v in doc.items() if k not in known},
    )


def table1(dataset: str, optimizer: str = "SGD") -> list[dict]:
    """DASH Table 1 rows (one per method) for one dataset and optimizer, with a ``short`` method name.

    Later chapters compare our reproductions to these rows.

    Explained in: book/00_headline_results.ipynb
    """
    rows = load_table("dash_table1").select(dataset=dataset, optimizer=optimizer)
    return [dict(r, short=METHOD_ALIASES[r["method"]]) for r in rows]


def plot_table1(dataset: str = "CIFAR-10", optimizer: str = "SGD", *, ours: dict | None = None, fig=None):
    """Bar chart of one Table-1 cell group: last/average test accuracy and steps per method, ± std.

    ``ours`` optionally maps a short method name (``cold``, ``warm``, ``sp``, ``dash``) to a dict with
    the same keys (``acc_last``, ``acc_avg``, ``steps_last``, ``steps_avg`` and ``*_std``) to draw our
    reproduction beside the published bars (hatched). Returns the matplotlib Figure.

    Explained in: book/00_headline_results.ipynb
    """
    from matplotlib.figure import Figure

    from plasticity_sim.plotting import method_color

    rows = table1(dataset, optimizer)
    # 7 in at 96 dpi: shown at its natural size in the text column, a point is a point on the page
    fig = fig or Figure(figsize=(7.0, 3.2), dpi=96, facecolor="white", layout="constrained")
    axes = fig.subplots(1, 2)
    width = 0.38 if ours else 0.75
    for ax, (kind, unit) in zip(axes, [("acc", "test accuracy (%)"), ("steps", "SGD steps")]):
        for i, r in enumerate(rows):
            color = method_color(r["short"])
            for j, (when, alpha) in enumerate([("last", 1.0), ("avg", 0.45)]):
                x = i * 2.2 + j
                key = f"{kind}_{when}"
                ax.bar(x, r[key], width, yerr=r[key + "_std"], color=color, alpha=alpha, capsize=2)
                if ours and r["short"] in ours and key in ours[r["short"]]:
                    o = ours[r["short"]]
                    ax.bar(x + width, o[key], width, yerr=o.get(key + "_std", 0.0), color="white",
                           edgecolor=color, hatch="//", capsize=2)
        ax.set_xticks([i * 2.2 + 0.5 for i in range(len(rows))], [r["method"].replace(" ", "\n") for r in rows], fontsize=9)
        ax.set_ylabel(unit)
        ax.set_title("test accuracy" if kind == "acc" else "SGD steps", fontsize=10)
    # one title for both panels (two long panel titles were clipped at the right edge)
    fig.suptitle(f"{dataset}, {optimizer}: dark bars = last experiment, light = average of all 50",
                 fontsize=10)
    return fig
