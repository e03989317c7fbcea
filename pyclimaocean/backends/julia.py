"""The Julia backend: Oceananigans / ClimaOcean / SpeedyWeather / Enzyme through juliacall.

The Julia side is the package ``PyClimaOceanBridge`` (``julia_ext/`` in the repository,
shipped inside the Python package as ``pyclimaocean/julia_ext``).  ``pyclimaocean/juliapkg.json``
declares it (as a dev path relative to that file) together with Oceananigans, ClimaOcean,
SpeedyWeather and Enzyme.  juliapkg looks for a ``juliapkg.json`` in every installed package
(wheels, setuptools editable installs, and source checkouts on ``sys.path``), so it installs
everything the first time juliacall starts, whichever code imports juliacall first.
Nothing Julia-related is imported when :mod:`pyclimaocean` is imported: ``juliacall`` is
imported inside :func:`load_julia` only, and the failures there that mean "Julia is not
usable here" (``juliacall`` not installed, no Julia executable and no network to download
one, ``PyClimaOceanBridge`` not loadable) become a
:class:`~pyclimaocean.backends.base.BackendUnavailableError` that says what is missing and
how to install it.

Backend protocol (same as the JAX backend):

* ``build(config)``: the column experiment config -> :class:`JuliaColumnModel` (the Python
  :class:`~pyclimaocean.models.column.ColumnModel` description plus the Julia closure kind).
* ``parameters(model)``: the same :class:`~pyclimaocean.params.ParameterSet` as the JAX
  model (``"closure.c_hi_u"``, ...).
* ``initial_state(model)`` and ``run(model, state, n_steps, save_every)``: the run happens in
  Oceananigans (``HydrostaticFreeSurfaceModel`` + ``CATKEVerticalDiffusivity``); outputs are
  :class:`~pyclimaocean.models.column.ColumnState` stacked in time, as with JAX.
* ``to_xarray``: the CF dataset of the Python model.

Gradients.  :meth:`JuliaBackend.column_function` returns an
:class:`~pyclimaocean.backends.external.ExternalFunction` ``(θ, T₀) -> T(t, z)`` whose
reverse-mode rule calls Enzyme on the Julia side (``PyClimaOceanBridge.column_vjp``), so
``jax.grad`` of any loss of it, and hence :mod:`pyclimaocean.calibration`, works unchanged.
What is supported: constant-diffusivity columns, the pattern that Oceananigans' own
``test/test_enzyme.jl`` checks against finite differences.  What is not: gradients through
``CATKEVerticalDiffusivity``.  No upstream test differentiates CATKE by any route (the
plain-Enzyme attempt, Oceananigans PR #3837, was closed unmerged; Enzyme.jl issue #2296 is
open; Oceananigans' Reactant tests leave CATKE out because it takes more than 10 minutes to
compile), so a CATKE gradient is expected to raise :class:`EnzymeGradientError`.

Architecture and precision: :meth:`JuliaBackend.build` takes ``architecture`` (``"CPU"`` or
``"GPU"``; GPU needs CUDA.jl in the Julia environment) and ``precision`` (``"float64"`` or
``"float32"``), or reads them from the config's ``julia`` table; results always come back
as float64 NumPy arrays.

Parameter names (pyclimaocean ASCII -> Oceananigans ``CATKEVerticalDiffusivity``):

================================  =====================================  ==========================
pyclimaocean                      Oceananigans                           where
================================  =====================================  ==========================
c_surface                         ``Cˢ``                                 ``CATKEMixingLength``
c_bottom                          ``Cᵇ``                                 ``CATKEMixingLength``
c_shear_convection                ``Cˢᵖ``                                ``CATKEMixingLength``
c_ri_width                        ``CRiᵟ``                               ``CATKEMixingLength``
c_ri_threshold                    ``CRi⁰``                               ``CATKEMixingLength``
c_hi_u, c_hi_c, c_hi_e            ``Cʰⁱu, Cʰⁱc, Cʰⁱe``                   ``CATKEMixingLength``
c_lo_u, c_lo_c, c_lo_e            ``Cˡᵒu, Cˡᵒc, Cˡᵒe``                   ``CATKEMixingLength``
c_un_u, c_un_c, c_un_e            ``Cᵘⁿu, Cᵘⁿc, Cᵘⁿe``                   ``CATKEMixingLength``
c_conv_u, c_conv_c, c_conv_e      ``Cᶜu, Cᶜc, Cᶜe``                      ``CATKEMixingLength``
c_pen_u, c_pen_c, c_pen_e         ``Cᵉu, Cᵉc, Cᵉe``                      ``CATKEMixingLength``
c_hi_d, c_lo_d, c_un_d            ``CʰⁱD, CˡᵒD, CᵘⁿD``                   ``CATKEEquation``
c_conv_d, c_pen_d                 ``CᶜD, CᵉD``                           ``CATKEEquation``
c_wind_ustar, c_wind_wdelta       ``Cᵂu★, CᵂwΔ``                         ``CATKEEquation``
c_bottom_eps                      ``Cᵂϵ``                                ``CATKEEquation``
minimum_tke                       ``minimum_tke``                        closure keyword
minimum_convective_buoyancy_flux  ``minimum_convective_buoyancy_flux``   closure keyword
negative_tke_damping_time_scale   ``negative_tke_damping_time_scale``    closure keyword
================================  =====================================  ==========================

(``c_bottom_eps`` and ``negative_tke_damping_time_scale`` exist only in Oceananigans; the
JAX closure omits those terms, see :mod:`pyclimaocean.closures.catke`.)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..models.column.model import ColumnModel
from ..models.column.state import ColumnState
from .base import BackendUnavailableError

__all__ = [
    "CATKE_PARAMETER_TABLE",
    "CATKE_DEFAULTS",
    "ARCHITECTURES",
    "PRECISIONS",
    "EnzymeGradientError",
    "JuliaBackend",
    "JuliaColumnModel",
    "julia_available",
    "load_julia",
    "INSTALL_HELP",
]

# (pyclimaocean name, Oceananigans name, component), in the order of the Julia
# PyClimaOceanBridge.CATKE_PARAMETERS table (parameter vectors use this order).
CATKE_PARAMETER_TABLE: tuple[tuple[str, str, str], ...] = (
    ("c_surface", "Cˢ", "mixing_length"),
    ("c_bottom", "Cᵇ", "mixing_length"),
    ("c_shear_convection", "Cˢᵖ", "mixing_length"),
    ("c_ri_width", "CRiᵟ", "mixing_length"),
    ("c_ri_threshold", "CRi⁰", "mixing_length"),
    ("c_hi_u", "Cʰⁱu", "mixing_length"),
    ("c_lo_u", "Cˡᵒu", "mixing_length"),
    ("c_un_u", "Cᵘⁿu", "mixing_length"),
    ("c_conv_u", "Cᶜu", "mixing_length"),
    ("c_pen_u", "Cᵉu", "mixing_length"),
    ("c_hi_c", "Cʰⁱc", "mixing_length"),
    ("c_lo_c", "Cˡᵒc", "mixing_length"),
    ("c_un_c", "Cᵘⁿc", "mixing_length"),
    ("c_conv_c", "Cᶜc", "mixing_length"),
    ("c_pen_c", "Cᵉc", "mixing_length"),
    ("c_hi_e", "Cʰⁱe", "mixing_length"),
    ("c_lo_e", "Cˡᵒe", "mixing_length"),
    ("c_un_e", "Cᵘⁿe", "mixing_length"),
    ("c_conv_e", "Cᶜe", "mixing_length"),
    ("c_pen_e", "Cᵉe", "mixing_length"),
    ("c_hi_d", "CʰⁱD", "turbulent_kinetic_energy_equation"),
    ("c_lo_d", "CˡᵒD", "turbulent_kinetic_energy_equation"),
    ("c_un_d", "CᵘⁿD", "turbulent_kinetic_energy_equation"),
    ("c_conv_d", "CᶜD", "turbulent_kinetic_energy_equation"),
    ("c_pen_d", "CᵉD", "turbulent_kinetic_energy_equation"),
    ("c_wind_ustar", "Cᵂu★", "turbulent_kinetic_energy_equation"),
    ("c_wind_wdelta", "CᵂwΔ", "turbulent_kinetic_energy_equation"),
    ("c_bottom_eps", "Cᵂϵ", "turbulent_kinetic_energy_equation"),
    ("minimum_tke", "minimum_tke", "closure"),
    ("minimum_convective_buoyancy_flux", "minimum_convective_buoyancy_flux", "closure"),
    ("negative_tke_damping_time_scale", "negative_tke_damping_time_scale", "closure"),
)

#: Oceananigans defaults (Wagner et al. 2025 calibration), same order as the table.
CATKE_DEFAULTS: dict[str, float] = {
    "c_surface": 1.131, "c_bottom": 0.28, "c_shear_convection": 0.505, "c_ri_width": 1.02,
    "c_ri_threshold": 0.254,
    "c_hi_u": 0.242, "c_lo_u": 0.361, "c_un_u": 0.370, "c_conv_u": 3.705, "c_pen_u": 0.0,
    "c_hi_c": 0.098, "c_lo_c": 0.369, "c_un_c": 0.572, "c_conv_c": 4.793, "c_pen_c": 0.112,
    "c_hi_e": 0.548, "c_lo_e": 7.863, "c_un_e": 1.447, "c_conv_e": 3.642, "c_pen_e": 0.0,
    "c_hi_d": 0.579, "c_lo_d": 1.604, "c_un_d": 0.923, "c_conv_d": 3.254, "c_pen_d": 0.0,
    "c_wind_ustar": 3.179, "c_wind_wdelta": 0.383, "c_bottom_eps": 1.0,
    "minimum_tke": 1e-9, "minimum_convective_buoyancy_flux": 1e-11,
    "negative_tke_damping_time_scale": 60.0,
}  # fmt: skip

_CATKE_INDEX = {name: i for i, (name, _, _) in enumerate(CATKE_PARAMETER_TABLE)}
_CONSTANT_INDEX = {"viscosity": 0, "diffusivity": 1}

INSTALL_HELP = (
    'To use the Julia backend: (1) pip install "pyclimaocean[julia]" (installs juliacall and '
    "juliapkg); (2) install Julia >= 1.10 (https://julialang.org/downloads, or juliaup) and "
    "make it findable: put `julia` on PATH or set PYTHON_JULIAPKG_EXE=/path/to/julia "
    "(PYTHON_JULIAPKG_PROJECT chooses the Julia environment; PYTHON_JULIAPKG_OFFLINE=yes stops "
    "downloads); (3) on first use juliapkg resolves Oceananigans, ClimaOcean, SpeedyWeather, "
    "Enzyme and PyClimaOceanBridge from pyclimaocean/juliapkg.json (needs network, takes "
    'minutes). Otherwise use backend = "jax". See docs/julia_backend.md.'
)

#: the juliapkg.json shipped inside the package (juliapkg finds it in installed packages)
JULIAPKG_JSON = Path(__file__).resolve().parents[1] / "juliapkg.json"

#: architecture names accepted by :meth:`JuliaBackend.build` (Oceananigans ``CPU()``/``GPU()``)
ARCHITECTURES = ("CPU", "GPU")
#: precision names accepted by :meth:`JuliaBackend.build` -> Julia float type
PRECISIONS = {"float64": "Float64", "float32": "Float32"}

_CUDA_UUID = "052768ef-5323-5732-b1bb-66c8b64840ba"
_STATE: dict[str, Any] = {}


class EnzymeGradientError(RuntimeError):
    """Enzyme could not differentiate a Julia column run (``PyClimaOceanBridge.EnzymeGradientError``).

    Raised only for Enzyme's own failures (``Enzyme.Compiler.EnzymeError``), never for other
    Julia errors, so it can be treated as the known limitation (CATKE is not differentiable by
    Enzyme upstream) without hiding real bugs.
    """


def julia_available() -> tuple[bool, str]:
    """Whether the Julia backend can start, checked WITHOUT importing juliacall.

    Importing juliacall without a Julia executable makes it download Julia, so this only
    looks for the ``juliacall`` Python package and for a Julia executable
    (``PYTHON_JULIAPKG_EXE``, ``julia`` or ``juliaup`` on PATH).

    Returns:
        ``(available, reason)``; ``reason`` says what is missing when unavailable.
    """
    if importlib.util.find_spec("juliacall") is None:
        return False, "the Python package juliacall is not installed"
    exe = os.environ.get("PYTHON_JULIAPKG_EXE")
    if exe:
        if shutil.which(exe) is None and not Path(exe).is_file():
            return False, f"PYTHON_JULIAPKG_EXE={exe!r} does not point to an executable"
        return True, f"Julia from PYTHON_JULIAPKG_EXE={exe}"
    for name in ("julia", "juliaup"):
        path = shutil.which(name)
        if path:
            return True, f"{name} found at {path}"
    return (
        False,
        "no Julia executable found (no `julia`/`juliaup` on PATH, PYTHON_JULIAPKG_EXE unset)",
    )


def _import_juliacall():
    import juliacall  # noqa: PLC0415  (lazy on purpose: it may start or download Julia)

    return juliacall


def load_julia(architecture: str = "CPU"):
    """Start Julia (once per process) and load ``PyClimaOceanBridge``; return juliacall's ``Main``.

    Args:
        architecture: ``"GPU"`` also loads CUDA.jl (which activates Oceananigans' GPU
            extension); it must be in the Julia environment.

    Raises:
        BackendUnavailableError: juliacall is missing, Julia cannot be found or downloaded,
            or ``PyClimaOceanBridge`` (or CUDA for ``"GPU"``) cannot be loaded; the message
            says what to install.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"architecture {architecture!r} is not supported. Supported architectures are: "
            f"{', '.join(ARCHITECTURES)}"
        )
    if "Main" not in _STATE:
        _STATE.update(_start_julia())
    main = _STATE["Main"]
    if architecture == "GPU" and not _STATE.get("cuda"):
        juliacall = _STATE["juliacall"]
        try:
            main.seval("using CUDA")
        except juliacall.JuliaError as err:
            raise BackendUnavailableError(
                "architecture = GPU needs CUDA.jl in the Julia environment, and loading it "
                f"failed ({str(err)[:300]}). Add it with: python -m juliapkg add CUDA "
                f"--uuid {_CUDA_UUID} (then python -m juliapkg resolve), or use "
                'architecture = "CPU".'
            ) from err
        _STATE["cuda"] = True
    return main


