"""python examples/ch1_5_dataset.py [--source digits|mnist] [--path MNIST_IDX_FOLDER] [--out DIR]

Chapter 1.5: a dataset is something with a length and items. Build the chapter's SimpleDataset
(here ArrayDataset) over the rows, look at one item, split it 80/20 with a seeded random_split,
and save the first image as a PNG, as the chapter's ``plt.imshow`` shows it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scaffold.atomic import atomic_path
from scaffold.data import sources, split_indices
from scaffold.errors import run_script


def main() -> None:
    """Print the dataset's length, one item, the split sizes; save the item's image."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    parser.add_argument("--source", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--path", help="a folder with the MNIST IDX files (default: OpenML download)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the PNG (default: .)")
    args = parser.parse_args()

    if args.source == "digits":
        dataset = sources.digits().train
    else:
        dataset = (sources.mnist_idx(args.path) if args.path else sources.mnist_openml()).train
    print(f"len(dataset) = {len(dataset)}")
    example, label = dataset[0]
    print(f"dataset[0]: input {tuple(example.shape)} {example.dtype}, label {label.item()} {label.dtype}")

    train, test = split_indices(len(dataset), (0.8, 0.2), seed=0)
    print(f"80/20 split: {len(train)} train rows, {len(test)} test rows")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = args.out / f"ch1_5_{args.source}_example.png"
    plt.imshow(example.numpy(), cmap="gray")
    plt.title(f"label {label.item()}")
    with atomic_path(png) as tmp:
        plt.savefig(tmp)
    print(f"saved {png}")


if __name__ == "__main__":
    run_script(main)
