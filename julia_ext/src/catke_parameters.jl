#####
##### CATKE parameters: ASCII names used by pyclimaocean <-> Oceananigans field names
#####

"""
    CATKE_PARAMETERS

Ordered table of the calibratable parameters of Oceananigans' `CATKEVerticalDiffusivity`,
one `NamedTuple` per parameter with fields

- `name`: the ASCII name used by pyclimaocean (`"c_hi_u"`, ...),
- `component`: `:mixing_length` (a field of `CATKEMixingLength`),
  `:turbulent_kinetic_energy_equation` (a field of `CATKEEquation`) or `:closure`
  (a keyword argument of `CATKEVerticalDiffusivity` itself),
- `symbol`: the Oceananigans field / keyword name (`:Cʰⁱu`, ...),
- `default`: the Oceananigans default value (Wagner et al. 2025 calibration).

Parameter vectors `θ` passed to [`catke_closure`](@ref), [`column_model`](@ref) and
[`column_vjp`](@ref) are always full-length and in this order; the Python side fills the
entries it does not calibrate with defaults (or the model's current values).
"""
const CATKE_PARAMETERS = (
    (name = "c_surface", component = :mixing_length, symbol = :Cˢ, default = 1.131),
    (name = "c_bottom", component = :mixing_length, symbol = :Cᵇ, default = 0.28),
    (name = "c_shear_convection", component = :mixing_length, symbol = :Cˢᵖ, default = 0.505),
    (name = "c_ri_width", component = :mixing_length, symbol = :CRiᵟ, default = 1.02),
    (name = "c_ri_threshold", component = :mixing_length, symbol = :CRi⁰, default = 0.254),
    (name = "c_hi_u", component = :mixing_length, symbol = :Cʰⁱu, default = 0.242),
    (name = "c_lo_u", component = :mixing_length, symbol = :Cˡᵒu, default = 0.361),
    (name = "c_un_u", component = :mixing_length, symbol = :Cᵘⁿu, default = 0.37),
    (name = "c_conv_u", component = :mixing_length, symbol = :Cᶜu, default = 3.705),
    (name = "c_pen_u", component = :mixing_length, symbol = :Cᵉu, default = 0.0),
    (name = "c_hi_c", component = :mixing_length, symbol = :Cʰⁱc, default = 0.098),
    (name = "c_lo_c", component = :mixing_length, symbol = :Cˡᵒc, default = 0.369),
    (name = "c_un_c", component = :mixing_length, symbol = :Cᵘⁿc, default = 0.572),
    (name = "c_conv_c", component = :mixing_length, symbol = :Cᶜc, default = 4.793),
    (name = "c_pen_c", component = :mixing_length, symbol = :Cᵉc, default = 0.112),
    (name = "c_hi_e", component = :mixing_length, symbol = :Cʰⁱe, default = 0.548),
    (name = "c_lo_e", component = :mixing_length, symbol = :Cˡᵒe, default = 7.863),
    (name = "c_un_e", component = :mixing_length, symbol = :Cᵘⁿe, default = 1.447),
    (name = "c_conv_e", component = :mixing_length, symbol = :Cᶜe, default = 3.642),
    (name = "c_pen_e", component = :mixing_length, symbol = :Cᵉe, default = 0.0),
    (name = "c_hi_d", component = :turbulent_kinetic_energy_equation, symbol = :CʰⁱD, default = 0.579),
    (name = "c_lo_d", component = :turbulent_kinetic_energy_equation, symbol = :CˡᵒD, default = 1.604),
    (name = "c_un_d", component = :turbulent_kinetic_energy_equation, symbol = :CᵘⁿD, default = 0.923),
    (name = "c_conv_d", component = :turbulent_kinetic_energy_equation, symbol = :CᶜD, default = 3.254),
    (name = "c_pen_d", component = :turbulent_kinetic_energy_equation, symbol = :CᵉD, default = 0.0),
    (name = "c_wind_ustar", component = :turbulent_kinetic_energy_equation, symbol = :Cᵂu★, default = 3.179),
    (name = "c_wind_wdelta", component = :turbulent_kinetic_energy_equation, symbol = :CᵂwΔ, default = 0.383),
    (name = "c_bottom_eps", component = :turbulent_kinetic_energy_equation, symbol = :Cᵂϵ, default = 1.0),
    (name = "minimum_tke", component = :closure, symbol = :minimum_tke, default = 1e-09),
    (name = "minimum_convective_buoyancy_flux", component = :closure, symbol = :minimum_convective_buoyancy_flux, default = 1e-11),
    (name = "negative_tke_damping_time_scale", component = :closure, symbol = :negative_tke_damping_time_scale, default = 60.0),
)