def _start_julia() -> dict[str, Any]:
    if importlib.util.find_spec("juliacall") is None:
        raise BackendUnavailableError(
            "Julia is not available: the Python package juliacall is not installed. " + INSTALL_HELP
        )
    try:
        juliacall = _import_juliacall()
    except (ImportError, OSError, subprocess.CalledProcessError) as err:
        # ImportError: broken install; OSError (URLError): no network to download Julia or
        # packages; CalledProcessError: juliapkg's Pkg resolve failed
        raise BackendUnavailableError(
            f"Julia is not available: importing juliacall failed with {type(err).__name__}: "
            f"{err}. " + INSTALL_HELP
        ) from err
    main = juliacall.Main
    try:
        main.seval("using PyClimaOceanBridge")
    except juliacall.JuliaError as err:
        raise BackendUnavailableError(
            "Julia started but the package PyClimaOceanBridge could not be loaded "
            f"({str(err)[:500]}). juliapkg installs it from {JULIAPKG_JSON}; check that "
            "file exists in the installed pyclimaocean and that `python -m juliapkg status` "
            "lists PyClimaOceanBridge (then `python -m juliapkg resolve --force`). " + INSTALL_HELP
        ) from err
    return {"Main": main, "juliacall": juliacall}


def _to_numpy(x) -> np.ndarray:
    """Julia array (juliacall wrapper) -> NumPy view (no copy for Float64 arrays)."""
    return np.asarray(x)


