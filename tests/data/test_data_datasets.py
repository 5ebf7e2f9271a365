"""ArrayDataset, IndexedSubset, MemmapDataset (scaffold/data/datasets.py), LibSVMDataset (data/libsvm.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import sklearn
import torch
from sklearn.datasets import load_svmlight_file
from torch.utils.data import DataLoader

from scaffold.data import ArrayDataset, IndexedSubset, LibSVMDataset, MemmapDataset, as_batch
from scaffold.data.loaders import IndexBatches
from scaffold.data.sampling import EpochPermutation
from scaffold.errors import ScaffoldError

SVMLIGHT = Path(sklearn.__file__).parent / "datasets" / "tests" / "data"


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return rng.random((50, 3, 4)), rng.integers(0, 5, 50)


def test_getitem_converts_like_the_chapter(arrays):
    X, y = arrays
    inputs, label = ArrayDataset(X, y)[7]
    assert inputs.dtype == torch.float32 and label.dtype == torch.int64
    assert torch.equal(inputs, torch.tensor(X[7], dtype=torch.float32)) and label.item() == y[7]


def test_getitems_equals_stacked_getitem(arrays):
    dataset = ArrayDataset(*arrays)
    indices = [3, 0, 49, 3]
    inputs, labels = dataset.__getitems__(indices)
    assert inputs.shape == (4, 3, 4) and labels.shape == (4,)
    assert torch.equal(inputs, torch.stack([dataset[i][0] for i in indices]))
    assert torch.equal(labels, torch.stack([dataset[i][1] for i in indices]))


@pytest.mark.parametrize("writeable", [True, False], ids=["writeable", "read-only"])
def test_getitems_takes_numpy_indices_and_read_only_arrays(arrays, writeable):
    X, y = (array.copy() for array in arrays)
    X.flags.writeable = y.flags.writeable = writeable
    inputs, labels = ArrayDataset(X, y).__getitems__([-1, 0, 49])
    assert torch.equal(inputs, torch.tensor(X[[49, 0, 49]], dtype=torch.float32))
    assert torch.equal(labels, torch.tensor(y[[49, 0, 49]]))
    with pytest.raises(IndexError):
        ArrayDataset(X, y).__getitems__([50])


def test_items_do_not_share_memory_with_the_arrays(arrays):
    X, y = arrays
    before = X.copy()
    inputs, _ = ArrayDataset(X.astype(np.float32), y)[0]
    inputs += 1
    np.testing.assert_array_equal(X, before)


LAYOUTS = {  # arrays torch cannot share or gather as they are: numpy gathers them, in native byte order
    "uint32 labels": lambda X, y: (X, y.astype(np.uint32)),
    "uint64 labels": lambda X, y: (X, y.astype(np.uint64)),
    "big-endian": lambda X, y: (X.astype(">f4"), y.astype(">i8")),
    "reversed views": lambda X, y: (X.astype(np.float32)[::-1], y[::-1]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_array_layout_gives_the_same_rows_on_every_path(arrays, layout):
    X, y = LAYOUTS[layout](*arrays)
    dataset = ArrayDataset(X, y)
    inputs, labels = torch.tensor(np.array(X, np.float32)), torch.tensor(np.array(y, np.int64))
    batch = dataset.__getitems__([3, -1, 0])
    assert torch.equal(batch[0], inputs[[3, 49, 0]]) and torch.equal(batch[1], labels[[3, 49, 0]])
    assert torch.equal(dataset[7][0], inputs[7]) and dataset[7][1] == labels[7]
    order = EpochPermutation(50, seed=1)
    loaded = list(IndexBatches(IndexedSubset(dataset, np.arange(50)), order, batch_size=16))  # gatherer path
    assert torch.equal(torch.cat([batch[0] for batch in loaded]), inputs[order.order()])
    assert torch.equal(torch.cat([batch[1] for batch in loaded]), labels[order.order()])


def test_memmap_of_big_endian_inputs_and_unsigned_labels(tmp_path, arrays):
    X, y = arrays
    np.save(tmp_path / "x.npy", X.astype(">f4"))
    np.save(tmp_path / "y.npy", y.astype(np.uint16))
    dataset = MemmapDataset(tmp_path / "x.npy", tmp_path / "y.npy")
    expected = ArrayDataset(X.astype(np.float32), y)
    for got, want in zip(dataset.__getitems__([5, 1, -2]), expected.__getitems__([5, 1, -2]), strict=True):
        assert torch.equal(got, want)
    gather, _ = dataset.gatherer()
    for got, want in zip(gather(np.array([9, 0])), expected.__getitems__([9, 0]), strict=True):
        assert torch.equal(got, want)


def test_lengths_must_agree():
    with pytest.raises(ScaffoldError, match="X has 3 rows but y has 2 labels"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(2))


class CountingDataset(ArrayDataset):
    def __init__(self, *args):
        super().__init__(*args)
        self.calls = {"getitem": 0, "getitems": 0}

    def __getitem__(self, index):
        self.calls["getitem"] += 1
        return super().__getitem__(index)

    def __getitems__(self, indices):
        self.calls["getitems"] += 1
        return super().__getitems__(indices)


def test_loader_fetches_a_batch_with_one_call(arrays):
    dataset = CountingDataset(*arrays)
    subset = IndexedSubset(dataset, np.arange(40))
    batches = list(DataLoader(subset, batch_size=16, collate_fn=as_batch))
    assert dataset.calls == {"getitem": 0, "getitems": 3}
    assert [len(labels) for _, labels in batches] == [16, 16, 8]
    assert torch.equal(torch.cat([inputs for inputs, _ in batches]), dataset.__getitems__(range(40))[0])


def test_indexed_subset_maps_indices(arrays):
    dataset = ArrayDataset(*arrays)
    subset = IndexedSubset(dataset, [10, 20, 30])
    assert len(subset) == 3
    assert torch.equal(subset.__getitems__([2, 0])[1], torch.tensor(arrays[1][[30, 10]]))
    assert subset[1][1].item() == arrays[1][20]
    inputs, labels = subset.__getitems__([])  # an empty list is float64 to numpy
    assert inputs.shape == (0, 3, 4) and labels.shape == (0,)


def test_libsvm_sklearn_test_file_loads():
    path = SVMLIGHT / "svmlight_classification.txt"
    dataset = LibSVMDataset(path)
    X, y = load_svmlight_file(str(path))
    assert len(dataset) == 6 and dataset.feature_shape == (21,)
    assert dataset.classes.tolist() == [1, 2, 3, 4]
    inputs, targets = dataset.__getitems__(range(6))
    np.testing.assert_array_equal(inputs.numpy(), X.toarray().astype(np.float32))
    np.testing.assert_array_equal(dataset.classes[targets.numpy()], y)
    assert torch.equal(dataset[3][0], inputs[3]) and dataset[3][1].item() == 3  # label 4.0 is class 3


def test_libsvm_options_reach_the_parser():
    path = SVMLIGHT / "svmlight_classification.txt"
    assert LibSVMDataset(path, n_features=30).feature_shape == (30,)
    assert LibSVMDataset(path, zero_based=True).feature_shape == (22,)  # index 21 becomes column 21
    with pytest.raises(ScaffoldError, match="svmlight_classification.txt: not a valid libsvm"):
        LibSVMDataset(path, n_features=5)


@pytest.mark.parametrize(
    "name", ["svmlight_invalid.txt", "svmlight_invalid_order.txt", "svmlight_multilabel.txt"]
)
def test_libsvm_invalid_sklearn_files_name_the_file(name):
    with pytest.raises(ScaffoldError, match=f"{name}: not a valid libsvm/svmlight file"):
        LibSVMDataset(SVMLIGHT / name)


@pytest.mark.parametrize("label, shown", [("2.5", "2.5"), ("1e30", "1e\\+30")])  # 1e30: past int64
def test_libsvm_non_integer_labels(tmp_path, label, shown):
    path = tmp_path / "reg.svm"
    path.write_text(f"1 1:0.5\n{label} 2:1\n")
    with pytest.raises(ScaffoldError, match=rf"reg.svm: label {shown} on data row 2 is not an integer class"):
        LibSVMDataset(path)


def test_libsvm_missing_file(tmp_path):
    with pytest.raises(ScaffoldError, match="nope.svm: no such file; set --data.path"):
        LibSVMDataset(tmp_path / "nope.svm")


@pytest.fixture
def memmap_files(tmp_path, arrays):
    X, y = arrays
    np.save(tmp_path / "x.npy", X.astype(np.float32))
    np.save(tmp_path / "y.npy", y.astype(np.int64))
    return tmp_path / "x.npy", tmp_path / "y.npy"


def test_memmap_reads_rows_like_the_arrays(memmap_files, arrays):
    dataset = MemmapDataset(*memmap_files)
    expected = ArrayDataset(arrays[0].astype(np.float32), arrays[1])
    assert len(dataset) == 50 and dataset.feature_shape == (3, 4)
    for got, want in zip(dataset.__getitems__([5, 1, 5]), expected.__getitems__([5, 1, 5]), strict=True):
        assert torch.equal(got, want)
    assert torch.equal(dataset[9][0], expected[9][0]) and dataset[9][1] == expected[9][1]


def test_memmap_opens_lazily_and_never_pickles_the_arrays(memmap_files):
    dataset = MemmapDataset(*memmap_files)
    assert dataset._arrays is None  # headers only until the first read
    dataset.__getitems__([0])
    assert isinstance(dataset._arrays[0], np.memmap)
    clone = pickle.loads(pickle.dumps(dataset))
    assert len(pickle.dumps(dataset)) < 1000 and clone._arrays is None
    assert torch.equal(clone[3][0], dataset[3][0])


def test_memmap_with_two_workers_equals_one_process(memmap_files):
    dataset = MemmapDataset(*memmap_files)
    dataset[0]  # opened in the parent: workers must still map the files themselves
    order = torch.randperm(50, generator=torch.Generator().manual_seed(0)).tolist()
    loader = DataLoader(dataset, batch_size=8, sampler=order, num_workers=2, collate_fn=as_batch)
    inputs = torch.cat([batch[0] for batch in loader])
    labels = torch.cat([batch[1] for batch in loader])
    assert torch.equal(inputs, dataset.__getitems__(order)[0])
    assert torch.equal(labels, dataset.__getitems__(order)[1])


@pytest.mark.parametrize(
    "x, y, message",
    [
        (
            np.zeros(5, np.float32),
            np.zeros(5, np.int64),
            r"x.npy: expected inputs of shape \(rows, features...\)",
        ),
        (np.zeros((5, 2), complex), np.zeros(5, np.int64), "found shape .5, 2. dtype complex128"),
        (np.zeros((5, 2), np.float32), np.zeros(5, np.float32), "y.npy: expected labels .* dtype float32"),
        (np.zeros((5, 2), np.float32), np.zeros((5, 1), np.int64), r"found shape \(5, 1\)"),
        (np.zeros((5, 2), np.float32), np.zeros(4, np.int64), "x.npy has 5 rows but y.npy has 4 labels"),
    ],
)
def test_memmap_refuses_unexpected_shapes_and_dtypes(tmp_path, x, y, message):
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    with pytest.raises(ScaffoldError, match=message):
        MemmapDataset(tmp_path / "x.npy", tmp_path / "y.npy")


def test_libsvm_batches_equal_scipys_own_densify(tmp_path):
    from scipy import sparse
    from sklearn.datasets import dump_svmlight_file

    X = sparse.random(40, 30, density=0.2, format="csr", dtype=np.float32, random_state=0)
    dump_svmlight_file(X, np.arange(40) % 3, str(tmp_path / "r.svm"), zero_based=True)
    dataset = LibSVMDataset(tmp_path / "r.svm", n_features=30, zero_based=True)
    assert dataset.X.indices.dtype == dataset.X.indptr.dtype == np.int32  # sklearn's int64, made small
    for rows in ([], [5], [39, 0, 5, 5, -1], list(range(40))):
        inputs, _ = dataset.__getitems__(rows)
        expected = dataset.X[rows].toarray() if rows else np.zeros((0, 30), np.float32)
        np.testing.assert_array_equal(inputs.numpy(), expected)
    np.testing.assert_array_equal(dataset.__getitems__(range(40))[0].numpy(), X.toarray())
    with pytest.raises(IndexError, match="row index out of range for 40 rows"):
        dataset.__getitems__([0, 40])
