"""Running models: :class:`Simulation` (compiled chunks, output writers, checkpoints,
blow-up detection) and the output writers."""

from .output_writers import (
    AbstractOutputWriter,
    MemoryWriter,
    NetCDFWriter,
    ZarrWriter,
    make_writer,
    read_output,
    steps_from_schedule,
)
from .simulation import BlowUpError, Simulation, _compiled_chunk  # noqa: F401 (tests)

__all__ = [
    "AbstractOutputWriter",
    "BlowUpError",
    "MemoryWriter",
    "NetCDFWriter",
    "Simulation",
    "ZarrWriter",
    "make_writer",
    "read_output",
    "steps_from_schedule",
]
