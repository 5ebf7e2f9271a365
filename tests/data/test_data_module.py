"""DataModule: sources, seeded splits, loaders, memmap conversion (scaffold/data/datamodule.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scaffold.data import DataModule, as_batch
from scaffold.data.loaders import DeviceBatches, IndexBatches, ResumableLoader
from scaffold.data.synthetic import write_synthetic_mnist
from scaffold.errors import ConfigError, ScaffoldError


def ready(*args, **kwargs) -> DataModule:
    datamodule = DataModule(*args, **kwargs)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def test_digits_split_and_batches():
    dm = ready("digits", batch_size=32)
    assert (len(dm.train_set), len(dm.val_set)) == (1438, 359)
    assert dm.test_set is dm.val_set  # two fractions: the chapter's 20% held out is the test set
    assert (dm.num_features, dm.num_classes, dm.image_shape) == (64, 10, (8, 8))
    loader = dm.train_dataloader()
    assert isinstance(loader, IndexBatches) and loader.pin_memory is False  # no workers: no DataLoader
    assert loader.batch_size == 32 and len(loader) == 45  # ceil(1438 / 32)
    inputs, labels = next(iter(loader))
    assert inputs.shape == (32, 8, 8) and inputs.dtype == torch.float32 and labels.dtype == torch.int64
    assert sum(len(batch[1]) for batch in dm.val_dataloader()) == 359


def test_same_seed_same_split_other_seed_different():
    first, again, other = ready("digits", seed=3), ready("digits", seed=3), ready("digits", seed=4)
    assert np.array_equal(first.val_set.indices, again.val_set.indices)
    assert not np.array_equal(first.val_set.indices, other.val_set.indices)


def test_third_fraction_is_a_separate_test_set():
    dm = ready("digits", split=(0.7, 0.2, 0.1))
    parts = [set(dm.train_set.indices), set(dm.val_set.indices), set(dm.test_set.indices)]
    assert [len(p) for p in parts] == [1258, 360, 179]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_setup_twice_keeps_the_split():
    dm = ready("digits")
    indices = dm.train_set.indices
    dm.setup("test")
    assert dm.train_set.indices is indices


def test_mnist_from_idx_uses_its_own_test_set(tmp_path):
    write_synthetic_mnist(tmp_path, train=100, test=20)
    dm = ready("mnist", path=str(tmp_path))
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (80, 20, 20)
    assert dm.test_set is not dm.val_set and (dm.num_features, dm.image_shape) == (784, (28, 28))
    with pytest.raises(ConfigError, match=r"data.split \[0.6, 0.2, 0.2\] has a test fraction.*own test set"):
        ready("mnist", path=str(tmp_path), split=(0.6, 0.2, 0.2))


def test_memmap_from_source_converts_once(tmp_path):
    folder = tmp_path / "mm"
    dm = ready("memmap", path=str(folder), from_source="digits", num_workers=2)
    stamp = (folder / "x.npy").stat().st_mtime_ns
    digits = ready("digits")
    assert torch.equal(dm.train_set.__getitems__(range(50))[0], digits.train_set.__getitems__(range(50))[0])
    loader = dm.train_dataloader()
    assert loader.num_workers == 2 and loader.persistent_workers
    assert sum(len(labels) for _, labels in loader) == 1438
    ready("memmap", path=str(folder), from_source="digits")
    assert (folder / "x.npy").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "data.batch_size must be >= 1, got 0"),
        ({"num_workers": -1}, "data.num_workers must be >= 0"),
        ({"split": (0.8, -0.2)}, "data.split fractions must be >= 0"),
        ({"split": (0.8, 0.3)}, "data.split fractions must sum to at most 1"),
        ({"source": "libsvm"}, "data.source libsvm needs --data.path"),
        ({"source": "memmap"}, "data.source memmap needs --data.path"),
        ({"from_source": "digits"}, "data.from_source only applies to data.source memmap"),
        ({"source": "memmap", "path": "x", "from_source": "libsvm"}, "needs --data.from_path"),
        ({"on_device": True, "num_workers": 2}, "data.on_device loads batches without workers"),
        ({"seed": 2**70}, "data.seed must fit in 64 bits"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DataModule(**kwargs)


def test_empty_data_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((0, 4), np.float32))
    np.save(tmp_path / "y.npy", np.zeros(0, np.int64))
    with pytest.raises(ScaffoldError, match="the data has no rows"):
        ready("memmap", path=str(tmp_path))


def test_pin_memory_only_when_the_trainer_is_on_a_gpu():
    from types import SimpleNamespace

    dm = ready("digits")
    for device, pinned in (("cpu", False), ("cuda", True)):
        strategy = SimpleNamespace(root_device=torch.device(device))
        dm.trainer = SimpleNamespace(strategy=strategy, world_size=1, global_rank=0, overfit_batches=0)
        assert dm.train_dataloader().pin_memory is pinned and dm.val_dataloader().pin_memory is pinned


def fake_trainer(world_size: int = 1, rank: int = 0):
    from types import SimpleNamespace

    strategy = SimpleNamespace(root_device=torch.device("cpu"))
    return SimpleNamespace(strategy=strategy, world_size=world_size, global_rank=rank, overfit_batches=0)


def test_train_loader_is_resumable_alone_and_lightnings_under_ddp():
    assert isinstance(ready("digits").train_dataloader(), IndexBatches)
    dm = ready("digits", num_workers=1)
    loader = dm.train_dataloader()
    assert isinstance(loader, ResumableLoader) and loader.collate_fn is as_batch
    dm.trainer = fake_trainer(world_size=2, rank=1)
    loader = dm.train_dataloader()  # Lightning replaces its RandomSampler by a DistributedSampler
    assert type(loader) is torch.utils.data.DataLoader
    assert isinstance(loader.sampler, torch.utils.data.RandomSampler)


def test_on_device_splits_are_copied_once_and_sharded_by_rank():
    dm = ready("digits", on_device=True, batch_size=100)
    train = dm.train_dataloader()
    assert isinstance(train, DeviceBatches) and dm.train_dataloader().inputs is train.inputs
    assert train.inputs.shape == (1438, 8, 8) and len(train) == 15
    assert dm.test_dataloader().inputs is dm.val_dataloader().inputs  # the test set is the val part
    val_labels = torch.cat([labels for _, labels in dm.val_dataloader()])
    assert torch.equal(val_labels, dm.val_set.__getitems__(range(359))[1])  # in order
    dm.trainer = fake_trainer(world_size=2, rank=1)
    share = dm.train_dataloader()
    assert len(share.sampler) == 719 and share.sampler.rank == 1
