#####
##### SpeedyWeather atmosphere: constructor and runner returning plain arrays
#####
##### SpeedyWeather exports names that clash with Oceananigans (`set!`, `run!`, `Field`,
##### `Simulation`, `CPU`), so it is imported, not `using`-ed, and every call is qualified.
#####

const SPEEDY_MODELS = ("barotropic", "shallow_water", "primitive_dry", "primitive_wet")

"""
    speedy_model(kind = "primitive_dry"; truncation = 32, nlayers = 8, NF = Float32)

A SpeedyWeather model on a `SpectralGrid(; NF, truncation, nlayers)` (octahedral Gaussian
grid; `truncation = 32` is SpeedyWeather's default ≈ T31, about 400 km).  `kind` is one of
`"barotropic"`, `"shallow_water"` (these two use one layer), `"primitive_dry"`,
`"primitive_wet"`; all other components are SpeedyWeather's defaults.
"""
function speedy_model(kind::AbstractString = "primitive_dry"; truncation::Integer = 32,
                      nlayers::Integer = 8, NF::Type{<:AbstractFloat} = Float32)
    kind in SPEEDY_MODELS ||
        throw(ArgumentError("SpeedyWeather model \"$kind\" is not supported. Supported models are: " *
                            join(SPEEDY_MODELS, ", ")))
    truncation >= 5 || throw(ArgumentError("truncation = $truncation must be >= 5"))
    single_layer = kind in ("barotropic", "shallow_water")
    spectral_grid = SpeedyWeather.SpectralGrid(; NF, truncation, nlayers = single_layer ? 1 : nlayers)

    kind == "barotropic"    && return SpeedyWeather.BarotropicModel(spectral_grid)
    kind == "shallow_water" && return SpeedyWeather.ShallowWaterModel(spectral_grid)
    kind == "primitive_dry" && return SpeedyWeather.PrimitiveDryModel(spectral_grid)
    return SpeedyWeather.PrimitiveWetModel(spectral_grid)
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
