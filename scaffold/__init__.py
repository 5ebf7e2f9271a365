"""scaffold: Chapter 1 of *Inside Deep Learning* as a PyTorch Lightning training scaffold."""

from scaffold.devices import choose_device, move_to
from scaffold.errors import ConfigError, DivergenceError, ScaffoldError
from scaffold.problems import OBJECTIVES, ParameterProblem, get_objective, register_objective

__all__ = [
    "OBJECTIVES",
    "ConfigError",
    "DivergenceError",
    "ParameterProblem",
    "ScaffoldError",
    "choose_device",
    "get_objective",
    "move_to",
    "register_objective",
]
