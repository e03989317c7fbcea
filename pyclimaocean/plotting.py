"""Figures people would rather look at than read (matplotlib, headless ``Agg`` backend)."""

from __future__ import annotations

from pathlib import Path

from .io.files import atomic_path

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the headless ``Agg`` backend (unless one is already chosen)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


_plt = pyplot  # the name used by older modules


def save_figure(fig, path: str | Path) -> Path:
    """Save atomically (temporary file + rename) and close the figure."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    finally:
        pyplot().close(fig)
    return path
