r"""Loss-landscape scans: is Φ smooth where the optimizer works, and is its gradient right?

A gradient-based optimizer trusts two things: that Φ(u) is smooth near the iterates and that
the adjoint gradient ∇Φ is its derivative.  :func:`scan` checks both along 1-D lines
u(t) = u₀ + t d through a point u₀ (unit directions d in unconstrained space: the coordinate
axes, random directions, or ones you give):

* at every sample t_i it evaluates Φ and the AD directional derivative Φ'(t_i) = ∇Φ · d;
* **jump detection**: on each interval the observed change ΔΦ is compared with the trapezoid
  prediction ½(Φ'(t_i) + Φ'(t_{i+1})) Δt (exact for quadratics; error O(Δt³)).  An interval
  whose mismatch |ΔΦ − pred| is more than half of max(|ΔΦ|, |pred|) and above the round-off
  floor is suspicious; it is then bisected ``refine`` times (keeping the worse half).  If the
  mismatch survives down to an interval Δt/2^refine it is reported as a **discontinuity**
  (with the jump size and its ratio to what the slope predicts); if it disappears it was a
  steep but smooth stretch (reported as ``resolved_at``);
* **AD vs FD**: at u₀ the AD directional derivative is compared with a central finite
  difference of step ``fd_step``;
* **zero sensitivity**: parameters whose data-misfit gradient at u₀ is exactly 0.

:func:`landscape_from_file` runs it on a calibration config (the ``pyclimaocean landscape``
command) and writes ``landscape.json`` and ``landscape.png``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..io.experiment_dir import dump_toml as _dump_toml
from ..io.files import atomic_write_bytes
from ..params import ParameterError
from ..plotting import _plt, save_figure
from .experiment import build_calibration, load_calibration, prepare_output_dir, write_json_atomic
from .optimize import METHODS, calibrate
from .problem import Problem

__all__ = ["DirectionScan", "LandscapeReport", "scan", "landscape_from_file", "plot_landscape"]


@eqx.filter_jit
def _value_and_grad(problem: Problem, u, which: str):
    f = problem.loss if which == "loss" else problem.data_misfit
    return jax.value_and_grad(f)(u)


@eqx.filter_jit
def _value(problem: Problem, u, which: str):
    return problem.loss(u) if which == "loss" else problem.data_misfit(u)


@dataclass
class DirectionScan:
    """One 1-D scan.  Arrays are ``(k,)`` over the samples ``t`` (unconstrained units)."""

    label: str
    direction: np.ndarray
    t: np.ndarray
    loss: np.ndarray
    derivative: np.ndarray
    ad_derivative_at_centre: float
    fd_derivative_at_centre: float
    ad_fd_relative_error: float
    discontinuities: list[dict[str, float]] = field(default_factory=list)
    steep: list[dict[str, float]] = field(default_factory=list)

    @property
    def continuous(self) -> bool:
        return not self.discontinuities

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "direction": self.direction.tolist(),
            "t": self.t.tolist(),
            "loss": self.loss.tolist(),
            "derivative": self.derivative.tolist(),
            "ad_derivative_at_centre": self.ad_derivative_at_centre,
            "fd_derivative_at_centre": self.fd_derivative_at_centre,
            "ad_fd_relative_error": self.ad_fd_relative_error,
            "continuous": self.continuous,
            "discontinuities": self.discontinuities,
            "steep_but_smooth": self.steep,
        }


@dataclass
class LandscapeReport:
    """All scans through one point, with the point's zero-sensitivity parameters."""

    names: tuple[str, ...]
    u: np.ndarray
    which: str
    scans: list[DirectionScan]
    zero_sensitivity: list[str]
    n_evaluations: int

    @property
    def continuous(self) -> bool:
        return all(s.continuous for s in self.scans)

    @property
    def max_ad_fd_relative_error(self) -> float:
        return max(s.ad_fd_relative_error for s in self.scans)

    def messages(self) -> list[str]:
        out = []
        for s in self.scans:
            for d in s.discontinuities:
                out.append(
                    f"{self.which} jumps by {d['jump']:+.3g} along {s.label} between t = "
                    f"{d['t_left']:.6g} and {d['t_right']:.6g} ({d['ratio']:.3g} x the change its "
                    "slope predicts): the loss is discontinuous there")
            if s.ad_fd_relative_error > 1e-3:
                out.append(f"along {s.label} the AD directional derivative "
                           f"{s.ad_derivative_at_centre:.6g} differs from finite differences "
                           f"{s.fd_derivative_at_centre:.6g} (relative error {s.ad_fd_relative_error:.2g})")
        out += [f"{n}: the data misfit has exactly zero gradient with respect to it" for n in self.zero_sensitivity]
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "u": self.u.tolist(),
            "which": self.which,
            "continuous": self.continuous,
            "max_ad_fd_relative_error": self.max_ad_fd_relative_error,
            "zero_sensitivity": self.zero_sensitivity,
            "n_evaluations": self.n_evaluations,
            "messages": self.messages(),
            "scans": [s.summary() for s in self.scans],
        }


