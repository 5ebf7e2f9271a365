"""The chapter's objectives as plain torch functions, and the registry that names them.

An objective takes its parameters as keyword arguments (tensors) and returns the scalar value
to minimise. Its parameter names are the names of its Python arguments, so a config's
``init: {x: 0.2, y: 10}`` is checked against the function itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor

from scaffold.errors import ConfigError

Objective = Callable[..., Tensor]

OBJECTIVES: dict[str, Objective] = {}


def register_objective(name: str | None = None) -> Callable[[Objective], Objective]:
    """Decorator: make ``fn`` available as ``--model.objective <name>`` (default: its ``__name__``).

    Example::

        @register_objective()
        def rosenbrock(x, y):
            return (1 - x) ** 2 + 100 * (y - x**2) ** 2
    """

    def add(fn: Objective) -> Objective:
        key = name or fn.__name__
        built_in = OBJECTIVES.get(key)
        # Replacing a built-in would also make `--ckpt_path last` take its runs for this one's.
        if built_in is not None and built_in is not fn and built_in.__module__ == __name__:
            raise ConfigError(
                f"register_objective: {key!r} is a built-in objective; register yours under another name"
            )
        OBJECTIVES[key] = fn
        return fn

    return add


def parameter_names(objective: Objective) -> list[str]:
    """The names of the parameters ``objective`` expects, in signature order."""
    return list(inspect.signature(objective).parameters)


def get_objective(name: str) -> Objective:
    """Look up a registered objective, or raise a ConfigError that lists the known names."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        known = ", ".join(sorted(OBJECTIVES))
        raise ConfigError(
            f"unknown objective {name!r} (model.objective); known objectives: {known}; "
            "or write an expression such as 'sin(x)**2 + (y-1)**2', "
            "or register one with scaffold.register_objective"
        ) from None


@register_objective()
def quadratic(x: Tensor) -> Tensor:
    """Chapter 1.3: f(x) = (x - 2)^2, minimum at x = 2."""
    return torch.pow(x - 2, 2)


@register_objective()
def wavy(x: Tensor) -> Tensor:
    """Exercise 4: f(x) = sin(x - 2) (x + 2)^2 + sqrt(|cos x|)."""
    return torch.sin(x - 2) * torch.pow(x + 2, 2) + torch.sqrt(torch.abs(torch.cos(x)))


@register_objective()
def two_variable(x: Tensor, y: Tensor) -> Tensor:
    """Exercise 5: f(x, y) = exp(sin(x)^2) / (x - y)^2 + (x - y)^2."""
    return torch.exp(torch.sin(x) ** 2) / (x - y) ** 2 + (x - y) ** 2