_PROFILES = ("temperature", "salinity", "u", "v", "tke")


class JuliaColumnModel(ColumnModel):
    """The column model computed by Oceananigans: implements the model contract.

    A :class:`~pyclimaocean.models.column.ColumnModel` (same fields, parameters, variables,
    coordinates, diagnostics, figures and CF output), whose :meth:`step` and :meth:`run` run
    Oceananigans' ``HydrostaticFreeSurfaceModel`` through juliacall instead of the JAX
    physics.  The run is a ``jax.pure_callback`` tied to Enzyme's adjoint by
    ``jax.custom_vjp`` (:mod:`pyclimaocean.backends.external`), so ``jax.grad`` of a loss of
    :meth:`run` reaches the closure parameters and the initial state (supported for the
    constant-diffusivity closure; CATKE raises :class:`EnzymeGradientError`, see the module
    docstring).  Julia starts on the first run, not at construction.

    The surface forcing, grid and equation of state are read as concrete numbers when the
    Julia model is set up: differentiate with respect to closure parameters and the initial
    state, not the forcing.

    Attributes (besides those of ``ColumnModel``):
        closure_kind: ``"catke"`` (``CATKEVerticalDiffusivity``) or ``"constant"``
            (``VerticalScalarDiffusivity``).
        architecture: ``"CPU"`` or ``"GPU"`` (Oceananigans ``CPU()`` / ``GPU()``).
        precision: ``"float64"`` or ``"float32"`` (the Julia model's float type; results
            come back as float64 either way).
    """

    closure_kind: str = eqx.field(static=True, default="catke")
    architecture: str = eqx.field(static=True, default="CPU")
    precision: str = eqx.field(static=True, default="float64")

    def __check_init__(self):
        check_architecture_and_precision(self.architecture, self.precision)
        if self.closure_kind != _closure_kind(self.closure):
            raise ValueError(
                f"closure_kind {self.closure_kind!r} does not match the closure "
                f"{type(self.closure).__name__} (expected {_closure_kind(self.closure)!r})"
            )

    @classmethod
    def from_spec(cls, spec: ColumnModel, architecture: str = "CPU", precision: str = "float64"):
        """The Julia-computed version of a Python ``ColumnModel`` ``spec``."""
        fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(ColumnModel)}
        return cls(
            **fields,
            closure_kind=_closure_kind(spec.closure),
            architecture=architecture,
            precision=precision,
        )

    @property
    def spec(self) -> ColumnModel:
        """The plain (JAX-computed) ``ColumnModel`` with the same fields."""
        return ColumnModel(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(ColumnModel)}
        )

    def theta(self):
        """Full Julia parameter vector θ (JAX array, differentiable in the closure's leaves):
        the CATKE table order (entries the JAX closure lacks take Oceananigans' defaults) or
        ``[ν, κ]``."""
        if self.closure_kind == "constant":
            return jnp.stack(
                [
                    jnp.asarray(self.closure.viscosity, float),
                    jnp.asarray(self.closure.diffusivity, float),
                ]
            )
        return jnp.stack(
            [
                jnp.asarray(getattr(self.closure, name, CATKE_DEFAULTS[name]), float)
                for name, _, _ in CATKE_PARAMETER_TABLE
            ]
        )

    def gradient_limitation(self) -> str | None:
        """Why adjoint gradients of this model are not available (``None`` when they are).

        Calibration asks this before starting a gradient method (gradient-free methods such as
        EKI/UKI need forward runs only).  CATKE: no upstream route differentiates
        Oceananigans' ``CATKEVerticalDiffusivity`` (module docstring); GPU: the bridge calls
        Enzyme on the CPU only.
        """
        if self.closure_kind == "catke":
            return ("Enzyme cannot differentiate Oceananigans' CATKEVerticalDiffusivity (no "
                    "upstream route does; docs/julia_backend.md), so the Julia CATKE column has "
                    "forward runs only; closure.type = 'constant' has Enzyme gradients")
        if self.architecture != "CPU":
            return "Enzyme gradients of the Julia column run on the CPU only (julia.architecture)"
        return None

    def step(self, state: ColumnState) -> ColumnState:
        """One time step in Oceananigans (a host call; prefer :meth:`run` for many steps)."""
        final, _ = self.run(state, 1)
        return final

    def run(
        self,
        state=None,
        n_steps: int = 1,
        *,
        save_every: int | None = None,
        checkpoint_every: int | None | str = "auto",
        observe=None,
    ):
        """Run ``n_steps`` steps in Oceananigans, one host call; returns ``(final, outputs)``.

        As :meth:`AbstractModel.run`: ``outputs`` is ``observe(state)`` (default the state)
        stacked every ``save_every`` steps, ``None`` without ``save_every``.
        ``checkpoint_every`` is accepted for the contract and unused: Enzyme keeps its own
        tape on the Julia side.
        """
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
        every = n_steps if save_every is None else save_every
        if not isinstance(every, int) or every < 1 or n_steps % every:
            raise ValueError(
                f"save_every = {save_every!r} must be a positive divisor of n_steps = {n_steps}"
            )
        state = self.initial_state() if state is None else state
        function = _julia_column_function(self, n_steps, every)
        profiles = function(
            self.theta(), *(jnp.asarray(getattr(state, a), float) for a in _PROFILES)
        )
        n_saved = n_steps // every
        steps = every * jnp.arange(1, n_saved + 1)
        outputs = ColumnState(
            **dict(zip(_PROFILES, profiles, strict=True)),
            time=state.time + self.dt * steps,
            iteration=state.iteration + steps,
        )
        final = jax.tree_util.tree_map(lambda x: x[-1], outputs)
        if save_every is None:
            return final, None
        if observe is not None:
            outputs = jax.vmap(observe)(outputs)
        return final, outputs


