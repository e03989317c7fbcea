#####
##### A hydrostatic single-basin ocean (wind- and buoyancy-driven gyres) with CATKE
#####

"""
    basin_model(; Nx = 24, Ny = 24, Nz = 8, longitude = (0, 60), latitude = (15, 75),
                  depth = 2000, wind_stress = 0.1, restoring_time = 30 * 86400,
                  surface_temperature_range = (2, 25), catke_parameters = catke_default_parameters(),
                  horizontal_viscosity = 1e4, horizontal_diffusivity = 1e3,
                  architecture = "CPU", float_type = "Float64")

A closed `LatitudeLongitudeGrid` basin (`Bounded` in all directions, flat bottom at
`-depth` m) with a `HydrostaticFreeSurfaceModel`: `VectorInvariant` momentum advection,
`WENO` tracer advection, `HydrostaticSphericalCoriolis`, `SplitExplicitFreeSurface`, linear
`SeawaterBuoyancy`, closures `(CATKEVerticalDiffusivity, HorizontalScalarDiffusivity)`.
Surface forcing: zonal wind stress `τ = -wind_stress cos(2π (φ - φ_S)/(φ_N - φ_S))` (N m⁻²,
double-gyre pattern, as a kinematic flux `τ/ρ₀` with `ρ₀ = 1025 kg m⁻³`) and restoring of
surface temperature to a linear-in-latitude profile over `restoring_time` seconds.
The grid has halo `(4, 4, 4)` (WENO's default order 5 needs 3), and Oceananigans requires
`halo ≤ size` in x and y, so `Nx, Ny ≥ 4` (an `ArgumentError` says so otherwise).
`architecture` and `float_type` as in [`model_architecture`](@ref) and
[`model_float_type`](@ref).  CATKE's TKE tracer `e` is added by Oceananigans itself.
Returns the model; see [`run_basin!`](@ref).
"""
function basin_model(; Nx = 24, Ny = 24, Nz = 8,
                       longitude = (0, 60), latitude = (15, 75), depth = 2000,
                       wind_stress = 0.1, restoring_time = 30 * 86400,
                       surface_temperature_range = (2, 25),
                       catke_parameters = catke_default_parameters(),
                       horizontal_viscosity = 1e4, horizontal_diffusivity = 1e3,
                       architecture = "CPU", float_type = "Float64")

    min(Nx, Ny) >= BASIN_HALO ||
        throw(ArgumentError("basin_model needs Nx, Ny >= $BASIN_HALO (Oceananigans requires halo ≤ size " *
                            "and the basin's halo is $BASIN_HALO); got Nx = $Nx, Ny = $Ny"))
    FT = model_float_type(string(float_type))
    grid = LatitudeLongitudeGrid(model_architecture(string(architecture)), FT;
                                 size = (Nx, Ny, Nz),
                                 longitude, latitude,
                                 z = (-depth, 0),
                                 halo = (BASIN_HALO, BASIN_HALO, BASIN_HALO),
                                 topology = (Bounded, Bounded, Bounded))

    ρ₀ = 1025.0
    φs, φn = latitude
    Tmin, Tmax = surface_temperature_range
    Δz_top = depth / Nz

    wind_parameters = (; τ₀ = wind_stress / ρ₀, φs, φn)
    restoring_parameters = (; λ = Δz_top / restoring_time, Tmin, Tmax, φs, φn)

    u_bcs = FieldBoundaryConditions(top = FluxBoundaryCondition(basin_wind_flux; parameters = wind_parameters))
    T_bcs = FieldBoundaryConditions(top = FluxBoundaryCondition(basin_temperature_restoring;
                                                                discrete_form = true,
                                                                parameters = restoring_parameters))

    buoyancy = SeawaterBuoyancy(FT; equation_of_state = LinearEquationOfState(FT; thermal_expansion = 2e-4,
                                                                              haline_contraction = 7.6e-4))

    closure = (catke_closure(catke_parameters, FT),
               HorizontalScalarDiffusivity(ν = horizontal_viscosity, κ = horizontal_diffusivity))

    model = HydrostaticFreeSurfaceModel(grid;
                                        momentum_advection = VectorInvariant(),
                                        tracer_advection = WENO(),
                                        buoyancy,
                                        coriolis = HydrostaticSphericalCoriolis(),
                                        free_surface = SplitExplicitFreeSurface(grid; substeps = 30),
                                        closure,
                                        tracers = (:T, :S),
                                        boundary_conditions = (u = u_bcs, T = T_bcs))

    # stably stratified start: exponential thermocline, uniform salinity
    Tᵢ(λ, φ, z) = Tmin + (Tmax - Tmin) * (φn - φ) / (φn - φs) * exp(z / 500)
    set!(model, T = Tᵢ, S = 35)

    return model
