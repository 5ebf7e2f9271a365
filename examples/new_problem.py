"""python examples/new_problem.py [--steps N] [--out DIR]: train Rosenbrock's valley as a new problem.

Two ways to add a problem, both shown here:

1. Register the objective by name with ``@register_objective()``. Any ParameterProblem can then
   use it: ``ParameterProblem("rosenbrock", init={"x": -1.5, "y": 2.0})``.
2. Subclass ParameterProblem to give the problem its own defaults (start, η, optimiser). The CLI
   trains it by class path, and importing this file for that also registers the objective::

       python -m scaffold fit --model examples.new_problem.Rosenbrock --trainer.max_epochs 3000

   Run it from the repository root: ``python -m`` puts the current folder on the import path
   (with the ``scaffold`` command, prefix ``PYTHONPATH=.``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import lightning as L
import torch
from torch import Tensor

from scaffold import ParameterProblem, register_objective
from scaffold.errors import run_script


@register_objective()
def rosenbrock(x: Tensor, y: Tensor) -> Tensor:
    """Rosenbrock's function: a curved, flat-bottomed valley with its minimum 0 at (1, 1)."""
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


class Rosenbrock(ParameterProblem):
    """Rosenbrock from (-1.5, 2) with Adam: plain SGD needs a tiny η here and crawls along the valley.

    Args:
        x: starting x (``--model.x`` on the CLI).
        y: starting y.
        lr: Adam's learning rate η.
        epsilon: the chapter's stopping rule; smaller than ParameterProblem's default because
            Adam's steps shrink slowly near the minimum.
        figure: log the contour plot with the path at the end of fit.
    """

    def __init__(
        self, x: float = -1.5, y: float = 2.0, lr: float = 0.05, epsilon: float = 1e-6, figure: bool = True
    ) -> None:
        super().__init__("rosenbrock", {"x": x, "y": y}, lr=lr, epsilon=epsilon, figure=figure)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam, whose per-parameter step sizes follow the curved valley."""
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def main(argv: Sequence[str] | None = None) -> Rosenbrock:
    """Train Rosenbrock from (-1.5, 2), print where it ended, return the trained problem."""
    parser = argparse.ArgumentParser(description="Train Rosenbrock's function from (-1.5, 2) with Adam.")
    parser.add_argument("--steps", type=int, default=3000, help="at most this many steps (epochs)")
    parser.add_argument("--out", default="lightning_logs/new_problem", help="folder for last.ckpt")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")

    problem = Rosenbrock(figure=False)
    trainer = L.Trainer(
        max_epochs=args.steps,
        default_root_dir=args.out,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(problem)
    print(f"rosenbrock: {problem.describe()} after {trainer.global_step} steps (minimum at x=1, y=1)")
    return problem


if __name__ == "__main__":
    run_script(main)
