"""Stop a classifier's fit once its weights are no longer finite.

A learning rate far too large, or NaN / infinite values in the data, turn the weights into NaN
within a few steps, after which training goes on silently and every checkpoint holds NaN. Checked
once per epoch (one host sync), before the epoch's validation and checkpoints.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn

from scaffold.checkpointing import weights_finite
from scaffold.errors import DivergenceError


def stop_if_diverged(module: L.LightningModule) -> None:
    """Raise DivergenceError during fit if a parameter of ``module`` is NaN or infinite."""
    trainer = module._trainer  # None when the hook is called by hand, outside a Trainer
    if trainer is None or trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking:
        return
    if weights_finite(module):
        return
    lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
    raise DivergenceError(
        f"training diverged in epoch {trainer.current_epoch} (step {trainer.global_step}"
        + (f", lr={lr:g}" if lr is not None else "")
        + "): the weights are no longer finite; try a smaller learning rate (--model.lr or "
        "--optimizer.lr) and check the data for NaN or infinite values"
    )
