"""Where figure 1's time goes (CPU): training, validation and the rest, scaffold against the plain loop.

    python benchmarks/time_split.py [--repeats 5] [--epochs 3] [--steps-per-call 32] [--host]

A diagnostic, not a figure: the same two runs as figure 1b (or 1a with ``--host``), alternated, with
their wall time split into three parts. For the plain loop: its training batches, its validation
batches, and the rest (building the model). For the scaffold, measured by a callback between
Lightning's batch-start and batch-end hooks: its training calls (each trains ``steps_per_call``
batches), its validation calls (sanity check included), and the rest: Lightning's per-epoch work
(epoch-end logging, checkpoints, starting the validation loop) and its per-fit work (building the
Trainer and logger, hooks, teardown). Prints the medians and each part's extra time.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from common import parser
from throughput import mnist_shaped, plain_loop, scaffold_fit, split_tensors

PARTS = ("train", "val", "rest")


class PhaseClock(L.Callback):
    """Adds up the seconds between each batch-start and batch-end hook, per stage."""

    def __init__(self) -> None:
        self.seconds = {"train": 0.0, "val": 0.0}
        self._started = 0.0

    def _start(self, *_args) -> None:
        self._started = time.perf_counter()

    def _stop(self, phase: str) -> None:
        self.seconds[phase] += time.perf_counter() - self._started

    on_train_batch_start = on_validation_batch_start = _start

    def on_train_batch_end(self, *_args) -> None:
        """One training call ended."""
        self._stop("train")

    def on_validation_batch_end(self, *_args) -> None:
        """One validation call ended."""
        self._stop("val")


def split_times(run) -> dict[str, float]:
    """``run(phases)`` timed as a whole and split into ``PARTS`` (seconds); its output is hidden."""
    phases: dict[str, float] = {}
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        run(phases)
    total = time.perf_counter() - started
    return {**phases, "rest": total - phases["train"] - phases["val"], "total": total}


def main() -> None:
    """Print the medians of each part, for both sides, and the scaffold's extra time per part."""
    options = parser(__doc__.splitlines()[0])
    options.add_argument("--epochs", type=int, default=3)
    options.add_argument("--steps-per-call", type=int, default=32)
    options.add_argument("--host", action="store_true", help="batches from host memory (figure 1a)")
    options.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "scaffold_bench_mnist")
    args = options.parse_args()
    datamodule = mnist_shaped(args.data, on_device=not args.host)
    arrays, seed = split_tensors(datamodule), datamodule.hparams.seed
    logs = Path(tempfile.mkdtemp())

    def plain(phases: dict[str, float]) -> None:
        plain_loop(arrays, seed, args.epochs, torch.device("cpu"), phases)

    def scaffold(phases: dict[str, float]) -> None:
        clock = PhaseClock()
        scaffold_fit(datamodule, args.epochs, "cpu", logs, args.steps_per_call, callbacks=[clock])
        phases.update(clock.seconds)

    sides = {"plain loop": plain, "scaffold": scaffold}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for run in sides.values():
        split_times(run)  # warm-up
    for repeat in range(args.repeats):
        order = list(sides.items()) if repeat % 2 == 0 else list(sides.items())[::-1]
        for side, run in order:
            runs[side].append(split_times(run))
    medians = {
        side: {part: statistics.median(run[part] for run in side_runs) * 1000 for part in (*PARTS, "total")}
        for side, side_runs in runs.items()
    }
    base, ours = medians["plain loop"], medians["scaffold"]
    where = "host memory" if args.host else "on_device"
    print(f"{args.epochs} epochs, steps_per_call {args.steps_per_call}, batches from {where}", end="")
    print(f", medians of {args.repeats}")
    print("| part | plain loop | scaffold | extra | extra / plain total |")
    print("|---|---|---|---|---|")
    for part in (*PARTS, "total"):
        extra = ours[part] - base[part]
        share = extra / base["total"]
        print(f"| {part} | {base[part]:.0f} ms | {ours[part]:.0f} ms | {extra:+.0f} ms | {share:+.1%} |")
    print(f"ratio (plain total / scaffold total): {base['total'] / ours['total']:.3f}")


if __name__ == "__main__":
    main()