"""
    CATKE_PARAMETER_NAMES

The ASCII names of [`CATKE_PARAMETERS`](@ref), in order (a `Tuple` of `String`s).
"""
const CATKE_PARAMETER_NAMES = map(p -> p.name, CATKE_PARAMETERS)

"""
    catke_default_parameters() -> Vector{Float64}

The default parameter vector (same order as [`CATKE_PARAMETERS`](@ref)).
"""
catke_default_parameters() = Float64[p.default for p in CATKE_PARAMETERS]

"""
    catke_parameter_index(name) -> Int

Position of the parameter `name` (ASCII, e.g. `"c_hi_u"`, or the Oceananigans symbol,
e.g. `:Cʰⁱu`) in the parameter vector; throws an `ArgumentError` listing the valid names.
"""
function catke_parameter_index(name::AbstractString)
    i = findfirst(p -> p.name == name || string(p.symbol) == name, CATKE_PARAMETERS)
    isnothing(i) && throw(ArgumentError(string("CATKE parameter \"", name, "\" is not supported. ",
                                               "Supported parameters are: ",
                                               join(CATKE_PARAMETER_NAMES, ", "))))
    return i
end

catke_parameter_index(name::Symbol) = catke_parameter_index(string(name))

"""
    catke_parameters(names, values) -> Vector{Float64}

Full parameter vector with the entries `names` (ASCII or Oceananigans names) set to
`values` and every other entry at its default.
"""
function catke_parameters(names, values)
    length(names) == length(values) ||
        throw(ArgumentError("got $(length(names)) names but $(length(values)) values"))
    θ = catke_default_parameters()
    for (name, value) in zip(names, values)
        θ[catke_parameter_index(name)] = value
    end
    return θ
end

"""
    catke_closure(θ::AbstractVector, FT = Float64) -> CATKEVerticalDiffusivity

Build Oceananigans' `CATKEVerticalDiffusivity` (vertically implicit, float type `FT`) from a
full parameter vector `θ` ordered as [`CATKE_PARAMETERS`](@ref).  `CATKEMixingLength` and
`CATKEEquation` are constructed with keyword arguments, one per field, so the construction
is type-stable (which Enzyme needs when `θ` is differentiated).
"""
function catke_closure(θ::AbstractVector, FT::DataType = Float64)
    n = length(CATKE_PARAMETERS)
    length(θ) == n || throw(ArgumentError("CATKE parameter vector has length $(length(θ)); expected $n"))

    mixing_length = CATKEMixingLength{FT}(;
        Cˢ = θ[1],
        Cᵇ = θ[2],
        Cˢᵖ = θ[3],
        CRiᵟ = θ[4],
        CRi⁰ = θ[5],
        Cʰⁱu = θ[6],
        Cˡᵒu = θ[7],
        Cᵘⁿu = θ[8],
        Cᶜu = θ[9],
        Cᵉu = θ[10],
        Cʰⁱc = θ[11],
        Cˡᵒc = θ[12],
        Cᵘⁿc = θ[13],
        Cᶜc = θ[14],
        Cᵉc = θ[15],
        Cʰⁱe = θ[16],
        Cˡᵒe = θ[17],
        Cᵘⁿe = θ[18],
        Cᶜe = θ[19],
        Cᵉe = θ[20],
    )

    turbulent_kinetic_energy_equation = CATKEEquation{FT}(;
        CʰⁱD = θ[21],
        CˡᵒD = θ[22],
        CᵘⁿD = θ[23],
        CᶜD = θ[24],
        CᵉD = θ[25],
        Cᵂu★ = θ[26],
        CᵂwΔ = θ[27],
        Cᵂϵ = θ[28],
    )

    return CATKEVerticalDiffusivity(FT; mixing_length, turbulent_kinetic_energy_equation,
                                    minimum_tke = θ[29],
                                    minimum_convective_buoyancy_flux = θ[30],
                                    negative_tke_damping_time_scale = θ[31])
end

catke_closure() = catke_closure(catke_default_parameters())

"""
    catke_closure(names, values)

`CATKEVerticalDiffusivity` with the named parameters (ASCII or Oceananigans names) set and
all others at their defaults, e.g. `catke_closure(["c_hi_u", "minimum_tke"], [0.3, 1e-8])`.
"""
catke_closure(names, values) = catke_closure(catke_parameters(names, values))
