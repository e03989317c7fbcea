# Tests of PyClimaOceanBridge: every exported function is exercised.
# Run with:  julia --project=julia_ext -e 'using Pkg; Pkg.test()'

using Test
using PyClimaOceanBridge
using Oceananigans: Oceananigans, CATKEVerticalDiffusivity, CPU, interior

# SpeedyWeather's Earth orography, land-sea mask, SST climatology, albedo and land data are
# downloaded from SpeedyWeatherAssets on first `initialize!`; set PYCLIMAOCEAN_JULIA_OFFLINE=true
# on machines without network to skip the tests that need them.
const OFFLINE = lowercase(get(ENV, "PYCLIMAOCEAN_JULIA_OFFLINE", "false")) in ("1", "true", "yes")

@testset "CATKE parameter table" begin
    @test length(CATKE_PARAMETERS) == length(CATKE_PARAMETER_NAMES) == 31
    θ = catke_default_parameters()
    @test θ[catke_parameter_index("c_hi_u")] == 0.242
    @test catke_parameter_index(:Cʰⁱu) == catke_parameter_index("c_hi_u")
    @test_throws ArgumentError catke_parameter_index("c_not_a_parameter")

    θ2 = catke_parameters(["c_hi_u", "minimum_tke"], [0.3, 1e-8])
    closure = catke_closure(θ2)
    @test closure isa CATKEVerticalDiffusivity
    @test closure.mixing_length.Cʰⁱu == 0.3
    @test closure.minimum_tke == 1e-8
    # every entry lands on the field of the same name
    for (i, p) in enumerate(CATKE_PARAMETERS)
        θi = catke_default_parameters()
        θi[i] = p.default + 0.5
        c = catke_closure(θi)
        holder = p.component == :closure ? c : getproperty(c, p.component)
        @test getproperty(holder, p.symbol) == p.default + 0.5
    end
    @test catke_closure(["c_conv_c"], [5.0]).mixing_length.Cᶜc == 5.0
    @test catke_closure() isa CATKEVerticalDiffusivity
    @test_throws ArgumentError catke_closure(zeros(3))
end

# a small free-convection column: 16 cells over 64 m, cooling by Qᵀ = 5e-5 K m s⁻¹
z_faces = collect(range(-64, 0, length = 17))
setup = column_setup(z_faces; dt = 600.0, temperature_flux = 5e-5, coriolis_parameter = 1e-4)
Nz = 16
zc = (z_faces[1:end-1] .+ z_faces[2:end]) ./ 2
T₀ = 20 .+ 0.01 .* zc
S₀ = fill(35.0, Nz)
u₀ = zeros(Nz); v₀ = zeros(Nz); e₀ = fill(1e-6, Nz)

