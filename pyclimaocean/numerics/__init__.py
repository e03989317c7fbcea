"""Numerical kernels shared by the models (pure JAX)."""

from .tridiagonal import tridiagonal_solve

__all__ = ["tridiagonal_solve"]
