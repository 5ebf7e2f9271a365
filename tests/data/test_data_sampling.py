"""EpochPermutation, IndexBatchSampler (scaffold/data/sampling.py); the train loaders (data/loaders.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from scaffold.data import (
    ArrayDataset,
    IndexedSubset,
    LibSVMDataset,
    MemmapDataset,
    Source,
    as_batch,
    write_arrays,
)
from scaffold.data.datasets import gatherer_of
from scaffold.data.loaders import DeviceBatches, IndexBatches, ResumableLoader, to_device
from scaffold.data.sampling import EpochPermutation, IndexBatchSampler


def test_the_order_is_a_pure_function_of_seed_and_epoch():
    first, again = EpochPermutation(100, seed=3), EpochPermutation(100, seed=3)
    again.set_epoch(5)
    again.set_epoch(0)  # whatever came before, epoch 0 is epoch 0
    assert np.array_equal(first.order(), again.order())
    assert sorted(first.order().tolist()) == list(range(100))
    assert not np.array_equal(first.order(0), first.order(1))
    assert not np.array_equal(first.order(0), EpochPermutation(100, seed=4).order(0))
    first.set_epoch(7)
    assert list(first) == first.order(7).tolist() and len(first) == 100
    assert EpochPermutation(5, shuffle=False).order(9).tolist() == [0, 1, 2, 3, 4]
    assert len(EpochPermutation(5, seed=-1).order()) == 5


def test_ranks_share_the_rows_like_distributed_sampler():
    whole = EpochPermutation(10, seed=1).order(2)
    shares = [EpochPermutation(10, seed=1, rank=r, world_size=3).order(2) for r in range(3)]
    assert [len(share) for share in shares] == [4, 4, 4]  # 10 rows padded to 12 by wrapping around
    padded = np.concatenate([whole, whole[:2]])
    assert np.array_equal(np.stack(shares, axis=1).reshape(-1), padded)  # rank r takes rows r, r+3, ...
    with pytest.raises(ValueError, match="rank 3 is not in"):
        EpochPermutation(10, rank=3, world_size=3)


def test_index_batch_sampler_slices_the_order_into_arrays():
    order = EpochPermutation(10, seed=0)
    sampler = IndexBatchSampler(order, batch_size=4)
    batches = list(sampler)
    assert len(sampler) == 3 and [len(b) for b in batches] == [4, 4, 2]
    assert all(isinstance(b, np.ndarray) for b in batches)
    assert np.array_equal(np.concatenate(batches), order.order())
    assert (
        len(IndexBatchSampler(order, 4, drop_last=True)) == 2
        and len(list(IndexBatchSampler(order, 4, True))) == 2
    )
    sampler.start = 2
    assert [b.tolist() for b in sampler] == [batches[2].tolist()]
    assert len(list(sampler)) == 3  # start applies once
    plain = IndexBatchSampler(torch.utils.data.SequentialSampler(range(5)), batch_size=2)
    assert [b.tolist() for b in plain] == [[0, 1], [2, 3], [4]]  # a sampler Lightning might inject


@pytest.fixture
def dataset():
    rng = np.random.default_rng(0)
    return ArrayDataset(rng.random((103, 3, 2)), rng.integers(0, 5, 103))


def resumable(dataset, batch_size=16, **kwargs) -> ResumableLoader:
    sampler = IndexBatchSampler(EpochPermutation(len(dataset), seed=1), batch_size)
    return ResumableLoader(dataset, batch_sampler=sampler, collate_fn=as_batch, **kwargs)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_loader_resumed_mid_epoch_yields_the_rest_of_that_epoch(dataset, workers):
    loader = resumable(dataset, num_workers=workers)
    loader.batch_sampler.sampler.set_epoch(4)
    full = [labels.tolist() for _, labels in loader]
    iterator = iter(loader)
    seen = [next(iterator)[1].tolist() for _ in range(3)]
    state = loader.state_dict()
    assert state == {"epoch": 4, "batches": 3} and seen == full[:3]
    del iterator

    fresh = resumable(dataset, num_workers=workers)
    fresh.load_state_dict(state)
    iterator = iter(fresh)
    fresh.batch_sampler.sampler.set_epoch(4)  # Lightning sets the epoch after creating the iterator
    assert [labels.tolist() for _, labels in iterator] == full[3:]
    assert fresh.state_dict() == {"epoch": 4, "batches": 7}
    assert [labels.tolist() for _, labels in fresh] == full  # the next pass is a whole epoch again


def test_a_loaded_position_is_saved_again_before_the_loader_runs(dataset):
    # A checkpoint written between a resume and the first batch (e.g. by an early callback) keeps it.
    loader = resumable(dataset)
    loader.load_state_dict({"epoch": 3, "batches": 4})
    again = resumable(dataset)
    again.load_state_dict(loader.state_dict())
    again.batch_sampler.sampler.set_epoch(3)
    assert len(list(again)) == 7 - 4


def test_a_saved_position_of_another_epoch_is_ignored(dataset):
    loader = resumable(dataset)
    loader.load_state_dict({"epoch": 2, "batches": 7})  # saved at the end of epoch 2
    loader.batch_sampler.sampler.set_epoch(3)
    assert len(list(loader)) == 7


def test_device_batches_equal_the_host_loader_and_resume(dataset):
    inputs, targets = to_device(dataset, torch.device("cpu"), chunk_rows=10)
    assert torch.equal(inputs, dataset.__getitems__(np.arange(103))[0])
    order = EpochPermutation(len(dataset), seed=1)
    resident = DeviceBatches(inputs, targets, order, batch_size=16)
    host = resumable(dataset)
    for epoch in (0, 1):
        order.set_epoch(epoch)
        host.batch_sampler.sampler.set_epoch(epoch)
        pairs = list(zip(resident, host, strict=True))
        assert len(pairs) == len(resident) == 7
        assert all(torch.equal(a, b) for pair in pairs for a, b in zip(*pair, strict=True))
    resident.load_state_dict({"epoch": 1, "batches": 5})
    assert [labels.tolist() for _, labels in resident] == [labels.tolist() for _, labels in host][5:]


def test_default_loader_with_the_same_sampler_gives_the_same_batches(dataset):
    # The simple path: per-item __getitem__ and default collation, in the fast loader's order.
    class SimpleDataset(torch.utils.data.Dataset):
        def __getitem__(self, index):
            return dataset[index]

        def __len__(self):
            return len(dataset)

    order = EpochPermutation(len(dataset), seed=1)
    simple = DataLoader(SimpleDataset(), batch_size=16, sampler=order)
    fast = resumable(dataset)
    for epoch in (0, 3):
        order.set_epoch(epoch)
        fast.batch_sampler.sampler.set_epoch(epoch)
        for (x_simple, y_simple), (x_fast, y_fast) in zip(simple, fast, strict=True):
            assert torch.equal(x_simple, x_fast) and torch.equal(y_simple, y_fast)


def subsets(tmp_path):
    """The same 90 of 103 rows in each kind of dataset the scaffold has, as IndexedSubsets."""
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(2)
    X, y = rng.random((103, 3, 2), dtype=np.float32), rng.integers(0, 5, 103)
    write_arrays(tmp_path / "mapped", Source(ArrayDataset(X, y)))
    dump_svmlight_file(X.reshape(103, -1) * (X.reshape(103, -1) > 0.5), y, str(tmp_path / "rows.svm"))
    rows, mapped = rng.permutation(103)[:90], tmp_path / "mapped"
    return {
        "float32 arrays": IndexedSubset(ArrayDataset(X, y), rows),
        "float64 arrays": IndexedSubset(ArrayDataset(X.astype(np.float64), y), rows),
        "memmap": IndexedSubset(MemmapDataset(mapped / "x.npy", mapped / "y.npy"), rows),
        "libsvm": IndexedSubset(LibSVMDataset(tmp_path / "rows.svm", n_features=6), rows),
        "a subset of a subset, negative indices": IndexedSubset(
            IndexedSubset(ArrayDataset(X, y), rng.permutation(103)), np.arange(90) - 45
        ),
    }


@pytest.mark.parametrize("shuffle", [True, False])
def test_index_batches_cut_by_row_number_give_the_getitems_batches(tmp_path, shuffle):
    for name, part in subsets(tmp_path).items():
        order = EpochPermutation(len(part), seed=1, shuffle=shuffle)
        loader = IndexBatches(part, order, 16)
        assert gatherer_of(part).rows is not None, name  # cut by row number, not __getitems__
        for epoch in (0, 1):
            order.set_epoch(epoch)
            batches = list(loader)
            rows = order.order()
            assert len(batches) == 6, name
            for start, (inputs, targets) in zip(range(0, 90, 16), batches, strict=True):
                expected_inputs, expected_targets = part.__getitems__(rows[start : start + 16])
                assert torch.equal(inputs, expected_inputs) and torch.equal(targets, expected_targets), name
                assert (inputs.dtype, targets.dtype) == (torch.float32, torch.int64), name
        loader.load_state_dict({"epoch": 1, "batches": 4})
        assert [labels.tolist() for _, labels in loader] == [labels.tolist() for _, labels in batches[4:]]


def test_index_batches_are_copies_of_the_dataset_rows():
    rows = ArrayDataset(np.ones((40, 3), dtype=np.float32), np.zeros(40, dtype=np.int64))
    first, _ = next(iter(IndexBatches(rows, EpochPermutation(40, shuffle=False), 16)))
    first.zero_()  # a step that edits its batch in place must not edit the dataset
    assert rows.X.min() == 1


def test_index_batches_refuse_out_of_range_rows_and_pickle(tmp_path):
    for name, part in subsets(tmp_path).items():
        loader = IndexBatches(part, EpochPermutation(len(part), seed=1), 16)
        again = pickle.loads(pickle.dumps(loader))  # e.g. for ddp_spawn: no gather function is kept
        assert [y.tolist() for _, y in again] == [y.tolist() for _, y in loader], name
        base = part.dataset
        wrong = IndexedSubset(base, np.array([0, -len(base) - 1]))  # below -len: no row of the base
        with pytest.raises(IndexError, match="out of (range|bounds)"):
            list(IndexBatches(wrong, EpochPermutation(2), 16))


def test_a_subclass_that_transforms_its_batches_keeps_doing_so(dataset):
    class Scaled(ArrayDataset):
        def __getitems__(self, indices):
            inputs, targets = super().__getitems__(indices)
            return inputs * 0, targets

    part = IndexedSubset(Scaled(dataset.X.astype(np.float32), dataset.y), np.arange(50))
    inputs, _ = next(iter(IndexBatches(part, EpochPermutation(50), 16)))
    assert inputs.abs().max() == 0  # its __getitems__ ran, as it does in DataLoader workers
