"""ParameterProblem through the real configs: the chapter's results, step for step."""

from __future__ import annotations

import pytest
import torch
from conftest import read_scalars

from scaffold import ParameterProblem
from scaffold.errors import ConfigError
from scaffold.problems.objectives import OBJECTIVES


def plain_loop(objective, init: dict[str, float], lr: float, steps: int) -> list[dict[str, float]]:
    """The chapter 1.4 loop with nn.Parameter + SGD; the parameters after each step."""
    params = {name: torch.nn.Parameter(torch.tensor([value])) for name, value in init.items()}
    optimizer = torch.optim.SGD(params.values(), lr=lr)
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        objective(**params).sum().backward()
        optimizer.step()
        path.append({name: p.item() for name, p in params.items()})
    return path


def test_quadratic_config_converges_by_the_epsilon_rule(fit_config):
    cli = fit_config("quadratic")
    x = cli.model.values()["x"].item()
    assert abs(x - 2.0) < 1e-4
    assert cli.trainer.global_step < cli.trainer.max_epochs  # the ε rule stopped it, not max_epochs
    assert cli.trainer.global_step == chapter_1_3_steps(start=-3.5, eta=0.1, epsilon=1e-5)


@pytest.mark.parametrize(
    "limit, why",
    [
        ("--trainer.max_steps=10", "after 10 steps (max_steps reached before the epsilon rule stopped it)"),
        ("--trainer.max_epochs=10", "after 10 steps (max_epochs reached before the epsilon rule stopped it)"),
        ("--model.epsilon=0", "(the epsilon rule is off)"),
    ],
)
def test_the_final_line_says_what_stopped_the_run(fit_config, capsys, limit, why):
    fit_config("quadratic", "--trainer.max_epochs=60", limit)
    assert why in capsys.readouterr().out


def test_scaffold_test_evaluates_the_fitted_objective(fit_config):
    fit_config("quadratic")
    tested = fit_config("quadratic", "--ckpt_path=last", subcommand="test")
    assert tested.trainer.callback_metrics["test/loss"].item() < 1e-8  # (x - 2)^2 at x = 2.0000


def chapter_1_3_steps(start: float, eta: float, epsilon: float) -> int:
    """How many steps the chapter's hand-written loop takes before a step is <= epsilon."""
    x = torch.tensor([start], requires_grad=True)
    x_cur, x_prev, steps = x.clone(), x.clone() * 100, 0
    while torch.linalg.norm(x_cur - x_prev) > epsilon:
        x_prev = x_cur.clone()
        OBJECTIVES["quadratic"](x).backward()
        x.data -= eta * x.grad
        x.grad.zero_()
        x_cur = x.data
        steps += 1
    return steps


def test_quadratic_trajectory_matches_the_chapter_loop_for_60_steps(fit_config):
    cli = fit_config("quadratic", "--model.epsilon=0", "--trainer.max_epochs=60")
    logged = [value for _, value in read_scalars(cli.trainer.log_dir, "param/x")]
    assert len(logged) == 60  # param/x at steps 0..59 is the value each step starts from
    reference = plain_loop(OBJECTIVES["quadratic"], {"x": -3.5}, lr=0.1, steps=60)
    ours = logged[1:] + [cli.model.values()["x"].item()]
    assert logged[0] == -3.5
    for step, (a, b) in enumerate(zip(ours, reference, strict=True), start=1):
        assert a == pytest.approx(b["x"], abs=1e-6), f"step {step}"


@pytest.mark.parametrize("name, init", [("two_variable", {"x": 0.2, "y": 10.0}), ("wavy", {"x": -3.5})])
def test_exercise_configs_match_a_plain_torch_loop(fit_config, name, init):
    cli = fit_config(name)
    steps = cli.trainer.global_step
    assert 0 < steps < cli.trainer.max_epochs
    reference = plain_loop(OBJECTIVES[name], init, lr=0.1, steps=steps)[-1]
    final = cli.model.values()
    for param, value in reference.items():
        assert final[param].item() == pytest.approx(value, abs=1e-6)


def test_losses_params_and_grad_norm_are_logged_every_step(fit_config):
    cli = fit_config("two_variable", "--trainer.max_epochs=5", "--model.epsilon=0")
    for tag in ("train/loss", "param/x", "param/y", "grad_norm"):
        assert [step for step, _ in read_scalars(cli.trainer.log_dir, tag)] == [0, 1, 2, 3, 4], tag
    x0, y0 = torch.tensor(0.2), torch.tensor(10.0)
    first_loss = read_scalars(cli.trainer.log_dir, "train/loss")[0][1]
    assert first_loss == pytest.approx(OBJECTIVES["two_variable"](x0, y0).item(), rel=1e-6)


