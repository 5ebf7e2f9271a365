"""CPU vs GPU matrix multiplication timing: chapter 1.2.1 and exercise 3.

The chapter times ``x @ x`` for one 2^11 x 2^11 matrix with ``timeit``; exercise 3 asks for every
power of two up to 2^11 and the speedup. GPU work is asynchronous, so a fair timing needs a warm-up
(the first call pays for lazy initialisation) and a synchronisation before the clock is read on
both sides of the timed region; the chapter's timing has neither.

Example::

    from scaffold.matmul_timing import first_gpu_win, matmul_table

    rows = matmul_table(max_power=11, repeats=5)  # times the GPU too when there is one
    first_gpu_win(rows)  # smallest n where the GPU is faster, or None
"""

from __future__ import annotations

import csv
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from scaffold.atomic import atomic_path
from scaffold.devices import choose_device
from scaffold.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_POWER_LIMIT = 14  # 2^14 float32 is 1 GiB per matrix; beyond that a CPU run takes hours


@dataclass(frozen=True)
class MatmulTiming:
    """One size of the benchmark: median seconds of one ``X @ X`` for an n x n float32 ``X``."""

    n: int
    cpu_seconds: float
    gpu_seconds: float | None = None
    speedup: float | None = None  # cpu_seconds / gpu_seconds: > 1 means the GPU wins


def synchronize(device: torch.device) -> None:
    """Wait until all queued work on ``device`` is done (a no-op for the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_matmul(n: int, device: torch.device, repeats: int = 5, min_seconds: float = 1e-3) -> float:
    """Median over ``repeats`` of the seconds one ``X @ X`` takes for a random n x n ``X`` on ``device``.

    Each repeat runs the product back to back enough times to last about ``min_seconds`` (as the
    chapter's ``timeit(number=100)`` does), so tiny sizes are not lost in the clock's resolution.
    """
    x = torch.rand(n, n, device=device)
    x @ x  # warm-up: kernel choice, cuBLAS handle and allocator set-up happen on the first call
    synchronize(device)
    start = time.perf_counter()
    x @ x
    synchronize(device)
    once = time.perf_counter() - start
    number = max(1, min(10_000, math.ceil(min_seconds / max(once, 1e-9))))
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(number):
            x @ x
        synchronize(device)
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def matmul_table(
    max_power: int = 11,
    repeats: int = 5,
    gpu: torch.device | str | None = "auto",
    progress: bool = False,
) -> list[MatmulTiming]:
    """Time ``X @ X`` for n = 2^0 .. 2^max_power on the CPU and on ``gpu``; one row per size.

    ``gpu="auto"`` uses CUDA or Apple MPS when present (:func:`~scaffold.devices.choose_device`)
    and times the CPU only otherwise; ``None`` times the CPU only. ``progress`` shows a tqdm bar.
    """
    if not 0 <= max_power <= MAX_POWER_LIMIT:
        raise ConfigError(f"max_power must be between 0 and {MAX_POWER_LIMIT}, got {max_power}")
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    if isinstance(gpu, str):
        gpu = choose_device(gpu)
        if gpu.type == "cpu":
            gpu = None
    sizes = [2**power for power in range(max_power + 1)]
    if progress:
        from tqdm.auto import tqdm

        sizes = tqdm(sizes, desc="X @ X", unit="size")
    cpu = torch.device("cpu")
    rows = []
    for n in sizes:
        cpu_seconds = time_matmul(n, cpu, repeats)
        gpu_seconds = None if gpu is None else time_matmul(n, gpu, repeats)
        speedup = None if gpu_seconds is None else cpu_seconds / gpu_seconds
        rows.append(MatmulTiming(n, cpu_seconds, gpu_seconds, speedup))
    return rows


def first_gpu_win(rows: list[MatmulTiming]) -> int | None:
    """The smallest n at which the GPU was faster than the CPU (speedup > 1), or None."""
    return next((row.n for row in rows if row.speedup is not None and row.speedup > 1), None)


def format_table(rows: list[MatmulTiming]) -> str:
    """The table as aligned text: n, CPU and GPU microseconds per product, and the speedup."""
    lines = [f"{'n':>6} {'cpu_us':>12} {'gpu_us':>12} {'speedup':>9}"]
    for row in rows:
        gpu = "-" if row.gpu_seconds is None else f"{row.gpu_seconds * 1e6:.2f}"
        speedup = "-" if row.speedup is None else f"{row.speedup:.2f}"
        lines.append(f"{row.n:>6} {row.cpu_seconds * 1e6:>12.2f} {gpu:>12} {speedup:>9}")
    return "\n".join(lines)


def write_csv(rows: list[MatmulTiming], path: str | Path) -> None:
    """Write ``n,cpu_seconds,gpu_seconds,speedup`` (empty cells without a GPU), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["n", "cpu_seconds", "gpu_seconds", "speedup"])
        for row in rows:
            writer.writerow([row.n, *("" if v is None else repr(v) for v in _values(row))])


