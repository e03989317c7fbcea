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
