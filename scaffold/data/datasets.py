"""The chapter's datasets (1.5, exercises 6-7): arrays, a libsvm file, memory-mapped ``.npy`` files.

Each converts one row in ``__getitem__`` (float32 inputs, int64 targets), as the chapter's
``SimpleDataset`` does, and also a whole batch in ``__getitems__`` with one numpy index: PyTorch's
DataLoader calls ``__getitems__(indices)`` when a dataset has it, so a batch costs one gather
instead of B Python calls. Pass :func:`as_batch` as the loader's ``collate_fn``.

Example::

    from torch.utils.data import DataLoader
    loader = DataLoader(ArrayDataset(X, y), batch_size=64, shuffle=True, collate_fn=as_batch)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from scaffold.data.formats import npy_header
from scaffold.errors import ScaffoldError

Batch = tuple[Tensor, Tensor]


def as_batch(batch: Batch) -> Batch:
    """The DataLoader's ``collate_fn``: ``__getitems__`` already returns stacked ``(inputs, targets)``."""
    return batch


def _row(inputs: np.ndarray, target: np.ndarray) -> Batch:
    # torch.tensor copies, so a caller editing the item cannot edit the dataset (or a read-only map).
    return torch.tensor(inputs, dtype=torch.float32), torch.tensor(target, dtype=torch.int64)


def _batch(inputs: np.ndarray | Tensor, targets: np.ndarray | Tensor) -> Batch:
    # The gather already copied the rows; share that memory instead of copying again.
    return torch.as_tensor(inputs, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.int64)


def _rows(array: np.ndarray, index: np.ndarray) -> np.ndarray | Tensor:
    """``array[index]`` (rows), by torch's row gather over the array's memory, without a copy of it.

    torch's ``index_select`` runs on every intra-op thread, numpy's fancy index on one: a
    256 x 784 float32 batch took 47 us against 94 us on this project's 2-core machine.
    """
    try:
        if array.flags.writeable:
            tensor = torch.from_numpy(array)
        else:
            with warnings.catch_warnings():  # entered only here: it costs ~2 us, 5% of a batch
                # torch warns that a read-only array (a memmap opened "r") gives a writable tensor;
                # it is only read.
                warnings.simplefilter("ignore", UserWarning)
                tensor = torch.from_numpy(array)
    except TypeError:  # a dtype torch lacks
        return array[index]
    index = np.where(index < 0, index + len(array), index)  # numpy's negative indices
    return tensor.index_select(0, torch.from_numpy(index))


