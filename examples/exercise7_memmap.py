"""python examples/exercise7_memmap.py [--source digits|mnist|libsvm] [--path SRC] [--out data/SOURCE_memmap]

Exercise 7: a dataset too big for memory lives on disk as .npy files (dtype and shape in their
headers). Convert a source into a memmap folder once (atomically, with a progress bar), open it
read-only and lazily, check it equals the source bit for bit, and read it with 2 worker processes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from scaffold.data import as_batch, read_arrays, sources, write_arrays
from scaffold.errors import run_script


def main() -> None:
    """Convert (if needed), verify against the source, and iterate with num_workers=2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    parser.add_argument("--source", choices=["digits", "mnist", "libsvm"], default="digits")
    parser.add_argument("--path", help="the source's file or folder (MNIST IDX folder, libsvm file)")
    parser.add_argument("--out", help="the memmap folder (default: data/SOURCE_memmap)")
    args = parser.parse_args()
    if args.source == "libsvm" and not args.path:
        parser.error("--source libsvm needs --path (the libsvm file)")
    args.out = args.out or f"data/{args.source}_memmap"

    source = sources.load(args.source, args.path)
    if not sources.is_complete(Path(args.out)):
        write_arrays(args.out, source)
    memmap = read_arrays(args.out).train
    print(f"{args.out}: {len(memmap)} rows of shape {memmap.feature_shape}")

    every_row = np.arange(len(memmap))
    expected, got = source.train.__getitems__(every_row), memmap.__getitems__(every_row)
    same = all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    print(f"equal to the source bit for bit: {same}")

    loader = DataLoader(memmap, batch_size=256, num_workers=2, collate_fn=as_batch)
    rows = sum(len(targets) for _, targets in loader)
    print(f"read {rows} rows with 2 worker processes")


if __name__ == "__main__":
    run_script(main)
