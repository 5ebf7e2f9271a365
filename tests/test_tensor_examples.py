"""examples/ch1_2_tensors.py prints what chapter 1.2 prints (and exercises 1 and 2 are right)."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ch1_2_tensors.py"


@pytest.fixture(scope="module")
def example() -> dict:
    # run_name other than "__main__": load the functions without running main().
    return runpy.run_path(str(EXAMPLE), run_name="ch1_2_tensors")


def printed(example: dict, section: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    example[section]()
    return capsys.readouterr().out.splitlines()


def test_shapes_are_the_chapters(example: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert printed(example, "shapes", capsys) == [
        "torch.Size([])",
        "torch.Size([4])",
        "torch.Size([4, 2])",
        "torch.Size([4, 2, 3])",
    ]


def test_numpy_interop_dtypes_mask_sum_transpose(example: dict, capsys: pytest.CaptureFixture[str]) -> None:
    lines = printed(example, "numpy_interop", capsys)
    text = "\n".join(lines)
    # torch.tensor(np_array) keeps NumPy's float64; dtype=torch.float32 forces 32 bits.
    assert "float64 torch.float64" in lines
    assert "float32 torch.float32" in lines
    x32 = example["random_matrix"]().astype(np.float32)
    mask = torch.tensor(x32) > 0.5
    assert 0 < mask.sum() < mask.numel(), "the seeded matrix should give a mask with both values"
    assert str(mask) in text
    assert str(x32 > 0.5) in text
    assert lines.count("bool") == 1 and lines.count("torch.bool") == 1
    np_sum = float(next(line for line in lines if line.replace(".", "", 1).isdigit()))
    torch_sum = float(next(line for line in lines if line.startswith("tensor(") and line.endswith(")"))[7:-1])
    assert np_sum == pytest.approx(float(x32.sum()), abs=1e-5)
    assert torch_sum == pytest.approx(np_sum, abs=1e-4)
    assert str(torch.tensor(x32).T) in text
    assert lines[-1] == "torch.Size([3, 2, 4])"


def test_devices_section_moves_the_chapters_list(example: dict, capsys: pytest.CaptureFixture[str]) -> None:
    lines = printed(example, "devices", capsys)
    assert lines[0] == f"Is CUDA available? : {torch.cuda.is_available()}"
    assert lines[1] == "[tensor(1), tensor(2)]"
    if torch.cuda.is_available():
        assert lines[2] == "[tensor(1, device='cuda:0'), tensor(2, device='cuda:0')]"
    elif not torch.backends.mps.is_available():
        assert lines[2] == "[tensor(1), tensor(2)]"


def test_exercises_1_and_2(example: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert printed(example, "exercises", capsys) == [
        "exercise 1: loop mean = 12.5",
        "exercise 1: torch_tensor3d.float().mean() = 12.5",
        "exercise 2: torch_tensor3d[2, 0, 0] = 13",
    ]


def test_loop_mean_equals_float_mean_on_any_3d_tensor(example: dict) -> None:
    tensor = torch.randint(-50, 50, (3, 5, 2), generator=torch.Generator().manual_seed(1))
    assert example["loop_mean"](tensor) == pytest.approx(tensor.float().mean().item(), rel=1e-6)


def test_main_prints_every_section(example: dict, capsys: pytest.CaptureFixture[str]) -> None:
    example["main"]()
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == ["torch.Size([])", "torch.Size([4])", "torch.Size([4, 2])", "torch.Size([4, 2, 3])"]
    assert "torch.Size([3, 2, 4])" in lines
    assert lines[-1] == "exercise 2: torch_tensor3d[2, 0, 0] = 13"
