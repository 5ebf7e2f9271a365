"""python examples/exercise6_libsvm.py [FILE] [--n-features N] [--zero-based true|false|auto]

Exercise 6: the chapter's libsvm2Dataset. Loads a libsvm/svmlight classification file as a
Dataset (sparse rows, densified per batch). Without FILE it first writes scikit-learn's digits as
data/digits.libsvm, the file configs/libsvm.yaml trains on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from torch.utils.data import DataLoader

from scaffold.atomic import atomic_path
from scaffold.data import LibSVMDataset, as_batch
from scaffold.errors import run_script

DEFAULT = Path("data/digits.libsvm")


def write_digits(path: Path) -> None:
    """Write sklearn's digits (64 features, labels 0-9) as a libsvm file."""
    from sklearn.datasets import dump_svmlight_file, load_digits

    X, y = load_digits(return_X_y=True)
    with atomic_path(path) as tmp:
        dump_svmlight_file(X, y, str(tmp), zero_based=False)


def main() -> None:
    """Load the file; print its length, feature count, classes and one batch's shapes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    parser.add_argument("file", nargs="?", type=Path)
    parser.add_argument("--n-features", type=int)
    parser.add_argument("--zero-based", default="auto", choices=["true", "false", "auto"])
    args = parser.parse_args()

    path = args.file
    if path is None:
        path = DEFAULT
        if not path.exists():
            write_digits(path)
            print(f"wrote {path}")
    zero_based = {"true": True, "false": False}.get(args.zero_based, "auto")
    dataset = LibSVMDataset(path, n_features=args.n_features, zero_based=zero_based)
    features, classes = dataset.feature_shape[0], dataset.classes.tolist()
    print(f"{path}: {len(dataset)} rows, {features} features, classes {classes}")
    inputs, targets = next(iter(DataLoader(dataset, batch_size=32, shuffle=True, collate_fn=as_batch)))
    print(f"one batch: inputs {tuple(inputs.shape)} {inputs.dtype}, targets {tuple(targets.shape)}")


if __name__ == "__main__":
    run_script(main)
