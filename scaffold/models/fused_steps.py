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

* ``on_train_batch_start`` / ``on_train_batch_end`` run once per call, not per batch, so per-batch
  callbacks (``ModelCheckpoint(every_n_train_steps=N)``, ``LearningRateMonitor`` per step) act
  only when a call ends on their step; ``on_before_backward``, ``on_after_backward``,
  ``on_before_zero_grad``, ``on_before_optimizer_step`` and the batch-transfer hooks are not called
  (with ``16-mixed`` the steps go through Lightning's manual optimisation API, which calls all but
  the transfer hooks and applies the gradient scaler).
* Refused: gradient clipping, gradient accumulation, more than one device or process,
  ``val_check_interval`` other than once per epoch, ``ReduceLROnPlateau`` (Lightning drops its
  ``monitor`` under manual optimisation), more than one optimiser, a train loader without a
  length, a module's own ``optimizer_step`` / ``optimizer_zero_grad`` / ``backward``, and a
  ``training_step`` overridden below ``train_loss`` (the fused steps call only ``train_loss``).
  Other schedulers step as in Lightning's own loop.
* A stop request (Ctrl-C, SIGTERM) is answered after the call, up to K - 1 batches later.
* A checkpoint saved with one K resumes with another (see :meth:`FusedSteps.on_load_checkpoint`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor

from scaffold.errors import ConfigError
from scaffold.overrides import replaced_since

# LightningModule hooks of Lightning's optimisation loop that the fused steps do not go through.
BYPASSED_HOOKS = ("optimizer_step", "optimizer_zero_grad", "backward")


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

    def check_fused_steps(self, trainer: Any = None) -> None:
        """Refuse, before fit starts, the Trainer options that K > 1 would silently change.

        ``trainer``: the Trainer about to fit, to check before the module is attached to it (the CLI
        does, in the launching process: under ``ddp_spawn`` the module's own check runs in others).
        """
        if trainer is None:
            trainer = self.trainer
            if trainer.state.fn != TrainerFn.FITTING:
                return
        if self.steps_per_call == 1:
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
        hooks = [name for name in BYPASSED_HOOKS if is_overridden(name, self)]
        if hooks:
            clashes.append(f"the module's own {', '.join(hooks)} (the fused steps do not call it)")
        if replaced_since(type(self), "training_step", "train_loss"):
            clashes.append("its own training_step (the fused steps train on train_loss; change that instead)")
        if clashes:
            raise ConfigError(
                f"model.steps_per_call {self.steps_per_call} steps the optimiser itself and cannot be "
                f"combined with {', '.join(clashes)}; remove it or use --model.steps_per_call 1"
            )

    def check_fused_training(self) -> None:
        """Refuse what only exists once training starts (call from ``on_train_start``).

        ReduceLROnPlateau: under manual optimisation Lightning drops a scheduler's ``monitor``, so
        the value it would step on is not known. A train loader without a length: the epoch's last
        call could find no batch left, which Lightning would still count as one.
        """
        trainer = self.trainer
        if self.steps_per_call == 1:
            return
        clashes = []
        if any(
            isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
            for config in trainer.lr_scheduler_configs
        ):
            clashes.append("ReduceLROnPlateau (Lightning drops its monitor under manual optimisation)")
        if len(trainer.optimizers) != 1:
            clashes.append(f"{len(trainer.optimizers)} optimisers (it steps exactly one)")
        if trainer.num_training_batches == float("inf"):
            clashes.append("a train loader without a length")
        if clashes:
            raise ConfigError(
                f"model.steps_per_call {self.steps_per_call} cannot train with {'; '.join(clashes)}; "
                f"use --model.steps_per_call 1"
            )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Let a run resume with another ``steps_per_call`` than the one that saved it.

        Lightning counts optimiser steps (``global_step``) in one of two counters, chosen by
        ``automatic_optimization``; a checkpoint has the other one at 0. Both get the count.
        """
        loop = checkpoint.get("loops", {}).get("fit_loop", {})
        automatic = loop.get("epoch_loop.automatic_optimization.optim_progress", {}).get("optimizer", {})
        manual = loop.get("epoch_loop.manual_optimization.optim_step_progress")
        if "step" not in automatic or manual is None:
            return
        for part in ("total", "current"):
            for key in ("ready", "completed"):
                count = max(automatic["step"][part][key], manual[part][key])
                automatic["step"][part][key] = manual[part][key] = count

    def fused_training_step(self, dataloader_iter: Iterator) -> Tensor | None:
        """Up to ``steps_per_call`` batches from Lightning's iterator, one optimiser step each."""
        trainer = self.trainer
        loop = trainer.fit_loop.epoch_loop
        # Looked up once per call: each lookup through the Trainer costs microseconds per step.
        optimizer = self.optimizers()
        torch_optimizer = optimizer.optimizer
        scaled = getattr(trainer.precision_plugin, "scaler", None) is not None
        progress = loop.manual_optimization.optim_step_progress
        every, max_steps = trainer.log_every_n_steps, trainer.max_steps
        schedulers = [config for config in trainer.lr_scheduler_configs if config.interval == "step"]
        to_device = self._batch_mover()
        first_index = loop.batch_progress.current.ready - 1  # Lightning counted this call's first batch
        step = self.global_step
        steps, loss, finished = 0, None, False
        self.fusing = True
        try:
            while (
                steps < self.steps_per_call
                and not dataloader_iter.done
                and (max_steps == -1 or step < max_steps)
            ):
                batch, _, _ = next(dataloader_iter)
                loss = self.train_loss(to_device(batch))
                if scaled:
                    # 16-mixed: Lightning's manual-optimisation API scales the loss, unscales the gradients.
                    optimizer.zero_grad()
                    self.manual_backward(loss)
                    optimizer.step()
                else:
                    # The torch optimiser itself: Lightning's wrappers cost ~0.1 ms per step here.
                    torch_optimizer.zero_grad()
                    loss.backward()
                    torch_optimizer.step()
                    progress.increment_ready()
                    progress.increment_completed()  # global_step, read by the module's own code too
                if every and (step + 1) % every == 0:
                    self._log_step_loss(loss, step)
                step += 1
                steps += 1
                for config in schedulers:  # frequency counts the batches of the epoch, as Lightning's does
                    if (first_index + steps) % config.frequency == 0:
                        self.lr_scheduler_step(config.scheduler, None)
            finished = True
        finally:
            # Also on an exception: a checkpoint written then (a second Ctrl-C) must count what was trained.
            self.fusing = False
            self.end_fused_call()
            # Lightning counts one batch per call, and only a call that returns; the rest go in here,
            # so that logging steps, progress and resuming count batches as with steps_per_call 1.
            extra = steps - 1 if finished else steps
            if extra > 0:
                loop.batch_progress.increment_by(extra, is_last_batch=dataloader_iter.done)
                loop._batches_that_stepped += extra
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
        try:
            for _ in range(self.steps_per_call):
                if dataloader_iter.done:
                    break
                batch, batch_idx, _ = next(dataloader_iter)
                validation_step(self, to_device(batch), batch_idx)
        finally:
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
            batch = convert(batch)
            if type(batch) is tuple:  # the scaffold's (inputs, targets): the short way
                return tuple(t.to(device, non_blocking=True) if isinstance(t, Tensor) else t for t in batch)
            return move_data_to_device(batch, device)

        return to_device