@testset "Single column with CATKE" begin
    @test_throws ArgumentError column_setup([0.0, -1.0, -2.0])
    @test setup isa ColumnSetup
    @test setup.Δt == 600.0 && setup.temperature_flux == 5e-5
    @test column_closure("constant", [1e-4, 1e-5]) !== nothing
    @test column_closure(ConstantDiffusivityClosure(), [1e-4, 1e-5]) !== nothing
    @test closure_kind("catke") === CATKEClosure()
    @test closure_kind(CATKEClosure()) isa ColumnClosureKind
    @test_throws ArgumentError column_closure("kpp", [1.0])
    @test_throws ArgumentError column_setup(z_faces; architecture = "TPU")
    @test_throws ArgumentError column_setup(z_faces; float_type = "Float16")
    @test model_architecture("CPU") isa CPU
    @test model_float_type("Float32") === Float32
    if isnothing(Base.get_extension(Oceananigans, :OceananigansCUDAExt))
        @test_throws ArgumentError model_architecture("GPU")
    end

    model = column_model(setup)
    # CATKE's TKE tracer is added by Oceananigans (naming it is an ArgumentError upstream)
    @test keys(model.tracers) == (:T, :S, :e)
    set_column_state!(model, T₀, S₀, u₀, v₀, e₀)
    p = column_profiles(model)
    @test p.T ≈ T₀
    @test length(p.z) == Nz

    out = run_column!(model, setup.Δt, 36; save_every = 12)
    @test size(out.T) == (3, Nz)
    @test out.times ≈ [12, 24, 36] .* 600
    # surface cooling: heat content decreases by Qᵀ t (exact for a flux boundary condition)
    Δz = 4.0
    heat_loss = sum(T₀ .- out.T[end, :]) * Δz
    @test isapprox(heat_loss, 5e-5 * 36 * 600; rtol = 1e-6)
    # a mixed layer forms at the top: well mixed and colder than the initial surface value
    @test out.T[end, end] < T₀[end]
    @test abs(out.T[end, end] - out.T[end, end-1]) < 1e-3
    @test all(out.e[end, :] .>= 0)

    out2 = run_column(setup, "catke", catke_default_parameters(), T₀, S₀, u₀, v₀, e₀, 36, 36)
    @test out2.T[1, :] ≈ out.T[end, :]

    # single precision: same physics to Float32 accuracy, results still Float64 arrays
    setup32 = column_setup(z_faces; dt = 600.0, temperature_flux = 5e-5, coriolis_parameter = 1e-4,
                           float_type = "Float32")
    model32 = column_model(setup32)
    @test eltype(model32.grid) == Float32
    out32 = run_column(setup32, "catke", catke_default_parameters(), T₀, S₀, u₀, v₀, e₀, 36, 36)
    @test eltype(out32.T) == Float64
    @test isapprox(out32.T[1, :], out.T[end, :]; rtol = 1e-4)
end

@testset "Enzyme gradients (constant diffusivity, the upstream-tested pattern)" begin
    θ = [1e-4, 1e-3]
    n_steps = 6
    T_target = T₀ .- 0.05
    loss, dθ = column_mse_gradient(setup, "constant", θ, T₀, S₀, u₀, v₀, e₀, T_target, n_steps)
    h = 1e-8
    lossκ(κ) = begin
        o = run_column(setup, "constant", [θ[1], κ], T₀, S₀, u₀, v₀, e₀, n_steps, n_steps)
        sum(abs2, o.T[1, :] .- T_target) / Nz
    end
    fd = (lossκ(θ[2] + h) - lossκ(θ[2] - h)) / 2h
    @test isapprox(dθ[2], fd; rtol = 1e-3)

    # VJP with respect to the initial temperature: the run is linear in T₀ here
    T̄ = zeros(1, Nz); T̄[1, end] = 1.0
    Z = zeros(1, Nz)
    g = column_vjp(setup, "constant", θ, T₀, S₀, u₀, v₀, e₀, T̄, Z, Z, Z, Z, n_steps, n_steps)
    δ = zeros(Nz); δ[end - 2] = 1e-3
    Tp = run_column(setup, "constant", θ, T₀ .+ δ, S₀, u₀, v₀, e₀, n_steps, n_steps).T[1, end]
    Tm = run_column(setup, "constant", θ, T₀ .- δ, S₀, u₀, v₀, e₀, n_steps, n_steps).T[1, end]
    @test isapprox(g.T[end - 2], (Tp - Tm) / 2e-3; rtol = 1e-6)
    @test g.value ≈ run_column(setup, "constant", θ, T₀, S₀, u₀, v₀, e₀, n_steps, n_steps).T[1, end]
end

