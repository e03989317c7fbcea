"""Write ``coupled_arctic_atmosphere.nc``, the prescribed atmosphere of
``coupled_arctic_column.toml``: the idealised Arctic climatology of
:mod:`pyclimaocean.models.coupled.forcing` (Semtner 1976 radiation, MU71 snowfall, idealised
air temperature, humidity and wind; mid-month values of a 360-day year).

    python examples/coupled_arctic_atmosphere_data.py [OUTPUT_DIR]

Deterministic: the file committed next to this script is what it writes (checked by
tests/test_coupled_column.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyclimaocean.models.coupled import arctic_atmosphere_dataset

NAME = "coupled_arctic_atmosphere.nc"


def main(directory: str | Path = Path(__file__).parent) -> Path:
    path = Path(directory) / NAME
    arctic_atmosphere_dataset().to_netcdf(path)
    return path


if __name__ == "__main__":
    print(main(*sys.argv[1:]))
