"""scaffold: Chapter 1 of *Inside Deep Learning* as a PyTorch Lightning training scaffold."""

from scaffold.errors import ConfigError, DivergenceError, ScaffoldError
from scaffold.problems import OBJECTIVES, ParameterProblem, get_objective, register_objective

__all__ = [
    "OBJECTIVES",
    "ConfigError",
    "DivergenceError",
    "ParameterProblem",
    "ScaffoldError",
    "get_objective",
    "register_objective",
]
