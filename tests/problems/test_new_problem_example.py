"""examples/new_problem.py: a new objective and problem in a few lines, trained to Rosenbrock's minimum."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import torch
from conftest import REPO

from scaffold import ParameterProblem, get_objective

TOLERANCE = 1e-3  # per coordinate; the example ends about 1e-4 from (1, 1)


@pytest.fixture
def example(monkeypatch):
    # Import it the way the CLI's class path does: as examples.new_problem from the repository root.
    monkeypatch.syspath_prepend(str(REPO))
    return importlib.import_module("examples.new_problem")


def adam_on_rosenbrock(steps: int, lr: float = 0.05) -> tuple[float, float]:
    """The plain loop the example's problem should reproduce."""
    x, y = torch.tensor(-1.5, requires_grad=True), torch.tensor(2.0, requires_grad=True)
    optimizer = torch.optim.Adam([x, y], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        ((1 - x) ** 2 + 100 * (y - x**2) ** 2).backward()
        optimizer.step()
    return x.item(), y.item()


def test_example_converges_to_rosenbrocks_minimum(example, capsys, tmp_path):
    problem = example.main(["--out", str(tmp_path)])
    values = problem.values()
    assert abs(values["x"].item() - 1) < TOLERANCE and abs(values["y"].item() - 1) < TOLERANCE
    out = capsys.readouterr().out.strip().splitlines()[-1]
    steps = int(out.split(" after ")[1].split()[0])
    assert out.startswith("rosenbrock: x=1.0000, y=") and steps < 3000  # the ε rule stopped it
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()


def test_a_step_count_below_one_is_a_usage_error(example, capsys):
    with pytest.raises(SystemExit) as exited:
        example.main(["--steps", "-5"])
    assert exited.value.code == 2
    assert "error: --steps must be >= 1, got -5" in capsys.readouterr().err


def test_registered_objective_is_usable_by_name(example):
    assert get_objective("rosenbrock") is example.rosenbrock
    problem = ParameterProblem("rosenbrock", init={"x": -1.5, "y": 2.0})
    assert problem().item() == pytest.approx(2.5**2 + 100 * 0.25**2)  # 12.5
    assert example.rosenbrock(torch.tensor(1.0), torch.tensor(1.0)).item() == 0.0


@pytest.mark.slow
def test_cli_trains_the_subclass_by_class_path_from_the_repository_root(example, tmp_path):
    command = [sys.executable, "-m", "scaffold", "fit", "--model", "examples.new_problem.Rosenbrock"]
    command += ["--trainer.max_epochs", "30", "--trainer.default_root_dir", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    x, y = adam_on_rosenbrock(30)
    assert f"final parameters: x={x:.4f}, y={y:.4f} after 30 steps" in result.stdout
    assert list(tmp_path.rglob("events.out.tfevents.*"))
