"""A rich progress bar for iterative methods (optimizers, ensemble Kalman inversion)."""

from __future__ import annotations

import sys

from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as _RichProgress

__all__ = ["Progress"]


class Progress:
    """A rich progress bar (or nothing)."""

    def __init__(self, enabled: bool | None, total: int, label: str):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.enabled = enabled
        if enabled:
            self.bar = _RichProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                                TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[info]}"),
                                TimeElapsedColumn(), transient=False)
            self.bar.start()
            self.task = self.bar.add_task(label, total=total, info="")

    def update(self, it: int, loss: float, gnorm: float) -> None:
        if self.enabled:
            self.bar.update(self.task, completed=it, info=f"loss={loss:.6g} |g|={gnorm:.2e}")

    def close(self) -> None:
        if self.enabled:
            self.bar.stop()
