"""python examples/exercise3_speedup.py [--out DIR] [--max-power 11] [--repeats 5] [--logdir lightning_logs]

Exercise 3 of chapter 1: time X @ X for X of size 2^i x 2^i, i = 0..11, on the CPU and the GPU,
and plot the speedup. Writes DIR/speedup.csv and DIR/speedup.png, logs the same to TensorBoard
under LOGDIR/matmul/version_<k> (``tensorboard --logdir lightning_logs``), and prints the size at
which the GPU starts to win. Without a GPU it says so and still reports the CPU curve.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from scaffold.errors import ConfigError, ScaffoldError, report
from scaffold.matmul_timing import (
    first_gpu_win,
    format_table,
    log_to_tensorboard,
    matmul_table,
    plot_speedup,
    save_figure,
    write_csv,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One `error:` line and exit code 2, like the scaffold command, instead of usage text.
        raise ConfigError(message)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = _Parser(description="Exercise 3: CPU vs GPU speed of X @ X for n = 2^0 .. 2^max_power.")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for speedup.csv/png (default .)")
    parser.add_argument("--max-power", type=int, default=11, help="largest n is 2^max_power (default 11)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per size; the median is kept")
    parser.add_argument("--logdir", type=Path, default=Path("lightning_logs"), help="TensorBoard root")
    parser.add_argument("--cpu-only", action="store_true", help="time the CPU only, even with a GPU")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, write and log its outputs; return the exit code."""
    try:
        args = parse_args(argv)
        gpu = None if args.cpu_only else "auto"
        rows = matmul_table(args.max_power, args.repeats, gpu=gpu, progress=True)
    except ScaffoldError as error:
        return report(error)
    has_gpu = rows[0].gpu_seconds is not None
    if not has_gpu:
        why = "--cpu-only given" if args.cpu_only else "neither CUDA nor Apple MPS is available"
        print(f"no GPU ({why}): reporting the CPU curve only")
    print(format_table(rows))
    if has_gpu:
        win = first_gpu_win(rows)
        if win is None:
            print(f"the CPU was faster at every size up to n = {rows[-1].n}")
        else:
            print(f"the GPU starts to win at n = {win} (X is {win} x {win})")
    figure = plot_speedup(rows)
    write_csv(rows, args.out / "speedup.csv")
    save_figure(figure, args.out / "speedup.png")
    logdir = log_to_tensorboard(rows, figure, args.logdir / "matmul")
    print(f"wrote {args.out / 'speedup.csv'}, {args.out / 'speedup.png'}; TensorBoard: {logdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
