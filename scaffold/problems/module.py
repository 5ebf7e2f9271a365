"""ParameterProblem: "find the parameters that minimise an objective" as a LightningModule.

Chapter 1.3-1.4 of *Inside Deep Learning*: the parameters are ``nn.Parameter``s, the loss is
the objective evaluated at them, and each epoch is exactly one gradient step, so Lightning's
loop is the chapter's ``for epoch in range(60): loss.backward(); optimizer.step();
optimizer.zero_grad()``.

Example::

    from lightning import Trainer
    from scaffold import ParameterProblem

    problem = ParameterProblem("quadratic", init={"x": -3.5}, lr=0.1)
    Trainer(max_epochs=1000, logger=False, enable_checkpointing=False).fit(problem)
    problem.params["x"]  # tensor(2.0000)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from scaffold.checkpointing import (
    checkpoints_wanted,
    last_checkpoint,
    prepare_callback_states,
    with_users_checkpoints,
)
from scaffold.errors import ConfigError
from scaffold.problems.callbacks import ConvergenceStop, DivergenceGuard, TrajectoryFigure
from scaffold.problems.objectives import OBJECTIVES, Objective, get_objective, parameter_names

InitValue = float | list[float] | list[list[float]]


def resolve_objective(objective: str | Objective, names: list[str]) -> Objective:
    """A registered name, an expression string over ``names``, or a callable, as an objective."""
    if callable(objective):
        return objective
    if objective.isidentifier() and (objective in OBJECTIVES or objective not in names):
        return get_objective(objective)
    from scaffold.problems.expression import compile_expression

    return compile_expression(objective, names)


class ParameterProblem(L.LightningModule):
    """Minimise ``objective(**params)`` by gradient descent, one optimiser step per epoch.

    Args:
        objective: a registered objective name (``quadratic``, ``wavy``, ``two_variable``, ...),
            or an expression over the parameter names such as ``"(x-2)**2 + sin(y)"``.
        init: starting value of each parameter, by name: a number, or a (nested) list for a
            tensor parameter. Must name exactly the objective's parameters.
            Default: 0.0 for each parameter of a registered objective.
        lr: the learning rate η of the default optimiser, ``torch.optim.SGD``.
        momentum: SGD momentum (0 is the chapter's plain gradient descent).
        epsilon: the chapter's stopping rule ε: stop once the step ||x_cur - x_prev||_2,
            over all parameters together, is <= epsilon. 0 disables it.
        figure: at the end of fit, log a figure of the objective with the path taken.
    """

    # Runs with the same objective are the same problem: --ckpt_path last resumes only those.
    identity_args = ("objective",)
    # How to run it, not what it is: a checkpoint's saved values do not replace the command line's.
    runtime_args = ("epsilon", "figure")

    def __init__(
        self,
        objective: str = "quadratic",
        init: dict[str, InitValue] | None = None,
        lr: float = 0.1,
        momentum: float = 0.0,
        epsilon: float = 1e-5,
        figure: bool = True,
    ) -> None:
        super().__init__()
        if not lr > 0 or not math.isfinite(lr):  # `not >` also catches NaN
            raise ConfigError(f"model.lr must be > 0 and finite, got {lr}")
        if not momentum >= 0 or not math.isfinite(momentum):
            raise ConfigError(f"model.momentum must be >= 0 and finite (0: plain descent), got {momentum}")
        if epsilon < 0:
            raise ConfigError(f"model.epsilon must be >= 0 (0 disables the stopping rule), got {epsilon}")
        init = dict(init or {})
        self.save_hyperparameters()
        # Read from here, not from hparams: under LightningCLI a subclass's hparams hold only its own
        # __init__ arguments, which need not include these.
        self.lr, self.momentum, self.epsilon, self.figure = lr, momentum, epsilon, figure
        self.objective: Objective = resolve_objective(objective, list(init))
        names = parameter_names(self.objective)
        if not init:
            init = {name: 0.0 for name in names}
        _check_names(objective, names, init)
        self.params = nn.ParameterDict({name: nn.Parameter(_initial(name, init[name])) for name in names})

    def forward(self) -> Tensor:
        """The objective at the current parameters (summed if the parameters are tensors)."""
        return self.objective(**self.params).sum()

    def training_step(self, batch: int, batch_idx: int) -> Tensor:
        """One step of the chapter's loop: the loss is the objective itself."""
        loss = self()
        self.log("train/loss", loss, prog_bar=True)
        for name, param in self.params.items():
            if param.numel() == 1:
                self.log(f"param/{name}", param.detach().reshape(()))
        return loss

    def test_step(self, batch: int, batch_idx: int) -> None:
        """Report the objective at the (loaded) parameters as ``test/loss``."""
        self.log("test/loss", self(), batch_size=1)  # the batch is a bare int: Lightning cannot size it

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Log the gradient's 2-norm over all parameters as ``grad_norm``."""
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        if grads:
            self.log("grad_norm", torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))

    def on_train_end(self) -> None:
        """Record the final objective as TensorBoard's ``hp_metric``, next to the hparams."""
        if self.logger is not None:
            with torch.no_grad():
                self.logger.log_metrics({"hp_metric": self().item()}, step=self.global_step)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """SGD with the configured lr and momentum (``--optimizer`` on the CLI replaces it)."""
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum)

    def configure_callbacks(self) -> list[L.Callback]:
        """The ε stopping rule, the divergence guard, the trajectory figure, and ``last.ckpt``.

        ``last.ckpt`` is written at the end of fit and on an interrupt, not every epoch: an
        epoch here is one step, and a checkpoint per step would triple the run time. A
        ModelCheckpoint given to the Trainer is kept too.
        """
        callbacks: list[L.Callback] = [DivergenceGuard()]
        if checkpoints_wanted(self._trainer):
            callbacks.append(last_checkpoint(every_epoch=False))
        if self.epsilon > 0:
            callbacks.append(ConvergenceStop(self.epsilon))
        if self.figure and (self._trainer is None or self.trainer.logger is not None):
            callbacks.append(TrajectoryFigure())
        return with_users_checkpoints(self._trainer, callbacks)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Fit the checkpoint's callback states to this run's (see ``prepare_callback_states``).

        Resumed with ``epsilon`` 0 there is no ConvergenceStop to take its saved state.
        """
        prepare_callback_states(checkpoint, self._trainer)
        states = checkpoint.get("callbacks")
        if self.epsilon == 0 and isinstance(states, dict):
            states.pop(ConvergenceStop.__qualname__, None)

    def train_dataloader(self) -> range:
        """One empty item: the problem needs no data, only one step per epoch."""
        return _one_item()

    def test_dataloader(self) -> range:
        """One empty item, so ``scaffold test`` evaluates the objective once."""
        return _one_item()

    def values(self) -> dict[str, Tensor]:
        """The current parameter values, detached, on the CPU."""
        return {name: p.detach().cpu().clone() for name, p in self.params.items()}

    def describe(self) -> str:
        """One line with the current parameter values, e.g. ``x=2.0000, y=1.2345``."""
        parts = []
        for name, value in self.values().items():
            text = f"{value.item():.4f}" if value.numel() == 1 else str(value.numpy().round(4))
            parts.append(f"{name}={text}")
        return ", ".join(parts)


def _one_item() -> range:
    # Any sized iterable is a loader to Lightning; one item means one step per epoch.
    return range(1)


def _initial(name: str, value: InitValue) -> Tensor:
    try:
        tensor = torch.tensor(value, dtype=torch.float32)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"model.init {name!r}: {value!r} is not a number or a rectangular list of numbers ({error})"
        ) from None
    if tensor.numel() == 0 or not torch.isfinite(tensor).all():  # float32: 1e39 is inf
        raise ConfigError(
            f"model.init {name!r}: {value!r} must be finite float32 numbers (|x| < 3.4e38), and at least one"
        )
    return tensor


def _check_names(objective: str | Callable, names: list[str], init: dict[str, InitValue]) -> None:
    label = objective if isinstance(objective, str) else getattr(objective, "__name__", "objective")
    unused = [n for n in init if n not in names]
    if unused:
        raise ConfigError(
            f"model.init names {', '.join(map(repr, unused))}, which objective {label!r} does "
            f"not use; its parameters are: {', '.join(names)}"
        )
    missing = [n for n in names if n not in init]
    if missing:
        raise ConfigError(
            f"model.init has no starting value for {', '.join(map(repr, missing))}; "
            f"objective {label!r} needs: {', '.join(names)}"
        )
