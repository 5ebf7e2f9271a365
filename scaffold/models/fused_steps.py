"""Several optimiser steps per Lightning ``training_step`` call: the fused-steps fast path.

Lightning's training loop costs a fixed ~0.8 ms per ``training_step`` call on 2 CPU cores (hooks,
the optimisation closure, progress counters, batch transfer): half the time of a 784-256-10 MLP
step on a 256-row batch. With ``steps_per_call = K > 1`` the module takes Lightning's
``dataloader_iter`` (the step flavour Lightning provides for steps that fetch their own batches)
and trains on up to K batches per call, one optimiser step each, so that fixed cost is paid once
per K batches. Afterwards it counts the extra batches into Lightning's progress, so
``global_step``, the progress bar, the logger's step axis, ``max_steps`` and mid-epoch checkpoints
see batches exactly as with K = 1: the same batches, the same weights, the same logged values.

What changes with K > 1 (and is refused at fit start where it would silently differ):

* ``on_train_batch_start`` / ``on_train_batch_end`` run once per call, not per batch;
  ``on_before_backward``, ``on_after_backward``, ``on_before_optimizer_step`` and the
  batch-transfer hooks are not called (with ``16-mixed`` the steps go through Lightning's manual
  optimisation API, which calls all but the transfer hooks and applies the gradient scaler).
* Refused: gradient clipping, gradient accumulation, more than one device or process,
  ``val_check_interval`` other than once per epoch, and ``ReduceLROnPlateau`` (Lightning drops its
  ``monitor`` under manual optimisation). Other schedulers step as in Lightning's own loop.
* A stop request (Ctrl-C, SIGTERM) is answered after the call, up to K - 1 batches later.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor

from scaffold.errors import ConfigError


class FusedSteps:
    """LightningModule mixin: ``steps_per_call`` optimiser steps per Lightning ``training_step`` call.

    The module provides ``train_loss(batch)`` (forward and loss of one batch, any metric updates
    included) and calls :meth:`fuse_steps` from ``__init__``; with K = 1 nothing changes.
    """

    steps_per_call = 1
    fusing = False  # True while a fused call runs its batches

    def fuse_steps(self, steps_per_call: int) -> None:
        """Train on ``steps_per_call`` batches per Lightning call (1: Lightning's own loop)."""
        if steps_per_call < 1:
            raise ConfigError(f"model.steps_per_call must be >= 1, got {steps_per_call}")
        self.steps_per_call = steps_per_call
        if steps_per_call > 1:
            self.automatic_optimization = False
            # Lightning picks the fetcher by the step's signature: a `dataloader_iter` parameter
            # hands the step the iterator itself.
            self.training_step = self.fused_training_step
            self.validation_step = self.fused_validation_step
            # Its two "experimental flavour" warnings: the caveats they name are handled here.
            warnings.filterwarnings("ignore", message=".*`dataloader_iter` (step flavor|argument)")

    def train_loss(self, batch: Any) -> Tensor:
        """The loss of one training batch (the module's own ``training_step`` computes the same)."""
        raise NotImplementedError

    def end_fused_call(self) -> None:
        """Called after each fused call's last step: flush what the steps collected (default: nothing)."""

    def check_fused_steps(self) -> None:
        """Refuse, before fit starts, the Trainer options that K > 1 would silently change."""
        trainer = self.trainer
        if self.steps_per_call == 1 or trainer.state.fn != TrainerFn.FITTING:
            return
        clashes = []
        if trainer.gradient_clip_val:
            clashes.append(f"trainer.gradient_clip_val {trainer.gradient_clip_val}")
        if trainer.accumulate_grad_batches != 1:
            clashes.append(f"trainer.accumulate_grad_batches {trainer.accumulate_grad_batches}")
        if not isinstance(trainer.strategy, SingleDeviceStrategy):
            clashes.append(f"a {type(trainer.strategy).__name__} (more than one device or process)")
        interval = trainer.val_check_interval
        if not (isinstance(interval, float) and interval == 1.0):  # an int counts batches: 1 is every batch
            clashes.append(f"trainer.val_check_interval {interval}")
        if clashes:
            raise ConfigError(
                f"model.steps_per_call {self.steps_per_call} steps the optimiser itself and cannot be "
                f"combined with {', '.join(clashes)}; remove it or use --model.steps_per_call 1"
            )

    def check_fused_schedulers(self) -> None:
        """Refuse ReduceLROnPlateau (call from ``on_train_start``: schedulers exist only then).

        Under manual optimisation Lightning drops a scheduler's ``monitor``, so the value it would
        step on is not known here.
        """
        if self.steps_per_call > 1 and any(
            isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
            for config in self.trainer.lr_scheduler_configs
        ):
            raise ConfigError(
                f"model.steps_per_call {self.steps_per_call} cannot step ReduceLROnPlateau (Lightning drops "
                f"its monitor under manual optimisation); use another scheduler or --model.steps_per_call 1"
            )

    def fused_training_step(self, dataloader_iter: Iterator) -> Tensor | None:
        """Up to ``steps_per_call`` batches from Lightning's iterator, one optimiser step each."""
        trainer = self.trainer
        loop = trainer.fit_loop.epoch_loop
        # Looked up once per call: each lookup through the Trainer costs microseconds per step.
        optimizer = self.optimizers()
        scaled = getattr(trainer.precision_plugin, "scaler", None) is not None
        progress = loop.manual_optimization.optim_step_progress
        every, max_steps = trainer.log_every_n_steps, trainer.max_steps
        schedulers = [config for config in trainer.lr_scheduler_configs if config.interval == "step"]
        to_device = self._batch_mover()
        first_index = loop.batch_progress.current.ready - 1  # Lightning counted this call's first batch
        step = self.global_step
        steps, loss = 0, None
        self.fusing = True
        while (
            steps < self.steps_per_call and not dataloader_iter.done and (max_steps == -1 or step < max_steps)
        ):
            try:
                batch, _, _ = next(dataloader_iter)
            except StopIteration:  # a loader without a length finds its end only here
                break
            loss = self.train_loss(to_device(batch))
            if scaled:
                # 16-mixed: Lightning's manual-optimisation API scales the loss and unscales the gradients.
                optimizer.zero_grad()
                self.manual_backward(loss)
                optimizer.step()
            else:
                # The torch optimiser itself: Lightning's wrappers cost ~0.1 ms per step here.
                optimizer.optimizer.zero_grad()
                loss.backward()
                optimizer.optimizer.step()
                progress.increment_ready()
                progress.increment_completed()  # global_step
            if every and (step + 1) % every == 0:
                self._log_step_loss(loss, step)
            step += 1
            steps += 1
            for config in schedulers:  # frequency counts the batches of the epoch, as Lightning's does
                if (first_index + steps) % config.frequency == 0:
                    self.lr_scheduler_step(config.scheduler, None)
        self.fusing = False
        self.end_fused_call()
        if steps > 1:
            # Lightning counts one batch per call; the rest go in here, so that global-step-based
            # logging, progress and resuming count batches as they do with steps_per_call 1.
            loop.batch_progress.increment_by(steps - 1, is_last_batch=dataloader_iter.done)
            loop._batches_that_stepped += steps - 1
        if dataloader_iter.done:
            for config in trainer.lr_scheduler_configs:
                if config.interval == "epoch" and (trainer.current_epoch + 1) % config.frequency == 0:
                    self.lr_scheduler_step(config.scheduler, None)
        return loss

    def fused_validation_step(self, dataloader_iter: Iterator) -> None:
        """Up to ``steps_per_call`` validation batches, each through the class's ``validation_step``."""
        to_device = self._batch_mover()
        validation_step = type(self).validation_step
        self.fusing = True
        for _ in range(self.steps_per_call):
            if dataloader_iter.done:
                break
            try:
                batch, batch_idx, _ = next(dataloader_iter)
            except StopIteration:
                break
            validation_step(self, to_device(batch), batch_idx)
        self.fusing = False
        self.end_fused_call()

    def _log_step_loss(self, loss: Tensor, step: int) -> None:
        # Lightning's loop would log it at this step (its logger step counts batches before this one).
        loss = loss.detach()
        self.trainer.callback_metrics["train/loss"] = loss
        metrics = {"train/loss": loss.item(), "epoch": self.current_epoch}
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step)

    def _batch_mover(self) -> Callable[[Any], Any]:
        convert, device = self.trainer.precision_plugin.convert_input, self.device

        def to_device(batch: Any) -> Any:
            return tuple(
                t.to(device, non_blocking=True) if isinstance(t, Tensor) else t for t in convert(batch)
            )

        return to_device
