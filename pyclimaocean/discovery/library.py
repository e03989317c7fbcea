"""Libraries of candidate terms for sparse regression on periodic lattices (SINDy-style).

:class:`ShiftedPolynomialLibrary` builds every monomial of degree <= ``degree`` in the
shifted neighbours ``x_{k+o}``, ``o`` in ``offsets``, of a periodic 1-D field.  The same
monomials (in offsets relative to k) are used at every site k, so a model fitted with one
coefficient vector is translation-equivariant by construction: it commutes with cyclic
shifts of the lattice, as Lorenz-96 does.  With ``offsets=(-2, -1, 0, 1, 2)`` and degree 2
the library contains the Lorenz-96 terms ``1, x_k, x_{k-1} x_{k+1}, x_{k-2} x_{k-1}``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp

__all__ = ["ShiftedPolynomialLibrary"]


def _shift_name(o: int) -> str:
    return "x[k]" if o == 0 else f"x[k{o:+d}]"


class ShiftedPolynomialLibrary(eqx.Module):
    """Monomials in shifted neighbours of a periodic 1-D field.

    Attributes:
        offsets: relative positions o of the neighbours x_{k+o} (distinct ints).
        degree: maximal total degree (>= 1).
        include_constant: include the constant term 1.
    """

    offsets: tuple[int, ...] = eqx.field(static=True)
    degree: int = eqx.field(static=True)
    include_constant: bool = eqx.field(static=True)
    terms: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    def __init__(
        self,
        offsets: Sequence[int] = (-2, -1, 0, 1, 2),
        degree: int = 2,
        include_constant: bool = True,
    ):
        offs = tuple(int(o) for o in offsets)
        if not offs or len(set(offs)) != len(offs):
            raise ValueError(f"offsets must be distinct ints, got {offsets!r}")
        if not isinstance(degree, int) or degree < 1 or degree > 6:
            raise ValueError(f"degree must be an int in [1, 6], got {degree!r}")
        self.offsets = tuple(sorted(offs))
        self.degree = degree
        self.include_constant = bool(include_constant)
        terms: list[tuple[int, ...]] = [()] if include_constant else []
        for d in range(1, degree + 1):
            terms += list(itertools.combinations_with_replacement(self.offsets, d))
        self.terms = tuple(terms)

    @property
    def n_terms(self) -> int:
        return len(self.terms)

    @property
    def names(self) -> list[str]:
        """Readable names, e.g. ``"1"``, ``"x[k]"``, ``"x[k-1]*x[k+1]"``, ``"x[k]^3"``."""
        out = []
        for t in self.terms:
            if not t:
                out.append("1")
                continue
            parts = []
            for o in sorted(set(t)):
                p = t.count(o)
                parts.append(_shift_name(o) + (f"^{p}" if p > 1 else ""))
            out.append("*".join(parts))
        return out

    def index(self, name: str) -> int:
        """Position of the term called ``name`` (see :attr:`names`)."""
        names = self.names
        if name not in names:
            raise ValueError(f"term {name!r} is not in the library. Terms are: {names}")
        return names.index(name)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        """Evaluate all terms at every site.

        Args:
            x: ``(..., n)`` periodic field (leading axes: time, batch).

        Returns:
            ``(..., n, n_terms)``; entry ``[..., k, i]`` is term i at site k.
        """
        x = jnp.asarray(x)
        shifted = {o: jnp.roll(x, -o, axis=-1) for o in self.offsets}  # shifted[o][k] = x[k+o]
        cols = []
        for t in self.terms:
            col = jnp.ones_like(x)
            for o in t:
                col = col * shifted[o]
            cols.append(col)
        return jnp.stack(cols, axis=-1)
