"""Issue 6's table on this machine: figures 1-5 (CPU), each a baseline and the scaffold, alternated.

    python benchmarks/run_all.py [--repeats 5] [--out DIR] [--skip-large]   (from the repository root)

About 6 minutes on 2 cores. Figure 6 needs a GPU: benchmarks/gpu_throughput.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import parser, report
from loaders import figure2, figure3, figure4
from startup import startup_row
from throughput import throughput_rows


def main() -> None:
    """Print (and with --out, save) the whole table."""
    options = parser(__doc__.splitlines()[0])
    options.add_argument("--skip-large", action="store_true", help="skip figure 3b (writes a 1.1 GiB file)")
    args = options.parse_args()
    data = Path(tempfile.gettempdir()) / "scaffold_bench_mnist"
    rows = throughput_rows("1", "training samples/s vs plain loop (3 epochs, CPU)", data, 3, args.repeats)
    rows += figure2(args.repeats) + figure3(args.repeats, not args.skip_large) + figure4(args.repeats)
    rows.append(startup_row(args.repeats))
    report(rows, "table", args.out)


if __name__ == "__main__":
    main()