end

const BASIN_HALO = 4

# Upward kinematic momentum flux -τ/ρ₀ for τ = -τ₀ρ₀ cos(2π (φ - φs)/(φn - φs)) (double gyre).
@inline basin_wind_flux(λ, φ, t, p) = p.τ₀ * cos(2π * (φ - p.φs) / (p.φn - p.φs))

# Upward heat flux restoring the top-cell temperature to T★(φ), linear in latitude.
@inline function basin_temperature_restoring(i, j, grid, clock, fields, p)
    φ = φnode(j, grid, Center())
    T★ = p.Tmin + (p.Tmax - p.Tmin) * (p.φn - φ) / (p.φn - p.φs)
    return @inbounds p.λ * (fields.T[i, j, grid.Nz] - T★)
end

"""
    run_basin!(model, Δt, n_steps) -> NamedTuple

Time-step the basin `n_steps` times (Δt in s) and return plain `Float64` arrays on the
tracer (cell-centre) points: surface `T` (°C) and `u`, `v` (m s⁻¹) as `(Nx, Ny)` matrices —
`u` and `v` live on x- and y-faces, `(Nx+1, Ny)` and `(Nx, Ny+1)` in a bounded basin, and are
averaged onto the cell centres (`u_c[i] = (u[i] + u[i+1]) / 2`), the free-surface
displacement `η` (m) `(Nx, Ny)`, the full 3-D `T` `(Nx, Ny, Nz)`, the cell-centre longitudes
and latitudes (degrees) and the model time (s).
"""
function run_basin!(model, Δt, n_steps::Integer)
    n_steps >= 1 || throw(ArgumentError("n_steps = $n_steps must be >= 1"))
    for _ in 1:n_steps
        time_step!(model, Δt)
    end
    Nx, Ny, Nz = size(model.grid)
    T = Float64.(Array(interior(model.tracers.T)))
    u = Float64.(Array(interior(model.velocities.u))[:, :, Nz])   # (Nx+1, Ny)
    v = Float64.(Array(interior(model.velocities.v))[:, :, Nz])   # (Nx, Ny+1)
    u_surface = (u[1:Nx, :] .+ u[2:Nx+1, :]) ./ 2
    v_surface = (v[:, 1:Ny] .+ v[:, 2:Ny+1]) ./ 2
    return (; T_surface = T[:, :, Nz],
              u_surface, v_surface,
              η = Float64.(Array(interior(model.free_surface.displacement))[:, :, 1]),
              T,
              longitude = collect(Float64, λnodes(model.grid, Center())),
              latitude = collect(Float64, φnodes(model.grid, Center())),
              time = Float64(model.clock.time))
end

#####
##### The basin of pyclimaocean's model contract (`JuliaBasinModel`): geometry, forcing and
##### coefficients come from the Python `BasinModel`, fields go in and out in Oceananigans'
##### interior layout (Nx[+1], Ny[+1], Nz), k = 1 at the bottom.
#####

