"""The fast data paths train exactly like the simple one (issue 6).

The simple path is the chapter's: a ``SimpleDataset`` whose ``__getitem__`` converts one row,
PyTorch's default collation stacking B of them, in the fast loader's order (the same
``EpochPermutation`` as the DataLoader's sampler). The fast paths are the DataModule's train
loader (one numpy index per batch, pass-through collate; in process or with 2 workers) and
``--data.on_device`` (the split resident as tensors, batches cut by index).
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from scaffold.data import DataModule
from scaffold.data.sampling import EpochPermutation
from scaffold.models import Classifier

EPOCHS, BATCH = 3, 64


class SimpleDataset(Dataset):
    """The chapter's SimpleDataset over a DataModule part: one row per call, default collation."""

    def __init__(self, part: Dataset) -> None:
        self.part = part

    def __getitem__(self, index: int):
        return self.part[index]

    def __len__(self) -> int:
        return len(self.part)


class SimpleData(L.LightningDataModule):
    """The digits split of ``DataModule("digits")``, loaded the simple way."""

    def __init__(self) -> None:
        super().__init__()
        self.source = DataModule("digits", batch_size=BATCH)
        self.source.setup("fit")

    def train_dataloader(self) -> DataLoader:
        order = EpochPermutation(len(self.source.train_set), seed=self.source.hparams.seed)
        return DataLoader(SimpleDataset(self.source.train_set), batch_size=BATCH, sampler=order)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(SimpleDataset(self.source.val_set), batch_size=BATCH)


class BatchRecorder(L.Callback):
    def __init__(self) -> None:
        self.labels: list[torch.Tensor] = []
        self.devices: set[str] = set()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.labels.append(batch[1].cpu().clone())
        self.devices.add(batch[0].device.type)


def train(data: L.LightningDataModule, tmp_path, accelerator: str = "cpu") -> tuple[dict, BatchRecorder]:
    L.seed_everything(0)
    model = Classifier(hidden=(32,), lr=3e-3, num_features=64, num_classes=10)  # built now: same init
    recorder = BatchRecorder()
    trainer = L.Trainer(
        accelerator=accelerator,
        max_epochs=EPOCHS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[recorder],
    )
    trainer.fit(model, data)
    return {name: value.cpu() for name, value in model.net.state_dict().items()}, recorder


@pytest.fixture(scope="module")
def simple(tmp_path_factory):
    return train(SimpleData(), tmp_path_factory.mktemp("simple"))


@pytest.mark.parametrize(
    "options", [{}, {"num_workers": 2}, {"on_device": True}], ids=["in-process", "2-workers", "on-device"]
)
def test_fast_paths_train_the_same_weights_on_the_same_batches(simple, tmp_path, options):
    weights, recorder = train(DataModule("digits", batch_size=BATCH, **options), tmp_path)
    simple_weights, simple_recorder = simple
    labels, simple_labels = recorder.labels, simple_recorder.labels
    assert len(labels) == len(simple_labels) == EPOCHS * 23  # ceil(1438 / 64) batches per epoch
    assert all(torch.equal(a, b) for a, b in zip(labels, simple_labels, strict=True))
    assert not torch.equal(labels[0], labels[23])  # each epoch has its own order
    for name, value in simple_weights.items():
        assert torch.equal(weights[name], value), name


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: torch.cuda.is_available() is False")
def test_on_device_batches_are_cut_on_the_gpu_and_train_like_host_batches(tmp_path):
    host_weights, host = train(DataModule("digits", batch_size=BATCH), tmp_path, accelerator="gpu")
    weights, resident = train(
        DataModule("digits", batch_size=BATCH, on_device=True), tmp_path, accelerator="gpu"
    )
    assert resident.devices == {"cuda"}
    assert all(torch.equal(a, b) for a, b in zip(resident.labels, host.labels, strict=True))
    for name, value in host_weights.items():
        torch.testing.assert_close(weights[name], value, rtol=0, atol=1e-6)
