"""MNIST-shaped synthetic data as IDX files: for tests and benchmarks where MNIST cannot be downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from scaffold.data.formats import write_idx
from scaffold.data.sources import MNIST_FILES


def write_synthetic_mnist(
    folder: str | os.PathLike[str],
    train: int = 60000,
    test: int = 10000,
    side: int = 28,
    classes: int = 10,
    seed: int = 0,
    gz: bool = False,
) -> Path:
    """Write the four MNIST IDX files of learnable fake digits into ``folder``; return the folder.

    Each class is a fixed random stroke pattern; an image is its class's pattern with some pixels
    dropped and noise added, so a classifier can learn it but not from one pixel.
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    templates = (rng.random((classes, side, side)) < 0.2) * 255.0
    suffix = ".gz" if gz else ""
    for (images_name, labels_name), rows in zip(MNIST_FILES.values(), (train, test), strict=True):
        labels = rng.integers(0, classes, rows).astype(np.uint8)
        keep = rng.random((rows, side, side)) < 0.7
        noise = rng.integers(0, 96, (rows, side, side))
        images = np.clip(templates[labels] * keep + noise, 0, 255).astype(np.uint8)
        write_idx(folder / f"{images_name}{suffix}", images)
        write_idx(folder / f"{labels_name}{suffix}", labels)
    return folder