def _julia_column_function(model: JuliaColumnModel, n_steps: int, every: int):
    """``f(θ, T, S, u, v, e) -> (T, S, u, v, e)`` saved profiles, Enzyme adjoint."""
    from .external import wrap_external

    backend = JuliaBackend(load=False)
    setup = backend._setup(model)
    bridge = backend._bridge_for(model)
    kind = model.closure_kind
    nz = model.grid.nz if hasattr(model.grid, "nz") else int(np.asarray(model.grid.z_centers).size)
    n_saved = n_steps // every
    profile = jax.ShapeDtypeStruct((nz,), jnp.float64)
    stacked = jax.ShapeDtypeStruct((n_saved, nz), jnp.float64)
    n_theta = 2 if kind == "constant" else len(CATKE_PARAMETER_TABLE)

    def forward(theta, *profiles):
        out = bridge.run_column(setup, kind, theta, *profiles, n_steps, every)
        return tuple(np.array(_to_numpy(getattr(out, k))) for k in ("T", "S", "u", "v", "e"))

    def vjp(theta, *args):
        *profiles, cotangents = args
        if model.architecture != "CPU":
            raise ValueError("Enzyme gradients of the Julia column run on the CPU only")
        g = backend._enzyme_call(
            bridge.column_vjp,
            setup,
            kind,
            theta,
            *profiles,
            *(np.ascontiguousarray(c, dtype=float) for c in cotangents),
            n_steps,
            every,
        )
        return tuple(np.array(_to_numpy(getattr(g, k))) for k in ("θ", "T", "S", "u", "v", "e"))

    return wrap_external(
        forward,
        vjp,
        out_spec=(stacked,) * 5,
        in_specs=[jax.ShapeDtypeStruct((n_theta,), jnp.float64), *(profile,) * 5],
        name=f"julia_column[{kind}]",
    )


