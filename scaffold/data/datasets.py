"""The chapter's datasets (1.5, exercise 7): arrays and memory-mapped ``.npy`` files (libsvm: ``libsvm.py``).

Each converts one row in ``__getitem__`` (float32 inputs, int64 targets), as the chapter's
``SimpleDataset`` does, and also a whole batch in ``__getitems__`` with one numpy index: PyTorch's
DataLoader calls ``__getitems__(indices)`` when a dataset has it, so a batch costs one gather
instead of B Python calls. Pass :func:`as_batch` as the loader's ``collate_fn``. Each also has a
:meth:`gatherer`: the same batches by row number, without ``__getitems__``'s checks, so that a
loader in the training process (:class:`~scaffold.data.loaders.IndexBatches`) composes subsets
once per epoch and cuts each batch with one call.

Example::

    from torch.utils.data import DataLoader
    loader = DataLoader(ArrayDataset(X, y), batch_size=64, shuffle=True, collate_fn=as_batch)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from scaffold.data.formats import npy_header
from scaffold.errors import ScaffoldError
from scaffold.overrides import defined_in, replaced_since

Batch = tuple[Tensor, Tensor]


def as_batch(batch: Batch) -> Batch:
    """The DataLoader's ``collate_fn``: ``__getitems__`` already returns stacked ``(inputs, targets)``."""
    return batch


def _row(inputs: np.ndarray, target: np.ndarray) -> Batch:
    # torch.tensor copies, so a caller editing the item cannot edit the dataset (or a read-only map).
    inputs, target = _native(inputs), _native(target)
    return torch.tensor(inputs, dtype=torch.float32), torch.tensor(target, dtype=torch.int64)


def _native(array: np.ndarray) -> np.ndarray:
    """``array`` in this machine's byte order, which torch requires; copied only if it is not."""
    array = np.asarray(array)
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def _batch(inputs: np.ndarray | Tensor, targets: np.ndarray | Tensor) -> Batch:
    # The gather already copied the rows; share that memory instead of copying again.
    return torch.as_tensor(inputs, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.int64)


class Gatherer(NamedTuple):
    """A dataset's batches by row number: ``dataset.__getitems__(i)`` equals ``gather(rows[i])``.

    ``gather`` takes valid, non-negative int64 row numbers and does not check them; ``rows`` are the
    dataset's rows in order (None: ``0 .. len - 1``).
    """

    gather: Callable[[np.ndarray], Batch]
    rows: np.ndarray | None


def gatherer_of(dataset: Any) -> Gatherer:
    """``dataset.gatherer()``, else its ``__getitems__`` over all its rows.

    Not the gatherer when a subclass overrides ``__getitems__`` below the class that defines it: such
    a subclass may transform its batches there, which the gatherer would skip.
    """
    gatherer = _own_gatherer(dataset)
    return gatherer if gatherer is not None else Gatherer(dataset.__getitems__, None)


def _own_gatherer(dataset: Any) -> Gatherer | None:
    kind = type(dataset)
    if defined_in(kind, "gatherer") is None or replaced_since(kind, "__getitems__", "gatherer"):
        return None
    return dataset.gatherer()


def _valid_rows(index: np.ndarray, size: int) -> np.ndarray:
    """``index`` into ``size`` rows, numpy's negatives made positive; IndexError out of range.

    For the gathers that read memory unchecked (scipy's compiled kernels).
    """
    if index.size:
        low, high = index.min(), index.max()
        if low < -size or high >= size:
            raise IndexError(f"row index out of range for {size} rows")
        if low < 0:
            return np.where(index < 0, index + size, index)
    return index


def _shared_tensor(array: np.ndarray) -> Tensor:
    """``torch.from_numpy(array)``: the array's memory, no copy (errors: see ``_NOT_FOR_TORCH``)."""
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():  # entered only here: it costs ~2 us, 5% of a batch
        # torch warns that a read-only array (a memmap opened "r") gives a writable tensor; it is only read.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


# What torch cannot share or gather, numpy indexes instead: a dtype torch lacks (TypeError), negative
# strides or another byte order (ValueError), a dtype index_select lacks, e.g. uint32 (NotImplementedError).
_NOT_FOR_TORCH = (TypeError, ValueError, NotImplementedError)


def _array_gather(inputs: np.ndarray, targets: np.ndarray) -> Callable[[np.ndarray], Batch]:
    """Rows of the arrays as a batch: two ``index_select`` calls on tensors sharing their memory."""

    def converting_gather(rows: np.ndarray) -> Batch:
        return _batch(_rows(inputs, rows), _rows(targets, rows))  # _batch converts the dtype

    if inputs.dtype != np.float32 or targets.dtype != np.int64:
        return converting_gather
    try:
        input_rows, target_rows = _shared_tensor(inputs), _shared_tensor(targets)
    except _NOT_FOR_TORCH:
        return converting_gather

    def gather(rows: np.ndarray) -> Batch:
        index = torch.from_numpy(rows)
        return input_rows.index_select(0, index), target_rows.index_select(0, index)

    return gather


def _rows(array: np.ndarray, index: np.ndarray) -> np.ndarray | Tensor:
    """``array[index]`` (rows), by torch's row gather over the array's memory, without a copy of it.

    torch's ``index_select`` runs on every intra-op thread, numpy's fancy index on one: a
    256 x 784 float32 batch took 47 us against 94 us on this project's 2-core machine.
    """
    try:
        tensor = _shared_tensor(array)
        positive = np.where(index < 0, index + len(array), index)  # numpy's negative indices
        return tensor.index_select(0, torch.from_numpy(positive))
    except _NOT_FOR_TORCH:
        return _native(array[index])


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

    def gatherer(self) -> Gatherer:
        """The batches by row number (see :class:`Gatherer`; loaders ask through :func:`gatherer_of`)."""
        return Gatherer(_array_gather(self.X, self.y), None)

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
        return self.dataset.__getitems__(self.indices[np.asarray(indices, dtype=np.int64)])

    def gatherer(self) -> Gatherer | None:
        """The underlying dataset's gatherer with this subset's rows; None if it has none.

        Raises IndexError for a row index out of the underlying dataset's range (gathers are unchecked).
        """
        whole = _own_gatherer(self.dataset)
        if whole is None:
            return None
        if whole.rows is not None:
            return Gatherer(whole.gather, whole.rows[self.indices])  # numpy checks the range
        return Gatherer(whole.gather, _valid_rows(self.indices, len(self.dataset)))


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

    def gatherer(self) -> Gatherer:
        """The batches by row number (see :class:`Gatherer`), read through this process's mapping."""
        return Gatherer(_array_gather(*self._open()), None)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one input row, from the ``.npy`` header."""
        return self._shape[1:]

    @property
    def targets(self) -> np.ndarray:
        """All labels (memory-mapped)."""
        return self._open()[1]
