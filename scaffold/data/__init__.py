"""The chapter's datasets (1.5, exercises 6-7) and the DataModule that splits and batches them."""

from scaffold.data.datamodule import DataModule
from scaffold.data.datasets import ArrayDataset, IndexedSubset, MemmapDataset, as_batch
from scaffold.data.libsvm import LibSVMDataset
from scaffold.data.loaders import DeviceBatches, IndexBatches, ResumableLoader
from scaffold.data.sampling import EpochPermutation, IndexBatchSampler
from scaffold.data.sources import Source, read_arrays, write_arrays
from scaffold.data.splits import split_indices

__all__ = [
    "ArrayDataset",
    "DataModule",
    "DeviceBatches",
    "IndexBatches",
    "EpochPermutation",
    "IndexBatchSampler",
    "IndexedSubset",
    "LibSVMDataset",
    "MemmapDataset",
    "ResumableLoader",
    "Source",
    "as_batch",
    "read_arrays",
    "split_indices",
    "write_arrays",
]