"""
    contract_basin_model(; longitude, latitude | x, y, coriolis_f0, coriolis_beta,
                           z_faces, periodic_x, bottom_height,
                           wind_u_flux, restoring_flux_rate, restoring_temperature,
                           horizontal_viscosity, viscosity_cos_power, horizontal_diffusivity,
                           vertical_viscosity, vertical_diffusivity, linear_drag,
                           thermal_expansion, haline_contraction, gravitational_acceleration,
                           rotation_rate, radius, substeps, tracer_advection = "upwind3",
                           momentum_advection = true, convective_diffusivity = nothing,
                           architecture = "CPU",
                           float_type = "Float64")

The hydrostatic basin of a pyclimaocean `BasinModel` on a `LatitudeLongitudeGrid` (given
`longitude`, `latitude` in degrees, `radius` in m, with `HydrostaticSphericalCoriolis`) or on a
β-plane `RectilinearGrid` (given `x`, `y` extents in m, with `BetaPlane(f₀ = coriolis_f0,
β = coriolis_beta)`: f = f₀ + β y), `Periodic` in x when `periodic_x`, else `Bounded`;
`Bounded` in y and z; land given by
`bottom_height` (`(Nx, Ny)`, m: `z_faces[1]` in the ocean, `0` on land) through an
`ImmersedBoundaryGrid` with `GridFittedBottom`.

Physics, matching the Python model term by term:

* momentum: `VectorInvariant()` (or none when `momentum_advection = false`),
  the Coriolis term above, `SplitExplicitFreeSurface(grid; substeps,
  gravitational_acceleration)`, quasi-AB2 (Oceananigans' default, χ = 0.1);
* closures: `HorizontalScalarDiffusivity` (ν = `horizontal_viscosity` × cos^p φ, κ =
  `horizontal_diffusivity`; p = 0 on the β-plane) and a vertically implicit `VerticalScalarDiffusivity`; with a
  `convective_diffusivity` κ_c, a `ConvectiveAdjustmentVerticalDiffusivity` instead (κ =
  `vertical_diffusivity` + κ_c where ∂b/∂z < 0: the step the Python model smooths into
  κ_c σ(-N²/N²₀));
* tracers `T`, `S`: `UpwindBiased(order = 3)` (`"upwind3"`) or `Centered(order = 2)`
  (`"centered2"`); linear `SeawaterBuoyancy`;
* surface: zonal kinematic momentum flux `wind_u_flux` (`(Nx, Ny)` on u points for
  periodic x, `(Nx + 1, Ny)` when bounded; m² s⁻², upward positive, i.e. `-τₓ/ρ₀`) and the
  temperature restoring flux `restoring_flux_rate × (T_top - restoring_temperature)`
  (`restoring_flux_rate` = γ Δz_top, m s⁻¹; `restoring_temperature` `(Nx, Ny)`, °C);
* bottom: linear drag `-r u` on the bottom cell, as the flux `-r Δz_bottom u`.

Returns the model (at rest, T = S = 0: set the state with [`set_basin_state!`](@ref)).
"""
function contract_basin_model(; longitude = nothing, latitude = nothing, x = nothing, y = nothing,
                                coriolis_f0 = nothing, coriolis_beta = nothing,
                                z_faces, periodic_x::Bool, bottom_height,
                                wind_u_flux, restoring_flux_rate, restoring_temperature,
                                horizontal_viscosity, viscosity_cos_power::Integer,
                                horizontal_diffusivity, vertical_viscosity, vertical_diffusivity,
                                linear_drag, thermal_expansion, haline_contraction,
                                gravitational_acceleration, rotation_rate = nothing,
                                radius = nothing, substeps::Integer, tracer_advection = "upwind3",
                                momentum_advection = true, convective_diffusivity = nothing,
                                architecture = "CPU", float_type = "Float64")

    FT = model_float_type(string(float_type))
    arch = model_architecture(string(architecture))
    Nx, Ny = size(bottom_height)
    zf = collect(FT, z_faces)
    Nz = length(zf) - 1
    min(Nx, Ny) >= BASIN_HALO ||
        throw(ArgumentError("contract_basin_model needs Nx, Ny >= $BASIN_HALO (Oceananigans requires " *
                            "halo ≤ size); got Nx = $Nx, Ny = $Ny"))
    TX = periodic_x ? Periodic : Bounded
    spherical = isnothing(x)
    underlying = spherical ?
        LatitudeLongitudeGrid(arch, FT;
                              size = (Nx, Ny, Nz),
                              longitude = (longitude[1], longitude[2]),
                              latitude = (latitude[1], latitude[2]),
                              z = zf,
                              radius,
                              halo = (BASIN_HALO, BASIN_HALO, BASIN_HALO),
                              topology = (TX, Bounded, Bounded)) :
        RectilinearGrid(arch, FT;
                        size = (Nx, Ny, Nz),
                        x = (x[1], x[2]),
                        y = (y[1], y[2]),
                        z = zf,
                        halo = (BASIN_HALO, BASIN_HALO, BASIN_HALO),
                        topology = (TX, Bounded, Bounded))
    bottom = Oceananigans.Architectures.on_architecture(arch, collect(FT, bottom_height))
    grid = ImmersedBoundaryGrid(underlying, GridFittedBottom(bottom))

    Δz_bottom = zf[2] - zf[1]
    wind = (; Q = Oceananigans.Architectures.on_architecture(arch, collect(FT, wind_u_flux)))
    restoring = (; λ = FT(restoring_flux_rate),
                   T★ = Oceananigans.Architectures.on_architecture(arch, collect(FT, restoring_temperature)))
    drag = (; μ = FT(linear_drag * Δz_bottom))

    u_bcs = FieldBoundaryConditions(top = FluxBoundaryCondition(contract_basin_wind; discrete_form = true,
                                                                parameters = wind),
                                    bottom = FluxBoundaryCondition(contract_basin_u_drag; discrete_form = true,
                                                                   parameters = drag))
    v_bcs = FieldBoundaryConditions(bottom = FluxBoundaryCondition(contract_basin_v_drag; discrete_form = true,
                                                                   parameters = drag))
    T_bcs = FieldBoundaryConditions(top = FluxBoundaryCondition(contract_basin_restoring; discrete_form = true,
                                                                parameters = restoring))

    equation_of_state = LinearEquationOfState(FT; thermal_expansion, haline_contraction)
    buoyancy = SeawaterBuoyancy(FT; gravitational_acceleration, equation_of_state)

    horizontal = viscosity_cos_power == 0 ?
        HorizontalScalarDiffusivity(ExplicitTimeDiscretization(), FT;
                                    ν = FT(horizontal_viscosity), κ = FT(horizontal_diffusivity)) :
        HorizontalScalarDiffusivity(ExplicitTimeDiscretization(), FT;
                                    ν = contract_basin_viscosity, κ = FT(horizontal_diffusivity),
                                    discrete_form = true,
                                    parameters = (; A = FT(horizontal_viscosity),
                                                    p = Int(viscosity_cos_power)))
    spherical || viscosity_cos_power == 0 ||
        throw(ArgumentError("viscosity_cos_power = $viscosity_cos_power needs a spherical grid"))
    coriolis = spherical ? HydrostaticSphericalCoriolis(; rotation_rate) :
                           BetaPlane(FT; f₀ = coriolis_f0, β = coriolis_beta)
    vertical = isnothing(convective_diffusivity) ?
        VerticalScalarDiffusivity(VerticallyImplicitTimeDiscretization(), FT;
                                  ν = FT(vertical_viscosity), κ = FT(vertical_diffusivity)) :
        ConvectiveAdjustmentVerticalDiffusivity(VerticallyImplicitTimeDiscretization(), FT;
                                                convective_κz = vertical_diffusivity + convective_diffusivity,
                                                background_κz = vertical_diffusivity,
                                                convective_νz = vertical_viscosity,
                                                background_νz = vertical_viscosity)

    advection = tracer_advection == "upwind3" ? UpwindBiased(FT; order = 3) :
                tracer_advection == "centered2" ? Centered(FT; order = 2) :
                throw(ArgumentError("tracer_advection = $tracer_advection is not supported; " *
                                    "supported: upwind3, centered2"))

    free_surface = SplitExplicitFreeSurface(grid; substeps = Int(substeps), gravitational_acceleration)

    return HydrostaticFreeSurfaceModel(grid;
                                       momentum_advection = momentum_advection ? VectorInvariant() : nothing,
                                       tracer_advection = advection,
                                       buoyancy,
                                       coriolis,
                                       free_surface,
                                       closure = (horizontal, vertical),
                                       tracers = (:T, :S),
                                       boundary_conditions = (u = u_bcs, v = v_bcs, T = T_bcs))
