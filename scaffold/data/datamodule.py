"""DataModule: the chapter's data pipeline (1.5), source -> Dataset -> seeded random_split -> DataLoader.

Example::

    from scaffold.data import DataModule
    dm = DataModule("digits", split=(0.8, 0.2), batch_size=64)
    dm.prepare_data(); dm.setup("fit")
    len(dm.train_set), len(dm.val_set)  # (1438, 359)
    inputs, labels = next(iter(dm.train_dataloader()))  # (64, 8, 8) float32, (64,) int64

The train loader shuffles with the order of :class:`~scaffold.data.sampling.EpochPermutation`, a pure
function of ``(seed, epoch)``, and cuts one index array per batch: in the training process
(:class:`~scaffold.data.loaders.IndexBatches`, by row number for the scaffold's datasets) with
``num_workers: 0``, else through a DataLoader's workers and ``__getitems__``. It is resumable
mid-epoch: a run interrupted inside an epoch and resumed from ``last.ckpt`` trains on the rest of
that epoch's batches, not on a new epoch. Under DDP the train loader is a plain shuffled
DataLoader that Lightning shards with its ``DistributedSampler`` (seeded by ``seed_everything``);
it restarts an interrupted epoch.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from scaffold.data import sources
from scaffold.data.datasets import IndexedSubset, as_batch
from scaffold.data.loaders import DeviceBatches, IndexBatches, ResumableLoader, to_device
from scaffold.data.sampling import EpochPermutation, IndexBatchSampler
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
        seed: seeds the split's ``torch.Generator`` (same seed, same split, on every run and rank)
            and, with the epoch, the order of the train rows.
        batch_size: rows per batch (per process under DDP).
        num_workers: DataLoader worker processes (0: batches are cut in the training process, no DataLoader).
        on_device: copy each split once into the accelerator's memory (plain tensors on CPU) and
            cut batches there by index: no workers, no per-batch copies. Needs the split to fit.
        from_source: with ``source: memmap``, create the ``path`` folder from this source if it
            does not exist yet (``prepare_data``, once).
        from_path: the ``path`` of ``from_source`` (an IDX folder or a libsvm file).
        n_features: libsvm only: number of features (default: the largest index in the file).
        zero_based: libsvm only: whether feature indices start at 0 ("auto" guesses).
    """

    # Runs on the same source and path are on the same data: --ckpt_path last resumes only those.
    identity_args = ("source", "path")

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
        on_device: bool = False,
    ) -> None:
        super().__init__()
        check_fractions(split)
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        if not -(2**63) <= seed < 2**64:  # what torch.Generator.manual_seed takes
            raise ConfigError(f"data.seed must fit in 64 bits, got {seed}")
        if on_device and num_workers:
            raise ConfigError("data.on_device loads batches without workers; set --data.num_workers 0")
        if source in ("libsvm", "memmap") and not path:
            what = "libsvm file" if source == "libsvm" else "memmap folder"
            raise ConfigError(f"data.source {source} needs --data.path (the {what})")
        if from_source is not None and source != "memmap":
            raise ConfigError(f"data.from_source only applies to data.source memmap, not {source}")
        if from_source == "libsvm" and not from_path:
            raise ConfigError("data.from_source libsvm needs --data.from_path (the libsvm file)")
        arguments = dict(locals())  # this class's arguments as it received them (none is rebound above)
        self.save_hyperparameters()
        # Under LightningCLI a subclass's hparams hold only its own __init__ arguments, and a subclass
        # may pass on other values than it was given: the methods below read what this class got.
        self.hparams.update({name: arguments[name] for name in inspect.signature(DataModule).parameters})
        self._source: sources.Source | None = None
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self._resident: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

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
        _check_test_set(source, hp.path or hp.source)
        _check_labels(source, hp.path or hp.source)
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

    def train_dataloader(self) -> DataLoader | IndexBatches:
        """Shuffled batches of the train part: the order of epoch e depends only on (seed, e)."""
        dataset = self._ready(self.train_set)
        world_size, rank = self._ranks()
        if self._overfitting():
            return self._loader(dataset, shuffle=False)
        if self.hparams.on_device:
            return self._device_loader(
                dataset, EpochPermutation(len(dataset), self.hparams.seed, True, rank, world_size)
            )
        if world_size > 1:
            # Lightning swaps in a DistributedSampler only for a plain sampler; it shards and shuffles.
            return self._loader(dataset, shuffle=True)
        order = EpochPermutation(len(dataset), self.hparams.seed)
        if self.hparams.num_workers == 0:
            return self._in_process_loader(dataset, order)
        sampler = IndexBatchSampler(order, self.hparams.batch_size)
        return ResumableLoader(dataset, batch_sampler=sampler, **self._loader_options())

    def val_dataloader(self) -> DataLoader | IndexBatches:
        """Batches of the validation part, in order."""
        return self._eval_loader(self.val_set)

    def test_dataloader(self) -> DataLoader | IndexBatches:
        """Batches of the test set, in order."""
        return self._eval_loader(self.test_set)

    def predict_dataloader(self) -> DataLoader | IndexBatches:
        """Batches of the test set, in order (``scaffold predict``)."""
        return self._eval_loader(self.test_set)

    def _eval_loader(self, dataset: Dataset | None) -> DataLoader | IndexBatches:
        dataset = self._ready(dataset)
        world_size, rank = self._ranks()
        if self._overfitting():
            return self._loader(dataset, shuffle=False)
        order = EpochPermutation(len(dataset), shuffle=False, rank=rank, world_size=world_size)
        if self.hparams.on_device:
            return self._device_loader(dataset, order)
        if self.hparams.num_workers == 0 and world_size == 1:
            return self._in_process_loader(dataset, order)
        return self._loader(dataset, shuffle=False)

    def _in_process_loader(self, dataset: Dataset, order: EpochPermutation) -> IndexBatches:
        return IndexBatches(dataset, order, self.hparams.batch_size, pin_memory=self._pin_memory())

    def _device_loader(self, dataset: Dataset, order: EpochPermutation) -> DeviceBatches:
        # Copied once per split and kept: every epoch (and fit then test) reuses the resident tensors.
        if id(dataset) not in self._resident:
            self._resident[id(dataset)] = to_device(dataset, self._device())
        return DeviceBatches(*self._resident[id(dataset)], order, self.hparams.batch_size)

    def _device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _overfitting(self) -> bool:
        # --trainer.overfit_batches: Lightning swaps in a SequentialSampler, which only a DataLoader takes.
        return self.trainer is not None and bool(self.trainer.overfit_batches)

    def _ranks(self) -> tuple[int, int]:
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    @staticmethod
    def _ready(dataset: Dataset | None) -> Dataset:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a DataLoader")
        return dataset

    def _pin_memory(self) -> bool:
        # Pinned host memory only pays off when batches are copied to a GPU.
        return self.trainer is not None and self._device().type == "cuda"

    def _loader_options(self) -> dict:
        workers = self.hparams.num_workers
        return dict(
            num_workers=workers,
            collate_fn=as_batch,
            pin_memory=self._pin_memory(),
            persistent_workers=workers > 0,
        )

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset, batch_size=self.hparams.batch_size, shuffle=shuffle, **self._loader_options()
        )


def _check_test_set(source: sources.Source, where: str) -> None:
    """A source's own test set must have rows shaped as the training rows (found at load, not at test)."""
    if source.test is None:
        return
    if len(source.test) == 0:
        raise ScaffoldError(f"{where}: the test set has no rows; give test data with rows, or remove it")
    train_shape, test_shape = tuple(source.train.feature_shape), tuple(source.test.feature_shape)
    if train_shape != test_shape:
        raise ScaffoldError(
            f"{where}: the test rows have shape {test_shape} but the training rows {train_shape}; "
            "give test data with the training data's features"
        )


def _check_labels(source: sources.Source, where: str) -> None:
    """Labels are class ids 0, 1, ...: cross-entropy fails on a negative one, mid-training."""
    for part, name in ((source.train, "training"), (source.test, "test")):
        if part is not None and len(part) and (lowest := int(part.targets.min())) < 0:
            raise ScaffoldError(
                f"{where}: the {name} labels must be class ids 0, 1, 2, ..., found {lowest}; "
                "map them to 0-based ids first (e.g. -1/+1 -> 0/1)"
            )
