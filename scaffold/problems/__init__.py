"""Parameter-optimisation problems: chapter 1.3-1.4 and exercises 4-5."""

from scaffold.problems.expression import ExpressionError, compile_expression
from scaffold.problems.module import ParameterProblem
from scaffold.problems.objectives import OBJECTIVES, get_objective, register_objective

__all__ = [
    "OBJECTIVES",
    "ExpressionError",
    "ParameterProblem",
    "compile_expression",
    "get_objective",
    "register_objective",
]
