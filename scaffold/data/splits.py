"""The chapter's ``random_split``, seeded, so every run and every DDP rank draws the same split."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import random_split

from scaffold.errors import ConfigError


def check_fractions(fractions: Sequence[float], option: str = "data.split") -> list[float]:
    """Validate split fractions: 2 or 3 parts (train, val[, test]), each >= 0, train > 0, sum <= 1."""
    fractions = [float(f) for f in fractions]
    if len(fractions) not in (2, 3):
        raise ConfigError(f"{option} needs 2 or 3 fractions (train, val[, test]), got {fractions}")
    if any(not math.isfinite(f) or f < 0 for f in fractions) or fractions[0] == 0:
        raise ConfigError(f"{option} fractions must be >= 0 with a train fraction > 0, got {fractions}")
    if sum(fractions) > 1 + 1e-9:
        total = sum(fractions)
        raise ConfigError(f"{option} fractions must sum to at most 1, got {fractions} (sum {total:g})")
    return fractions


def split_indices(n: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Row indices of each part of ``n`` rows, by ``random_split`` with a ``Generator`` seeded by ``seed``.

    Fractions summing to less than 1 leave the remaining rows out. Sizes follow ``random_split``:
    ``floor(n * f)`` each, the leftover rows dealt one by one to the parts in order, so
    70000 rows with (0.8, 0.2) give 56000 and 14000.
    """
    fractions = check_fractions(fractions)
    unused = 1 - sum(fractions)
    parts = fractions + [unused] if unused > 1e-9 else fractions
    parts[-1] += 1 - sum(parts)  # random_split insists on an exact sum of 1
    with warnings.catch_warnings():
        # random_split warns about empty parts; the DataModule reports an empty train part itself.
        warnings.filterwarnings("ignore", message="Length of split at index")
        subsets = random_split(range(n), parts, generator=torch.Generator().manual_seed(seed))
    return [np.asarray(subset.indices, dtype=np.int64) for subset in subsets[: len(fractions)]]
