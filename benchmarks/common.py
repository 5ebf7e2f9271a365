"""Shared benchmark helpers: alternate baseline and scaffold, take medians, print and save table rows.

Every figure times a baseline and the scaffold in the same process, alternately (which one runs
first swaps each repeat, so a neighbour's load or a warm cache favours neither), and reports the
medians and their ratio against the issue's target.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HEADER = "| figure | what | baseline | scaffold | ratio | target | met |"


@dataclass
class Row:
    """One table row: two medians, the ratio in the direction the target is stated, and the target.

    ``ratio`` is scaffold/baseline unless ``unit`` says otherwise (figure 3's memory growth in MiB).
    """

    figure: str
    what: str
    baseline: str
    scaffold: str
    ratio: float
    target: str  # e.g. ">= 0.90", "<= 1.25" or "< 64"
    note: str = ""
    unit: str = "x"

    @property
    def met(self) -> bool:
        """Whether ``ratio`` satisfies ``target``."""
        return self._meets(float(self.ratio))

    def _meets(self, value: float) -> bool:
        op, bound = self.target.split()
        compare = {">=": float.__ge__, "<=": float.__le__, "<": float.__lt__, ">": float.__gt__}[op]
        return compare(value, float(bound))

    def markdown(self) -> str:
        """The row as a markdown table line."""
        met = "met" if self.met else f"**missed**{f' ({self.note})' if self.note else ''}"
        target = f"{self.target}{self.unit}"
        ratio = f"{self.ratio:.2f}"
        if self._meets(float(ratio)) != self.met:
            ratio = f"{self.ratio:.3f}"  # two decimals would hide which side of the target it is on
        cells = [
            self.figure,
            self.what,
            self.baseline,
            self.scaffold,
            f"{ratio}{self.unit}",
            target,
            met,
        ]
        return "| " + " | ".join(cells) + " |"


def alternate(
    baseline: Callable[[], float], scaffold: Callable[[], float], repeats: int
) -> tuple[float, float]:
    """Median of ``repeats`` runs of each, alternating which goes first; each call returns its own measure."""
    times: dict[str, list[float]] = {"baseline": [], "scaffold": []}
    for repeat in range(repeats):
        pair = [("baseline", baseline), ("scaffold", scaffold)]
        for name, run in pair if repeat % 2 == 0 else pair[::-1]:
            times[name].append(run())
    return statistics.median(times["baseline"]), statistics.median(times["scaffold"])


def timed(run: Callable[[], object]) -> Callable[[], float]:
    """``run`` as a callable that returns its wall time in seconds."""

    def measure() -> float:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start

    return measure


def rate(value: float) -> str:
    """Samples per second, for a table cell."""
    return f"{value:,.0f} samples/s"


def machine() -> str:
    """Cores, CPU, torch/lightning versions and the current load average: the line under the table."""
    import lightning
    import torch

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    cpu = platform.processor() or platform.machine()
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"lightning {lightning.__version__}, Python {platform.python_version()}; load average {load}"
    )


def parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark script takes."""
    options = argparse.ArgumentParser(description=description)
    options.add_argument("--repeats", type=int, default=5, help="runs of each side (median; default 5)")
    options.add_argument("--out", type=Path, default=None, help="also write the table to DIR/<name>.md")
    return options


def report(rows: list[Row], name: str, out: Path | None, extra: str = "") -> str:
    """Print the table (with the machine line) and write it to ``out/<name>.md`` when given."""
    lines = [HEADER, "|" + "---|" * 7, *(row.markdown() for row in rows), "", f"Machine: {machine()}"]
    if extra:
        lines += ["", extra]
    text = "\n".join(lines)
    print(text, flush=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.md").write_text(text + "\n")
    return text
