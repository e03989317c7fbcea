"""Differentiable tridiagonal solve with a hand-written derivative rule.

Solves ``A x = rhs`` for a tridiagonal ``A`` given by its three diagonals.  The forward solve is
``jax.lax.linalg.tridiagonal_solve`` (LAPACK ``gtsv`` on CPU).  The derivative is written by
hand as a JVP,

    ẋ = A⁻¹ (ṙhs − Ȧ x),

which is linear in the tangents, so JAX transposes it for reverse mode: the adjoint costs one
solve with ``Aᵀ`` (``λ = A⁻ᵀ x̄``; ``rhs̄ = λ``, ``lower̄[k] = −λ[k] x[k−1]``,
``diaḡ[k] = −λ[k] x[k]``, ``upper̄[k] = −λ[k] x[k+1]``) and keeps only ``x`` and the diagonals —
cheaper than differentiating through the elimination, and still usable by forward mode
(``jax.jvp``, ``jax.hessian``).

The solution is tagged ``"tridiagonal_solution"`` (``jax.ad_checkpoint.checkpoint_name``), so
a ``jax.checkpoint`` policy can keep it for the reverse sweep instead of recomputing the solve
(:func:`pyclimaocean.integrate` does).  Leading batch axes are supported: a model solves all
its fields in one call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name

__all__ = ["tridiagonal_solve"]


def _solve(lower, diag, upper, rhs):
    lower, diag, upper, rhs = (jnp.asarray(a) for a in (lower, diag, upper, rhs))
    # lax expects dl[0] == 0 and du[-1] == 0 and a 2-D right-hand side
    dl = lower.at[..., 0].set(0.0)
    du = upper.at[..., -1].set(0.0)
    return jax.lax.linalg.tridiagonal_solve(dl, diag, du, rhs[..., None])[..., 0]


def _shift_down(x):
    """x[k-1] with 0 at k = 0."""
    return jnp.concatenate([jnp.zeros_like(x[..., :1]), x[..., :-1]], axis=-1)


def _shift_up(x):
    """x[k+1] with 0 at k = n-1."""
    return jnp.concatenate([x[..., 1:], jnp.zeros_like(x[..., :1])], axis=-1)


@jax.custom_jvp
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


@tridiagonal_solve.defjvp
def _jvp(primals, tangents):
    lower, diag, upper, rhs = primals
    dlower, ddiag, dupper, drhs = tangents
    x = checkpoint_name(_solve(lower, diag, upper, rhs), "tridiagonal_solution")
    dlower = jnp.asarray(dlower).at[..., 0].set(0.0)
    dupper = jnp.asarray(dupper).at[..., -1].set(0.0)
    a_dot_x = ddiag * x + dlower * _shift_down(x) + dupper * _shift_up(x)
    return x, _solve(lower, diag, upper, drhs - a_dot_x)
