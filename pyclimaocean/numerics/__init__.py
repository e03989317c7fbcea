"""Numerical kernels shared by the models (pure JAX)."""

from .broadcast import sum_to_shape
from .tridiagonal import tridiagonal_solve

__all__ = ["sum_to_shape", "tridiagonal_solve"]
