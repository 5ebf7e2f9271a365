"""Classifier: a LightningModule ("system") that trains an MLP ("component") with cross-entropy.

Input size and class count come from the DataModule in ``setup`` and are stored in the
hyperparameters, so a checkpoint rebuilds the same network without the data. Each fit keeps
``last.ckpt`` and the best checkpoint by ``val/acc`` (``best-epoch<E>-acc<A>.ckpt``) in the run folder.

Example::

    from lightning import Trainer
    from scaffold.data import DataModule
    from scaffold.models import Classifier

    model = Classifier(hidden=(256,), lr=1e-3)
    Trainer(max_epochs=10).fit(model, DataModule("digits"))
    Classifier.load_from_checkpoint("last.ckpt")  # no data needed
"""

from __future__ import annotations

import warnings
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.aggregation import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from scaffold.checkpointing import (
    best_checkpoint,
    checkpoints_wanted,
    last_checkpoint,
    prepare_callback_states,
    with_users_checkpoints,
)
from scaffold.errors import ConfigError
from scaffold.models.divergence import stop_if_diverged
from scaffold.models.fused_steps import FusedSteps
from scaffold.models.images import image_grid
from scaffold.models.mlp import MLP
from scaffold.models.stops import FinishValidationFirst

Batch = tuple[Tensor, Tensor]


_SIZES = "classifier_sizes"  # a checkpoint's record of (num_features, num_classes)
# Under DDP Lightning suggests sync_dist=True for epoch values; these are torchmetrics' compute(),
# already reduced over every rank (a second reduction would only add rounding).
warnings.filterwarnings(
    "ignore", message=r"It is recommended to use `self\.log\('((train|val|test)/(loss|acc)|hp_metric)'"
)


