"""Train loaders that Lightning can checkpoint mid-epoch, in host memory or resident on the accelerator.

Both remember how many batches of the current epoch they have handed out; Lightning 2.x saves
``state_dict()`` of a train loader that has one in the checkpoint (``loops.fit_loop.combined_loader``)
and gives it back through ``load_state_dict()`` when a run resumes mid-epoch. The resumed loader
then skips the batches already trained on, so an interrupted epoch ends with exactly the batches
of an uninterrupted one. Iteration starts lazily, at the first ``next()``: Lightning creates the
iterator before it calls ``set_epoch``, and worker processes would otherwise start fetching the
previous epoch's order.

Example::

    order = EpochPermutation(len(dataset), seed=0)
    loader = ResumableLoader(dataset, batch_sampler=IndexBatchSampler(order, 256), collate_fn=as_batch)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

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
        """``{"epoch": e, "batches": b}``: b batches of epoch e have been handed out."""
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


class DeviceBatches(EpochPosition):
    """Batches cut by index from a split already in the accelerator's memory: no workers, no copies.

    Each epoch uploads its order once (one int64 per row) and slices it; a batch is one gather on
    the device. Lightning treats any iterable with ``__len__`` as a loader and calls ``set_epoch``
    on its ``sampler``.
    """

    batch_sampler = None  # Lightning looks for one next to ``sampler``; the batching is done here

    def __init__(self, inputs: Tensor, targets: Tensor, sampler: EpochPermutation, batch_size: int) -> None:
        self.inputs, self.targets, self.sampler, self.batch_size = inputs, targets, sampler, batch_size
        self._init_position()

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        start = self._begin(self.sampler.epoch)
        order = torch.from_numpy(self.sampler.order()).to(self.inputs.device)
        for batch in range(start, len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            self._done += 1
            yield _gather(self.inputs, index), _gather(self.targets, index)


def _gather(tensor: Tensor, index: Tensor) -> Tensor:
    if tensor.device.type == "cpu":
        # numpy's row gather is ~4x faster than torch's index_select on CPU (measured, 784-float rows).
        return torch.from_numpy(np.take(tensor.numpy(), index.numpy(), axis=0))
    return tensor.index_select(0, index)


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
