"""Loaders that Lightning can checkpoint mid-epoch: in the process, in workers, or on the accelerator.

All remember how many batches of the current epoch they have handed out; Lightning 2.x saves
``state_dict()`` of a train loader that has one in the checkpoint (``loops.fit_loop.combined_loader``)
and gives it back through ``load_state_dict()`` when a run resumes mid-epoch. The resumed loader
then skips the batches already trained on, so an interrupted epoch ends with exactly the batches
of an uninterrupted one. Iteration starts lazily, at the first ``next()``: Lightning creates the
iterator before it calls ``set_epoch``, and worker processes would otherwise start fetching the
previous epoch's order.

Example::

    order = EpochPermutation(len(dataset), seed=0)
    loader = IndexBatches(dataset, order, batch_size=256)  # no workers: one __getitems__ per batch
    loader = ResumableLoader(dataset, batch_sampler=IndexBatchSampler(order, 256), collate_fn=as_batch,
                             num_workers=2)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from scaffold.data.datasets import gatherer_of
from scaffold.data.sampling import EpochPermutation

Batch = tuple[Tensor, Tensor]


class EpochPosition:
    """Where a loader is within its epoch, as a ``state_dict``; the first batch to yield after a resume."""

    def _init_position(self) -> None:
        self._epoch, self._done = 0, 0
        self._resume: tuple[int, int] | None = None

    def _begin(self, epoch: int) -> int:
        """Start ``epoch``; return the batch to start from (after ``load_state_dict``, the next untrained)."""
        resume, self._resume = self._resume, None
        self._epoch = epoch
        self._done = resume[1] if resume is not None and resume[0] == epoch else 0
        return self._done

    def state_dict(self) -> dict[str, int]:
        """``{"epoch": e, "batches": b}``: b batches of epoch e have been handed out.

        After ``load_state_dict`` and before the next iteration, the loaded position: a checkpoint
        written in between must not lose it.
        """
        if self._resume is not None:
            return {"epoch": self._resume[0], "batches": self._resume[1]}
        return {"epoch": self._epoch, "batches": self._done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Make the next iteration of epoch ``state["epoch"]`` skip its first ``state["batches"]`` batches."""
        self._resume = (int(state["epoch"]), int(state["batches"]))


class ResumableLoader(EpochPosition, DataLoader):
    """A DataLoader over an :class:`~scaffold.data.sampling.IndexBatchSampler`, resumable mid-epoch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_position()

    def __iter__(self) -> Iterator[Any]:
        self.batch_sampler.start = self._begin(self.batch_sampler.epoch)
        for batch in super().__iter__():
            self._done += 1  # counted before the step runs: a checkpoint taken after it includes it
            yield batch


class IndexBatches(EpochPosition):
    """Batches cut by index in this process: one gather per batch, no DataLoader.

    Without workers a DataLoader only adds Python per batch (its iterator, fetcher and profiler
    label: ~0.1 ms on this project's 2-core machine, a tenth of an MLP step). Lightning treats any
    iterable with ``__len__`` as a loader and calls ``set_epoch`` on its ``sampler``.

    A dataset with a :meth:`~scaffold.data.datasets.ArrayDataset.gatherer` (the scaffold's own) is
    cut by row number: a subset's rows are composed with the epoch's order (and range-checked) once
    per epoch, and a batch is one call without ``__getitems__``'s checks (for arrays, two
    ``index_select``). The checks and layers cost only microseconds alone but ~60 us per batch
    inside a training step, whose arithmetic evicts them from the caches: figure 1a's training took
    ~7% longer. Any other dataset, or one whose class overrides ``__getitems__``, is asked for
    ``__getitems__(index_array)``. The batches are the same either way.

    Args:
        dataset: anything with ``__getitems__(index_array) -> (inputs, targets)``.
        sampler: the row order of each epoch.
        batch_size: rows per batch (the last one may be smaller).
        pin_memory: copy each batch into page-locked memory (for fast copies to a GPU).
    """

    batch_sampler = None  # Lightning looks for one next to ``sampler``; the batching is done here

    def __init__(
        self, dataset: Any, sampler: EpochPermutation, batch_size: int, pin_memory: bool = False
    ) -> None:
        self.dataset, self.sampler, self.batch_size = dataset, sampler, batch_size
        self.pin_memory = pin_memory
        self._init_position()

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        start = self._begin(self.sampler.epoch)
        epoch = self._prepare_epoch()
        for batch in range(start, len(self)):
            rows = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
            self._done += 1  # counted before the step runs: a checkpoint taken after it includes it
            yield self._fetch(epoch, rows)

    def _prepare_epoch(self) -> Any:  # what _fetch cuts this epoch's batches from
        # Asked for each epoch, not kept: the loader pickles as its dataset does (a memmap by its paths).
        gather, rows = gatherer_of(self.dataset)
        order = self.sampler.order()
        return gather, (order if rows is None else rows[order])

    def _fetch(self, epoch: Any, rows: slice) -> Batch:
        gather, order = epoch
        batch = gather(order[rows])
        return tuple(tensor.pin_memory() for tensor in batch) if self.pin_memory else batch


class DeviceBatches(IndexBatches):
    """Batches cut by index from a split already in the accelerator's memory: no workers, no copies.

    Each epoch uploads its order once (one int64 per row) and slices it; a batch is one gather on
    the device.
    """

    def __init__(self, inputs: Tensor, targets: Tensor, sampler: EpochPermutation, batch_size: int) -> None:
        super().__init__(None, sampler, batch_size)
        self.inputs, self.targets = inputs, targets

    def _prepare_epoch(self) -> Tensor | None:
        if not self.sampler.shuffle and self.sampler.world_size == 1:
            return None  # rows in order: batches are slices (views), no gather
        return torch.from_numpy(self.sampler.order()).to(self.inputs.device)

    def _fetch(self, order: Tensor | None, rows: slice) -> Batch:
        if order is None:
            return self.inputs[rows], self.targets[rows]
        index = order[rows]
        # index_select is torch's fastest row gather, on CPU too (12 us against numpy's 29 us for 256 rows).
        return self.inputs.index_select(0, index), self.targets.index_select(0, index)


def to_device(dataset: Any, device: torch.device, chunk_rows: int = 8192) -> Batch:
    """All rows of ``dataset`` as two tensors on ``device``, copied in chunks to bound host memory."""
    rows = len(dataset)
    first_inputs, first_targets = dataset.__getitems__(np.arange(min(rows, 1)))
    inputs = torch.empty((rows, *first_inputs.shape[1:]), dtype=first_inputs.dtype, device=device)
    targets = torch.empty((rows,), dtype=first_targets.dtype, device=device)
    for start in range(0, rows, chunk_rows):
        chunk_inputs, chunk_targets = dataset.__getitems__(np.arange(start, min(start + chunk_rows, rows)))
        inputs[start : start + len(chunk_targets)] = chunk_inputs.to(device)
        targets[start : start + len(chunk_targets)] = chunk_targets.to(device)
    return inputs, targets
