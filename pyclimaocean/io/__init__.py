"""Files: atomic writers, checkpoints keyed by pytree path, CF helpers, the experiment
directory policy."""

from .files import atomic_path, atomic_write, load_state, save_state, write_dataset

__all__ = ["atomic_path", "atomic_write", "load_state", "save_state", "write_dataset"]
