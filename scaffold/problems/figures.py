"""Figures of an objective with the path(s) the optimiser took (matplotlib, imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from scaffold.problems.objectives import Objective, parameter_names

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from scaffold.problems.module import ParameterProblem


def plot_trajectory(problem: ParameterProblem, path: Tensor) -> Figure | None:
    """The objective of ``problem`` with one path (rows = steps); None unless 1 or 2 scalars."""
    if any(p.numel() != 1 for p in problem.params.values()):
        return None
    return plot_paths(problem.objective, {"path": path})


def plot_paths(
    objective: Objective, paths: dict[str, Tensor], margin: float = 0.5, title: str | None = None
) -> Figure | None:
    """Draw ``objective`` over the region the ``paths`` visit, each path as a labelled line.

    Each path is a (steps, n) tensor with n = 1 (curve f(x) with the visited points) or
    n = 2 (contour of f(x, y) with the path). Non-finite points (a diverged run) are dropped
    from the drawing. Returns None for other n.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    names = parameter_names(objective)
    finite = {label: p[torch.isfinite(p).all(dim=1)].double() for label, p in paths.items()}
    points = torch.cat([p for p in finite.values() if len(p)] or [torch.zeros(1, len(names))])
    low, high = points.min(0).values, points.max(0).values
    span = (high - low).clamp(min=1.0)
    low, high = low - margin * span, high + margin * span
    figure = Figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.add_subplot()
    if len(names) == 1:
        grid = torch.linspace(low[0], high[0], 400, dtype=torch.float64)
        with torch.no_grad():
            axes.plot(grid, objective(grid).numpy(), color="black", label=f"f({names[0]})")
            for label, path in finite.items():
                axes.plot(path[:, 0], objective(path[:, 0]).numpy(), "o-", markersize=3, label=label)
        axes.set_xlabel(names[0])
        axes.set_ylabel("objective")
    elif len(names) == 2:
        xs = torch.linspace(low[0], high[0], 200, dtype=torch.float64)
        ys = torch.linspace(low[1], high[1], 200, dtype=torch.float64)
        gx, gy = torch.meshgrid(xs, ys, indexing="xy")
        with torch.no_grad():
            values = objective(gx, gy).numpy()
        shown = values[np.isfinite(values)]
        levels = np.unique(np.percentile(shown, np.linspace(0, 95, 25))) if shown.size else []
        if len(levels) >= 2:  # a flat (or nowhere finite) objective has no contours: the path alone
            contour = axes.contour(gx.numpy(), gy.numpy(), values, levels=levels, cmap="viridis")
            figure.colorbar(contour, ax=axes, label="objective")
        for label, path in finite.items():
            axes.plot(path[:, 0], path[:, 1], "o-", markersize=3, label=label)
        axes.set_xlabel(names[0])
        axes.set_ylabel(names[1])
    else:
        return None
    axes.legend(loc="best", fontsize="small")
    if title:
        axes.set_title(title)
    return figure
