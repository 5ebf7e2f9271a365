"""scaffold: Chapter 1 of *Inside Deep Learning* as a PyTorch Lightning training scaffold."""

from scaffold.data import DataModule
from scaffold.devices import choose_device, move_to
from scaffold.errors import ConfigError, DivergenceError, ScaffoldError
from scaffold.models import Classifier
from scaffold.problems import (
    OBJECTIVES,
    ExpressionError,
    ParameterProblem,
    compile_expression,
    get_objective,
    register_objective,
)

__all__ = [
    "OBJECTIVES",
    "Classifier",
    "ConfigError",
    "DataModule",
    "DivergenceError",
    "ExpressionError",
    "ParameterProblem",
    "ScaffoldError",
    "choose_device",
    "compile_expression",
    "get_objective",
    "move_to",
    "register_objective",
]
