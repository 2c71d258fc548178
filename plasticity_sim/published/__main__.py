"""``python -m plasticity_sim.published [NAME_OR_PATH] [--dataset D] [--optimizer O]``: print a published table.

Exit status 2 with one clear message for an unknown name, key or value, or a missing file.
"""
from __future__ import annotations

import argparse
import sys

from plasticity_sim.published import available, load_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m plasticity_sim.published", description=__doc__)
    ap.add_argument("table", nargs="?", default="dash_table1", help=f"one of {available()} or a .json path")
    ap.add_argument("--dataset")
    ap.add_argument("--optimizer")
    args = ap.parse_args(argv)
    try:
        table = load_table(args.table)
        where = {k: v for k, v in (("dataset", args.dataset), ("optimizer", args.optimizer)) if v}
        rows = table.select(**where)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table.title)
    print(table.citation)
    keys = [k for k in rows[0] if not k.endswith("_std")] if rows else []
    print("  ".join(f"{k:>13}" for k in keys))
    for r in rows:
        cells = []
        for k in keys:
            v = r[k]
            cells.append(f"{v:>13}" if f"{k}_std" not in r else f"{str(v) + ' (' + str(r[k + '_std']) + ')':>13}")
        print("  ".join(cells))
    for note in table.notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