@testset "Enzyme gradients through CATKE (not supported upstream)" begin
    # Oceananigans PR #3837 (closed unmerged) / Enzyme.jl issue #2296: expected to fail inside
    # Enzyme.  Everything that is not Enzyme's own failure must fail this test, so the model is
    # built (and run) outside the `try`, and only EnzymeGradientError is caught.
    θ = catke_default_parameters()
    i = catke_parameter_index("c_conv_c")
    T_target = T₀ .- 0.05
    @test column_model(setup, "catke", θ) !== nothing
    reference = run_column(setup, "catke", θ, T₀, S₀, u₀, v₀, e₀, 6, 6)
    @test all(isfinite, reference.T)
    result = try
        column_mse_gradient(setup, "catke", θ, T₀, S₀, u₀, v₀, e₀, T_target, 6)
    catch err
        err isa EnzymeGradientError || rethrow()
        @test is_enzyme_error(err.error)
        @warn "Enzyme through CATKE failed (known upstream limitation)" exception = err
        nothing
    end
    if result === nothing
        @test_broken false
    else
        loss, dθ = result
        h = 1e-6
        lossc(c) = begin
            θc = copy(θ); θc[i] = c
            o = run_column(setup, "catke", θc, T₀, S₀, u₀, v₀, e₀, 6, 6)
            sum(abs2, o.T[1, :] .- T_target) / Nz
        end
        fd = (lossc(θ[i] + h) - lossc(θ[i] - h)) / 2h
        @test isapprox(dθ[i], fd; rtol = 1e-2, atol = 1e-12)
    end
    @test configure_enzyme!() === nothing
    @test column_cotangent_loss isa Function
    @test !is_enzyme_error(ArgumentError("not Enzyme's"))
end

@testset "Hydrostatic single basin" begin
    model = basin_model(Nx = 8, Ny = 8, Nz = 4, depth = 1000)
    @test keys(model.tracers) == (:T, :S, :e)
    out = run_basin!(model, 600.0, 3)
    @test size(out.T_surface) == (8, 8)
    @test size(out.u_surface) == (8, 8)   # face velocities averaged onto the cell centres
    @test size(out.v_surface) == (8, 8)
    @test size(out.η) == (8, 8)
    @test size(out.T) == (8, 8, 4)
    @test all(isfinite, out.T)
    @test length(out.latitude) == 8
    @test out.time ≈ 1800
    @test_throws ArgumentError basin_model(Nx = 2, Ny = 8, Nz = 4)
end

@testset "Contract basin (JuliaBasinModel)" begin
    Nx, Ny = 6, 5
    z_faces = [-1000.0, -600.0, -300.0, -100.0, 0.0]
    Nz = length(z_faces) - 1
    bottom_height = fill(-1000.0, Nx, Ny)
    bottom_height[1, 3:end] .= 0          # a land wall north of a re-entrant channel
    model = contract_basin_model(; longitude = (0, 12), latitude = (-40, -30), z_faces,
                                  periodic_x = true, bottom_height,
                                  wind_u_flux = fill(-1e-4, Nx, Ny),
                                  restoring_flux_rate = 100 / 30 / 86400,
                                  restoring_temperature = fill(10.0, Nx, Ny),
                                  horizontal_viscosity = 1e4, viscosity_cos_power = 1,
                                  horizontal_diffusivity = 1e3, vertical_viscosity = 1e-3,
                                  vertical_diffusivity = 2e-5, linear_drag = 1e-5,
                                  thermal_expansion = 2e-4, haline_contraction = 8e-4,
                                  gravitational_acceleration = 9.81, rotation_rate = 7.2921e-5,
                                  radius = 6.371e6, substeps = 20)
    T = [5.0 + 10 * (k / Nz) for i in 1:Nx, j in 1:Ny, k in 1:Nz]
    out = run_basin_state(model, 600.0, T, fill(35.0, Nx, Ny, Nz), zeros(Nx, Ny, Nz),
                          zeros(Nx, Ny + 1, Nz), zeros(Nx, Ny), 4, 2)
    @test size(out.T) == (Nx, Ny, Nz, 2)
    @test size(out.u) == (Nx, Ny, Nz, 2)          # periodic x: Nx u faces
    @test size(out.v) == (Nx, Ny + 1, Nz, 2)
    @test size(out.η) == (Nx, Ny, 2)
    @test all(isfinite, out.T) && all(isfinite, out.u)
    @test maximum(abs, out.u[2:end, :, Nz, end]) > 0   # the wind spins up the surface flow
    fields = basin_fields(model)
    @test fields.T ≈ out.T[:, :, :, end]
    set_basin_state!(model, T, fill(35.0, Nx, Ny, Nz), zeros(Nx, Ny, Nz), zeros(Nx, Ny + 1, Nz),
                     zeros(Nx, Ny))
    @test model.clock.iteration == 0

    # the β-plane box of the Munk gyre (closed in x: Nx + 1 u faces)
    box = contract_basin_model(; x = (0, 1.2e6), y = (0, 1.2e6), coriolis_f0 = 1e-4,
                                coriolis_beta = 1e-11, z_faces = [-5000.0, 0.0],
                                periodic_x = false, bottom_height = fill(-5000.0, 8, 8),
                                wind_u_flux = fill(-1e-4, 9, 8), restoring_flux_rate = 0,
                                restoring_temperature = zeros(8, 8),
                                horizontal_viscosity = 400, viscosity_cos_power = 0,
                                horizontal_diffusivity = 0, vertical_viscosity = 1e-4,
                                vertical_diffusivity = 1e-5, linear_drag = 0,
                                thermal_expansion = 2e-4, haline_contraction = 8e-4,
                                gravitational_acceleration = 9.81, substeps = 20,
                                momentum_advection = false)
    out = run_basin_state(box, 1200.0, fill(10.0, 8, 8, 1), fill(35.0, 8, 8, 1),
                          zeros(9, 8, 1), zeros(8, 9, 1), zeros(8, 8), 2, 2)
    @test size(out.u) == (9, 8, 1, 1)
    @test all(isfinite, out.u) && maximum(abs, out.u) > 0
