"""python examples/fit_with_lightning.py

Chapter 1.4 through scaffold: the same problem as a LightningModule (``ParameterProblem``)
trained by a Lightning ``Trainer``, one SGD step per epoch, 60 epochs.
The CLI equivalent: ``scaffold fit --config configs/quadratic.yaml``.
"""

from __future__ import annotations

import lightning as L
import torch

from scaffold import ParameterProblem


def fit(epochs: int = 60) -> torch.Tensor:
    """Train x from -3.5 on (x - 2)^2 with SGD, lr 0.1; return x as the chapter prints it."""
    problem = ParameterProblem("quadratic", init={"x": [-3.5]}, lr=0.1, epsilon=0.0, figure=False)
    trainer = L.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(problem)
    return problem.params["x"].data


def main() -> None:
    """Print the parameter after 60 epochs: tensor([2.0000])."""
    print(fit())


if __name__ == "__main__":
    main()