def _directions(problem: Problem, directions, n_random: int, seed: int):
    n = problem.n_parameters
    if directions is None or (isinstance(directions, str) and directions == "coordinates"):
        return [(f"u[{name}]", np.eye(n)[i]) for i, name in enumerate(problem.names)]
    if isinstance(directions, str) and directions == "random":
        rng = np.random.default_rng(seed)
        out = []
        for k in range(n_random):
            d = rng.standard_normal(n)
            out.append((f"random direction {k}", d / np.linalg.norm(d)))
        return out
    if isinstance(directions, str):
        raise ParameterError(f"directions {directions!r} is not supported. Supported: 'coordinates', "
                             "'random', or an array (m, n) of directions")
    arr = np.atleast_2d(np.asarray(directions, dtype=float))
    if arr.shape[1] != n:
        raise ParameterError(f"directions have shape {arr.shape}; expected (m, {n})")
    norms = np.linalg.norm(arr, axis=1)
    if np.any(norms == 0):
        raise ParameterError("a scan direction is the zero vector")
    return [(f"direction {k}", arr[k] / norms[k]) for k in range(arr.shape[0])]


def scan(
    problem: Problem,
    u=None,
    *,
    directions: Any = "random",
    n_random: int = 3,
    radius: float = 0.05,
    n_points: int = 41,
    refine: int = 12,
    fd_step: float = 1e-6,
    which: str = "loss",
    seed: int = 0,
) -> LandscapeReport:
    """Scan Φ (``which="loss"``) or the data misfit (``"data_misfit"``) along lines through ``u``.

    Args:
        u: ``(n,)`` centre in unconstrained space (default ``problem.u0``).
        directions: ``"random"`` (``n_random`` unit Gaussian directions), ``"coordinates"``
            (each parameter's axis) or an ``(m, n)`` array.
        radius: the scan covers t ∈ [−radius, radius] (unconstrained units) with ``n_points``.
        refine: bisections of a suspicious interval (module docstring).
        fd_step: step of the central finite difference at the centre.

    Cost: ``n_points`` loss+gradient evaluations per direction, 2 losses for the finite
    difference and ``refine`` value+gradient evaluations per suspicious interval.
    """
    if which not in ("loss", "data_misfit"):
        raise ParameterError(f"which = {which!r}; accepted: loss, data_misfit")
    if not (n_points >= 3 and radius > 0 and fd_step > 0 and refine >= 0):
        raise ParameterError(f"need n_points >= 3, radius > 0, fd_step > 0, refine >= 0; got "
                             f"{n_points}, {radius}, {fd_step}, {refine}")
    u0 = np.asarray(problem.u0 if u is None else u, dtype=float)
    if u0.shape != (problem.n_parameters,):
        raise ParameterError(f"u has shape {u0.shape}; expected ({problem.n_parameters},)")
    n_eval = 0

    def vg(x):
        nonlocal n_eval
        n_eval += 1
        v, g = _value_and_grad(problem, jnp.asarray(x), which)
        return float(v), np.asarray(g, dtype=float)

    scans = []
    for label, d in _directions(problem, directions, n_random, seed):
        t = np.linspace(-radius, radius, n_points)
        if not np.any(t == 0):
            t = np.sort(np.append(t, 0.0))
        vals, ders = [], []
        for ti in t:
            v, g = vg(u0 + ti * d)
            vals.append(v)
            ders.append(float(g @ d))
        vals, ders = np.array(vals), np.array(ders)
        centre = int(np.flatnonzero(t == 0)[0])
        fp = float(_value(problem, jnp.asarray(u0 + fd_step * d), which))
        fm = float(_value(problem, jnp.asarray(u0 - fd_step * d), which))
        n_eval += 2
        fd = (fp - fm) / (2 * fd_step)
        ad = float(ders[centre])
        rel = abs(ad - fd) / max(abs(ad), abs(fd), 1e-12 * max(1.0, abs(vals[centre])) / fd_step)
        floor = 1e-10 * max(1.0, float(np.max(np.abs(vals))))
        jumps, steep = [], []
        for i in range(len(t) - 1):
            res = _check_interval(vg, u0, d, t[i], t[i + 1], vals[i], vals[i + 1], ders[i], ders[i + 1],
                                  floor, refine)
            if res is None:
                continue
            (jumps if res.pop("discontinuous") else steep).append(res)
        scans.append(DirectionScan(label, d, t, vals, ders, ad, fd, rel, jumps, steep))
    if which == "data_misfit" or problem.regularization == "none":
        g0 = vg(u0)[1]
    else:
        n_eval += 1
        g0 = np.asarray(jax.grad(problem.data_misfit)(jnp.asarray(u0)))
    zero = [n for i, n in enumerate(problem.names) if g0[i] == 0.0]
    return LandscapeReport(tuple(problem.names), u0, which, scans, zero, n_eval)


