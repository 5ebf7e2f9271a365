"""Let fit's validation finish before a SIGTERM / Ctrl-C stop, so the resumed run logs it.

Lightning stops on SIGTERM between batches, validation batches included. A run stopped inside the
end-of-epoch validation has trained the whole epoch, and Lightning 2.6 resumes it at the next
epoch without validating the finished one: the resumed run's weights are right, but that epoch's
``val/*`` values never reach the log. Holding the stop until validation ends makes Lightning stop
right after it, with every value logged and ``last.ckpt`` saved, as an uninterrupted run has them.
A second Ctrl-C still interrupts at once (scaffold's CLI turns it into a KeyboardInterrupt).

Lightning's handler sets a flag that it checks after each validation batch's hooks. Taking the flag
back in a hook races with a SIGTERM that lands between that hook and the check (about 1 run in 20
of ``tests/test_classifier_resume.py``'s real SIGTERM lost its epoch's ``val/*``), so during fit's
validation the SIGTERM handler itself is replaced by one that only records the signal; Lightning's
handler is put back, and handed the signal, when validation ends (Lightning's own teardown puts
the handlers back if validation never ends).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from lightning.pytorch.trainer.states import TrainerFn


class FinishValidationFirst:
    """LightningModule mixin: defers Lightning's between-batches stop from validation to its end.

    Module hooks rather than a Callback: Lightning runs them after every callback's hook, right
    before its stop check, and a Callback would add its own call to every hook of every step.
    """

    _stop_held = False  # the stop flag, taken back from Lightning until validation ends
    _sigterm_held = False  # a SIGTERM that arrived during validation, not yet handed to Lightning
    _sigterm_handler: Any = None  # Lightning's, while validation holds SIGTERM

    def on_validation_start(self) -> None:
        """During fit's validation, a SIGTERM is only recorded (main thread: handlers live there)."""
        if self.trainer.state.fn != TrainerFn.FITTING:
            return
        if threading.current_thread() is threading.main_thread():
            # Replaced before the flag is read: a SIGTERM lands either in the flag or in the record.
            self._sigterm_handler = signal.signal(signal.SIGTERM, self._hold_sigterm)
        self._take_back_stop()

    def _hold_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self._sigterm_held = True

    def on_validation_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Take back a stop requested otherwise (Ctrl-C through scaffold's CLI); Lightning checks next."""
        if self.trainer.state.fn == TrainerFn.FITTING:
            self._take_back_stop()

    def on_validation_end(self) -> None:
        """Hand the held stop back: Lightning stops after validation, at its next check."""
        handler, self._sigterm_handler = self._sigterm_handler, None
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)
        if self._sigterm_held:
            self._sigterm_held = False
            if callable(handler):
                handler(signal.SIGTERM, None)  # as if it arrived now: Lightning logs it, sets its flag
            else:
                self._stop_held = True
        if self._stop_held:
            self._stop_held = False
            self.trainer._signal_connector.received_sigterm = True

    def _take_back_stop(self) -> None:
        trainer = self.trainer
        if trainer.received_sigterm:
            trainer._signal_connector.received_sigterm = False
            self._stop_held = True