end

# discrete-form callbacks (i, j, grid, clock, fields, p) of the contract basin
@inline contract_basin_wind(i, j, grid, clock, fields, p) = @inbounds p.Q[i, j]
@inline contract_basin_u_drag(i, j, grid, clock, fields, p) = @inbounds -p.μ * fields.u[i, j, 1]
@inline contract_basin_v_drag(i, j, grid, clock, fields, p) = @inbounds -p.μ * fields.v[i, j, 1]
@inline contract_basin_restoring(i, j, grid, clock, fields, p) =
    @inbounds p.λ * (fields.T[i, j, grid.Nz] - p.T★[i, j])

# ν(i, j, k, grid, ℓx, ℓy, ℓz, clock, fields, p) = A cos^p φ at the point where it is used
@inline contract_basin_viscosity(i, j, k, grid, ℓx, ℓy, ℓz, clock, fields, p) =
    p.A * cosd(φnode(i, j, k, grid, ℓx, ℓy, ℓz))^p.p

"""
    set_basin_state!(model, T, S, u, v, η)

Set the prognostic fields from arrays in Oceananigans' interior layout: `T`, `S`
`(Nx, Ny, Nz)`, `u` `(Nx, Ny, Nz)` (periodic x) or `(Nx + 1, Ny, Nz)`, `v` `(Nx, Ny + 1, Nz)`,
`η` `(Nx, Ny)`; resets the clock to iteration 0, so the next step is forward Euler, as the
Python model's first step (the AB2 history is not carried across calls).
"""
function set_basin_state!(model, T, S, u, v, η)
    set!(model; T = Array(T), S = Array(S), u = Array(u), v = Array(v),
         η = reshape(Array(η), size(η, 1), size(η, 2), 1))
    reset!(model.clock)   # iteration 0: Oceananigans' quasi-AB2 takes a forward-Euler step
    return model