def _mismatch(f0, f1, d0, d1, dt):
    change = f1 - f0
    predicted = 0.5 * (d0 + d1) * dt
    return change, predicted, abs(change - predicted)


def _check_interval(vg, u0, d, t0, t1, f0, f1, d0, d1, floor, refine):
    """None if the interval is consistent with the AD slopes; else a dict describing it."""
    change, predicted, mis = _mismatch(f0, f1, d0, d1, t1 - t0)
    if not (mis > floor and mis > 0.5 * max(abs(change), abs(predicted))):
        return None
    start = {"t_left": float(t0), "t_right": float(t1), "jump": float(change),
             "predicted": float(predicted)}
    a, b, fa, fb, da, db = t0, t1, f0, f1, d0, d1
    for _ in range(refine):
        m = 0.5 * (a + b)
        fm, g = vg(u0 + m * d)
        dm = float(g @ d)
        left = _mismatch(fa, fm, da, dm, m - a)
        right = _mismatch(fm, fb, dm, db, b - m)
        if left[2] >= right[2]:
            b, fb, db = m, fm, dm
        else:
            a, fa, da = m, fm, dm
    change, predicted, mis = _mismatch(fa, fb, da, db, b - a)
    discontinuous = bool(mis > floor and mis > 0.5 * max(abs(change), abs(predicted)))
    if discontinuous:
        ratio = abs(change) / max(abs(predicted), 1e-300)
        return {"t_left": float(a), "t_right": float(b), "jump": float(change),
                "predicted": float(predicted), "ratio": float(min(ratio, 1e300)),
                "discontinuous": True}
    return {**start, "resolved_at": float(b - a), "discontinuous": False}


def plot_landscape(report: LandscapeReport, path: str | Path | None = None):
    """Φ(u₀ + t d) − Φ(u₀) for every scan, discontinuities marked with a red x."""

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for s in report.scans:
        centre = s.loss[np.argmin(np.abs(s.t))]
        ax.plot(s.t, s.loss - centre, marker=".", ms=3, label=s.label)
        for j in s.discontinuities:
            ax.plot([j["t_right"]], [np.interp(j["t_right"], s.t, s.loss) - centre], "rx", ms=8)
    ax.set_xlabel("t (unconstrained units along the direction)")
    ax.set_ylabel(f"{report.which} - value at the centre")
    ax.set_title("continuous" if report.continuous else "discontinuities found (x)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path) if path is not None else fig


def landscape_from_file(config_path: str | Path, output_dir: str | Path | None = None, overrides=(), *,
                        at: str = "initial", directions: str = "random", n_random: int = 3,
                        radius: float = 0.05, n_points: int = 41, which: str = "loss",
                        force: bool = False, seed: int = 0) -> dict[str, Any]:
    """Scan the loss of a calibration config (``pyclimaocean landscape``).

    ``at``: ``"initial"`` (the first guess), ``"truth"`` (the synthetic truth of a twin) or
    ``"optimum"`` (first run the config's calibration; any method of
    :func:`pyclimaocean.calibration.optimize.calibrate`, else L-BFGS-B).  Writes
    ``landscape.json``, ``landscape.png`` and ``config.toml`` into ``output_dir`` (default
    ``runs/<experiment.name>_landscape``); returns the summary.  Its ``continuous`` is False when
    a discontinuity was found.
    """

    if at not in ("initial", "truth", "optimum"):
        raise ParameterError(f"at = {at!r} is not supported. Supported: initial, truth, optimum")
    cfg, raw = load_calibration(config_path, overrides)
    setup = build_calibration(cfg, raw, str(config_path))
    problem = setup.problem
    if at == "truth" and setup.truth is None:
        raise ParameterError("at = 'truth' needs synthetic observations (a twin experiment)")
    out = prepare_output_dir(output_dir or Path("runs") / f"{cfg.experiment.name}_landscape", force)
    atomic_write_bytes(out / "config.toml", _dump_toml(raw).encode())
    fit_message = None
    if at == "initial":
        u = np.asarray(problem.u0)
    elif at == "truth":
        u = np.asarray(problem.unconstrained(jnp.asarray([float(setup.truth[n].value) for n in problem.names])))
    else:

        cal = cfg.calibration
        method = cal.method if cal.method in METHODS else "scipy_lbfgsb"
        fit = calibrate(problem, method=method, max_iterations=cal.max_iterations, gtol=cal.gtol,
                        ftol=cal.method_ftol(method))
        u = np.asarray(fit.u)
        fit_message = f"{fit.method}: {fit.message}"
    report = scan(problem, u, directions=directions, n_random=n_random, radius=radius,
                  n_points=n_points, which=which, seed=seed)
    summary = report.summary()
    summary["at"] = at
    if fit_message is not None:
        summary["optimizer"] = fit_message
    summary["files"] = [str(plot_landscape(report, out / "landscape.png")), str(out / "landscape.json"),
                        str(out / "config.toml")]
    write_json_atomic(summary, out / "landscape.json")
    return summary

