"""Where the rows come from: digits, MNIST (OpenML or an IDX folder), a libsvm file, a memmap folder.

Each loader returns a :class:`Source`: the rows the DataModule splits (``train``) and, when the
data set defines one (MNIST's 10000), its own ``test`` rows. Images are ``(N, H, W)`` float32 in
[0, 1]; labels are int64 class ids.

A memmap folder holds ``x.npy``, ``y.npy`` and optionally ``x_test.npy``, ``y_test.npy``
(:func:`write_arrays` writes it; the OpenML cache uses the same layout).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from scaffold.data.datasets import ArrayDataset, MemmapDataset
from scaffold.data.formats import read_idx, write_npy
from scaffold.data.libsvm import LibSVMDataset
from scaffold.errors import ScaffoldError

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_ROWS = {"train": 60000, "test": 10000}  # OpenML's mnist_784 keeps this order
MNIST_HINT = "put the 4 MNIST IDX files in a folder and pass --data.path FOLDER, or use --data.source digits"
CHUNK_ROWS = 8192


@dataclass
class Source:
    """The rows to split into train/val(/test), and the data set's own test rows if it has them."""

    train: Dataset
    test: Dataset | None = None


def digits() -> Source:
    """scikit-learn's 8x8 digits (1797 images, shipped with sklearn): the offline default."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    # Pixel values are 0..16; scale to [0, 1] like MNIST's.
    return Source(ArrayDataset((X / 16).astype(np.float32).reshape(-1, 8, 8), y.astype(np.int64)))


def mnist_idx(folder: str | os.PathLike[str]) -> Source:
    """MNIST from a folder with the four standard IDX files (each optionally ``.gz``); 60000/10000."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScaffoldError(
            f"{folder}: no such folder; set --data.path to a folder holding the four MNIST IDX files "
            f"({', '.join(MNIST_FILES['train'] + MNIST_FILES['test'])}), or unset it to use OpenML"
        )
    parts = []
    for images_name, labels_name in MNIST_FILES.values():
        images_path, labels_path = _find(folder, images_name), _find(folder, labels_name)
        images = _expect(images_path, read_idx(images_path), ndim=3, magic="00000803")
        labels = _expect(labels_path, read_idx(labels_path), ndim=1, magic="00000801")
        if len(images) != len(labels):
            raise ScaffoldError(
                f"{images_path} has {len(images)} images but {labels_path.name} has {len(labels)} labels; "
                f"the two files must come from the same MNIST release"
            )
        parts.append(ArrayDataset(images.astype(np.float32) / 255, labels.astype(np.int64)))
    return Source(*parts)


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise ScaffoldError(f"{folder}: has no {name} (nor {name}.gz); {MNIST_HINT}")


def _expect(path: Path, array: np.ndarray, ndim: int, magic: str) -> np.ndarray:
    if array.ndim != ndim or array.dtype != np.uint8:
        raise ScaffoldError(
            f"{path}: wrong IDX magic: it holds {array.dtype} with {array.ndim} dims, expected magic {magic} "
            f"(uint8, {ndim} dims); is this file the one its name says?"
        )
    return array


def mnist_openml(data_home: str | os.PathLike[str] | None = None) -> Source:
    """MNIST as the chapter loads it, ``fetch_openml("mnist_784")``, parsed once and cached as memmaps.

    The cache is ``<data_home>/scaffold_mnist_784`` (a memmap folder) next to scikit-learn's own
    download cache; ``data_home`` defaults to ``$SCIKIT_LEARN_DATA`` or ``~/scikit_learn_data``.
    """
    from sklearn.datasets import get_data_home

    folder = Path(get_data_home(data_home)) / "scaffold_mnist_784"
    if not is_complete(folder):
        write_arrays(folder, _fetch_openml_mnist(folder.parent))
    return read_arrays(folder)


