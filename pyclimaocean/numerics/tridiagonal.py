"""Differentiable tridiagonal solve with a hand-written derivative rule.

Solves ``A x = rhs`` for a tridiagonal ``A`` given by its three diagonals, by the Thomas
algorithm (Gaussian elimination without pivoting) written as two ``lax.scan`` sweeps over the
levels, vectorised over any leading batch axes.  Without pivoting the algorithm is stable for
diagonally dominant matrices, ``|diag[k]| >= |lower[k]| + |upper[k]|`` — which every implicit
diffusion matrix of this package is (``diag = Δz + Δt (κ↑/Δz↑ + κ↓/Δz↓) (+ sinks)`` with
off-diagonals ``-Δt κ/Δz``).  ``method="lapack"`` uses ``jax.lax.linalg.tridiagonal_solve``
(LAPACK ``gtsv``, partial pivoting) for general matrices.  On a CPU the scan is 2.4× faster than
``gtsv`` for five 64-level systems and 3.6× faster for 640 of them (``benchmarks/column_gradient``
measures the model built on it).

The derivative is written by hand as a JVP,

    ẋ = A⁻¹ (ṙhs − Ȧ x),

in which the solve is a ``jax.lax.custom_linear_solve`` whose transpose is the solve with
``Aᵀ``.  Reverse mode therefore costs one transposed solve (``λ = A⁻ᵀ x̄``; ``rhs̄ = λ``,
``lower̄[k] = −λ[k] x[k−1]``, ``diaḡ[k] = −λ[k] x[k]``, ``upper̄[k] = −λ[k] x[k+1]``) and keeps
only ``x`` and the diagonals — cheaper than differentiating through the elimination — and
forward mode (``jax.jvp``, ``jax.hessian``) still works.

The solution is tagged ``"tridiagonal_solution"`` (``jax.ad_checkpoint.checkpoint_name``), so
a ``jax.checkpoint`` policy can keep it for the reverse sweep instead of recomputing the solve
(:func:`pyclimaocean.integrate` does).  Leading batch axes are supported: a model solves all
its fields in one call.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name

__all__ = ["tridiagonal_solve", "METHODS"]


def _thomas(lower, diag, upper, rhs):
    """Thomas algorithm along the last axis (no pivoting); ``lower[..., 0]`` and
    ``upper[..., -1]`` are ignored."""
    # levels first, so each scan step handles every batch member at once
    a, b, c, d = (jnp.moveaxis(x, -1, 0) for x in (lower, diag, upper, rhs))

    def eliminate(carry, level):
        c_prev, d_prev = carry
        a_k, b_k, c_k, d_k = level
        inv = 1.0 / (b_k - a_k * c_prev)
        c_new, d_new = c_k * inv, (d_k - a_k * d_prev) * inv
        return (c_new, d_new), (c_new, d_new)

    zero = jnp.zeros_like(b[0])
    # level 0 has no lower neighbour: c_prev = d_prev = 0 there makes a[0] irrelevant
    _, (cp, dp) = jax.lax.scan(eliminate, (zero, zero), (a, b, c, d))

    def substitute(x_next, level):
        cp_k, dp_k = level
        x_k = dp_k - cp_k * x_next
        return x_k, x_k

    # cp[-1] multiplies x[n] = 0: upper[-1] is irrelevant too
    _, x = jax.lax.scan(substitute, zero, (cp, dp), reverse=True)
    return jnp.moveaxis(x, 0, -1)


def _lapack(lower, diag, upper, rhs):
    # lax expects dl[0] == 0 and du[-1] == 0 and a 2-D right-hand side
    dl = lower.at[..., 0].set(0.0)
    du = upper.at[..., -1].set(0.0)
    return jax.lax.linalg.tridiagonal_solve(dl, diag, du, rhs[..., None])[..., 0]


_SOLVERS = {"thomas": _thomas, "lapack": _lapack}
METHODS = tuple(_SOLVERS)


def _shift_down(x):
    """x[k-1] with 0 at k = 0."""
    return jnp.concatenate([jnp.zeros_like(x[..., :1]), x[..., :-1]], axis=-1)


def _shift_up(x):
    """x[k+1] with 0 at k = n-1."""
    return jnp.concatenate([x[..., 1:], jnp.zeros_like(x[..., :1])], axis=-1)


def _transpose(lower, diag, upper):
    """Diagonals of Aᵀ: (Aᵀ)[k, k-1] = A[k-1, k] = upper[k-1], (Aᵀ)[k, k+1] = lower[k+1]."""
    return _shift_down(upper), diag, _shift_up(lower)


def _linear_solve(method, lower, diag, upper, rhs):
    """x = A⁻¹ rhs as a linear function of ``rhs`` whose transpose is the solve with Aᵀ."""
    solver = _SOLVERS[method]
    lower_t, diag_t, upper_t = _transpose(lower, diag, upper)

    def matvec(x):
        return diag * x + lower * _shift_down(x) + upper * _shift_up(x)

    return jax.lax.custom_linear_solve(
        matvec,
        rhs,
        solve=lambda _, b: solver(lower, diag, upper, b),
        transpose_solve=lambda _, b: solver(lower_t, diag_t, upper_t, b),
    )


@functools.partial(jax.custom_jvp, nondiff_argnums=(4,))
def _tridiagonal_solve(lower, diag, upper, rhs, method):
    return _SOLVERS[method](lower, diag, upper, rhs)


@_tridiagonal_solve.defjvp
def _jvp(method, primals, tangents):
    lower, diag, upper, rhs = primals
    dlower, ddiag, dupper, drhs = tangents
    lower = lower.at[..., 0].set(0.0)
    upper = upper.at[..., -1].set(0.0)
    x = checkpoint_name(_tridiagonal_solve(lower, diag, upper, rhs, method), "tridiagonal_solution")
    dlower = dlower.at[..., 0].set(0.0)
    dupper = dupper.at[..., -1].set(0.0)
    a_dot_x = ddiag * x + dlower * _shift_down(x) + dupper * _shift_up(x)
    return x, _linear_solve(method, lower, diag, upper, drhs - a_dot_x)


def tridiagonal_solve(lower, diag, upper, rhs, *, method: str = "thomas"):
    """Solve ``A x = rhs``.

    Args:
        lower: ``(..., n)`` sub-diagonal; ``lower[k]`` multiplies ``x[k-1]`` (``lower[0]``
            ignored).
        diag: ``(..., n)`` diagonal.
        upper: ``(..., n)`` super-diagonal; ``upper[k]`` multiplies ``x[k+1]``
            (``upper[-1]`` ignored).
        rhs: ``(..., n)`` right-hand side.
        method: ``"thomas"`` (default: no pivoting, for diagonally dominant ``A``) or
            ``"lapack"`` (partial pivoting, any non-singular ``A``).

    Returns:
        ``(..., n)`` solution ``x``.
    """
    if method not in METHODS:
        raise ValueError(f"method = {method!r}; accepted: {', '.join(map(repr, METHODS))}")
    dtype = jnp.result_type(lower, diag, upper, rhs, float)
    lower, diag, upper, rhs = jnp.broadcast_arrays(
        *(jnp.asarray(a, dtype=dtype) for a in (lower, diag, upper, rhs))
    )
    return _tridiagonal_solve(lower, diag, upper, rhs, method)
