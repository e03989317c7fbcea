#####
##### Single-column HydrostaticFreeSurfaceModel with CATKE (or a constant diffusivity)
#####

"""
    ColumnSetup

Plain description of a single-column experiment, as sent from Python (all SI units).

Fields
======

- `z_faces`: cell-face heights from the bottom (`-depth`) to the surface (`0`), m, length `Nz + 1`.
- `coriolis_parameter`: f, s⁻¹ (`0` for no rotation).
- `thermal_expansion`, `haline_contraction`: α (K⁻¹) and β ((g/kg)⁻¹) of the linear
  equation of state, buoyancy `b = g (α T - β S)`.
- `gravitational_acceleration`: g, m s⁻².
- `temperature_flux`: upward surface kinematic heat flux Qᵀ, K m s⁻¹ (positive cools;
  Oceananigans' convention: a positive flux leaves the domain through the top).
- `salinity_flux`: upward surface salt flux, g kg⁻¹ m s⁻¹.
- `u_flux`, `v_flux`: upward surface momentum fluxes, m² s⁻² (`-τ/ρ₀` for a wind stress τ).
- `Δt`: time step, s.
- `architecture`: `"CPU"` or `"GPU"` (see [`model_architecture`](@ref)).
- `float_type`: `"Float64"` or `"Float32"`, the precision of the grid, closure and fields
  (see [`model_float_type`](@ref)); profiles always come back as `Float64` arrays.
"""
Base.@kwdef struct ColumnSetup
    z_faces :: Vector{Float64}
    coriolis_parameter :: Float64 = 0.0
    thermal_expansion :: Float64 = 2e-4
    haline_contraction :: Float64 = 7.6e-4
    gravitational_acceleration :: Float64 = 9.81
    temperature_flux :: Float64 = 0.0
    salinity_flux :: Float64 = 0.0
    u_flux :: Float64 = 0.0
    v_flux :: Float64 = 0.0
    Δt :: Float64 = 60.0
    architecture :: String = "CPU"
    float_type :: String = "Float64"
end

"""
    column_setup(z_faces; kwargs...) -> ColumnSetup

Keyword constructor convenient from Python (keywords as in [`ColumnSetup`](@ref); ASCII
alias `dt` for `Δt`).
"""
function column_setup(z_faces; dt = 60.0, architecture = "CPU", float_type = "Float64", kwargs...)
    z = collect(Float64, z_faces)
    length(z) >= 3 || throw(ArgumentError("z_faces must have at least 3 entries (2 cells), got $(length(z))"))
    all(diff(z) .> 0) || throw(ArgumentError("z_faces must increase strictly from the bottom to the surface"))
    dt > 0 || throw(ArgumentError("dt = $dt must be > 0 (seconds)"))
    architecture = string(architecture)
    float_type = string(float_type)
    architecture in SUPPORTED_ARCHITECTURES ||
        throw(ArgumentError("architecture \"$architecture\" is not supported. Supported architectures are: " *
                            join(SUPPORTED_ARCHITECTURES, ", ")))
    float_type in SUPPORTED_FLOAT_TYPES ||
        throw(ArgumentError("float_type \"$float_type\" is not supported. Supported float types are: " *
                            join(SUPPORTED_FLOAT_TYPES, ", ")))
    return ColumnSetup(; z_faces = z, Δt = Float64(dt), architecture, float_type, kwargs...)
end

const SUPPORTED_ARCHITECTURES = ("CPU", "GPU")
const SUPPORTED_FLOAT_TYPES = ("Float64", "Float32")

"""
    model_architecture(name) -> CPU() or GPU()

`"CPU"` → `CPU()`; `"GPU"` → `GPU()`, which needs CUDA.jl loaded (Oceananigans' GPU support
is the package extension `OceananigansCUDAExt`, active only after `using CUDA`).  Throws an
`ArgumentError` saying how to add CUDA otherwise.
"""
function model_architecture(name::AbstractString)
    name == "CPU" && return CPU()
    if name == "GPU"
        isnothing(Base.get_extension(Oceananigans, :OceananigansCUDAExt)) &&
            throw(ArgumentError("architecture \"GPU\" needs CUDA.jl loaded (Oceananigans' GPU support is " *
                                "the extension OceananigansCUDAExt). Add CUDA to the Julia environment " *
                                "(python -m juliapkg add CUDA --uuid 052768ef-5323-5732-b1bb-66c8b64840ba) " *
                                "and run `using CUDA` before building the model."))
        return GPU()
    end
    throw(ArgumentError("architecture \"$name\" is not supported. Supported architectures are: " *
                        join(SUPPORTED_ARCHITECTURES, ", ")))
