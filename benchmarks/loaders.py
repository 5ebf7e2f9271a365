"""Figures 2-4: the DataModule's loaders iterated alone, against the chapter's and plain alternatives.

    python benchmarks/loaders.py [--repeats 5] [--out DIR] [--skip-large]

2. The train loader (one numpy index per batch) vs the chapter's ``SimpleDataset`` + default
   collation, and vs slicing an in-memory tensor shuffled once per epoch (one gather, then views).
3. ``MemmapDataset`` vs ``ArrayDataset`` on the same .npy data (page cache warm); and the growth of
   anonymous memory (RssAnon) over one epoch of a >= 1 GiB memmap (``--skip-large`` skips it).
4. ``LibSVMDataset`` from a file vs ``sklearn.datasets.load_svmlight_file`` (same options), and its
   loader (per-batch densify) vs the dense ArrayDataset of the same rows.
All loaders use batch 256 in a training process (num_workers 0); samples/s over one epoch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from common import Row, alternate, parser, rate, report, timed
from throughput import mnist_shaped
from torch.utils.data import DataLoader, Dataset

from scaffold.data import ArrayDataset, DataModule, IndexedSubset, LibSVMDataset
from scaffold.data.loaders import IndexBatches
from scaffold.data.sampling import EpochPermutation

BATCH = 256
TMP = Path(tempfile.gettempdir())


class SimpleDataset(Dataset):
    """The chapter's SimpleDataset (1.5): one row converted per ``__getitem__``."""

    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        self.X, self.y = X, y

    def __getitem__(self, index: int):
        inputs = torch.tensor(self.X[index, :], dtype=torch.float32)
        targets = torch.tensor(int(self.y[index]), dtype=torch.int64)
        return inputs, targets

    def __len__(self) -> int:
        return self.X.shape[0]


def fast_loader(dataset: Dataset, seed: int = 0) -> IndexBatches:
    """What ``DataModule.train_dataloader`` builds (num_workers 0), over any dataset."""
    return IndexBatches(dataset, EpochPermutation(len(dataset), seed), BATCH)


def epochs_of(loader) -> callable:
    """Samples/s of one epoch of ``loader``, a new epoch (new order) per call."""
    state = {"epoch": 0}

    def run() -> int:
        for owner in (getattr(loader, "batch_sampler", None), loader):
            sampler = getattr(owner, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(state["epoch"])
        state["epoch"] += 1
        return sum(len(targets) for _, targets in loader)

    def measure() -> float:
        count = 0

        def work() -> None:
            nonlocal count
            count = run()

        seconds = timed(work)()
        return count / seconds

    return measure


def figure2(repeats: int) -> list[Row]:
    """Train loader vs the chapter's SimpleDataset, and vs slicing a tensor shuffled per epoch."""
    datamodule = mnist_shaped(TMP / "scaffold_bench_mnist")
    ours = epochs_of(datamodule.train_dataloader())
    x, y = (t.numpy() for t in datamodule.train_set.__getitems__(range(len(datamodule.train_set))))
    chapter = epochs_of(DataLoader(SimpleDataset(x, y), batch_size=BATCH, shuffle=True))
    base, fast = alternate(chapter, ours, repeats)
    rows = [
        Row(
            "2a",
            "train loader vs chapter's SimpleDataset + default collate",
            rate(base),
            rate(fast),
            fast / base,
            ">= 10",
        )
    ]

    def presliced() -> float:
        def work() -> None:
            order = np.random.default_rng().permutation(len(y))
            # The fastest whole-array shuffle measured here (numpy take beats index_select ~1.3x).
            inputs, targets = torch.from_numpy(np.take(x, order, axis=0)), torch.from_numpy(y[order])
            for start in range(0, len(targets), BATCH):
                inputs[start : start + BATCH], targets[start : start + BATCH]

        return len(y) / timed(work)()

    base, fast = alternate(presliced, ours, repeats)
    rows.append(
        Row(
            "2b",
            "train loader vs slicing a tensor shuffled once per epoch",
            rate(base),
            rate(fast),
            fast / base,
            ">= 0.8",
        )
    )
    return rows


def write_npy_folder(folder: Path, rows: int, seed: int = 0) -> Path:
    """x.npy (rows, 784) float32 and y.npy, written in chunks (a repeated random block) if missing."""
    if (folder / "x.npy").is_file() and np.load(folder / "y.npy", mmap_mode="r").shape[0] == rows:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    block = rng.random((8192, 784), dtype=np.float32)
    x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.float32, shape=(rows, 784))
    for start in range(0, rows, len(block)):
        x[start : start + len(block)] = block[: rows - start]
    x.flush()
    del x
    np.save(folder / "y.npy", rng.integers(0, 10, rows))
    return folder


