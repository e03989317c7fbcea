#####
##### A hydrostatic single-basin ocean (wind- and buoyancy-driven gyres) with CATKE
#####

"""
    basin_model(; Nx = 24, Ny = 24, Nz = 8, longitude = (0, 60), latitude = (15, 75),
                  depth = 2000, wind_stress = 0.1, restoring_time = 30 * 86400,
                  surface_temperature_range = (2, 25), catke_parameters = catke_default_parameters(),
                  horizontal_viscosity = 1e4, horizontal_diffusivity = 1e3)

A closed `LatitudeLongitudeGrid` basin (`Bounded` in all directions, flat bottom at
`-depth` m) with a `HydrostaticFreeSurfaceModel`: `VectorInvariant` momentum advection,
`WENO` tracer advection, `HydrostaticSphericalCoriolis`, `SplitExplicitFreeSurface`, linear
`SeawaterBuoyancy`, closures `(CATKEVerticalDiffusivity, HorizontalScalarDiffusivity)`.
Surface forcing: zonal wind stress `τ = -wind_stress cos(2π (φ - φ_S)/(φ_N - φ_S))` (N m⁻²,
double-gyre pattern, as a kinematic flux `τ/ρ₀` with `ρ₀ = 1025 kg m⁻³`) and restoring of
surface temperature to a linear-in-latitude profile over `restoring_time` seconds.
Returns the model; see [`run_basin!`](@ref).
"""
function basin_model(; Nx = 24, Ny = 24, Nz = 8,
                       longitude = (0, 60), latitude = (15, 75), depth = 2000,
                       wind_stress = 0.1, restoring_time = 30 * 86400,
                       surface_temperature_range = (2, 25),
                       catke_parameters = catke_default_parameters(),
                       horizontal_viscosity = 1e4, horizontal_diffusivity = 1e3)

    grid = LatitudeLongitudeGrid(CPU(), Float64;
                                 size = (Nx, Ny, Nz),
                                 longitude, latitude,
                                 z = (-depth, 0),
                                 halo = (4, 4, 4),
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

    buoyancy = SeawaterBuoyancy(equation_of_state = LinearEquationOfState(thermal_expansion = 2e-4,
                                                                          haline_contraction = 7.6e-4))

    closure = (catke_closure(catke_parameters),
               HorizontalScalarDiffusivity(ν = horizontal_viscosity, κ = horizontal_diffusivity))

    model = HydrostaticFreeSurfaceModel(grid;
                                        momentum_advection = VectorInvariant(),
                                        tracer_advection = WENO(),
                                        buoyancy,
                                        coriolis = HydrostaticSphericalCoriolis(),
                                        free_surface = SplitExplicitFreeSurface(grid; substeps = 30),
                                        closure,
                                        tracers = (:T, :S, :e),
                                        boundary_conditions = (u = u_bcs, T = T_bcs))

    # stably stratified start: exponential thermocline, uniform salinity
    Tᵢ(λ, φ, z) = Tmin + (Tmax - Tmin) * (φn - φ) / (φn - φs) * exp(z / 500)
    set!(model, T = Tᵢ, S = 35)

    return model
end

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

Time-step the basin `n_steps` times (Δt in s) and return plain arrays: surface `T` (°C),
`u`, `v` (m s⁻¹) as `(Nx, Ny)` matrices (`u` on x-faces, `(Nx+1, Ny)` for a bounded basin
is trimmed to the interior), the free-surface displacement `η` (m), the full 3-D `T`
`(Nx, Ny, Nz)`, and the node longitudes / latitudes (degrees).
"""
function run_basin!(model, Δt, n_steps::Integer)
    n_steps >= 1 || throw(ArgumentError("n_steps = $n_steps must be >= 1"))
    for _ in 1:n_steps
        time_step!(model, Δt)
    end
    Nz = size(model.grid, 3)
    T = Array(interior(model.tracers.T))
    return (; T_surface = T[:, :, Nz],
              u_surface = Array(interior(model.velocities.u))[:, :, Nz],
              v_surface = Array(interior(model.velocities.v))[:, :, Nz],
              η = Array(interior(model.free_surface.displacement))[:, :, 1],
              T,
              longitude = collect(λnodes(model.grid, Center())),
              latitude = collect(φnodes(model.grid, Center())),
              time = model.clock.time)
end
