"""On a CUDA machine: move_to, the matmul benchmark, and real configs trained with --trainer.accelerator gpu.

Run with ``pytest -m gpu -q -rs``; without CUDA every test here is skipped with the reason.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

NO_CUDA = "needs CUDA: torch.cuda.is_available() is False"
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)]

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
USED_GPU = "GPU available: True (cuda), used: True"
Pair = namedtuple("Pair", ["left", "right"])


@pytest.fixture
def lightning_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Lightning's own log lines ("GPU available: ..., used: ...") in ``caplog.text``."""
    # Lightning's logger may not propagate to the root logger, so listen on it directly.
    logger = logging.getLogger("lightning.pytorch")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def fit(config: str, root: Path, *extra: str) -> int:
    """``scaffold fit`` on one GPU, as a user would type it; returns the exit code."""
    from scaffold.cli import main

    return main(
        [
            "fit",
            "--config",
            str(CONFIGS / config),
            "--trainer.accelerator",
            "gpu",
            "--trainer.devices",
            "1",  # one device: a multi-GPU host would otherwise start DDP inside pytest
            "--trainer.default_root_dir",
            str(root),
            *extra,
        ]
    )


def read_scalars(root: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of the (single) run under ``root`` as (step, value) pairs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = {path.parent for path in root.rglob("events.out.tfevents.*")}
    assert len(runs) == 1, f"expected one TensorBoard run under {root}, found {sorted(runs)}"
    events = EventAccumulator(str(runs.pop()))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_move_to_cuda_keeps_structure() -> None:
    from scaffold.devices import move_to

    key = torch.tensor(1)
    obj = {key: [torch.ones(2), (torch.zeros(1), {torch.tensor(3)})], "pair": Pair(torch.rand(2), "text")}
    moved = move_to(obj, "cuda")
    (moved_key,) = [k for k in moved if isinstance(k, torch.Tensor)]
    assert moved_key.is_cuda and moved_key.item() == 1
    values = moved[moved_key]
    assert type(values) is list and values[0].is_cuda and torch.equal(values[0].cpu(), torch.ones(2))
    assert type(values[1]) is tuple and values[1][0].is_cuda
    assert type(values[1][1]) is set and all(t.is_cuda for t in values[1][1])
    assert type(moved["pair"]) is Pair and moved["pair"].left.is_cuda and moved["pair"].right == "text"
    back = move_to(moved, "cpu")
    assert torch.equal(back["pair"].left, obj["pair"].left)


def test_device_choice_and_accelerators_see_cuda() -> None:
    from scaffold.devices import available_accelerators, check_accelerator, choose_device

    assert choose_device("auto").type == "cuda"
    assert choose_device("cuda:0") == torch.device("cuda", 0)
    assert {"cpu", "cuda", "gpu"} <= set(available_accelerators())
    check_accelerator("gpu")  # must not raise


def test_matmul_table_times_the_gpu() -> None:
    from scaffold.matmul_timing import matmul_table

    rows = matmul_table(max_power=6, repeats=2)
    assert [row.n for row in rows] == [1, 2, 4, 8, 16, 32, 64]
    for row in rows:
        assert row.gpu_seconds is not None and row.gpu_seconds > 0
        assert row.speedup == pytest.approx(row.cpu_seconds / row.gpu_seconds)


def test_quadratic_config_on_gpu(tmp_path: Path, lightning_log: pytest.LogCaptureFixture) -> None:
    assert fit("quadratic.yaml", tmp_path) == 0
    assert USED_GPU in lightning_log.text
    newest = max(tmp_path.rglob("*.ckpt"), key=lambda path: path.stat().st_mtime)
    state = torch.load(newest, map_location="cpu", weights_only=False)["state_dict"]
    assert abs(state["params.x"].item() - 2.0) < 1e-4


def test_digits_config_on_gpu(tmp_path: Path, lightning_log: pytest.LogCaptureFixture) -> None:
    assert (CONFIGS / "digits.yaml").exists(), "configs/digits.yaml is missing"
    assert fit("digits.yaml", tmp_path, "--trainer.max_epochs", "2") == 0
    assert USED_GPU in lightning_log.text
    scalars = read_scalars(tmp_path)
    val_acc = [value for _, value in scalars["val/acc"]]
    assert len(val_acc) == 2, f"one val/acc per epoch, got {val_acc}"
    assert val_acc[-1] > 0.5, f"chance is 0.1; 2 epochs should do far better, got {val_acc}"
    losses = [value for _, value in scalars["train/loss"]]
    assert losses[-1] < losses[0]


def test_digits_config_gpu_16_mixed(tmp_path: Path, lightning_log: pytest.LogCaptureFixture) -> None:
    extra = ("--trainer.max_epochs", "1", "--trainer.precision", "16-mixed")
    assert fit("digits.yaml", tmp_path, *extra) == 0
    assert USED_GPU in lightning_log.text and "Using 16bit Automatic Mixed Precision" in lightning_log.text
    val_acc = [value for _, value in read_scalars(tmp_path)["val/acc"]]
    assert len(val_acc) == 1 and 0.1 < val_acc[0] <= 1.0