def test_the_trajectory_figure_and_hparams_are_logged(fit_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cli = fit_config("two_variable", "--trainer.max_epochs=3")
    accumulator = EventAccumulator(cli.trainer.log_dir)
    accumulator.Reload()
    assert "trajectory" in accumulator.Tags()["images"]
    assert read_scalars(cli.trainer.log_dir, "hp_metric")[-1][1] == pytest.approx(cli.model().item())


@pytest.mark.parametrize("objective", ["0*x + 0*y", "relu(x-100) + relu(y-100)"])
def test_a_flat_two_variable_objective_still_gets_its_figure(fit_config, objective):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cli = fit_config("expression", f"--model.objective={objective}")  # no contour levels to draw
    accumulator = EventAccumulator(cli.trainer.log_dir)
    accumulator.Reload()
    assert "trajectory" in accumulator.Tags()["images"]


def test_resuming_a_converged_run_takes_no_further_step(fit_config):
    first = fit_config("quadratic")
    assert first.trainer.global_step == 54
    resumed = fit_config("quadratic", "--ckpt_path=last")
    assert resumed.trainer.global_step == 54
    assert torch.equal(resumed.model.params["x"], first.model.params["x"])
    stricter = fit_config("quadratic", "--ckpt_path=last", "--model.epsilon=1e-7")  # not converged by it
    assert stricter.trainer.global_step > 54


def test_resuming_with_the_epsilon_rule_off_warns_of_no_missing_callback(fit_config, recwarn):
    fit_config("quadratic")
    resumed = fit_config("quadratic", "--ckpt_path=last", "--model.epsilon=0", "--trainer.max_epochs=60")
    assert resumed.trainer.global_step == 60
    assert not [w for w in recwarn if "Please add the following callbacks" in str(w.message)]


def test_the_same_class_by_another_module_path_keeps_the_command_lines_runtime_settings(fit_config):
    fit_config("quadratic")  # converges after 54 steps
    module_path = (
        "--model=scaffold.problems.module.ParameterProblem"  # the config says scaffold.ParameterProblem
    )
    resumed = fit_config("quadratic", module_path, "--ckpt_path=last", "--model.epsilon=1e-7")
    assert resumed.model.epsilon == 1e-7 and resumed.trainer.global_step > 54


def test_tensor_parameters_are_supported():
    problem = ParameterProblem("quadratic", init={"x": [0.0, 1.0, 5.0]}, lr=0.5)
    assert problem.params["x"].shape == (3,)
    assert problem().item() == pytest.approx(4 + 1 + 9)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"objective": "nope"}, "unknown objective 'nope'"),
        ({"init": {"x": 1.0, "z": 2.0}}, "'z', which objective 'quadratic' does not use"),
        ({"objective": "two_variable", "init": {"x": 1.0}}, "no starting value for 'y'"),
        ({"epsilon": -1.0}, "model.epsilon must be >= 0"),
        ({"lr": 0.0}, "model.lr must be > 0"),
        ({"lr": float("nan")}, "model.lr must be > 0 and finite, got nan"),
        ({"momentum": -1.0}, "model.momentum must be >= 0"),
        ({"init": {"x": float("nan")}}, "model.init 'x': nan must be finite"),
        ({"init": {"x": 1e39}}, "model.init 'x': 1e.39 must be finite float32"),  # inf in float32
        ({"init": {"x": []}}, r"model.init 'x': \[\] must be finite .* and at least one"),
    ],
)
def test_bad_problem_settings_raise_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ParameterProblem(**kwargs)


def test_chapter_loop_takes_54_steps():
    """On (x-2)^2 from -3.5 with η=0.1 step k moves 0.2 * 5.5 * 0.8^k: first <= 1e-5 at k = 53."""
    assert chapter_1_3_steps(start=-3.5, eta=0.1, epsilon=1e-5) == 54


def test_registering_a_built_in_objectives_name_is_refused():
    from scaffold import register_objective
    from scaffold.problems.objectives import OBJECTIVES

    built_in = OBJECTIVES["quadratic"]
    with pytest.raises(ConfigError, match="'quadratic' is a built-in objective"):
        register_objective("quadratic")(lambda x: x**2)
    assert OBJECTIVES["quadratic"] is built_in
    register_objective("quadratic")(built_in)  # the same function again (a re-import) is fine
