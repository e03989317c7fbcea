"""CF-convention xarray datasets for model output (see :mod:`pyclimaocean.core.dataset`).

Datasets are built from each model's variable metadata by
:func:`~pyclimaocean.core.dataset.model_dataset`; this module re-exports the CF helpers under
their I/O-facing names.
"""

from __future__ import annotations

from ..core.dataset import (
    REFERENCE_DATE,
    TIME_UNITS,
    cf_time_attributes,
    fields_dataset,
    global_attributes,
    model_dataset,
    seconds_since_start,
)

#: the name used before the model contract
time_attributes = cf_time_attributes

__all__ = [
    "REFERENCE_DATE",
    "TIME_UNITS",
    "fields_dataset",
    "global_attributes",
    "model_dataset",
    "seconds_since_start",
    "time_attributes",
]
