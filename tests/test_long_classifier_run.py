"""A 30-epoch digits run (configs/digits.yaml, with logging and checkpoints) keeps memory flat (issue 7)."""

from __future__ import annotations

import lightning as L
import pytest
from conftest import resident_kib

pytestmark = pytest.mark.slow

WARM_UP = 5


class MemoryProbe(L.Callback):
    """VmRSS after every training epoch (with its validation, logging and checkpoints)."""

    def __init__(self) -> None:
        self.rss: list[int] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.rss.append(resident_kib())


def test_a_30_epoch_digits_run_keeps_memory_flat(tmp_path):
    from scaffold.data import DataModule
    from scaffold.models import Classifier

    probe = MemoryProbe()
    L.seed_everything(0)
    trainer = L.Trainer(
        max_epochs=30,
        log_every_n_steps=10,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[probe],
    )
    trainer.fit(Classifier(hidden=(256,), lr=0.003), DataModule("digits", batch_size=64))
    assert trainer.current_epoch == 30 and len(probe.rss) == 30
    warm, peak, end = probe.rss[WARM_UP - 1], max(probe.rss[WARM_UP - 1 :]), probe.rss[-1]
    mib = [f"{kib / 1024:.1f} MiB" for kib in (warm, peak, end)]
    print(f"RSS after epoch {WARM_UP} {mib[0]}, peak after it {mib[1]}, after epoch 30 {mib[2]}")
    assert peak < 1.10 * warm