def _values(row: MatmulTiming) -> tuple[float | None, float | None, float | None]:
    return row.cpu_seconds, row.gpu_seconds, row.speedup


def plot_speedup(rows: list[MatmulTiming]) -> Figure:
    """Seconds per ``X @ X`` against n for each device, and the speedup curve; log-log axes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    sizes = [row.n for row in rows]
    has_gpu = any(row.gpu_seconds is not None for row in rows)
    figure = Figure(figsize=(11 if has_gpu else 6, 4.5), layout="constrained")
    times, *rest = figure.subplots(1, 2 if has_gpu else 1, squeeze=False)[0]
    times.plot(sizes, [row.cpu_seconds for row in rows], "o-", label="CPU")
    if has_gpu:
        times.plot(sizes, [row.gpu_seconds for row in rows], "s-", label="GPU")
    times.set(yscale="log", xlabel="n (X is n x n)", ylabel="seconds per X @ X")
    times.set_title("time per size" if has_gpu else "time per size (no GPU found: CPU only)")
    times.legend(loc="best")
    if has_gpu:
        speedup = rest[0]
        speedup.plot(sizes, [row.speedup for row in rows], "o-", color="tab:green", label="CPU / GPU time")
        speedup.axhline(1.0, color="black", linewidth=0.8, linestyle="--", label="break-even")
        speedup.set(yscale="log", xlabel="n (X is n x n)", ylabel="speedup")
        speedup.set_title("GPU speedup")
        speedup.legend(loc="best")
    for axes in (times, *rest):
        axes.set_xscale("log", base=2)
        axes.grid(True, which="both", alpha=0.3)
    return figure


def save_figure(figure: Figure, path: str | Path) -> None:
    """Save ``figure`` as a PNG at ``path``, atomically."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def log_to_tensorboard(rows: list[MatmulTiming], figure: Figure, root: str | Path) -> Path:
    """Log the figure and per-size scalars (step = n) under a new ``root/version_<k>``; return it.

    Tags: ``matmul/cpu_seconds``, and with a GPU ``matmul/gpu_seconds`` and ``matmul/speedup``;
    the figure is ``matmul/figure``.
    """
    from torch.utils.tensorboard import SummaryWriter

    logdir = _next_version(Path(root))
    with SummaryWriter(log_dir=str(logdir)) as writer:
        for row in rows:
            for tag, value in zip(("cpu_seconds", "gpu_seconds", "speedup"), _values(row), strict=True):
                if value is not None:
                    writer.add_scalar(f"matmul/{tag}", value, global_step=row.n)
        # close=False: the caller still owns the figure (and may save it after logging).
        writer.add_figure("matmul/figure", figure, close=False)
    return logdir


def _next_version(root: Path) -> Path:
    # Same layout as Lightning's TensorBoardLogger, so runs do not mix their points in one curve.
    taken = [int(p.name[8:]) for p in root.glob("version_*") if p.name[8:].isdigit()]
    return root / f"version_{max(taken, default=-1) + 1}"
