"""
    PyClimaOceanBridge

Julia side of pyclimaocean's Julia backend (called from Python through juliacall).

* Single-column `HydrostaticFreeSurfaceModel` with Oceananigans' `CATKEVerticalDiffusivity`
  whose parameters are set by their pyclimaocean (ASCII) or Oceananigans names
  ([`CATKE_PARAMETERS`](@ref), [`catke_closure`](@ref), [`column_model`](@ref),
  [`run_column`](@ref)).
* A hydrostatic single-basin ocean ([`basin_model`](@ref), [`run_basin!`](@ref)), and the
  basin of pyclimaocean's model contract ([`contract_basin_model`](@ref),
  [`run_basin_state`](@ref)).
* SpeedyWeather atmospheres ([`speedy_model`](@ref), [`run_speedy`](@ref)).
* A ClimaOcean ocean–sea-ice model ([`ocean_sea_ice_model`](@ref),
  [`run_ocean_sea_ice!`](@ref)).
* Enzyme reverse-mode vector-Jacobian products of column runs with respect to closure
  parameters and initial profiles ([`column_vjp`](@ref), [`column_mse_gradient`](@ref)):
  supported for the constant-diffusivity column; not supported through CATKE, which no
  upstream test differentiates by any route (see the docstring of `column_vjp`).
* Architecture (`"CPU"`, `"GPU"` with CUDA.jl loaded) and precision (`"Float64"`,
  `"Float32"`) by name ([`model_architecture`](@ref), [`model_float_type`](@ref)).

All results are returned as plain `Array`s / `NamedTuple`s so that Python receives NumPy
views without copies.
"""
module PyClimaOceanBridge

using Oceananigans
using Oceananigans.Grids: φnode
using Oceananigans.TimeSteppers: reset!
using Oceananigans.Utils: with_tracers
using Oceananigans.Fields: tracernames
using Oceananigans.TurbulenceClosures.TKEBasedVerticalDiffusivities: CATKEMixingLength, CATKEEquation

using Enzyme
using Enzyme: Active, Const, Duplicated, set_runtime_activity

using ClimaOcean: ocean_simulation, sea_ice_simulation, OceanSeaIceModel,
                  PrescribedAtmosphere, PrescribedRadiation

import SpeedyWeather

export CATKE_PARAMETERS, CATKE_PARAMETER_NAMES,
       catke_default_parameters, catke_parameter_index, catke_parameters, catke_closure,
       ColumnSetup, column_setup, model_architecture, model_float_type,
       ColumnClosureKind, CATKEClosure, ConstantDiffusivityClosure, closure_kind,
       column_closure, column_model, set_column_state!,
       column_profiles, run_column!, run_column,
       EnzymeGradientError, is_enzyme_error,
       configure_enzyme!, column_cotangent_loss, column_vjp, column_mse_gradient,
       basin_model, run_basin!,
       contract_basin_model, set_basin_state!, basin_fields, run_basin_state,
       SPEEDY_MODELS, SPEEDY_OROGRAPHIES, speedy_model, run_speedy,
       ocean_sea_ice_model, run_ocean_sea_ice!

include("catke_parameters.jl")
include("single_column.jl")
include("gradients.jl")
include("single_basin.jl")
include("speedy.jl")
include("ocean_sea_ice.jl")

end # module