end

"""
    model_float_type(name) -> Float64 or Float32
"""
function model_float_type(name::AbstractString)
    name == "Float64" && return Float64
    name == "Float32" && return Float32
    throw(ArgumentError("float_type \"$name\" is not supported. Supported float types are: " *
                        join(SUPPORTED_FLOAT_TYPES, ", ")))
end

"""
    CATKEClosure(), ConstantDiffusivityClosure()

Closure kinds as singleton types, so that the closure is built by dispatch (also inside
Enzyme's `autodiff`, where a runtime string comparison would be differentiated through).
[`closure_kind`](@ref) converts the Python-side names `"catke"` / `"constant"`.
"""
abstract type ColumnClosureKind end
struct CATKEClosure <: ColumnClosureKind end
struct ConstantDiffusivityClosure <: ColumnClosureKind end

const CLOSURE_KINDS = ("catke", "constant")

"""
    closure_kind(name) -> ColumnClosureKind

`"catke"` → `CATKEClosure()`, `"constant"` → `ConstantDiffusivityClosure()`.
"""
function closure_kind(name::AbstractString)
    name == "catke" && return CATKEClosure()
    name == "constant" && return ConstantDiffusivityClosure()
    throw(ArgumentError("closure kind \"$name\" is not supported. Supported kinds are: " * join(CLOSURE_KINDS, ", ")))
end

closure_kind(kind::ColumnClosureKind) = kind

"""
    column_closure(kind, θ, FT = Float64)

`kind = CATKEClosure()` (or `"catke"`): [`catke_closure`](@ref)`(θ, FT)`;
`kind = ConstantDiffusivityClosure()` (or `"constant"`): a vertically implicit
`VerticalScalarDiffusivity` with `ν = θ[1]`, `κ = θ[2]` (m² s⁻¹), the closure for which
Oceananigans' own Enzyme tests pass.
"""
column_closure(::CATKEClosure, θ::AbstractVector, FT::DataType = Float64) = catke_closure(θ, FT)

function column_closure(::ConstantDiffusivityClosure, θ::AbstractVector, FT::DataType = Float64)
    length(θ) == 2 || throw(ArgumentError("constant closure takes θ = [ν, κ], got length $(length(θ))"))
    return VerticalScalarDiffusivity(VerticallyImplicitTimeDiscretization(), FT; ν = θ[1], κ = θ[2])
end

column_closure(kind::AbstractString, θ::AbstractVector, FT::DataType = Float64) =
    column_closure(closure_kind(kind), θ, FT)

"""
    column_model(setup::ColumnSetup; closure = catke_closure()) -> HydrostaticFreeSurfaceModel

A single column (`topology = (Flat, Flat, Bounded)`) on `setup.architecture` in
`setup.float_type` with tracers `T`, `S`, `SeawaterBuoyancy` with a `LinearEquationOfState`,
an optional `FPlane` and constant surface flux boundary conditions (zero flux at the bottom).
With CATKE, Oceananigans adds the TKE tracer `e` itself (`closure_required_tracers`); naming
it in `tracers` is an `ArgumentError` upstream, so it is never passed here.
"""
function column_model(setup::ColumnSetup; closure = catke_closure(catke_default_parameters(), model_float_type(setup.float_type)))
    FT = model_float_type(setup.float_type)
    arch = model_architecture(setup.architecture)
    Nz = length(setup.z_faces) - 1
    grid = RectilinearGrid(arch, FT; size = Nz, z = setup.z_faces,
                           topology = (Flat, Flat, Bounded))

    equation_of_state = LinearEquationOfState(FT; thermal_expansion = setup.thermal_expansion,
                                              haline_contraction = setup.haline_contraction)
    buoyancy = SeawaterBuoyancy(FT; gravitational_acceleration = setup.gravitational_acceleration,
                                equation_of_state)

    coriolis = setup.coriolis_parameter == 0 ? nothing : FPlane(FT; f = setup.coriolis_parameter)

    boundary_conditions = (T = FieldBoundaryConditions(top = FluxBoundaryCondition(FT(setup.temperature_flux))),
                           S = FieldBoundaryConditions(top = FluxBoundaryCondition(FT(setup.salinity_flux))),
                           u = FieldBoundaryConditions(top = FluxBoundaryCondition(FT(setup.u_flux))),
                           v = FieldBoundaryConditions(top = FluxBoundaryCondition(FT(setup.v_flux))))

    return HydrostaticFreeSurfaceModel(grid; closure, buoyancy, coriolis, tracers = (:T, :S),
                                       boundary_conditions)
