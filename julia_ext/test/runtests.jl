# Tests of PyClimaOceanBridge: every exported function is exercised.
# Run with:  julia --project=julia_ext -e 'using Pkg; Pkg.test()'

using Test
using PyClimaOceanBridge
using Oceananigans: CATKEVerticalDiffusivity, interior

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
    @test_throws ArgumentError column_closure("kpp", [1.0])

    model = column_model(setup)
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
    # Oceananigans PR #3837 (closed unmerged) / Enzyme.jl issue #2296: expected to fail.
    θ = catke_default_parameters()
    i = catke_parameter_index("c_conv_c")
    T_target = T₀ .- 0.05
    result = try
        column_mse_gradient(setup, "catke", θ, T₀, S₀, u₀, v₀, e₀, T_target, 6)
    catch err
        @warn "Enzyme through CATKE failed (known upstream limitation)" exception = (err, catch_backtrace())
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
end

@testset "Hydrostatic single basin" begin
    model = basin_model(Nx = 8, Ny = 8, Nz = 4, depth = 1000)
    out = run_basin!(model, 600.0, 3)
    @test size(out.T_surface) == (8, 8)
    @test size(out.T) == (8, 8, 4)
    @test all(isfinite, out.T)
    @test length(out.latitude) == 8
    @test out.time ≈ 1800
end

@testset "SpeedyWeather" begin
    @test "shallow_water" in SPEEDY_MODELS
    @test_throws ArgumentError speedy_model("not_a_model")
    model = speedy_model("shallow_water"; truncation = 15)
    out = run_speedy(model; days = 0.5)
    @test haskey(out.fields, "vorticity")
    @test haskey(out.fields, "η")
    @test size(out.fields["vorticity"], 1) == length(out.longitude) == length(out.latitude)
    @test all(isfinite, out.fields["vorticity"])

    dry = speedy_model("primitive_dry"; truncation = 15, nlayers = 4)
    out = run_speedy(dry; days = 0.25)
    @test size(out.fields["temperature"], 2) == 4
    @test all(150 .< out.fields["temperature"] .< 350)   # K
end

@testset "ClimaOcean ocean–sea-ice" begin
    coupled = ocean_sea_ice_model(Nx = 2, Ny = 2, Nz = 4, depth = 40)
    out = run_ocean_sea_ice!(coupled, 600.0, 2)
    @test size(out.T) == (2, 2, 4)
    @test size(out.h) == (2, 2)
    @test all(isfinite, out.T)
    @test all(0 .<= out.ice_concentration .<= 1)
    # cold air over ice: the ice does not thin in 20 minutes of freezing conditions
    @test all(out.h .>= 1 - 1e-6)
    @test_throws ArgumentError ocean_sea_ice_model(ice_concentration = 2)
end
