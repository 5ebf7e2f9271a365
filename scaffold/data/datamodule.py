"""DataModule: the chapter's data pipeline (1.5), source -> Dataset -> seeded random_split -> DataLoader.

Example::

    from scaffold.data import DataModule
    dm = DataModule("digits", split=(0.8, 0.2), batch_size=64)
    dm.prepare_data(); dm.setup("fit")
    len(dm.train_set), len(dm.val_set)  # (1438, 359)
    inputs, labels = next(iter(dm.train_dataloader()))  # (64, 8, 8) float32, (64,) int64
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import lightning as L
from torch.utils.data import DataLoader, Dataset

from scaffold.data import sources
from scaffold.data.datasets import IndexedSubset, as_batch
from scaffold.data.splits import check_fractions, split_indices
from scaffold.errors import ConfigError, ScaffoldError

SourceName = Literal["digits", "mnist", "libsvm", "memmap"]


class DataModule(L.LightningDataModule):
    """The chapter's datasets as a LightningDataModule; the options are the CLI's ``--data.*``.

    Args:
        source: ``digits`` (sklearn's 8x8 digits, offline), ``mnist`` (OpenML, or an IDX folder
            given as ``path``), ``libsvm`` (a file given as ``path``), ``memmap`` (a folder of
            ``.npy`` files given as ``path``).
        path: the file or folder of the source (see ``source``).
        data_home: download cache for OpenML; default ``$SCIKIT_LEARN_DATA`` or ``~/scikit_learn_data``.
        split: fractions (train, val[, test]) of the source's rows; fractions summing to less
            than 1 leave rows out. Without a test fraction, the test set is the source's own
            (MNIST's 10000) or else the validation part, like the chapter's 80/20 "test" split.
        seed: seeds the split's ``torch.Generator``: same seed, same split, on every run and rank.
        batch_size: rows per batch (per process under DDP).
        num_workers: DataLoader worker processes (0 loads in the training process).
        from_source: with ``source: memmap``, create the ``path`` folder from this source if it
            does not exist yet (``prepare_data``, once).
        from_path: the ``path`` of ``from_source`` (an IDX folder or a libsvm file).
        n_features: libsvm only: number of features (default: the largest index in the file).
        zero_based: libsvm only: whether feature indices start at 0 ("auto" guesses).
    """

    def __init__(
        self,
        source: SourceName = "digits",
        path: str | None = None,
        data_home: str | None = None,
        split: tuple[float, ...] = (0.8, 0.2),
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
        from_source: Literal["digits", "mnist", "libsvm"] | None = None,
        from_path: str | None = None,
        n_features: int | None = None,
        zero_based: bool | Literal["auto"] = "auto",
    ) -> None:
        super().__init__()
        check_fractions(split)
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        if source in ("libsvm", "memmap") and not path:
            what = "libsvm file" if source == "libsvm" else "memmap folder"
            raise ConfigError(f"data.source {source} needs --data.path (the {what})")
        if from_source is not None and source != "memmap":
            raise ConfigError(f"data.from_source only applies to data.source memmap, not {source}")
        if from_source == "libsvm" and not from_path:
            raise ConfigError("data.from_source libsvm needs --data.from_path (the libsvm file)")
        self.save_hyperparameters()
        self._source: sources.Source | None = None
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def prepare_data(self) -> None:
        """Download (OpenML) or convert (memmap ``from_source``) once; a no-op when already done."""
        hp = self.hparams
        if hp.source == "mnist" and not hp.path:
            sources.mnist_openml(hp.data_home)
        if hp.source == "memmap" and hp.from_source and not sources.is_complete(Path(hp.path)):
            sources.write_arrays(hp.path, self._load(hp.from_source, hp.from_path))

    def setup(self, stage: str | None = None) -> None:
        """Load the source and split it; idempotent, so fit then test reuse the same split."""
        if self._source is not None:
            return
        hp = self.hparams
        self.prepare_data()  # a no-op after Lightning's own call; needed when used without a Trainer
        source = self._load(hp.source, hp.path)
        if source.test is not None and len(hp.split) == 3:
            raise ConfigError(
                f"data.split {list(hp.split)} has a test fraction, but this {hp.source} data has its own "
                f"test set; give two fractions (train, val)"
            )
        if len(source.train) == 0:
            raise ScaffoldError(
                f"{hp.path or hp.source}: the data has no rows; check --data.source and --data.path"
            )
        indices = split_indices(len(source.train), hp.split, hp.seed)
        parts = [IndexedSubset(source.train, rows) for rows in indices]
        self.train_set, self.val_set = parts[0], parts[1]
        self.test_set = source.test if source.test is not None else parts[-1]
        self._source = source

    def _load(self, name: str, path: str | None) -> sources.Source:
        hp = self.hparams
        return sources.load(name, path, hp.data_home, n_features=hp.n_features, zero_based=hp.zero_based)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one input row, e.g. ``(8, 8)``; known after ``setup``."""
        return tuple(self._loaded().train.feature_shape)

    @property
    def num_features(self) -> int:
        """Inputs per row (the classifier's input size)."""
        return math.prod(self.feature_shape)

    @property
    def num_classes(self) -> int:
        """Number of classes: one more than the largest class id in the source."""
        source = self._loaded()
        parts = [source.train] + ([source.test] if source.test is not None else [])
        return int(max(part.targets.max() for part in parts)) + 1

    @property
    def image_shape(self) -> tuple[int, int] | None:
        """``(H, W)`` when the rows are images, else None."""
        shape = self.feature_shape
        return (shape[0], shape[1]) if len(shape) == 2 else None

    def _loaded(self) -> sources.Source:
        if self._source is None:
            raise RuntimeError("call setup() before asking the DataModule about its data")
        return self._source

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of the train part (Lightning adds a DistributedSampler under DDP)."""
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Batches of the validation part, in order."""
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Batches of the test set, in order."""
        return self._loader(self.test_set, shuffle=False)

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a DataLoader")
        workers = self.hparams.num_workers
        # Pinned host memory only pays off when batches are copied to a GPU.
        on_gpu = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=workers,
            collate_fn=as_batch,
            pin_memory=on_gpu,
            persistent_workers=workers > 0,
        )
