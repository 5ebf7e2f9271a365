"""Let fit's validation finish before a SIGTERM / Ctrl-C stop, so the resumed run logs it.

Lightning stops on SIGTERM between batches, validation batches included. A run stopped inside the
end-of-epoch validation has trained the whole epoch, and Lightning 2.6 resumes it at the next
epoch without validating the finished one: the resumed run's weights are right, but that epoch's
``val/*`` values never reach the log. Holding the stop until validation ends makes Lightning stop
right after it, with every value logged and ``last.ckpt`` saved, as an uninterrupted run has them.
A second Ctrl-C still interrupts at once (scaffold's CLI turns it into a KeyboardInterrupt).
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.trainer.states import TrainerFn


class FinishValidationFirst:
    """LightningModule mixin: defers Lightning's between-batches stop from validation to its end.

    Module hooks rather than a Callback: Lightning runs them after every callback's hook, right
    before its stop check, and a Callback would add its own call to every hook of every step.
    """

    _stop_held = False

    def on_validation_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Take back a stop requested during fit's validation (Lightning checks right after this hook)."""
        trainer = self.trainer
        if trainer.state.fn == TrainerFn.FITTING and trainer.received_sigterm:
            trainer._signal_connector.received_sigterm = False
            self._stop_held = True

    def on_validation_end(self) -> None:
        """Hand the held stop back: Lightning stops after validation, at its next check."""
        if self._stop_held:
            self.trainer._signal_connector.received_sigterm = True
            self._stop_held = False
