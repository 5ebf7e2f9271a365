"""The matmul benchmark of chapter 1.2.1 / exercise 3: table, CSV, PNG, TensorBoard, the example."""

from __future__ import annotations

import csv
import runpy
from pathlib import Path

import pytest
import torch

from scaffold.errors import ConfigError
from scaffold.matmul_timing import (
    MatmulTiming,
    first_gpu_win,
    format_table,
    log_to_tensorboard,
    matmul_table,
    plot_speedup,
    save_figure,
    write_csv,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "exercise3_speedup.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Handmade rows: the GPU loses below n = 4 and wins from there on.
WITH_GPU = [
    MatmulTiming(1, 1e-6, 2e-5, 0.05),
    MatmulTiming(2, 2e-6, 2e-5, 0.1),
    MatmulTiming(4, 4e-5, 2e-5, 2.0),
    MatmulTiming(8, 1e-3, 2e-5, 50.0),
]


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def read_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in the event files under ``logdir`` as (step, value) pairs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logdir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_cpu_only_table_has_one_row_per_size_with_positive_times(no_gpu: None) -> None:
    rows = matmul_table(max_power=6, repeats=2)  # "auto" finds no GPU here
    assert [row.n for row in rows] == [1, 2, 4, 8, 16, 32, 64]
    assert all(row.cpu_seconds > 0 for row in rows)
    assert all(row.gpu_seconds is None and row.speedup is None for row in rows)
    assert first_gpu_win(rows) is None


def test_second_device_column_and_speedup() -> None:
    # The CPU stands in for the GPU: the second column and the speedup are filled and consistent.
    rows = matmul_table(max_power=3, repeats=2, gpu=torch.device("cpu"))
    assert [row.n for row in rows] == [1, 2, 4, 8]
    for row in rows:
        assert row.gpu_seconds is not None and row.gpu_seconds > 0
        assert row.speedup == pytest.approx(row.cpu_seconds / row.gpu_seconds)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_power": -1}, "max_power must be between 0 and 14, got -1"),
        ({"max_power": 15}, "max_power must be between 0 and 14, got 15"),
        ({"repeats": 0}, "repeats must be >= 1, got 0"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        matmul_table(**kwargs)


def test_first_gpu_win_and_text_table() -> None:
    assert first_gpu_win(WITH_GPU) == 4
    assert first_gpu_win(WITH_GPU[:2]) is None
    lines = format_table(WITH_GPU).splitlines()
    assert lines[0].split() == ["n", "cpu_us", "gpu_us", "speedup"]
    assert lines[3].split() == ["4", "40.00", "20.00", "2.00"]
    assert format_table([MatmulTiming(2, 3e-6)]).splitlines()[1].split() == ["2", "3.00", "-", "-"]


def test_csv_round_trips_with_empty_gpu_cells(tmp_path: Path) -> None:
    rows = [*WITH_GPU, MatmulTiming(16, 0.125)]
    write_csv(rows, tmp_path / "speedup.csv")
    with open(tmp_path / "speedup.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert [int(r["n"]) for r in read] == [1, 2, 4, 8, 16]
    assert [float(r["cpu_seconds"]) for r in read] == [r.cpu_seconds for r in rows]
    assert float(read[2]["speedup"]) == 2.0 and float(read[2]["gpu_seconds"]) == 2e-5
    assert read[4]["gpu_seconds"] == "" and read[4]["speedup"] == ""


CPU_ONLY = [MatmulTiming(n, n * 1e-6) for n in (1, 2, 4)]


@pytest.mark.parametrize(("rows", "panels"), [(WITH_GPU, 2), (CPU_ONLY, 1)])
def test_plot_is_a_valid_log_log_png(tmp_path: Path, rows: list[MatmulTiming], panels: int) -> None:
    import matplotlib.image

    figure = plot_speedup(rows)
    assert len(figure.axes) == panels
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in figure.axes)
    lines = figure.axes[0].get_lines()
    assert [list(line.get_xdata()) for line in lines] == [[r.n for r in rows]] * panels
    save_figure(figure, tmp_path / "speedup.png")
    assert (tmp_path / "speedup.png").read_bytes()[:8] == PNG_MAGIC
    image = matplotlib.image.imread(tmp_path / "speedup.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert list(tmp_path.iterdir()) == [tmp_path / "speedup.png"], "no temporary file may be left"


def test_tensorboard_has_per_size_scalars_and_the_figure(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    first = log_to_tensorboard(WITH_GPU, plot_speedup(WITH_GPU), tmp_path)
    assert first == tmp_path / "version_0"
    scalars = read_scalars(first)
    assert sorted(scalars) == ["matmul/cpu_seconds", "matmul/gpu_seconds", "matmul/speedup"]
    assert [step for step, _ in scalars["matmul/speedup"]] == [1, 2, 4, 8]
    assert [v for _, v in scalars["matmul/speedup"]] == pytest.approx([0.05, 0.1, 2.0, 50.0])
    events = EventAccumulator(str(first))
    events.Reload()
    assert events.Tags()["images"] == ["matmul/figure"]
    second = log_to_tensorboard(WITH_GPU[:1], plot_speedup(WITH_GPU[:1]), tmp_path)
    assert second == tmp_path / "version_1", "a second run must not mix its points into the first"


def test_exercise3_example_cpu_only(tmp_path: Path, no_gpu: None, capsys: pytest.CaptureFixture[str]) -> None:
    main = runpy.run_path(str(EXAMPLE), run_name="exercise3")["main"]
    args = ["--out", str(tmp_path / "out"), "--max-power", "5", "--repeats", "2", "--logdir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "no GPU (neither CUDA nor Apple MPS is available): reporting the CPU curve only"
    assert [line.split()[0] for line in out[2:8]] == ["1", "2", "4", "8", "16", "32"]
    assert not any("starts to win" in line for line in out)
    with open(tmp_path / "out" / "speedup.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["n"]) for r in rows] == [1, 2, 4, 8, 16, 32]
    assert all(float(r["cpu_seconds"]) > 0 and r["gpu_seconds"] == "" for r in rows)
    assert (tmp_path / "out" / "speedup.png").read_bytes()[:8] == PNG_MAGIC
    scalars = read_scalars(tmp_path / "matmul" / "version_0")
    assert list(scalars) == ["matmul/cpu_seconds"]
    assert [step for step, _ in scalars["matmul/cpu_seconds"]] == [1, 2, 4, 8, 16, 32]
    logged = [value for _, value in scalars["matmul/cpu_seconds"]]
    assert logged == pytest.approx([float(r["cpu_seconds"]) for r in rows])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-power", "-1"], "error: max_power must be between 0 and 14, got -1"),
        (["--repeats", "many"], "error: argument --repeats: invalid int value: 'many'"),
        (["--size", "3"], "error: unrecognized arguments: --size 3"),
    ],
)
def test_exercise3_example_bad_input(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    main = runpy.run_path(str(EXAMPLE), run_name="exercise3")["main"]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == message
