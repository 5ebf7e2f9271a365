"""The learning-rate study of figure 1.7: f(x) = (x - 2)² from x = -3.5, too small, just right, too large."""

from __future__ import annotations

import itertools
import runpy
import sys

import pytest
from conftest import REPO

from scaffold.errors import ConfigError
from scaffold.problems.lr_study import run_study, save_study

STEPS = 20


def sgd_on_quadratic(lr: float, steps: int) -> float:
    """Closed form of x after ``steps`` SGD steps: x - 2 shrinks (or grows) by 1 - 2η per step."""
    return 2 + (-3.5 - 2) * (1 - 2 * lr) ** steps


@pytest.fixture(scope="module")
def study():
    return run_study("quadratic", {"x": -3.5}, [0.01, 0.5, 1.1], steps=STEPS)


def test_lr_one_half_reaches_2_after_one_step(study):
    run = study.runs[1]
    assert run.lr == 0.5 and run.diverged_at is None
    assert run.path[0].item() == -3.5
    assert run.path[1].item() == 2.0  # exactly: x - 0.5 * 2(x - 2) = 2
    assert run.path[-1].item() == 2.0 and run.losses[1].item() == 0.0


def test_too_small_a_rate_is_slow(study):
    run = study.runs[0]
    assert run.diverged_at is None and run.steps == STEPS
    assert run.path[-1].item() == pytest.approx(sgd_on_quadratic(0.01, STEPS), abs=1e-4)  # -1.679
    assert run.path[-1].item() < 0  # after 20 steps not even halfway from -3.5 to 2
    assert all(a < b for a, b in itertools.pairwise(run.path[:, 0].tolist()))


def test_too_large_a_rate_diverges_at_the_predicted_step_and_is_shown(study):
    run = study.runs[2]
    # The rule: f grew by more than 10 times its start above it, i.e. f > 11 * 30.25.
    predicted = next(k for k in itertools.count(1) if (sgd_on_quadratic(1.1, k) - 2) ** 2 > 11 * 30.25)
    assert run.diverged_at == predicted == 7
    assert run.label == "SGD η=1.1: diverged at step 7"
    assert "grew from 30.25 to 388.4" in run.reason
    assert run.path[7].item() == pytest.approx(sgd_on_quadratic(1.1, 7), rel=1e-5)  # -17.7: overshoots


def test_the_figure_legend_reports_each_regime(study):
    axes = study.figure().axes[0]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    slow = sgd_on_quadratic(0.01, STEPS)
    assert legend == [
        "f(x)",
        f"SGD η=0.01: x={slow:.4f} after {STEPS} steps",
        f"SGD η=0.5: x=2.0000 after {STEPS} steps",
        "SGD η=1.1: diverged at step 7",
    ]
    diverged_line = axes.get_lines()[3]
    assert len(diverged_line.get_xdata()) == 7  # drawn up to the last point before it diverged


def test_save_study_writes_the_png_and_a_tensorboard_figure(study, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    png = save_study(study, tmp_path / "out")
    assert png == tmp_path / "out" / "lr_study.png"
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 20_000
    assert [p.name for p in png.parent.iterdir() if p.name.startswith(".")] == []  # no temp files left
    events = EventAccumulator(str(png.parent), size_guidance={"images": 0})
    events.Reload()
    assert events.Tags()["images"] == ["lr_study"]


def test_optimisers_first_steps_match_their_update_rules():
    study = run_study("quadratic", {"x": -3.5}, [0.1], optimizers=("sgd", "momentum", "adam"), steps=2)
    sgd, momentum, adam = (run.path[:, 0].tolist() for run in study.runs)
    g0, g1 = 2 * (-3.5 - 2), 2 * (-2.4 - 2)
    assert sgd == pytest.approx([-3.5, -2.4, -2.4 - 0.1 * g1])
    assert momentum == pytest.approx([-3.5, -2.4, -2.4 - 0.1 * (0.9 * g0 + g1)])
    assert adam[1] == pytest.approx(-3.4, abs=1e-6)  # Adam's first step is η · sign(gradient)
    labels = [run.label.split(":")[0] for run in study.runs]
    assert labels == ["SGD η=0.1", "SGD+momentum η=0.1", "Adam η=0.1"]


def test_a_non_finite_objective_ends_only_that_run_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = run_study("quadratic", {"x": -3.5}, [1e30, 0.5], steps=3)
    assert list(tmp_path.iterdir()) == []  # no checkpoints/ or lightning_logs/ from the runs
    wild, fine = study.runs
    assert wild.diverged_at == 1 and "inf" in wild.reason
    assert fine.diverged_at is None and fine.path[-1].item() == 2.0
    assert "diverged at step 1" in study.table()


def test_unknown_optimizer_or_empty_study_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'; choose from sgd, momentum, adam"):
        run_study("quadratic", {"x": 0.0}, [0.1], optimizers=("rmsprop",))
    with pytest.raises(ConfigError, match="need lrs"):
        run_study("quadratic", {"x": 0.0}, [])


def test_lr_study_example_prints_the_three_regimes(tmp_path, capsys):
    argv = sys.argv
    sys.argv = ["lr_study.py", "--out", str(tmp_path), "--steps", str(STEPS)]
    try:
        runpy.run_path(str(REPO / "examples" / "lr_study.py"), run_name="__main__")
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert "SGD η=0.5: x=2.0000 after 20 steps" in out
    assert "SGD η=1.1: diverged at step 7" in out
    assert (tmp_path / "lr_study.png").exists()


def test_a_list_valued_start_is_refused():
    with pytest.raises(ConfigError, match="the study takes numbers, not lists: init 'x' is a list"):
        run_study("quadratic", {"x": [1.0, 3.0]}, lrs=[0.1], steps=5)
