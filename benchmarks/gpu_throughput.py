"""Figure 6: figure 1 on one CUDA GPU, with batches from host memory and with the split resident on the GPU.

    python benchmarks/gpu_throughput.py [--repeats 5] [--epochs 3] [--out DIR]   (from the repository root)

Runs in about a minute on an H100. Needs torch with CUDA, lightning, torchmetrics, numpy, scikit-learn
and tensorboard; not jsonargparse (it imports scaffold.data and scaffold.models, never scaffold.cli),
and scaffold need not be installed: the repository root is put on ``sys.path``.

Rows, as figure 1's on the GPU: the fast path (``steps_per_call`` 32) with (6a) batches gathered in
host memory (pinned by the DataModule) and copied per step, (6b) ``DataModule(on_device=True)``: each
split copied to the GPU once, batches cut there by index, against a plain loop that does the same;
then the default ``steps_per_call`` 1 and the bare-Trainer diagnostic rows.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scaffold, without installing it

import torch  # noqa: E402
from common import parser, report  # noqa: E402
from throughput import throughput_rows  # noqa: E402


def main() -> None:
    """Print (and with --out, save) figure 6's rows."""
    options = parser(__doc__.splitlines()[0])
    options.add_argument("--epochs", type=int, default=3)
    options.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "scaffold_bench_mnist")
    options.add_argument("--accelerator", choices=["gpu", "cpu"], default="gpu", help="cpu: check the script")
    args = options.parse_args()
    if args.accelerator == "gpu" and not torch.cuda.is_available():
        sys.exit("error: no CUDA device; figure 6 needs a GPU (--accelerator cpu checks the script)")
    start = time.perf_counter()
    name = torch.cuda.get_device_name(0) if args.accelerator == "gpu" else "CPU"
    rows = throughput_rows(
        "6", f"as figure 1 on {name}", args.data, args.epochs, args.repeats, accelerator=args.accelerator
    )
    seconds = time.perf_counter() - start
    extra = f"Device: {name}, torch CUDA {torch.version.cuda}; this script's wall time {seconds:.0f} s"
    report(rows, "gpu_throughput", args.out, extra=extra)


if __name__ == "__main__":
    main()