def check_architecture_and_precision(architecture: str, precision: str) -> None:
    """Raise ``ValueError`` naming the bad value and the valid ones."""
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"architecture {architecture!r} is not supported by the Julia backend. Supported "
            f"architectures are: {', '.join(ARCHITECTURES)}"
        )
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision {precision!r} is not supported by the Julia backend. Supported "
            f"precisions are: {', '.join(PRECISIONS)}"
        )


def julia_options(config: Any) -> dict[str, str]:
    """``architecture`` / ``precision`` from a config's ``julia`` table (attribute or mapping).

    Absent entries take the defaults ``"CPU"`` and ``"float64"``.
    """
    table = getattr(config, "julia", None)
    if table is None and isinstance(config, dict):
        table = config.get("julia")

    def get(key, default):
        if table is None:
            return default
        if isinstance(table, dict):
            return table.get(key, default)
        return getattr(table, key, default)

    return {
        "architecture": str(get("architecture", "CPU")),
        "precision": str(get("precision", "float64")),
    }


def _closure_kind(closure) -> str:
    name = type(closure).__name__
    if name == "CATKELike":
        return "catke"
    if name == "ConstantDiffusivity":
        return "constant"
    raise ValueError(
        f"closure {name} is not supported by the Julia backend. Supported closures are: "
        "catke (CATKELike -> Oceananigans CATKEVerticalDiffusivity), constant "
        "(ConstantDiffusivity -> VerticalScalarDiffusivity)"
    )


