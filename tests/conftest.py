"""Shared fixtures: run the scaffold CLI in-process with logs under a temporary folder."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.fixture
def fit_config(tmp_path: Path) -> Callable:
    """``fit_config("quadratic", "--model.lr=0.2")`` runs ``scaffold fit`` in-process; returns the CLI."""
    from scaffold.cli import build_cli

    def run(name: str, *overrides: str, subcommand: str = "fit"):
        args = [subcommand, "--config", str(CONFIGS / f"{name}.yaml")]
        args += ["--trainer.default_root_dir", str(tmp_path), *overrides]
        return build_cli(args)

    return run


def scaffold_command(config: str, root: str | Path, *extra: str) -> list[str]:
    """The argv of a real ``scaffold fit`` process on ``configs/<config>.yaml``, logging under ``root``."""
    return [
        sys.executable,
        "-m",
        "scaffold",
        "fit",
        "--config",
        str(CONFIGS / f"{config}.yaml"),
        f"--trainer.default_root_dir={root}",
        *extra,
    ]


def resident_kib() -> int:
    """This process's resident memory (VmRSS) in KiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def read_scalars(log_dir: str | Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) pairs of one TensorBoard scalar tag in a run folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]
