"""Differentiable tridiagonal solve with a hand-written adjoint.

Solves ``A x = rhs`` for a tridiagonal ``A`` given by its three diagonals.  The forward solve is
``jax.lax.linalg.tridiagonal_solve`` (LAPACK ``gtsv`` on CPU).  The reverse-mode rule is written
by hand: with ``λ = A⁻ᵀ x̄`` (itself a tridiagonal solve with the transposed matrix),

    rhs̄ = λ,   lower̄[k] = -λ[k] x[k-1],   diaḡ[k] = -λ[k] x[k],   upper̄[k] = -λ[k] x[k+1],

so the adjoint costs one extra solve and keeps only ``x`` and the diagonals as residuals —
cheaper than differentiating through the elimination.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["tridiagonal_solve"]


def _solve(lower, diag, upper, rhs):
    # lax expects dl[0] == 0 and du[-1] == 0 and a 2-D right-hand side
    dl = lower.at[..., 0].set(0.0)
    du = upper.at[..., -1].set(0.0)
    return jax.lax.linalg.tridiagonal_solve(dl, diag, du, rhs[..., None])[..., 0]


@jax.custom_vjp
def tridiagonal_solve(lower, diag, upper, rhs):
    """Solve ``A x = rhs``.

    Args:
        lower: ``(n,)`` sub-diagonal; ``lower[k]`` multiplies ``x[k-1]`` (``lower[0]`` ignored).
        diag: ``(n,)`` diagonal.
        upper: ``(n,)`` super-diagonal; ``upper[k]`` multiplies ``x[k+1]`` (``upper[-1]`` ignored).
        rhs: ``(n,)`` right-hand side.

    Returns:
        ``(n,)`` solution ``x``.
    """
    return _solve(lower, diag, upper, rhs)


def _fwd(lower, diag, upper, rhs):
    x = _solve(lower, diag, upper, rhs)
    return x, (lower, diag, upper, x)


def _bwd(res, xbar):
    lower, diag, upper, x = res
    # Aᵀ has sub-diagonal upper[k-1] and super-diagonal lower[k+1]
    lower_t = jnp.concatenate([jnp.zeros_like(upper[..., :1]), upper[..., :-1]], axis=-1)
    upper_t = jnp.concatenate([lower[..., 1:], jnp.zeros_like(lower[..., :1])], axis=-1)
    lam = _solve(lower_t, diag, upper_t, xbar)
    x_below = jnp.concatenate([jnp.zeros_like(x[..., :1]), x[..., :-1]], axis=-1)
    x_above = jnp.concatenate([x[..., 1:], jnp.zeros_like(x[..., :1])], axis=-1)
    lower_bar = (-lam * x_below).at[..., 0].set(0.0)
    upper_bar = (-lam * x_above).at[..., -1].set(0.0)
    return lower_bar, -lam * x, upper_bar, lam


tridiagonal_solve.defvjp(_fwd, _bwd)
