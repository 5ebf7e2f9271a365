"""Shuffling as a pure function of (seed, epoch), handed to ``__getitems__`` one index array per batch.

:class:`EpochPermutation` is the row order of an epoch: ``numpy``'s generator seeded with
``(seed, epoch)``, nothing else, so a run resumed from a checkpoint sees exactly the batches an
uninterrupted run sees (Lightning calls ``set_epoch`` on it at every epoch start).
:class:`IndexBatchSampler` cuts that order into numpy index arrays, so a batch costs one numpy
index in the dataset instead of B Python ints and a collate.

Example::

    from torch.utils.data import DataLoader
    order = EpochPermutation(len(dataset), seed=0)
    loader = DataLoader(dataset, batch_sampler=IndexBatchSampler(order, 256), collate_fn=as_batch)
    order.set_epoch(3)  # the batches of epoch 3, the same on every run
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from torch.utils.data import BatchSampler, Sampler


class EpochPermutation(Sampler[int]):
    """The rows of one epoch, in an order fixed by ``(seed, epoch)``; sharded when ``world_size > 1``.

    Args:
        length: number of rows.
        seed: with the epoch, the only input of the shuffle.
        shuffle: False keeps the rows in order ``0..length-1``.
        rank, world_size: this process's share under DDP: like ``DistributedSampler``, the order
            is padded by wrapping around to a multiple of ``world_size`` and rank r takes every
            ``world_size``-th row from r, so all ranks run the same number of batches.
    """

    def __init__(
        self, length: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.length, self.seed, self.shuffle = length, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch`` (Lightning calls this at every epoch start)."""
        self.epoch = epoch

    def order(self, epoch: int | None = None) -> np.ndarray:
        """This process's rows of ``epoch`` (default: the current one), as an int64 array."""
        epoch = self.epoch if epoch is None else epoch
        if self.shuffle:
            # SeedSequence takes only non-negative entropy; the mask keeps a negative seed usable.
            rows = np.random.default_rng([self.seed & 0xFFFF_FFFF_FFFF_FFFF, epoch]).permutation(self.length)
        else:
            rows = np.arange(self.length, dtype=np.int64)
        if self.world_size > 1:
            rows = np.resize(rows, len(self) * self.world_size)[self.rank :: self.world_size]
        return rows

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return math.ceil(self.length / self.world_size)


class IndexBatchSampler(BatchSampler):
    """``BatchSampler`` that yields numpy index arrays: slices of the sampler's order, one per batch.

    With an :class:`EpochPermutation` the slices are views of its array; any other sampler of
    ints (Lightning may inject one) is read into an array once per epoch. ``start`` makes the
    next iteration begin at that batch (a mid-epoch resume); it applies once.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, drop_last: bool = False) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.start = 0

    @property
    def epoch(self) -> int:
        """The sampler's current epoch (0 for samplers without one)."""
        return getattr(self.sampler, "epoch", 0)

    def __iter__(self) -> Iterator[np.ndarray]:  # type: ignore[override]
        if isinstance(self.sampler, EpochPermutation):
            rows = self.sampler.order()
        else:
            rows = np.fromiter(iter(self.sampler), dtype=np.int64)
        start, self.start = self.start, 0
        size = self.batch_size
        for batch in range(start, len(self)):
            yield rows[batch * size : (batch + 1) * size]