end

"""
    basin_fields(model) -> NamedTuple

Interior `T`, `S`, `u`, `v` (3-D) and `η` (2-D) of the basin as `Float64` CPU arrays in
Oceananigans' layout (see [`set_basin_state!`](@ref)).
"""
function basin_fields(model)
    interior64(f) = Float64.(Array(interior(f)))
    return (; T = interior64(model.tracers.T), S = interior64(model.tracers.S),
              u = interior64(model.velocities.u), v = interior64(model.velocities.v),
              η = interior64(model.free_surface.displacement)[:, :, 1])
end

"""
    run_basin_state(model, Δt, T, S, u, v, η, n_steps, save_every) -> NamedTuple

Set the state ([`set_basin_state!`](@ref)), take `n_steps` steps of `Δt` s and return the
fields of every `save_every`-th step stacked along a last axis: `T`, `S`, `u`, `v`
`(…, Nz, n_saved)` and `η` `(Nx, Ny, n_saved)` (Float64, Oceananigans' layout).
"""
function run_basin_state(model, Δt, T, S, u, v, η, n_steps::Integer, save_every::Integer)
    (n_steps >= 1 && save_every >= 1 && n_steps % save_every == 0) ||
        throw(ArgumentError("save_every = $save_every must be a positive divisor of n_steps = $n_steps"))
    set_basin_state!(model, T, S, u, v, η)
    saved = []
    for n in 1:n_steps
        time_step!(model, Δt)
        n % save_every == 0 && push!(saved, basin_fields(model))
    end
    stack_last(name) = cat((getproperty(s, name) for s in saved)...; dims = ndims(getproperty(saved[1], name)) + 1)
    return (; T = stack_last(:T), S = stack_last(:S), u = stack_last(:u), v = stack_last(:v),
              η = stack_last(:η))
end
