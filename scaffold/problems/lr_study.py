"""The learning-rate study of the chapter's figure 1.7: one problem, several learning rates η
(and optimisers), each run through ParameterProblem and a Lightning Trainer, the trajectories
overlaid on the objective in one figure.

A rate that is too large diverges; the study records where and shows it ("diverged at step N"
in the legend) instead of stopping. A run counts as diverged once the objective is not finite or
has grown by more than ``blowup`` times its starting scale, max(|f(x₀)|, 1), above f(x₀).

Example::

    study = run_study("quadratic", {"x": -3.5}, lrs=[0.01, 0.5, 1.1], steps=60)
    print(study.table())
    save_study(study, "lightning_logs/lr_study")  # lr_study.png + a TensorBoard event file
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch import Tensor

from scaffold.atomic import atomic_path
from scaffold.errors import ConfigError, DivergenceError
from scaffold.problems.callbacks import flat_parameters
from scaffold.problems.module import ParameterProblem
from scaffold.problems.objectives import Objective

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OptimizerFactory = Callable[[Any, float], torch.optim.Optimizer]

OPTIMIZERS: dict[str, tuple[str, OptimizerFactory]] = {
    "sgd": ("SGD", lambda params, lr: torch.optim.SGD(params, lr=lr)),
    "momentum": ("SGD+momentum", lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9)),
    "adam": ("Adam", lambda params, lr: torch.optim.Adam(params, lr=lr)),
}


@dataclass
class Run:
    """One (optimiser, η) run: the points visited and, if it diverged, at which step and why."""

    optimizer: str
    lr: float
    names: list[str]
    path: Tensor  # (steps taken + 1, n): the start, then the parameters after each step
    losses: Tensor  # (steps taken + 1,): the objective at each point of ``path``
    diverged_at: int | None = None
    reason: str = ""

    @property
    def steps(self) -> int:
        """How many optimiser steps were taken."""
        return len(self.path) - 1

    @property
    def label(self) -> str:
        """Legend text, e.g. ``SGD η=0.5: x=2.0000 after 60 steps`` or ``... diverged at step 7``."""
        head = f"{OPTIMIZERS[self.optimizer][0]} η={self.lr:g}"
        if self.diverged_at is not None:
            return f"{head}: diverged at step {self.diverged_at}"
        values = ", ".join(f"{n}={v:.4f}" for n, v in zip(self.names, self.path[-1].tolist(), strict=True))
        return f"{head}: {values} after {self.steps} steps"


@dataclass
class Study:
    """All runs of one study over one objective."""

    objective: Objective
    runs: list[Run]

    def table(self) -> str:
        """One line per run: optimiser, η, final objective and the legend text."""
        lines = [f"{'optimizer':<13} {'lr':>8} {'final f':>12}  result"]
        for run in self.runs:
            lines.append(f"{run.optimizer:<13} {run.lr:>8g} {run.losses[-1].item():>12.4g}  {run.label}")
        return "\n".join(lines)

    def figure(self) -> Figure | None:
        """The objective with every run's path; a diverged run is drawn up to its last point before
        divergence, so that one blown-up point does not stretch the axes. None unless 1 or 2 parameters."""
        from scaffold.problems.figures import plot_paths

        paths = {run.label: run.path[: run.diverged_at or None] for run in self.runs}
        return plot_paths(self.objective, paths, title="learning-rate study (figure 1.7)")


def run_study(
    objective: str | Objective,
    init: dict[str, float],
    lrs: Sequence[float],
    optimizers: Sequence[str] = ("sgd",),
    steps: int = 60,
    epsilon: float = 0.0,
    blowup: float = 10.0,
) -> Study:
    """Run ``objective`` from ``init`` once per (optimiser, η) for at most ``steps`` steps.

    ``optimizers`` are keys of OPTIMIZERS (``sgd``, ``momentum``: SGD with momentum 0.9, ``adam``).
    ``epsilon`` is the chapter's stopping rule (0: always take ``steps`` steps). Divergence (see the
    module docstring) ends that run and is recorded in it; the other runs go on.
    """
    unknown = [name for name in optimizers if name not in OPTIMIZERS]
    if unknown:
        raise ConfigError(f"unknown optimizer {unknown[0]!r}; choose from {', '.join(OPTIMIZERS)}")
    if not lrs or steps < 1 or blowup <= 0:
        raise ConfigError(
            f"need lrs, steps >= 1 and blowup > 0; got lrs={list(lrs)}, steps={steps}, blowup={blowup}"
        )
    runs = []
    with _quiet_lightning():
        for optimizer in optimizers:
            for lr in lrs:
                problem = _StudyProblem(objective, dict(init), lr, optimizer, epsilon)
                vectors = [name for name, value in problem.params.items() if value.numel() != 1]
                if vectors:  # its table and figure show one number per parameter
                    raise ConfigError(f"the study takes numbers, not lists: init {vectors[0]!r} is a list")
                runs.append(_fit(problem, optimizer, lr, steps, blowup))
    return Study(problem.objective, runs)


def save_study(study: Study, out: str | Path, logdir: str | Path | None = None) -> Path:
    """Write ``out/lr_study.png`` atomically; also log it to TensorBoard in ``logdir`` (default ``out``)."""
    figure = study.figure()
    if figure is None:
        raise ConfigError("the learning-rate study can only draw objectives of 1 or 2 scalar parameters")
    png = Path(out) / "lr_study.png"
    with atomic_path(png) as tmp:
        figure.savefig(tmp, dpi=120)
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(logdir or out)) as writer:
        writer.add_figure("lr_study", figure)
    return png


class _StudyProblem(ParameterProblem):
    """ParameterProblem with the study's optimiser instead of the default SGD."""

    def __init__(self, objective: str | Objective, init: dict, lr: float, optimizer: str, epsilon: float):
        super().__init__(objective, init, lr=lr, epsilon=epsilon, figure=False)
        self.optimizer_name = optimizer

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """The optimiser this run of the study compares."""
        return OPTIMIZERS[self.optimizer_name][1](self.parameters(), self.lr)