end

column_model(setup::ColumnSetup, kind, θ::AbstractVector) =
    column_model(setup; closure = column_closure(kind, θ, model_float_type(setup.float_type)))

has_tke(model) = haskey(model.tracers, :e)

column_reshape(model, a) = reshape(collect(Float64, a), 1, 1, size(model.grid, 3))

"""
    set_column_state!(model, T, S, u, v, e)

Set the profiles (vectors of length `Nz`, bottom to top; `e` ignored without CATKE) and
reset the clock to `t = 0`.
"""
function set_column_state!(model, T, S, u, v, e)
    reset!(model.clock)
    set!(model.tracers.T, column_reshape(model, T))
    set!(model.tracers.S, column_reshape(model, S))
    set!(model.velocities.u, column_reshape(model, u))
    set!(model.velocities.v, column_reshape(model, v))
    has_tke(model) && set!(model.tracers.e, column_reshape(model, e))
    return nothing
end

"""
    column_profiles(model) -> NamedTuple of Vector{Float64}

Current `T, S, u, v, e` profiles (bottom to top, length `Nz`) as plain `Vector{Float64}`s
(`e` is zeros without CATKE), and the cell-centre heights `z`.
"""
function column_profiles(model)
    T = float64_profile(model.tracers.T)
    e = has_tke(model) ? float64_profile(model.tracers.e) : zero(T)
    return (; T,
              S = float64_profile(model.tracers.S),
              u = float64_profile(model.velocities.u),
              v = float64_profile(model.velocities.v),
              e,
              z = collect(Float64, znodes(model.tracers.T)))
end

# interior of a column field as a host Vector{Float64} (copies from the GPU, widens Float32)
float64_profile(field) = Float64.(vec(Array(interior(field))))

"""
    run_column!(model, Δt, n_steps; save_every = n_steps) -> NamedTuple

Advance `model` by `n_steps` steps of `Δt` seconds with `time_step!` and return the
profiles every `save_every` steps as matrices `(n_saved, Nz)`: `T, S, u, v, e`, plus
`times` (s, length `n_saved`).
"""
function run_column!(model, Δt, n_steps::Integer; save_every::Integer = n_steps)
    n_steps >= 1 || throw(ArgumentError("n_steps = $n_steps must be >= 1"))
    (save_every >= 1 && n_steps % save_every == 0) ||
        throw(ArgumentError("save_every = $save_every must divide n_steps = $n_steps"))

    Nz = size(model.grid, 3)
    n_saved = n_steps ÷ save_every
    out = (T = zeros(n_saved, Nz), S = zeros(n_saved, Nz), u = zeros(n_saved, Nz),
           v = zeros(n_saved, Nz), e = zeros(n_saved, Nz))
    times = zeros(n_saved)

    for n in 1:n_steps
        time_step!(model, Δt)
        if n % save_every == 0
            m = n ÷ save_every
            p = column_profiles(model)
            out.T[m, :] .= p.T
            out.S[m, :] .= p.S
            out.u[m, :] .= p.u
            out.v[m, :] .= p.v
            out.e[m, :] .= p.e
            times[m] = model.clock.time
        end
    end

    return merge(out, (; times))
end

"""
    run_column(setup, kind, θ, T, S, u, v, e, n_steps, save_every) -> NamedTuple

Build a column model (see [`column_model`](@ref)), set its initial profiles and run it:
the one call the Python backend makes for a forward run.  Returns the output of
[`run_column!`](@ref).
"""
function run_column(setup::ColumnSetup, kind, θ::AbstractVector,
                    T, S, u, v, e, n_steps::Integer, save_every::Integer)
    model = column_model(setup, kind, θ)
    set_column_state!(model, T, S, u, v, e)
    return run_column!(model, setup.Δt, n_steps; save_every)
end
