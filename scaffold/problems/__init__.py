"""Parameter-optimisation problems: chapter 1.3-1.4 and exercises 4-5."""

from scaffold.problems.module import ParameterProblem
from scaffold.problems.objectives import OBJECTIVES, get_objective, register_objective

__all__ = ["OBJECTIVES", "ParameterProblem", "get_objective", "register_objective"]
