"""scaffold: Chapter 1 of *Inside Deep Learning* as a PyTorch Lightning training scaffold."""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

# Each name is imported on first use: ``import scaffold`` alone loads neither torch nor Lightning,
# so the ``scaffold`` command can answer a Ctrl-C during those imports with one line.
_EXPORTS = {
    "OBJECTIVES": "scaffold.problems",
    "Classifier": "scaffold.models",
    "ConfigError": "scaffold.errors",
    "DataModule": "scaffold.data",
    "DivergenceError": "scaffold.errors",
    "ExpressionError": "scaffold.problems",
    "ParameterProblem": "scaffold.problems",
    "ScaffoldError": "scaffold.errors",
    "choose_device": "scaffold.devices",
    "compile_expression": "scaffold.problems",
    "get_objective": "scaffold.problems",
    "move_to": "scaffold.devices",
    "register_objective": "scaffold.problems",
}
__all__ = [  # the names of _EXPORTS, written out for tools that read __all__ without running it
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # found directly from now on
        return value
    # A submodule, as an eager __init__ would have made it an attribute: ``scaffold.models.MLP``.
    if not name.startswith("_") and importlib.util.find_spec(f"scaffold.{name}") is not None:
        return importlib.import_module(f"scaffold.{name}")  # the import makes it an attribute too
    raise AttributeError(f"module 'scaffold' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
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