class Classifier(FusedSteps, FinishValidationFirst, L.LightningModule):
    """Train an MLP on a DataModule's batches; logs ``{train,val,test}/{loss,acc}``.

    Accuracies are per epoch; ``train/loss`` per ``log_every_n_steps`` steps; val and test
    losses are epoch means. A SIGTERM / Ctrl-C during fit's validation waits for its end
    (:class:`~scaffold.models.stops.FinishValidationFirst`), so a resumed run logs the same values.

    Args:
        hidden: hidden layer sizes of the MLP; empty is softmax regression.
        lr: the learning rate η of the default optimiser, ``torch.optim.Adam`` (``--optimizer`` replaces it).
        num_features: inputs per row; default: the DataModule's ``num_features`` (set from it in ``setup``).
        num_classes: number of classes; default: the DataModule's ``num_classes``.
        sample_images: when the inputs are images, log a grid of this many training inputs to
            TensorBoard at the start of fit (0 disables it).
        steps_per_call: batches (and optimiser steps) per Lightning ``training_step`` call; more
            than 1 spreads Lightning's fixed per-call cost over them, with the same batches and
            weights (see :mod:`scaffold.models.fused_steps` for what it does not combine with).
    """

    # How to run it, not what it is: a checkpoint's saved values do not replace the command line's.
    runtime_args = ("steps_per_call", "sample_images")

    def __init__(
        self,
        hidden: tuple[int, ...] = (256,),
        lr: float = 1e-3,
        num_features: int | None = None,
        num_classes: int | None = None,
        sample_images: int = 64,
        steps_per_call: int = 1,
    ) -> None:
        super().__init__()
        if lr <= 0:
            raise ConfigError(f"model.lr must be > 0, got {lr}")
        if any(size < 1 for size in hidden):
            raise ConfigError(f"model.hidden sizes must be >= 1, got {list(hidden)}")
        self.save_hyperparameters()
        # Read from here, not from hparams: under LightningCLI a subclass's hparams hold only its own
        # __init__ arguments, which need not include these.
        self.hidden, self.lr, self.sample_images = tuple(hidden), lr, sample_images
        self.fuse_steps(steps_per_call)
        # A fused call's (accuracy, predicted ids, targets); a list, so the metric is not made a submodule.
        self._pending: list[tuple[MulticlassAccuracy, Tensor, Tensor]] = []
        # The evaluation epoch's batch losses and sizes, counted into val/test loss at its end.
        self._eval_losses: list[tuple[Tensor, int]] = []
        self.net: MLP | None = None
        self.sizes: tuple[int, int] | None = None  # (num_features, num_classes), once the network exists
        self.image_shape: tuple[int, int] | None = None
        if num_features is not None and num_classes is not None:
            self._build(num_features, num_classes)

    def _build(self, num_features: int, num_classes: int) -> None:
        self.sizes = (int(num_features), int(num_classes))
        # For load_from_checkpoint; a subclass may not take them (its CLI hparams are its own arguments).
        if "num_features" in self.hparams:
            self.hparams.num_features, self.hparams.num_classes = self.sizes
        self.net = MLP(num_features, num_classes, self.hidden)
        # One metric object per stage; validate_args=False keeps update() free of checks and host syncs.
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(num_classes, average="micro", validate_args=False) for _ in range(3)
        )
        # Evaluation losses are averaged here and logged once per epoch: a self.log per batch cost
        # ~0.5 ms here, more than the validation step itself. They take the epoch's batch losses in
        # one update (_eval_loss_mean): one update per batch cost ~60 us, and one sum over the epoch
        # is the same float for every steps_per_call. nan_strategy NaN: a NaN batch loss makes the
        # mean NaN (a diverged run shows it); "disable" would also drop the weights (torchmetrics 1.9).
        self.val_loss, self.test_loss = (MeanMetric(nan_strategy=float("nan")) for _ in range(2))
        # Saved with the weights: a run resumed mid-epoch logs the same train/acc for that epoch.
        self.train_acc.persistent(True)

    def setup(self, stage: str) -> None:
        """Size the network from the DataModule (or check a checkpoint's size against it)."""
        datamodule = self.trainer.datamodule
        if datamodule is not None:
            self.size_for(datamodule)
        if self.net is None:
            raise ConfigError(
                "Classifier needs model.num_features and model.num_classes, or a scaffold DataModule (--data)"
            )

    def size_for(self, datamodule: L.LightningDataModule) -> None:
        """Build the network for a set-up DataModule's data, or check that it fits that data.

        ``setup`` calls it; the CLI calls it earlier when ``--optimizer`` needs the parameters.
        """
        if not hasattr(datamodule, "num_features"):
            return
        found = (datamodule.num_features, datamodule.num_classes)
        if self.net is None:
            self._build(*found)
        elif found != self.sizes:
            raise ConfigError(
                f"the model has {self.sizes[0]} inputs and {self.sizes[1]} "
                f"classes but the data has {found[0]} and {found[1]}; use the data it was trained on"
            )
        self.image_shape = getattr(datamodule, "image_shape", None)  # a DataModule of the user's may lack it

    def forward(self, inputs: Tensor) -> Tensor:
        """Class scores (logits), shape ``(batch, num_classes)``."""
        return self.net(inputs)

    def _loss(self, batch: Batch, accuracy: MulticlassAccuracy, evaluating: bool = False) -> Tensor:
        inputs, targets = batch
        logits = self(inputs)
        loss = F.cross_entropy(logits, targets)
        if evaluating:
            self._eval_losses.append((loss.detach(), len(targets)))
        if self.fusing:
            # Counted once per fused call (end_fused_call): one update costs ~60 us here. The argmax
            # (the metric's own, the same ids) is taken now, while the logits are still in cache:
            # one argmax over a call's 32 x 256 rows took ~0.5 ms more per call, ~1% of figure 1.
            self._pending.append((accuracy, logits.argmax(dim=1), targets))
        else:
            accuracy.update(logits, targets)
        return loss

    def train_loss(self, batch: Batch) -> Tensor:
        """One batch's training loss (cross-entropy, plus a subclass's terms), counted into ``train/acc``."""
        return self._loss(batch, self.train_acc)

    def end_fused_call(self) -> None:
        """Count the call's predictions into their accuracy (the same counts as one update per batch)."""
        if self._pending:
            accuracies, predictions, targets = zip(*self._pending, strict=True)
            self._pending.clear()
            accuracies[0].update(torch.cat(predictions), torch.cat(targets))  # one stage per call

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Cross-entropy on one batch; logs ``train/loss`` every ``log_every_n_steps`` steps."""
        loss = self.train_loss(batch)
        # The logger only writes every n-th step; self.log on the others would be pure overhead.
        every = self.trainer.log_every_n_steps
        if every and (self.global_step + 1) % every == 0:
            self.log("train/loss", loss)
        return loss

    def on_train_epoch_start(self) -> None:
        """Start the epoch's accuracy from zero (a checkpoint may have carried counts over)."""
        self.train_acc.reset()

    def on_train_epoch_end(self) -> None:
        """Log ``train/acc`` over the epoch; stop if the weights diverged (before any checkpoint)."""
        self._log_epoch_value("train/acc", self.train_acc)
        stop_if_diverged(self)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """Accumulate the validation loss and accuracy (logged at the end of the epoch)."""
        self._loss(batch, self.val_acc, evaluating=True)

    def on_validation_epoch_start(self) -> None:
        """Start from zero (an exception may have left counts behind); during fit, stop if diverged."""
        stop_if_diverged(self)  # before the best checkpoint could keep NaN weights
        self._start_eval_epoch(self.val_acc, self.val_loss)

    def on_validation_epoch_end(self) -> None:
        """Log ``val/loss`` and ``val/acc`` over the whole validation set (all DDP ranks)."""
        self._log_epoch_value("val/loss", self._eval_loss_mean(self.val_loss))
        self.log("hp_metric", self._log_epoch_value("val/acc", self.val_acc, prog_bar=True), batch_size=1)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        """Accumulate the test loss and accuracy (logged at the end of the epoch)."""
        self._loss(batch, self.test_acc, evaluating=True)

    def on_test_epoch_start(self) -> None:
        """Start from zero, as validation does."""
        self._start_eval_epoch(self.test_acc, self.test_loss)

    def _start_eval_epoch(self, accuracy: MulticlassAccuracy, mean_loss: MeanMetric) -> None:
        self._eval_losses.clear()
        self._pending.clear()
        accuracy.reset()
        mean_loss.reset()

    def on_test_epoch_end(self) -> None:
        """Log ``test/loss`` and ``test/acc`` over the whole test set."""
        self._log_epoch_value("test/loss", self._eval_loss_mean(self.test_loss))
        self._log_epoch_value("test/acc", self.test_acc)

    def _eval_loss_mean(self, mean_loss: MeanMetric) -> MeanMetric:
        # The batch losses weighted by batch size, in one update (a rank may have had no batch).
        if self._eval_losses:
            losses, sizes = zip(*self._eval_losses, strict=True)
            self._eval_losses.clear()
            # In the metric's dtype: as bfloat16 (bf16-true losses), a batch of 257 rows would weigh 256.
            weights = torch.tensor(sizes, dtype=mean_loss.dtype, device=losses[0].device)
            mean_loss.update(torch.stack(losses), weight=weights)
        return mean_loss

    def _log_epoch_value(self, name: str, metric: Metric, prog_bar: bool = False) -> Tensor:
        # compute() gathers the counts from every DDP rank once per epoch; logging the Metric object
        # itself instead would cost Lightning a device move of the metric on every step.
        value = metric.compute()
        # One value per epoch: batch_size weighs nothing, but Lightning cannot infer it under steps_per_call.
        self.log(name, value, prog_bar=prog_bar, batch_size=1)
        metric.reset()
        return value

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """The predicted class id of each row."""
        return self(batch[0]).argmax(dim=-1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam with the configured lr (``--optimizer`` on the CLI replaces it)."""
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def configure_callbacks(self) -> list[L.Callback]:
        """Keep ``last.ckpt`` (each epoch and on an interrupt) and the best checkpoint by ``val/acc``.

        A ModelCheckpoint given to the Trainer (``--trainer.callbacks+=ModelCheckpoint``) is kept too.
        """
        if self._trainer is not None:
            self.check_fused_steps()  # the first hook of fit, before Lightning checks the Trainer's options
        if not checkpoints_wanted(self._trainer):
            return []  # enable_checkpointing=False, or validate/test/predict
        # No automatic "val/acc=" prefix in the file name, so the '/' of the name never reaches it.
        best = best_checkpoint("val/acc", "max", "best-epoch{epoch}-acc{val/acc:.4f}")
        # Best first: last.ckpt, written after it at the same epoch end, then holds its updated state.
        return with_users_checkpoints(self._trainer, [best, last_checkpoint()])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the network's sizes, for a subclass that does not take them as arguments."""
        if self.net is not None:
            checkpoint[_SIZES] = list(self.sizes)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Build a data-sized network (``load_from_checkpoint``); read earlier checkpoints' states.

        See ``FusedSteps.on_load_checkpoint`` and ``prepare_callback_states``.
        """
        super().on_load_checkpoint(checkpoint)
        if self.net is None and _SIZES in checkpoint:
            self._build(*checkpoint[_SIZES])
        prepare_callback_states(checkpoint, self._trainer)

    def on_train_start(self) -> None:
        """Log a grid of training inputs to TensorBoard when they are images (the chapter's imshow)."""
        self.check_fused_training()
        count = self.sample_images
        experiment = getattr(self.logger, "experiment", None)
        if self.image_shape is None or count <= 0 or not hasattr(experiment, "add_image"):
            return
        dataset = self.trainer.datamodule.train_set
        inputs, _ = dataset.__getitems__(range(min(count, len(dataset))))
        grid = image_grid(inputs.reshape(-1, *self.image_shape))
        experiment.add_image("samples", grid, self.global_step, dataformats="HW")
