#####
##### ClimaOcean (NumericalEarth) ocean–sea-ice model under a uniform prescribed atmosphere
#####
##### Idealised, data-free setup (no bathymetry or reanalysis downloads): a small doubly
##### periodic box, CATKE vertical mixing, thermodynamic sea ice, and a spatially uniform
##### `PrescribedAtmosphere` / `PrescribedRadiation`, following NumericalEarth's
##### `examples/coupled_conservation.jl`.
#####

"""
    ocean_sea_ice_model(; Nx = 4, Ny = 4, Nz = 10, Lx = 100e3, Ly = 100e3, depth = 100,
                          temperature = -1.5, salinity = 34, ice_thickness = 1, ice_concentration = 1,
                          air_temperature = 253.15, specific_humidity = 1e-3, wind_u = 5, wind_v = 0,
                          air_pressure = 101325, shortwave = 0, longwave = 200,
                          catke_parameters = catke_default_parameters())

`Nx, Ny ≥ 4`: the ocean grid has halo `(4, 4, 4)` because `ocean_simulation`'s default tracer
advection is `WENO(order = 7)`, and Oceananigans requires `halo ≤ size` in x and y
(`validate_halo`, `src/Grids/input_validation.jl`); smaller sizes throw an `ArgumentError`.

Return a ClimaOcean `OceanSeaIceModel` (`ocean_simulation` on a `RectilinearGrid` with
`CATKEVerticalDiffusivity`, no momentum advection, Coriolis or radiative forcing;
`sea_ice_simulation` with thermodynamics only) coupled to a spatially uniform, constant
prescribed atmosphere (air temperature K, specific humidity kg kg⁻¹, 10 m wind m s⁻¹,
surface pressure Pa) and radiation (downwelling shortwave and longwave, W m⁻²).
Initial ocean `T` (°C) and `S` (g kg⁻¹) are uniform; ice thickness (m) and concentration (0–1).
"""
function ocean_sea_ice_model(; Nx = 4, Ny = 4, Nz = 10, Lx = 100e3, Ly = 100e3, depth = 100,
                               temperature = -1.5, salinity = 34,
                               ice_thickness = 1, ice_concentration = 1,
                               air_temperature = 253.15, specific_humidity = 1e-3,
                               wind_u = 5, wind_v = 0, air_pressure = 101325,
                               shortwave = 0, longwave = 200,
                               catke_parameters = catke_default_parameters())

    min(Nx, Ny) >= OCEAN_SEA_ICE_HALO ||
        throw(ArgumentError("ocean_sea_ice_model needs Nx, Ny >= $OCEAN_SEA_ICE_HALO (halo $OCEAN_SEA_ICE_HALO for " *
                            "ocean_simulation's WENO(order = 7), and Oceananigans requires halo ≤ size); " *
                            "got Nx = $Nx, Ny = $Ny"))
    0 <= ice_concentration <= 1 ||
        throw(ArgumentError("ice_concentration = $ice_concentration must be in [0, 1]"))
    ice_thickness >= 0 || throw(ArgumentError("ice_thickness = $ice_thickness must be >= 0 (m)"))

    x, y = (0, Lx), (0, Ly)
    grid = RectilinearGrid(CPU(); size = (Nx, Ny, Nz), halo = (OCEAN_SEA_ICE_HALO, OCEAN_SEA_ICE_HALO, OCEAN_SEA_ICE_HALO), x, y, z = (-depth, 0),
                           topology = (Periodic, Periodic, Bounded))

    ocean = ocean_simulation(grid;
                             momentum_advection = nothing,
                             coriolis = nothing,
                             radiative_forcing = nothing,
                             closure = catke_closure(catke_parameters),
                             bottom_drag_coefficient = 0)
    set!(ocean.model, T = temperature, S = salinity)

    sea_ice = sea_ice_simulation(grid, ocean; dynamics = nothing, advection = nothing)
    set!(sea_ice.model, h = ice_thickness, ℵ = ice_concentration)

    atmosphere_grid = RectilinearGrid(CPU(); size = (Nx, Ny, 1), x, y, z = (-1, 0),
                                      topology = (Periodic, Periodic, Bounded))
    times = [0.0, 1e9]
    atmosphere = PrescribedAtmosphere(atmosphere_grid, times)
    radiation = PrescribedRadiation(atmosphere_grid, times)

    fill!(parent(atmosphere.temperature), air_temperature)
    fill!(parent(atmosphere.specific_humidity), specific_humidity)
    fill!(parent(atmosphere.velocities.u), wind_u)
    fill!(parent(atmosphere.velocities.v), wind_v)
    fill!(parent(atmosphere.pressure), air_pressure)
    fill!(parent(radiation.downwelling_shortwave), shortwave)
    fill!(parent(radiation.downwelling_longwave), longwave)

    return OceanSeaIceModel(ocean, sea_ice; atmosphere, radiation)
end

const OCEAN_SEA_ICE_HALO = 4

"""
    run_ocean_sea_ice!(coupled_model, Δt, n_steps) -> NamedTuple

Time-step the coupled model `n_steps` times (Δt in s, `time_step!`) and return plain arrays:
ocean `T` (°C) and `S` (g kg⁻¹) `(Nx, Ny, Nz)`, sea-ice thickness `h` (m) and concentration
`ℵ` (alias `ice_concentration`) `(Nx, Ny)`.
"""
function run_ocean_sea_ice!(coupled_model, Δt, n_steps::Integer)
    n_steps >= 1 || throw(ArgumentError("n_steps = $n_steps must be >= 1"))
    for _ in 1:n_steps
        time_step!(coupled_model, Δt)
    end
    ocean = coupled_model.ocean.model
    ice = coupled_model.sea_ice.model
    h = Array(interior(ice.ice_thickness))[:, :, 1]
    ℵ = Array(interior(ice.ice_concentration))[:, :, 1]
    return (; T = Array(interior(ocean.tracers.T)),
              S = Array(interior(ocean.tracers.S)),
              h, ice_thickness = h, ℵ, ice_concentration = ℵ)
end