def figure3(repeats: int, large: bool) -> list[Row]:
    """MemmapDataset vs ArrayDataset loaders; RssAnon growth over an epoch of a >= 1 GiB memmap."""
    folder = write_npy_folder(TMP / "scaffold_bench_memmap", 70000)
    mapped = DataModule("memmap", path=str(folder), batch_size=BATCH)
    mapped.setup("fit")
    in_memory = IndexedSubset(
        ArrayDataset(np.load(folder / "x.npy"), np.load(folder / "y.npy")), mapped.train_set.indices
    )
    ours = epochs_of(mapped.train_dataloader())
    ours()  # warm the page cache
    base, fast = alternate(epochs_of(fast_loader(in_memory)), ours, repeats)
    rows = [
        Row(
            "3a",
            "memmap loader vs in-memory ArrayDataset loader (warm cache)",
            rate(base),
            rate(fast),
            fast / base,
            ">= 0.8",
        )
    ]
    if large:
        rows.append(memmap_memory_row())
    return rows


def rss_anon_mib() -> float:
    """This process's anonymous resident memory (RssAnon), MiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:")) / 1024


def memmap_memory_row() -> Row:
    """One epoch over a 1.1 GiB memmap: anonymous memory may grow by the batches only, not the file."""
    folder = write_npy_folder(TMP / "scaffold_bench_memmap_large", 376_000)  # 376000 x 784 x 4 B = 1.10 GiB
    size = (folder / "x.npy").stat().st_size / 2**30
    datamodule = DataModule("memmap", path=str(folder), batch_size=BATCH, split=(1.0, 0.0))
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    before = peak = rss_anon_mib()
    for step, _ in enumerate(loader):
        if step % 50 == 0:
            peak = max(peak, rss_anon_mib())
    peak = max(peak, rss_anon_mib())
    return Row(
        "3b",
        f"RssAnon growth over one epoch of a {size:.2f} GiB memmap",
        f"{before:.0f} MiB before",
        f"{peak:.0f} MiB peak",
        peak - before,
        "< 64",
        unit=" MiB",
    )


def figure4(repeats: int) -> list[Row]:
    """libsvm: parse time vs sklearn's parser; per-batch densify loader vs the dense arrays."""
    from scipy import sparse
    from sklearn.datasets import dump_svmlight_file, load_svmlight_file

    path = TMP / "scaffold_bench.svm"
    if not path.is_file():  # 20000 MNIST-sized rows at MNIST's density (~19% nonzero)
        X = sparse.random(20000, 784, density=0.19, format="csr", dtype=np.float32, random_state=0)
        dump_svmlight_file(X, np.random.default_rng(0).integers(0, 10, 20000), str(path))
    options = dict(n_features=None, zero_based="auto", dtype=np.float32)
    base, ours = alternate(
        timed(lambda: load_svmlight_file(str(path), **options)), timed(lambda: LibSVMDataset(path)), repeats
    )
    rows = [
        Row(
            "4a",
            "LibSVMDataset(file) vs load_svmlight_file(file), time",
            f"{base:.3f} s",
            f"{ours:.3f} s",
            ours / base,
            "<= 1.1",
        )
    ]
    datamodule = DataModule("libsvm", path=str(path), batch_size=BATCH)
    datamodule.setup("fit")
    full = datamodule.train_set.dataset
    dense = IndexedSubset(ArrayDataset(full.X.toarray(), full.y), datamodule.train_set.indices)
    base, fast = alternate(epochs_of(fast_loader(dense)), epochs_of(datamodule.train_dataloader()), repeats)
    rows.append(
        Row(
            "4b",
            "libsvm loader (densify per batch) vs dense ArrayDataset loader",
            rate(base),
            rate(fast),
            fast / base,
            ">= 0.5",
        )
    )
    return rows


def main() -> None:
    """Print figures 2-4."""
    options = parser(__doc__.splitlines()[0])
    options.add_argument("--skip-large", action="store_true", help="skip figure 3b (writes a 1.1 GiB file)")
    args = options.parse_args()
    rows = figure2(args.repeats) + figure3(args.repeats, not args.skip_large) + figure4(args.repeats)
    report(rows, "loaders", args.out)


if __name__ == "__main__":
    main()