end

@testset "SpeedyWeather" begin
    @test "shallow_water" in SPEEDY_MODELS
    @test "flat" in SPEEDY_OROGRAPHIES
    @test_throws ArgumentError speedy_model("not_a_model")
    @test_throws ArgumentError speedy_model("shallow_water"; orography = "alps")
    # flat orography (the default): no download
    model = speedy_model("shallow_water"; truncation = 15)
    out = run_speedy(model; days = 0.5)
    @test haskey(out.fields, "vorticity")
    @test haskey(out.fields, "η")
    @test size(out.fields["vorticity"], 1) == length(out.longitude) == length(out.latitude)
    @test all(isfinite, out.fields["vorticity"])

    if OFFLINE
        @info "PYCLIMAOCEAN_JULIA_OFFLINE: skipping SpeedyWeather runs that read SpeedyWeatherAssets"
    else
        earth = speedy_model("shallow_water"; truncation = 15, orography = "earth")
        @test all(isfinite, run_speedy(earth; days = 0.25).fields["vorticity"])
        dry = speedy_model("primitive_dry"; truncation = 15, nlayers = 4)
        out = run_speedy(dry; days = 0.25)
        @test size(out.fields["temperature"], 2) == 4
        @test all(150 .< out.fields["temperature"] .< 350)   # K
    end
end

@testset "ClimaOcean ocean–sea-ice" begin
    # Nx, Ny ≥ 4: halo 4 (ocean_simulation's WENO(order = 7)) must be ≤ size
    coupled = ocean_sea_ice_model(Nx = 4, Ny = 4, Nz = 4, depth = 40)
    out = run_ocean_sea_ice!(coupled, 600.0, 2)
    @test size(out.T) == (4, 4, 4)
    @test size(out.h) == (4, 4)
    @test all(isfinite, out.T)
    @test all(0 .<= out.ice_concentration .<= 1)
    # cold air over ice: the ice does not thin in 20 minutes of freezing conditions
    @test all(out.h .>= 1 - 1e-6)
    @test_throws ArgumentError ocean_sea_ice_model(ice_concentration = 2)
    @test_throws ArgumentError ocean_sea_ice_model(Nx = 2, Ny = 2)
end
