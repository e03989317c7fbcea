"""Core of pyclimaocean: the model contract, variable metadata and CF datasets (no physics,
no file I/O)."""

from .dataset import fields_dataset, model_dataset, seconds_since_start
from .model import AbstractModel, get_path, stack_states
from .registry import ModelEntry, available_models, get_model_entry, register_model
from .variables import Coordinate, Variable

__all__ = [
    "AbstractModel",
    "Coordinate",
    "ModelEntry",
    "available_models",
    "get_model_entry",
    "register_model",
    "Variable",
    "fields_dataset",
    "get_path",
    "model_dataset",
    "seconds_since_start",
    "stack_states",
]
