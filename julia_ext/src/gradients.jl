#####
##### Enzyme reverse-mode gradients of single-column runs
#####
##### Pattern of Oceananigans' own Enzyme tests (test/test_enzyme.jl, Oceananigans 0.110.19):
##### the differentiated function rebuilds the closure from the (differentiated) parameters,
##### completes it for the model's tracers with `with_tracers(tracernames(model.tracers), closure)`
##### (the model stores e.g. a scalar diffusivity's κ as a NamedTuple over tracers, so a bare
##### closure has the wrong type for `model.closure = ...`), assigns it, sets the initial
##### condition, time-steps with `time_step!` and returns a float; it is differentiated with
##### `autodiff(set_runtime_activity(Reverse), f, Active, Duplicated(model, make_zero(model)), ...)`.
##### The closure kind is a singleton type passed as `Const`, so which closure is built is
##### decided by dispatch at compile time, not by a string comparison under AD.
#####

"""
    EnzymeGradientError(kind, error)

Thrown by [`column_vjp`](@ref) when Enzyme itself fails (an `Enzyme.Compiler.EnzymeError`:
a compilation, type-analysis, runtime-activity or missing-derivative error) while
differentiating a column run with closure `kind`.  Any other exception (a wrong keyword, a
grid or model constructor error) propagates unchanged, so it is never mistaken for the known
Enzyme limitation.  `error` is Enzyme's original exception.
"""
struct EnzymeGradientError <: Exception
    kind :: String
    error :: Exception
end

function Base.showerror(io::IO, err::EnzymeGradientError)
    print(io, "EnzymeGradientError: Enzyme could not differentiate the column run with the ",
          err.kind, " closure (", nameof(typeof(err.error)), "). ")
    err.kind == "catke" &&
        print(io, "Enzyme through CATKEVerticalDiffusivity is not supported upstream ",
                  "(Oceananigans PR #3837 closed unmerged; Enzyme.jl issue #2296). ")
    print(io, "Original error: ")
    showerror(io, err.error)
end

"""
    is_enzyme_error(err) -> Bool

Whether `err` is one of Enzyme's own exceptions (`Enzyme.Compiler.EnzymeError`, the common
supertype Enzyme has had since v0.13.39).
"""
is_enzyme_error(err) = err isa Enzyme.Compiler.EnzymeError

closure_kind_name(::CATKEClosure) = "catke"
closure_kind_name(::ConstantDiffusivityClosure) = "constant"

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
`T, S, u, v, e` with closure parameters `θ` (`kind` a [`ColumnClosureKind`](@ref)).  Its
gradient with respect to `(θ, T, S, u, v, e)` is the vector-Jacobian product of the run with
cotangents `(T̄, S̄, ū, v̄, ē)`: exactly what a reverse-mode rule (JAX `custom_vjp`) needs.
"""
function column_cotangent_loss(model, kind::ColumnClosureKind, θ, T, S, u, v, e,
                               T̄, S̄, ū, v̄, ē, Δt, n_steps, save_every)
    FT = eltype(model.grid)
    closure = column_closure(kind, θ, FT)
    model.closure = with_tracers(tracernames(model.tracers), closure)
    set_column_state!(model, T, S, u, v, e)
    Nz = size(model.grid, 3)
    tke = has_tke(model)

    J = zero(FT)
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

    return J::FT
end

"""
    column_vjp(setup, kind, θ, T, S, u, v, e, T̄, S̄, ū, v̄, ē, n_steps, save_every) -> NamedTuple

Enzyme reverse-mode vector-Jacobian product of a column run: returns
`(; value, θ, T, S, u, v, e)` with `value = J` of [`column_cotangent_loss`](@ref) and the
gradients of `J` with respect to the closure parameters `θ` (ordered as
[`CATKE_PARAMETERS`](@ref) for `kind = "catke"`, `[ν, κ]` for `"constant"`) and the initial
profiles.  Cotangent matrices have shape `(n_steps ÷ save_every, Nz)`.  CPU only (Enzyme on
GPU kernels is not used here): `setup.architecture = "GPU"` throws an `ArgumentError`.

The model is built before Enzyme runs, so a construction error propagates as itself; an
error raised by Enzyme is rethrown as [`EnzymeGradientError`](@ref), every other error as is.

!!! warning "What is supported"
    Supported: `kind = "constant"` (vertically implicit `VerticalScalarDiffusivity`), the
    pattern that Oceananigans' `test/test_enzyme.jl` checks against finite differences.
    Not supported: `kind = "catke"`.  No upstream test differentiates
    `CATKEVerticalDiffusivity` by any route: the plain-Enzyme attempt (Oceananigans PR #3837)
    was closed unmerged, Enzyme.jl issue #2296 is open, and Oceananigans' Reactant tests
    leave CATKE out of differentiation (`test/test_reactant_correctness.jl`: CATKE takes more
    than 10 minutes to compile with Reactant).  With `"catke"` this function is expected to
    throw an `EnzymeGradientError`; it never returns a number that was not computed.
"""
function column_vjp(setup::ColumnSetup, kind, θ, T, S, u, v, e,
                    T̄, S̄, ū, v̄, ē, n_steps::Integer, save_every::Integer)
    setup.architecture == "CPU" ||
        throw(ArgumentError("column_vjp runs on the CPU only; got architecture \"$(setup.architecture)\""))
    configure_enzyme!()
    kind = closure_kind(kind)
    θ₀ = collect(Float64, θ)
    model = column_model(setup, kind, θ₀)   # outside autodiff and outside the try below

    T₀, S₀, u₀, v₀, e₀ = (collect(Float64, a) for a in (T, S, u, v, e))
    cotangents = Tuple(Matrix{Float64}(a) for a in (T̄, S̄, ū, v̄, ē))
    dθ, dT, dS, du, dv, de = (zero(a) for a in (θ₀, T₀, S₀, u₀, v₀, e₀))
    dmodel = Enzyme.make_zero(model)

    _, value = try
        Enzyme.autodiff(set_runtime_activity(Enzyme.ReverseWithPrimal),
                        column_cotangent_loss, Active,
                        Duplicated(model, dmodel),
                        Const(kind),
                        Duplicated(θ₀, dθ),
                        Duplicated(T₀, dT), Duplicated(S₀, dS),
                        Duplicated(u₀, du), Duplicated(v₀, dv), Duplicated(e₀, de),
                        Const(cotangents[1]), Const(cotangents[2]), Const(cotangents[3]),
                        Const(cotangents[4]), Const(cotangents[5]),
                        Const(setup.Δt), Const(n_steps), Const(save_every))
    catch err
        is_enzyme_error(err) && throw(EnzymeGradientError(closure_kind_name(kind), err))
        rethrow()
    end

    return (; value = Float64(value), θ = dθ, T = dT, S = dS, u = du, v = dv, e = de)
end

"""
    column_mse_gradient(setup, kind, θ, T, S, u, v, e, T_target, n_steps) -> (loss, dθ)

Gradient of the mean squared temperature misfit `mean((T(n_steps) - T_target)²)` of the
final profile with respect to the closure parameters: the calibration use case, written as a
[`column_vjp`](@ref) with the cotangent `2 (T - T_target) / Nz` after a forward run.
"""
function column_mse_gradient(setup::ColumnSetup, kind, θ, T, S, u, v, e,
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
