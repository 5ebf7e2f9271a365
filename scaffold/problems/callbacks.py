"""Callbacks that give ParameterProblem the chapter's behaviour: the ε stopping rule, a guard
against divergence, and a figure of the path the parameters took."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch import Tensor

from scaffold.errors import DivergenceError

if TYPE_CHECKING:
    from scaffold.problems.module import ParameterProblem


def flat_parameters(module: ParameterProblem) -> Tensor:
    """All parameters as one detached CPU vector, in the module's parameter order."""
    return torch.cat([p.detach().reshape(-1) for p in module.params.values()]).cpu()


class ConvergenceStop(L.Callback):
    """Chapter 1.3's rule: stop once ||x_cur - x_prev||_2 <= epsilon after a step."""

    def __init__(self, epsilon: float) -> None:
        self.epsilon = epsilon
        self.converged_at: int | None = None
        self.last_step_size = math.inf
        self._previous: Tensor | None = None

    def state_dict(self) -> dict[str, Any]:
        """The last step's size, so that a resumed run of a converged problem does not step again."""
        return {"last_step_size": self.last_step_size, "converged_at": self.converged_at}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.last_step_size = state_dict.get("last_step_size", math.inf)
        self.converged_at = state_dict.get("converged_at")

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        """A resumed run whose last step already met this epsilon stops before stepping."""
        if self.last_step_size <= self.epsilon:
            self.converged_at = self.converged_at if self.converged_at is not None else trainer.current_epoch
            trainer.should_stop = True
        else:  # a smaller epsilon than the run that saved it: not converged yet
            self.converged_at = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        """Remember the parameters before the step."""
        self._previous = flat_parameters(pl_module)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Measure the step just taken and ask the trainer to stop when it is small enough."""
        if self._previous is None:
            return
        self.last_step_size = torch.linalg.vector_norm(flat_parameters(pl_module) - self._previous).item()
        if self.last_step_size <= self.epsilon:
            self.converged_at = trainer.current_epoch
            trainer.should_stop = True


class DivergenceGuard(L.Callback):
    """Stop with a DivergenceError as soon as the loss, a gradient or a parameter is not finite."""

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: Any, optimizer: torch.optim.Optimizer
    ) -> None:
        """Check the gradients before they are applied (one host sync for all of them)."""
        grads = {name: p.grad for name, p in pl_module.params.items() if p.grad is not None}
        if grads and not torch.isfinite(torch.cat([g.reshape(-1) for g in grads.values()])).all():
            name = next(name for name, grad in grads.items() if not torch.isfinite(grad).all())
            self._fail(trainer, optimizer, f"the gradient of {name!r} is not finite")

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Check the loss and the parameters after the step (one host sync for all of them)."""
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        values = [p.detach().reshape(-1) for p in pl_module.params.values()]
        if loss is not None:
            values.append(loss.detach().reshape(-1))
        if torch.isfinite(torch.cat(values)).all():
            return
        if loss is not None and not torch.isfinite(loss).all():
            self._fail(trainer, trainer.optimizers[0], f"the loss is {loss.item()}")
        name = next(name for name, p in pl_module.params.items() if not torch.isfinite(p).all())
        self._fail(trainer, trainer.optimizers[0], f"parameter {name!r} is not finite")

    @staticmethod
    def _fail(trainer: L.Trainer, optimizer: torch.optim.Optimizer, what: str) -> None:
        lr = optimizer.param_groups[0]["lr"]
        raise DivergenceError(
            f"the optimisation diverged at epoch {trainer.current_epoch} (lr={lr:g}): {what}; "
            "try a smaller learning rate (--model.lr or --optimizer.lr)"
        )


class TrajectoryFigure(L.Callback):
    """Record the parameters at every step; at the end of fit, log the objective with the path.

    One scalar parameter: the curve f(x) with the visited points. Two: a contour plot with
    the path. Other shapes are recorded but not drawn. The figure goes to TensorBoard as
    ``trajectory`` (any logger with an ``add_figure``-capable experiment).
    """

    def __init__(self) -> None:
        self.path: list[Tensor] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        """Record the point the step starts from."""
        self.path.append(flat_parameters(pl_module))

    def on_fit_end(self, trainer: L.Trainer, pl_module: ParameterProblem) -> None:
        """Draw and log the figure (rank zero only)."""
        self.path.append(flat_parameters(pl_module))
        experiment = getattr(trainer.logger, "experiment", None)
        if not trainer.is_global_zero or not hasattr(experiment, "add_figure"):
            return
        from scaffold.problems.figures import plot_trajectory

        figure = plot_trajectory(pl_module, torch.stack(self.path))
        if figure is not None:
            experiment.add_figure("trajectory", figure, global_step=trainer.global_step)