class ArrayDataset(Dataset[Batch]):
    """The chapter's ``SimpleDataset``: rows of ``X`` with labels ``y``, as (float32, int64) tensors."""

    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        if len(X) != len(y):
            raise ScaffoldError(f"X has {len(X)} rows but y has {len(y)} labels; give one label per row")
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index: int) -> Batch:
        return _row(self.X[index], self.y[index])

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        index = np.asarray(indices, dtype=np.int64)
        return _batch(_rows(self.X, index), _rows(self.y, index))

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one input row, e.g. ``(8, 8)`` for digits."""
        return tuple(self.X.shape[1:])

    @property
    def targets(self) -> np.ndarray:
        """All labels, as class ids."""
        return self.y


class IndexedSubset(Dataset[Batch]):
    """Rows ``indices`` of ``dataset``; unlike ``torch.utils.data.Subset``, maps a batch with one index."""

    def __init__(self, dataset: Dataset[Batch], indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Batch:
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        return self.dataset.__getitems__(self.indices[np.asarray(indices)])


class LibSVMDataset(Dataset[Batch]):
    """Exercise 6, the chapter's ``libsvm2Dataset``: a libsvm/svmlight file as a classification dataset.

    Parsed by ``sklearn.datasets.load_svmlight_file``; the sparse matrix is kept and densified
    per row/batch. Labels must be integers; they become contiguous class ids ``0..C-1`` and the
    original labels are kept in ``classes`` (``classes[target]`` is the file's label).

    Args:
        path: the libsvm file.
        n_features: number of features (columns); default: the largest index in the file.
        zero_based: whether the file's feature indices start at 0; "auto" guesses from the file.
    """

    def __init__(
        self, path: str | os.PathLike[str], n_features: int | None = None, zero_based: bool | str = "auto"
    ) -> None:
        from sklearn.datasets import load_svmlight_file

        path = Path(path)
        if not path.is_file():
            raise ScaffoldError(f"{path}: no such file; set --data.path to a libsvm/svmlight file")
        try:
            X, y = load_svmlight_file(
                str(path), n_features=n_features, zero_based=zero_based, dtype=np.float32
            )
        except ValueError as exc:
            raise ScaffoldError(
                f"{path}: not a valid libsvm/svmlight file ({exc}); each line must read "
                f"'<label> <index>:<value> ...' with increasing indices"
            ) from None
        fractional = ~np.isfinite(y) | (y != np.round(y))
        if fractional.any():
            row = int(np.argmax(fractional))
            raise ScaffoldError(
                f"{path}: label {y[row]:g} on data row {row + 1} is not an integer class; "
                f"give each row an integer class label"
            )
        self.classes, targets = np.unique(y.astype(np.int64), return_inverse=True)
        self.X = _small_indices(X.tocsr())
        self.y = targets.astype(np.int64)
        self.path = path

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, index: int) -> Batch:
        return _row(self.X[index].toarray()[0], self.y[index])

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        index = np.asarray(indices, dtype=np.int64)
        if index.size:  # dense_rows reads memory unchecked: refuse what scipy's indexing would refuse
            low, high = index.min(), index.max()
            if low < -len(self) or high >= len(self):
                raise IndexError(f"row index out of range for {len(self)} rows")
            if low < 0:
                index = index % len(self)
        return _batch(dense_rows(self.X, index), self.y[index])

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """``(n_features,)``."""
        return (self.X.shape[1],)

    @property
    def targets(self) -> np.ndarray:
        """All labels, as class ids (``classes[targets]`` are the file's labels)."""
        return self.y


def _small_indices(matrix: Any) -> Any:
    """``matrix`` with int32 index arrays when they fit, as scipy itself prefers.

    sklearn's parser returns int64 ones; int32 halves their memory and made a batch's densify
    ~20% faster (100 -> 80 us for 256 x 784 rows at 19% density).
    """
    if max(matrix.nnz, *matrix.shape) >= 2**31 or matrix.indices.dtype == np.int32:
        return matrix
    indices, indptr = matrix.indices.astype(np.int32), matrix.indptr.astype(np.int32)
    return type(matrix)((matrix.data, indices, indptr), shape=matrix.shape)


def dense_rows(matrix: Any, rows: np.ndarray) -> np.ndarray:
    """``matrix[rows].toarray()`` for a CSR matrix and valid non-negative ``rows``, in about half the time.

    scipy's public fancy indexing spends ~150 us per 256-row batch in Python-level checks; its own
    compiled kernels (the ones that indexing ends in) gather and densify in ~100 us. Without them
    (a future scipy), the public path.
    """
    try:
        from scipy.sparse import _sparsetools
    except ImportError:
        return matrix[rows].toarray()
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    rows = rows.astype(indptr.dtype, copy=False)
    sub_indptr = np.zeros(len(rows) + 1, dtype=indptr.dtype)
    np.cumsum(indptr[rows + 1] - indptr[rows], out=sub_indptr[1:])
    sub_indices = np.empty(sub_indptr[-1], dtype=indices.dtype)
    sub_data = np.empty(sub_indptr[-1], dtype=data.dtype)
    _sparsetools.csr_row_index(len(rows), rows, indptr, indices, data, sub_indices, sub_data)
    dense = np.zeros((len(rows), matrix.shape[1]), dtype=data.dtype)
    _sparsetools.csr_todense(len(rows), matrix.shape[1], sub_indptr, sub_indices, sub_data, dense)
    return dense


class MemmapDataset(Dataset[Batch]):
    """Exercise 7: inputs and labels in ``.npy`` files, memory-mapped read-only, read row by row.

    The headers are checked on construction; the data is mapped lazily, once per process, on first
    access. Pickling (e.g. to DataLoader workers) carries the paths, never the arrays.

    Args:
        x_path: inputs, shape ``(N, ...)``, a real-number dtype (float32 as :func:`write_arrays` writes).
        y_path: labels, shape ``(N,)``, an integer dtype.
    """

    def __init__(self, x_path: str | os.PathLike[str], y_path: str | os.PathLike[str]) -> None:
        self.x_path, self.y_path = Path(x_path), Path(y_path)
        x_shape, x_dtype = npy_header(self.x_path)
        y_shape, y_dtype = npy_header(self.y_path)
        if len(x_shape) < 2 or x_dtype.kind not in "fiu":
            raise ScaffoldError(
                f"{self.x_path}: expected inputs of shape (rows, features...) with a real dtype, found shape "
                f"{x_shape} dtype {x_dtype}; recreate it with --data.from_source or write_arrays"
            )
        if len(y_shape) != 1 or y_dtype.kind not in "iu":
            raise ScaffoldError(
                f"{self.y_path}: expected labels of shape (rows,) with an integer dtype, found shape "
                f"{y_shape} dtype {y_dtype}; recreate it with --data.from_source or write_arrays"
            )
        if x_shape[0] != y_shape[0]:
            raise ScaffoldError(
                f"{self.x_path} has {x_shape[0]} rows but {self.y_path.name} has {y_shape[0]} labels; "
                f"recreate both files from the same source"
            )
        self._shape = tuple(x_shape)
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None
        self._pid: int | None = None

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        # Map once per process: a forked worker must not reuse its parent's mapping object.
        if self._arrays is None or self._pid != os.getpid():
            self._arrays = (np.load(self.x_path, mmap_mode="r"), np.load(self.y_path, mmap_mode="r"))
            self._pid = os.getpid()
        return self._arrays

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arrays"] = state["_pid"] = None
        return state

    def __len__(self) -> int:
        return self._shape[0]

    def __getitem__(self, index: int) -> Batch:
        x, y = self._open()
        return _row(x[index], y[index])

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        x, y = self._open()
        index = np.asarray(indices, dtype=np.int64)
        return _batch(_rows(x, index), _rows(y, index))

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one input row, from the ``.npy`` header."""
        return self._shape[1:]

    @property
    def targets(self) -> np.ndarray:
        """All labels (memory-mapped)."""
        return self._open()[1]
