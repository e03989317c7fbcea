"""Arctic equilibrium of the Winton (2000) two-layer ice next to the zero-layer ice (not a test).

    python -m benchmarks.seaice_winton_equilibrium [--years 100] [--figure docs/figures/seaice_winton.png]

Runs the Arctic column (MU71 / Semtner 1976 climatology, dt = 1 day, 30 m mixed layer, from
2.3 m of ice) for ``--years`` years with the Winton and the zero-layer thermodynamics, each
with the default effective emissivity ε = 1.02 and with ε = 1.0, and prints for the last year
the rows of the table in docs/seaice.md ("Arctic equilibrium: Winton against the zero-layer
model"): mean, range and seasonal amplitude of the thickness, the days of the thickest and the
thinnest ice, the drift from the year before, and the Winton layer and surface temperature
ranges.  With ``--figure`` it draws the figure of that section (thickness of the four runs
over the last year; the Winton T_s, T₁, T₂ and the zero-layer T_s at ε = 1.02).

The tests (tests/test_seaice_winton.py) check a shorter run (25 years from 3.5 m) against
looser bounds; the 100-year numbers of the docs come from this script.  About a minute on one
idle core (one compile per thermodynamics, then ~0.03 s a simulated year).
"""

from __future__ import annotations

import argparse

import equinox as eqx
import jax
import numpy as np

from pyclimaocean.models.seaice import (
    ArcticColumn,
    SlabSeaIceThermodynamics,
    WintonThermodynamics,
)
from pyclimaocean.plotting import pyplot, save_figure

YEAR_STEPS = 360
CASES = (("Winton (2000), ε = 1.02", WintonThermodynamics, 1.02),
         ("zero-layer, ε = 1.02", SlabSeaIceThermodynamics, 1.02),
         ("Winton, ε = 1.0", WintonThermodynamics, 1.0),
         ("zero-layer, ε = 1.0", SlabSeaIceThermodynamics, 1.0))


@eqx.filter_jit
def _run_year(model, state):
    return model.run(state, YEAR_STEPS, save_every=1, checkpoint_every=None)


def last_years(thermodynamics, years: int, initial_thickness: float = 2.3):
    """The daily states of the last two years of a ``years``-year run (numpy, time first)."""
    model = ArcticColumn(thermodynamics=thermodynamics, initial_ice_thickness=initial_thickness)
    state = model.initial_state()
    previous = None
    states = None
    for _ in range(years):
        previous = states
        state, states = _run_year(model, state)
    if previous is None:
        previous = states
    return jax.tree_util.tree_map(lambda a, b: np.concatenate([np.asarray(a), np.asarray(b)]),
                                  previous, states)


def summarise(states) -> dict[str, float]:
    """Last-year numbers of the docs table (thickness per ice area, m; days from 0)."""
    h = np.asarray(states.ice_volume) / np.where(np.asarray(states.concentration) > 0,
                                                  np.asarray(states.concentration), 1.0)
    before, last = h[:YEAR_STEPS], h[YEAR_STEPS:]
    out = {"mean_h": float(last.mean()), "min_h": float(last.min()), "max_h": float(last.max()),
           "amplitude": float(last.max() - last.min()),
           "thickest_day": int(np.argmax(last)), "thinnest_day": int(np.argmin(last)),
           "drift_mm_per_year": float(1e3 * abs(last.mean() - before.mean())),
           "min_Ts": float(np.min(states.surface_temperature[YEAR_STEPS:]))}
    if hasattr(states, "upper_ice_temperature"):
        for key, name in (("T1", "upper_ice_temperature"), ("T2", "lower_ice_temperature")):
            v = np.asarray(getattr(states, name))[YEAR_STEPS:]
            out[f"min_{key}"], out[f"max_{key}"] = float(v.min()), float(v.max())
    return out


def plot(results: dict, path: str, years: int):
    """The docs figure: thickness of every case over the last year; the Winton temperatures."""
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    day = np.arange(1, YEAR_STEPS + 1)
    styles = {0: ("C0", "-"), 1: ("C1", "-"), 2: ("C0", "--"), 3: ("C1", "--")}
    for i, (label, _, _) in enumerate(CASES):
        s = results[label][0]
        h = np.asarray(s.ice_volume) / np.where(np.asarray(s.concentration) > 0,
                                                 np.asarray(s.concentration), 1.0)
        colour, line = styles[i]
        ax.plot(day, h[YEAR_STEPS:], color=colour, ls=line, label=label)
    ax.set(xlabel="day of the (360-day) year", ylabel="ice thickness h (m)",
           title=f"Arctic column, year {years} (MU71 / Semtner 1976 forcing)")
    ax.legend(fontsize=8)
    w, z = results[CASES[0][0]][0], results[CASES[1][0]][0]
    bx.plot(day, np.asarray(w.surface_temperature)[YEAR_STEPS:], "k", label="surface T_s")
    bx.plot(day, np.asarray(w.upper_ice_temperature)[YEAR_STEPS:], "C3", label="upper layer T₁")
    bx.plot(day, np.asarray(w.lower_ice_temperature)[YEAR_STEPS:], "C2", label="lower layer T₂")
    bx.plot(day, np.asarray(z.surface_temperature)[YEAR_STEPS:], ":", color="grey",
            label="zero-layer T_s")
    t_m = float(WintonThermodynamics().brine_melting_temperature())
    bx.axhline(t_m, color="C3", lw=0.7, ls="--")
    bx.text(5, t_m + 0.5, "T_m = −μ S_i", color="C3", fontsize=8)
    bx.set(xlabel="day of the year", ylabel="°C", title="Winton temperatures (ε = 1.02)")
    bx.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=100)
    parser.add_argument("--initial-thickness", type=float, default=2.3)
    parser.add_argument("--figure", default=None, help="write the docs figure here")
    args = parser.parse_args(argv)
    results = {}
    for label, kind, emissivity in CASES:
        states = last_years(kind(emissivity=emissivity), args.years, args.initial_thickness)
        results[label] = (states, summarise(states))
        numbers = ", ".join(f"{k} {v:.3g}" for k, v in results[label][1].items())
        print(f"{label}: {numbers}")
    if args.figure:
        plot(results, args.figure, args.years)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
