"""``python -m plasticity_sim ...``: see :mod:`plasticity_sim.cli`."""

import sys

from plasticity_sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