class _Recorder(L.Callback):
    """Records each point and its objective value; raises DivergenceError when the run blows up."""

    def __init__(self, blowup: float) -> None:
        self.blowup = blowup
        self.path: list[Tensor] = []
        self.losses: list[float] = []

    def record(self, pl_module: ParameterProblem) -> float:
        """Append the current point and its objective value; return the value."""
        with torch.no_grad():
            value = pl_module().item()
        self.path.append(flat_parameters(pl_module))
        self.losses.append(value)
        return value

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        """The starting point."""
        self.record(pl_module)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int
    ) -> None:
        """The point after this step, checked against the divergence rule."""
        value, start = self.record(pl_module), self.losses[0]
        if not math.isfinite(value):
            raise DivergenceError(f"the objective is {value}")
        if value > start + self.blowup * max(abs(start), 1.0):
            raise DivergenceError(f"the objective grew from {start:.4g} to {value:.4g}")


def _fit(problem: ParameterProblem, optimizer: str, lr: float, steps: int, blowup: float) -> Run:
    recorder = _Recorder(blowup)
    trainer = L.Trainer(
        accelerator="cpu",  # a few scalars: a GPU would only add transfers and syncs
        max_epochs=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder],
    )
    diverged_at, reason = None, ""
    try:
        trainer.fit(problem)
    except DivergenceError as error:
        diverged_at, reason = trainer.current_epoch + 1, str(error)  # one step per epoch
    return Run(
        optimizer,
        lr,
        list(problem.params),
        torch.stack(recorder.path),
        torch.tensor(recorder.losses, dtype=torch.float64),
        diverged_at,
        reason,
    )


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    # Each run builds a Trainer; its banner ("GPU available: ...") and the few-workers hint would
    # repeat once per run and bury the study's own output.
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            yield
    finally:
        logger.setLevel(level)
