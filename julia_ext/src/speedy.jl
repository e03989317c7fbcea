#####
##### SpeedyWeather atmosphere: constructor and runner returning plain arrays
#####
##### SpeedyWeather exports names that clash with Oceananigans (`set!`, `run!`, `Field`,
##### `Simulation`, `CPU`), so it is imported, not `using`-ed, and every call is qualified.
#####

const SPEEDY_MODELS = ("barotropic", "shallow_water", "primitive_dry", "primitive_wet")

const SPEEDY_OROGRAPHIES = ("flat", "earth")

"""
    speedy_model(kind = "primitive_dry"; truncation = 32, nlayers = 8, NF = Float32,
                 orography = "flat")

A SpeedyWeather model on a `SpectralGrid(; NF, truncation, nlayers)` (octahedral Gaussian
grid; `truncation = 32` is SpeedyWeather's default ≈ T31, about 400 km).  `kind` is one of
`"barotropic"`, `"shallow_water"` (these two use one layer), `"primitive_dry"`,
`"primitive_wet"`; all other components are SpeedyWeather's defaults except the orography.

`orography` (shallow-water and primitive-equation models; the barotropic model has none):

* `"flat"` (default): `NoOrography`, zero surface height; nothing is downloaded.
* `"earth"`: SpeedyWeather's default `EarthOrography`, which on `initialize!` reads
  `orography.nc` from the SpeedyWeatherAssets repository (`get_asset`, `from_assets = true`):
  a download on first use, so it fails on machines without network.

The primitive-equation models' other default components (`EarthLandSeaMask`, the
`SlabOcean`'s SST climatology, `OceanLandAlbedo`, the land model's soil and vegetation) also
read SpeedyWeatherAssets on `initialize!` (SpeedyWeather 0.22.1), so only `"barotropic"` and
`"shallow_water"` with `orography = "flat"` run fully offline.
"""
function speedy_model(kind::AbstractString = "primitive_dry"; truncation::Integer = 32,
                      nlayers::Integer = 8, NF::Type{<:AbstractFloat} = Float32,
                      orography::AbstractString = "flat")
    kind in SPEEDY_MODELS ||
        throw(ArgumentError("SpeedyWeather model \"$kind\" is not supported. Supported models are: " *
                            join(SPEEDY_MODELS, ", ")))
    orography in SPEEDY_OROGRAPHIES ||
        throw(ArgumentError("orography \"$orography\" is not supported. Supported orographies are: " *
                            join(SPEEDY_OROGRAPHIES, ", ")))
    truncation >= 5 || throw(ArgumentError("truncation = $truncation must be >= 5"))
    single_layer = kind in ("barotropic", "shallow_water")
    spectral_grid = SpeedyWeather.SpectralGrid(; NF, truncation, nlayers = single_layer ? 1 : nlayers)

    kind == "barotropic" && return SpeedyWeather.BarotropicModel(spectral_grid)

    components = orography == "flat" ? (; orography = SpeedyWeather.NoOrography(spectral_grid)) : (;)
    kind == "shallow_water" && return SpeedyWeather.ShallowWaterModel(spectral_grid; components...)
    kind == "primitive_dry" && return SpeedyWeather.PrimitiveDryModel(spectral_grid; components...)
    return SpeedyWeather.PrimitiveWetModel(spectral_grid; components...)
end

const SPEEDY_GRID_VARIABLES = (:u, :v, :vorticity, :divergence, :temperature, :humidity, :pressure, :η)

"""
    run_speedy(model; days = 1) -> NamedTuple

Initialize a simulation (`SpeedyWeather.initialize!(model)`), run it for `days` days without
NetCDF output and return the grid-point fields as plain `Array`s (current time step, via
`get_step`): a `Dict` `fields` from variable name to an `(npoints,)` or `(npoints, nlayers)`
array (`u`, `v` in m s⁻¹, `vorticity`, `divergence` in s⁻¹, `temperature` in K, `humidity`
in kg kg⁻¹, `pressure` = log surface pressure in log(Pa), `η` in m, whichever the model has),
and the grid-point `longitude`, `latitude` (degrees).
"""
function run_speedy(model; days::Real = 1)
    days > 0 || throw(ArgumentError("days = $days must be > 0"))
    simulation = SpeedyWeather.initialize!(model)
    period = SpeedyWeather.Millisecond(round(Int, days * 86_400_000))
    SpeedyWeather.run!(simulation; period, output = false)

    grid_variables = simulation.variables.grid
    fields = Dict{String, Array}()
    for name in SPEEDY_GRID_VARIABLES
        haskey(grid_variables, name) || continue
        fields[string(name)] = Array(SpeedyWeather.get_step(getproperty(grid_variables, name)))
    end

    longitude, latitude = SpeedyWeather.RingGrids.get_londlatds(model.spectral_grid.grid)
    return (; fields, longitude = collect(longitude), latitude = collect(latitude))
end