def closure_parameter_vector(closure, kind: str | None = None) -> np.ndarray:
    """Full Julia parameter vector θ for ``closure`` (CATKE order of the table, or [ν, κ]).

    CATKE entries the Python closure does not have (``c_bottom_eps``,
    ``negative_tke_damping_time_scale``) take the Oceananigans defaults.
    """
    kind = kind or _closure_kind(closure)
    if kind == "constant":
        return np.array([float(closure.viscosity), float(closure.diffusivity)])
    return np.array(
        [
            float(getattr(closure, name, CATKE_DEFAULTS[name]))
            for name, _, _ in CATKE_PARAMETER_TABLE
        ]
    )


def _parameter_index(kind: str, name: str) -> int:
    short = name.removeprefix("closure.")
    index = _CATKE_INDEX if kind == "catke" else _CONSTANT_INDEX
    if short not in index:
        raise ValueError(
            f"parameter {name!r} is not supported by the Julia {kind} closure. Supported "
            f"parameters are: {', '.join('closure.' + n for n in index)}"
        )
    return index[short]


def column_setup_kwargs(spec) -> dict[str, Any]:
    """The ``PyClimaOceanBridge.column_setup`` arguments for a Python column model.

    Raises:
        ValueError: for features the Julia column does not reproduce (time-varying or
            penetrating surface forcing, bottom drag, nonlinear equation of state).
    """
    from ..fluxes.surface import SurfaceForcing
    from ..models.column import model as column_module

    forcing = spec.forcing
    if not isinstance(forcing, SurfaceForcing):
        raise ValueError(
            f"the Julia column supports constant surface fluxes (SurfaceForcing); got "
            f"{type(forcing).__name__} (e.g. a tabulated flux time series from [forcing] file). "
            'Use backend = "jax" for forcing from data'
        )
    unsupported = {
        name: getattr(forcing, name)
        for name in (
            "heat_flux_amplitude",
            "shortwave",
            "shortwave_amplitude",
            "wind_stress_amplitude",
        )
        if float(getattr(forcing, name, 0.0)) != 0.0
    }
    if getattr(spec, "solar_penetration", None) is not None:
        unsupported["solar_penetration"] = spec.solar_penetration
    if float(getattr(spec, "bottom_drag_coefficient", 0.0)) != 0.0:
        unsupported["bottom_drag_coefficient"] = spec.bottom_drag_coefficient
    if unsupported:
        raise ValueError(
            "the Julia column supports constant, non-penetrating surface fluxes without bottom "
            f'drag; unsupported settings: {unsupported}. Set them to 0 / None or use backend = "jax"'
        )
    eos = spec.equation_of_state
    if type(eos).__name__ != "LinearEquationOfState":
        raise ValueError(
            f"equation of state {type(eos).__name__} is not supported by the Julia column. "
            "Supported: LinearEquationOfState"
        )
    fluxes = spec.surface_fluxes(0.0)
    return dict(
        dt=float(spec.dt),
        coriolis_parameter=float(spec.coriolis_parameter),
        thermal_expansion=float(eos.thermal_expansion_coefficient),
        haline_contraction=float(eos.haline_contraction_coefficient),
        gravitational_acceleration=float(getattr(column_module, "GRAVITY", 9.81)),
        temperature_flux=float(fluxes["temperature"]),
        salinity_flux=float(fluxes["salinity"]),
        u_flux=float(fluxes["u"]),
        v_flux=float(fluxes["v"]),
    )