def _fetch_openml_mnist(data_home: Path) -> Source:
    from sklearn.datasets import fetch_openml

    from scaffold.data.progress import elapsed

    try:
        with elapsed("downloading and parsing mnist_784 from OpenML (only once)"):
            # liac-arff: the parser that needs no pandas; as_frame=False: plain numpy arrays.
            X, y = fetch_openml(
                "mnist_784",
                version=1,
                return_X_y=True,
                as_frame=False,
                parser="liac-arff",
                data_home=data_home,
            )
    except OSError as exc:  # URLError, timeouts, DNS failures are all OSErrors
        raise ScaffoldError(
            f"cannot download mnist_784 from OpenML ({getattr(exc, 'reason', exc)}) and no cache is in "
            f"{data_home}; {MNIST_HINT}"
        ) from None
    X, y = np.asarray(X), np.asarray(y)
    rows, train = sum(MNIST_ROWS.values()), MNIST_ROWS["train"]
    if X.shape != (rows, 784) or y.shape != (rows,):
        raise ScaffoldError(f"OpenML's mnist_784 has shape {X.shape}, expected ({rows}, 784); {MNIST_HINT}")
    images = (X.reshape(-1, 28, 28) / 255).astype(np.float32)
    labels = y.astype(np.int64)  # OpenML gives the labels as strings "0".."9"
    return Source(ArrayDataset(images[:train], labels[:train]), ArrayDataset(images[train:], labels[train:]))


def libsvm(
    path: str | os.PathLike[str], n_features: int | None = None, zero_based: bool | str = "auto"
) -> Source:
    """A libsvm/svmlight classification file (exercise 6)."""
    return Source(LibSVMDataset(path, n_features=n_features, zero_based=zero_based))


def memmap(folder: str | os.PathLike[str]) -> Source:
    """A memmap folder written by :func:`write_arrays` (exercise 7)."""
    return read_arrays(folder)


def load(
    name: str,
    path: str | os.PathLike[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
    n_features: int | None = None,
    zero_based: bool | str = "auto",
) -> Source:
    """Load source ``name`` (digits, mnist, libsvm, memmap) with the DataModule's options."""
    if name == "digits":
        return digits()
    if name == "mnist":
        return mnist_idx(path) if path else mnist_openml(data_home)
    if name == "libsvm":
        return libsvm(path, n_features=n_features, zero_based=zero_based)
    if name == "memmap":
        return memmap(path)
    raise ValueError(f"unknown source {name!r}")


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished memmap folder (``x.npy`` is written last)."""
    return (folder / "x.npy").is_file() and (folder / "y.npy").is_file()


def read_arrays(folder: str | os.PathLike[str]) -> Source:
    """Open a memmap folder's ``x.npy``/``y.npy`` (and ``x_test.npy``/``y_test.npy`` if present)."""
    folder = Path(folder)
    if not is_complete(folder):
        missing = "no such folder" if not folder.is_dir() else "no x.npy and y.npy in it"
        raise ScaffoldError(
            f"{folder}: {missing}; create it with --data.from_source digits|mnist|libsvm "
            f"(see examples/exercise7_memmap.py)"
        )
    test = None
    if (folder / "x_test.npy").is_file() or (folder / "y_test.npy").is_file():
        test = MemmapDataset(folder / "x_test.npy", folder / "y_test.npy")
    return Source(MemmapDataset(folder / "x.npy", folder / "y.npy"), test)


def write_arrays(folder: str | os.PathLike[str], source: Source) -> Path:
    """Write ``source`` as a memmap folder: float32 inputs, int64 labels, each file atomically.

    ``x.npy`` is written last, so a folder is complete exactly when it has ``x.npy``: a run
    interrupted half-way is redone from the start by the next one.
    """
    folder = Path(folder)
    parts = [("_test", source.test), ("", source.train)] if source.test is not None else [("", source.train)]
    for suffix, dataset in parts:
        rows = len(dataset)
        write_npy(folder / f"y{suffix}.npy", (rows,), np.int64, [np.asarray(dataset.targets)])
        chunks = (
            dataset.__getitems__(np.arange(start, min(start + CHUNK_ROWS, rows)))[0].numpy()
            for start in range(0, rows, CHUNK_ROWS)
        )
        shape = (rows, *dataset.feature_shape)
        name = folder / f"x{suffix}.npy"
        write_npy(name, shape, np.float32, chunks, progress=f"writing {folder.name}/{name.name}")
    return folder
