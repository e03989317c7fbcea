#####
##### Enzyme reverse-mode gradients of single-column runs
#####
##### Pattern of Oceananigans' own Enzyme tests (test/test_enzyme.jl): the differentiated
##### function rebuilds the closure from the (differentiated) parameters, assigns it to the
##### model (`model.closure = closure`), sets the initial condition, time-steps with
##### `time_step!` and returns a Float64; it is differentiated with
##### `autodiff(set_runtime_activity(Reverse), f, Active, Duplicated(model, make_zero(model)), ...)`.
#####

"""
    configure_enzyme!()

Enzyme settings that Oceananigans' Enzyme tests mark "required presently"
(`looseTypeAnalysis!(true)`, `maxtypeoffset!(2032)`).  Called by [`column_vjp`](@ref).
"""
function configure_enzyme!()
    Enzyme.API.looseTypeAnalysis!(true)
    Enzyme.API.maxtypeoffset!(2032)
    return nothing
end

"""
    column_cotangent_loss(model, kind, θ, T, S, u, v, e, T̄, S̄, ū, v̄, ē, Δt, n_steps, save_every)

The scalar `J = Σₘ Σₖ (T̄[m,k] Tₘ[k] + S̄[m,k] Sₘ[k] + ū[m,k] uₘ[k] + v̄[m,k] vₘ[k] + ē[m,k] eₘ[k])`
over the saved states `m = 1 … n_steps ÷ save_every` of a run started from the profiles
`T, S, u, v, e` with closure parameters `θ`.  Its gradient with respect to `(θ, T, S, u, v, e)`
is the vector-Jacobian product of the run with cotangents `(T̄, S̄, ū, v̄, ē)`: exactly what a
reverse-mode rule (JAX `custom_vjp`) needs.
"""
function column_cotangent_loss(model, kind, θ, T, S, u, v, e, T̄, S̄, ū, v̄, ē, Δt, n_steps, save_every)
    model.closure = column_closure(kind, θ)
    set_column_state!(model, T, S, u, v, e)
    Nz = size(model.grid, 3)
    tke = has_tke(model)

    J = 0.0
    for n in 1:n_steps
        time_step!(model, Δt)
        if n % save_every == 0
            m = n ÷ save_every
            # explicit loops: Oceananigans' Enzyme tests avoid `sum` over fields under AD
            for k in 1:Nz
                J += T̄[m, k] * model.tracers.T[1, 1, k] +
                     S̄[m, k] * model.tracers.S[1, 1, k] +
                     ū[m, k] * model.velocities.u[1, 1, k] +
                     v̄[m, k] * model.velocities.v[1, 1, k]
                if tke
                    J += ē[m, k] * model.tracers.e[1, 1, k]
                end
            end
        end
    end

    return J::Float64
end

"""
    column_vjp(setup, kind, θ, T, S, u, v, e, T̄, S̄, ū, v̄, ē, n_steps, save_every) -> NamedTuple

Enzyme reverse-mode vector-Jacobian product of a column run: returns
`(; value, θ, T, S, u, v, e)` with `value = J` of [`column_cotangent_loss`](@ref) and the
gradients of `J` with respect to the closure parameters `θ` (ordered as
[`CATKE_PARAMETERS`](@ref) for `kind = "catke"`, `[ν, κ]` for `"constant"`) and the initial
profiles.  Cotangent matrices have shape `(n_steps ÷ save_every, Nz)`.

!!! warning "Known limits"
    Enzyme through `CATKEVerticalDiffusivity` is not supported upstream: the attempt in
    Oceananigans PR #3837 was closed unmerged and Enzyme.jl issue #2296 is open.  With
    `kind = "catke"` this function may therefore fail inside Enzyme (an error is thrown, no
    wrong number is returned).  `kind = "constant"` follows the pattern that Oceananigans'
    `test/test_enzyme.jl` verifies against finite differences.  The supported route for
    CATKE gradients upstream is Reactant-compiled Enzyme (`test/test_reactant_*`), which
    this package does not use yet.
"""
function column_vjp(setup::ColumnSetup, kind::AbstractString, θ, T, S, u, v, e,
                    T̄, S̄, ū, v̄, ē, n_steps::Integer, save_every::Integer)
    configure_enzyme!()
    model = column_model(setup, kind, collect(Float64, θ))

    θ₀ = collect(Float64, θ)
    T₀, S₀, u₀, v₀, e₀ = (collect(Float64, a) for a in (T, S, u, v, e))
    cotangents = Tuple(Matrix{Float64}(a) for a in (T̄, S̄, ū, v̄, ē))
    dθ, dT, dS, du, dv, de = (zero(a) for a in (θ₀, T₀, S₀, u₀, v₀, e₀))
    dmodel = Enzyme.make_zero(model)

    _, value = Enzyme.autodiff(set_runtime_activity(Enzyme.ReverseWithPrimal),
                               column_cotangent_loss, Active,
                               Duplicated(model, dmodel),
                               Const(kind),
                               Duplicated(θ₀, dθ),
                               Duplicated(T₀, dT), Duplicated(S₀, dS),
                               Duplicated(u₀, du), Duplicated(v₀, dv), Duplicated(e₀, de),
                               Const(cotangents[1]), Const(cotangents[2]), Const(cotangents[3]),
                               Const(cotangents[4]), Const(cotangents[5]),
                               Const(setup.Δt), Const(n_steps), Const(save_every))

    return (; value, θ = dθ, T = dT, S = dS, u = du, v = dv, e = de)
end

"""
    column_mse_gradient(setup, kind, θ, T, S, u, v, e, T_target, n_steps) -> (loss, dθ)

Gradient of the mean squared temperature misfit `mean((T(n_steps) - T_target)²)` of the
final profile with respect to the closure parameters: the calibration use case, written as a
[`column_vjp`](@ref) with the cotangent `2 (T - T_target) / Nz` after a forward run.
"""
function column_mse_gradient(setup::ColumnSetup, kind::AbstractString, θ, T, S, u, v, e,
                             T_target, n_steps::Integer)
    out = run_column(setup, kind, θ, T, S, u, v, e, n_steps, n_steps)
    Nz = length(T_target)
    misfit = out.T[1, :] .- T_target
    loss = sum(abs2, misfit) / Nz
    T̄ = reshape(2 .* misfit ./ Nz, 1, Nz)
    Z = zeros(1, Nz)
    g = column_vjp(setup, kind, θ, T, S, u, v, e, T̄, Z, Z, Z, Z, n_steps, n_steps)
    return loss, g.θ
end