class JuliaBackend:
    """Backend protocol implementation running Oceananigans / ClimaOcean / SpeedyWeather.

    Args:
        load: start Julia now (default), so that choosing ``backend = "julia"`` without Julia
            fails immediately with :class:`BackendUnavailableError`; ``False`` defers it to
            the first call that needs Julia.
    """

    name = "julia"

    def __init__(self, load: bool = True):
        self._main = load_julia() if load else None

    @property
    def jl(self):
        """juliacall's ``Main`` with ``PyClimaOceanBridge`` loaded."""
        if self._main is None:
            self._main = load_julia()
        return self._main

    def _bridge_for(self, model: JuliaColumnModel):
        if model.architecture != "CPU":
            load_julia(model.architecture)  # loads CUDA.jl once, or a clear error
        return self.bridge

    @property
    def bridge(self):
        return self.jl.PyClimaOceanBridge

    # -- protocol ---------------------------------------------------------------------------
    def build(
        self, config: Any, *, architecture: str | None = None, precision: str | None = None
    ) -> JuliaColumnModel:
        """Column experiment config (or an already built ColumnModel) -> :class:`JuliaColumnModel`.

        Args:
            config: a ``ColumnExperiment``, a ``ColumnModel`` or a :class:`JuliaColumnModel`.
            architecture: ``"CPU"`` or ``"GPU"``; default: the config's ``julia.architecture``
                when it has one, else ``"CPU"``.
            precision: ``"float64"`` or ``"float32"``; default: the config's
                ``julia.precision`` when it has one, else ``"float64"``.
        """
        from ..models.column.config import ColumnExperiment, build_model

        options = julia_options(config)
        architecture = architecture or options["architecture"]
        precision = precision or options["precision"]
        check_architecture_and_precision(architecture, precision)
        if isinstance(config, JuliaColumnModel):
            return JuliaColumnModel.from_spec(config.spec, architecture, precision)
        if isinstance(config, ColumnExperiment):
            spec = build_model(config)
        elif type(config).__name__ == "ColumnModel":
            spec = config
        else:
            raise TypeError(
                f"the Julia backend cannot build a {type(config).__name__}; it builds column "
                "experiments (ColumnExperiment configs or ColumnModel objects)"
            )
        _closure_kind(spec.closure)  # fail early on unsupported closures
        column_setup_kwargs(spec)  # and settings
        model = JuliaColumnModel.from_spec(spec, architecture, precision)
        return model

    def parameters(self, model: JuliaColumnModel):
        return model.spec.default_parameters()

    def initial_state(self, model: JuliaColumnModel):
        return model.spec.initial_state()

    def _setup(self, model: JuliaColumnModel):
        kwargs = column_setup_kwargs(model.spec)
        z_faces = np.asarray(model.spec.grid.z_faces, dtype=float)
        return self._bridge_for(model).column_setup(
            z_faces,
            architecture=model.architecture,
            float_type=PRECISIONS[model.precision],
            **kwargs,
        )

    def run(
        self,
        model: JuliaColumnModel,
        state: Any = None,
        n_steps: int = 1,
        save_every: int | None = None,
    ):
        """Run in Oceananigans; returns ``(final_state, outputs)`` like the JAX model.

        ``outputs`` is ``None`` when ``save_every`` is ``None`` (as in
        :func:`pyclimaocean.integrate`).  Same as ``model.run`` (the model contract):
        differentiable through Enzyme's adjoint.
        """
        return model.run(state, n_steps, save_every=save_every)

    def to_xarray(self, model: JuliaColumnModel, outputs: Any, times: Any = None):
        ds = model.spec.to_xarray(outputs)
        ds.attrs["backend"] = "julia (Oceananigans HydrostaticFreeSurfaceModel)"
        return ds

    # -- gradients --------------------------------------------------------------------------
    def column_function(
        self,
        model: JuliaColumnModel,
        n_steps: int,
        save_every: int | None = None,
        parameter_names: list[str] | tuple[str, ...] | None = None,
        vmap_method: str = "sequential",
    ):
        """A JAX-differentiable ``f(θ, T₀) -> T`` running the column in Oceananigans.

        Args:
            model: from :meth:`build`.
            n_steps, save_every: as in :meth:`run` (``save_every`` default ``n_steps``).
            parameter_names: the closure parameters in ``θ`` (``"closure.c_hi_u"`` or
                ``"c_hi_u"``); default: those of ``model.spec.default_parameters()``.
            vmap_method: see :mod:`pyclimaocean.backends.external`.

        Returns:
            an :class:`~pyclimaocean.backends.external.ExternalFunction` mapping ``θ`` ``(p,)``
            and the initial temperature ``T₀`` ``(nz,)`` (°C) to the saved temperature
            profiles ``(n_steps // save_every, nz)`` (°C).  Its VJP is Enzyme's
            (``PyClimaOceanBridge.column_vjp``; the host function is ``f.vjp``), and Enzyme's
            own failures raise :class:`EnzymeGradientError`; see the module docstring for
            what is supported.

        Raises:
            ValueError: for a GPU model (Enzyme gradients run on the CPU only).
        """
        import jax
        import jax.numpy as jnp

        from .external import wrap_external

        every = n_steps if save_every is None else save_every
        if n_steps < 1 or every < 1 or n_steps % every:
            raise ValueError(
                f"save_every = {save_every!r} must be a positive divisor of n_steps = {n_steps}"
            )
        if model.architecture != "CPU":
            raise ValueError(
                "Enzyme gradients of the Julia column run on the CPU only; build the model "
                f'with architecture = "CPU" (got {model.architecture!r})'
            )
        if parameter_names is None:
            parameter_names = model.spec.default_parameters().names
        kind = model.closure_kind
        index = np.array([_parameter_index(kind, n) for n in parameter_names], dtype=int)
        theta_base = closure_parameter_vector(model.spec.closure, kind)
        state0 = model.spec.initial_state()
        others = [
            np.asarray(getattr(state0, a), dtype=float) for a in ("salinity", "u", "v", "tke")
        ]
        nz = others[0].size
        n_saved = n_steps // every
        setup = self._setup(model)
        bridge = self.bridge

        def full_theta(theta):
            full = theta_base.copy()
            full[index] = theta
            return full

        def forward(theta, temperature0):
            out = bridge.run_column(
                setup, kind, full_theta(theta), temperature0, *others, n_steps, every
            )
            return np.array(_to_numpy(out.T))

        def vjp(theta, temperature0, t_bar):
            zero = np.zeros((n_saved, nz))
            g = self._enzyme_call(
                bridge.column_vjp,
                setup,
                kind,
                full_theta(theta),
                temperature0,
                *others,
                np.ascontiguousarray(t_bar, dtype=float),
                zero,
                zero,
                zero,
                zero,
                n_steps,
                every,
            )
            return np.asarray(_to_numpy(g.θ))[index], np.array(_to_numpy(g.T))

        return wrap_external(
            forward,
            vjp,
            out_spec=jax.ShapeDtypeStruct((n_saved, nz), jnp.float64),
            in_specs=[
                jax.ShapeDtypeStruct((index.size,), jnp.float64),
                jax.ShapeDtypeStruct((nz,), jnp.float64),
            ],
            vmap_method=vmap_method,
            name=f"julia_column[{kind}]",
        )

    def _enzyme_call(self, function, *args):
        """Call a bridge gradient function; Enzyme's own failures -> :class:`EnzymeGradientError`."""
        juliacall = _STATE["juliacall"]
        try:
            return function(*args)
        except juliacall.JuliaError as err:
            if bool(self.jl.isa(err.exception, self.bridge.EnzymeGradientError)):
                raise EnzymeGradientError(str(err)) from err
            raise

    # -- other Julia models -----------------------------------------------------------------
    def speedy(
        self,
        kind: str = "primitive_dry",
        *,
        truncation: int = 32,
        nlayers: int = 8,
        days: float = 1.0,
        orography: str = "flat",
    ) -> dict[str, np.ndarray]:
        """Run a SpeedyWeather model; returns ``{name: array}`` plus ``longitude``/``latitude``.

        ``kind``: ``barotropic``, ``shallow_water``, ``primitive_dry``, ``primitive_wet``.
        ``orography``: ``"flat"`` (default, nothing downloaded) or ``"earth"`` (SpeedyWeather's
        ``EarthOrography``, downloaded from SpeedyWeatherAssets on first use).  The
        primitive-equation models also read land-sea mask, SST, albedo and land data from
        SpeedyWeatherAssets, so only barotropic / shallow-water runs work offline.
        Arrays are ``(npoints,)`` or ``(npoints, nlayers)`` on SpeedyWeather's grid (Float32).
        """
        sw = self.bridge
        out = sw.run_speedy(
            sw.speedy_model(kind, truncation=truncation, nlayers=nlayers, orography=orography),
            days=days,
        )
        result = {str(k): np.asarray(v) for k, v in out.fields.items()}
        result["longitude"] = np.asarray(out.longitude)
        result["latitude"] = np.asarray(out.latitude)
        return result

    def ocean_sea_ice(self, n_steps: int = 1, dt: float = 600.0, **kwargs) -> dict[str, np.ndarray]:
        """Build and run the ClimaOcean ocean–sea-ice box (keywords of
        ``PyClimaOceanBridge.ocean_sea_ice_model``, ``Nx, Ny >= 4``); returns ``T, S`` (3-D) and ``ice_thickness``,
        ``ice_concentration`` (2-D) as NumPy arrays."""
        b = self.bridge
        out = b.run_ocean_sea_ice_b(b.ocean_sea_ice_model(**kwargs), float(dt), int(n_steps))
        return {
            k: np.asarray(getattr(out, k)) for k in ("T", "S", "ice_thickness", "ice_concentration")
        }

    def basin(self, n_steps: int = 1, dt: float = 600.0, **kwargs) -> dict[str, np.ndarray]:
        """Build and run the hydrostatic single basin (keywords of
        ``PyClimaOceanBridge.basin_model``, ``Nx, Ny >= 4``); returns surface ``T``, ``u``,
        ``v`` (cell centres, ``(Nx, Ny)``), ``η`` and 3-D temperature."""
        b = self.bridge
        out = b.run_basin_b(b.basin_model(**kwargs), float(dt), int(n_steps))
        keys = ("T_surface", "u_surface", "v_surface", "η", "T", "longitude", "latitude")
        return {k: np.asarray(getattr(out, k)) for k in keys}
