"""Long runs keep memory flat and their event files readable while they are being written."""

from __future__ import annotations

import lightning as L
import pytest
from conftest import read_scalars, resident_kib

pytestmark = pytest.mark.slow


class MemoryAndLogProbe(L.Callback):
    """Samples RSS every ``every`` epochs and reads the live event file once, mid-run."""

    def __init__(self, every: int, read_at: int) -> None:
        self.every, self.read_at = every, read_at
        self.rss: dict[int, int] = {}
        self.live_losses: list[tuple[int, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every == 0:
            self.rss[epoch] = resident_kib()
        if epoch == self.read_at:
            self.live_losses = read_scalars(trainer.log_dir, "train/loss")


def test_a_5000_epoch_problem_run_keeps_memory_flat(tmp_path):
    from scaffold import ParameterProblem

    probe = MemoryAndLogProbe(every=500, read_at=2500)
    trainer = L.Trainer(
        max_epochs=5000,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[probe],
    )
    trainer.fit(ParameterProblem("two_variable", init={"x": 0.2, "y": 10.0}, lr=0.01, epsilon=0.0))
    assert trainer.global_step == 5000
    warm, end = probe.rss[1000], probe.rss[5000]
    print(f"RSS after 1000 epochs {warm / 1024:.1f} MiB, after 5000 {end / 1024:.1f} MiB")
    assert end < 1.10 * warm
    # Read while the writer was open: complete up to its small write queue, steps in order.
    steps = [step for step, _ in probe.live_losses]
    assert steps == list(range(len(steps))) and len(steps) >= 2400
