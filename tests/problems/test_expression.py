"""Objectives written in the config: same values and gradients as the registry, and clear refusals."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
import yaml
from conftest import CONFIGS

from scaffold import ParameterProblem
from scaffold.cli import main
from scaffold.errors import ConfigError
from scaffold.problems.expression import MAX_DEPTH, MAX_LENGTH, ExpressionError, compile_expression
from scaffold.problems.objectives import OBJECTIVES, parameter_names

AS_TEXT = {
    "quadratic": "(x - 2)**2",
    "wavy": "sin(x - 2) * (x + 2)**2 + sqrt(abs(cos(x)))",
    "two_variable": "exp(sin(x)**2)/(x-y)**2 + (x-y)**2",
}


def value_and_grads(objective, points: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    params = {name: value.clone().requires_grad_(True) for name, value in points.items()}
    value = objective(**params)
    value.sum().backward()
    return (value.detach(), *(p.grad for p in params.values()))


@pytest.mark.parametrize("name", sorted(AS_TEXT))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_expression_equals_the_registry_objective_in_value_and_gradient(name, dtype):
    registered = OBJECTIVES[name]
    names = parameter_names(registered)
    compiled = compile_expression(AS_TEXT[name], names)
    generator = torch.Generator().manual_seed(5)
    points = {n: torch.empty(200, dtype=dtype).uniform_(-6, 6, generator=generator) for n in names}

    expected = value_and_grads(registered, points)
    got = value_and_grads(compiled, points)

    assert parameter_names(compiled) == names
    for want, have in zip(expected, got, strict=True):
        assert have.dtype == dtype
        # The same torch operations in the same order: equal to the last bit, NaNs in the same places.
        torch.testing.assert_close(have, want, rtol=0, atol=0, equal_nan=True)


def test_signature_follows_the_declared_order_and_accepts_positions_or_names():
    f = compile_expression("x - 10 * y", ["y", "x"])
    assert parameter_names(f) == ["y", "x"]
    assert f(torch.tensor(1.0), torch.tensor(3.0)).item() == 3.0 - 10 * 1.0
    assert f(x=torch.tensor(3.0), y=torch.tensor(1.0)).item() == -7.0
    assert "x - 10 * y" in repr(f) and f.__name__ == "x - 10 * y"


def test_constants_functions_and_folded_constant_parts():
    x = torch.tensor([0.3, 1.7], dtype=torch.float64)
    f = compile_expression("pi * x + e + sigmoid(x) * softplus(-x) + x * sin(1) / (2 + 3) + x**-0.5", ["x"])
    want = math.pi * x + math.e + torch.sigmoid(x) * torch.nn.functional.softplus(-x) + x * math.sin(1) / 5
    torch.testing.assert_close(f(x), want + x**-0.5)


def test_only_constant_parts_are_checked_for_inf_at_compile_time():
    f = compile_expression("x + y / 0", ["x", "y"])  # y / 0 depends on a parameter: inf at run time
    assert math.isinf(f(torch.tensor(1.0), torch.tensor(2.0)).item())


def test_a_parameter_named_like_a_constant_shadows_it():
    f = compile_expression("e * x", ["e", "x"])
    assert f(torch.tensor(3.0), torch.tensor(2.0)).item() == 6.0


def test_compiled_objectives_pickle_by_their_text():
    f = compile_expression("exp(sin(x)**2)/(x-y)**2 + (x-y)**2", ["x", "y"])
    g = pickle.loads(pickle.dumps(f))
    x, y = torch.tensor(0.2), torch.tensor(10.0)
    assert g(x, y).item() == f(x, y).item() == pytest.approx(96.0508, abs=1e-3)


def test_parameter_problem_trains_an_expression():
    problem = ParameterProblem("(x - 2)**2 + (y + 1)**2", init={"x": -3.5, "y": 0.0}, lr=0.5)
    loss = problem()
    loss.backward()
    assert loss.item() == pytest.approx(5.5**2 + 1.0)
    assert problem.params["x"].grad.item() == pytest.approx(-11.0)
    assert problem.params["y"].grad.item() == pytest.approx(2.0)


REJECTED = [
    ("x + z", "'z' at column 5: unknown name 'z'; parameters declared in model.init: x, y"),
    ("x.__class__ + y", "'x.__class__' at column 1: attribute access is not allowed"),
    ("x[0] + y", "'x[0]' at column 1: subscripts are not allowed"),
    ("foo(x) + y", "'foo' at column 1: unknown function 'foo'"),
    ("sin(x, y)", "sin() takes exactly one argument, got 2"),
    ("sin(x=y) + x", "'x=y' at column 5: keyword arguments are not allowed"),
    ("sin(*x) + y", "'*x' at column 5: starred arguments are not allowed"),
    ("(lambda: x)() + y", "lambdas are not allowed"),
    ("sum([a for a in x]) + y", "unknown function 'sum'"),
    ("[a for a in x] + y", "comprehensions are not allowed"),
    ("'x' + x + y", "\"'x'\" at column 1: strings are not allowed"),
    ("(x < y) + x", "'x < y' at column 2: comparisons are not allowed"),
    ("x if y else 1", "conditional expressions are not allowed"),
    ("(z := x) + y", "assignment expressions (:=) are not allowed"),
    ("x ** 101 + y", "'101' at column 6: the exponent must be a number between -100 and 100"),
    ("x ** y", "'y' at column 6: the exponent must be a number between -100 and 100"),
    ("x // y", "the operator '//' is not allowed"),
    ("x + y and x", "'and'/'or' are not allowed"),
    ("True * x + y", "True/False are not allowed"),
    ("1j * x + y", "complex numbers are not allowed"),
    ("x + 1e999 * y", "'1e999' at column 5: the number is too large"),
    ("x + y * (1/0)", "'1/0' at column 10: this constant part evaluates to inf"),
    ("sin + x + y", "'sin' is a function; call it"),
    ("x", "model.init declares 'y', which the expression never uses"),
    ("1 + 2", "never uses"),
    ("x +", "is not a valid expression: invalid syntax"),
    ("(x +\n y.real)", "at line 2, column 2: attribute access is not allowed"),
    ("(x +\n y +)", "invalid syntax at line 2, column"),
    ("x" + "+x" * (MAX_LENGTH // 2) + "+y", f"characters long; the limit is {MAX_LENGTH}"),
    ("sin(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1) + "+y", f"nested more than {MAX_DEPTH} levels"),
]


@pytest.mark.parametrize(("text", "message"), REJECTED, ids=[text[:20] for text, _ in REJECTED])
def test_rejections_name_the_offending_part_in_one_line(text, message):
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, ["x", "y"])
    error = caught.value
    assert isinstance(error, ConfigError) and error.exit_code == 2
    assert message in str(error)
    assert str(error).startswith("model.objective")
    assert "\n" not in str(error) and len(str(error)) < 600


@pytest.mark.parametrize("name", ["\u00b5", "\ufb01"], ids=["micro sign", "fi ligature"])
def test_a_parameter_name_python_normalises_still_matches_its_declaration(name):
    objective = compile_expression(f"({name} - 2)**2", [name])  # the parser reads it NFKC-normalised
    assert objective(torch.tensor(5.0)).item() == 9.0


def test_undeclared_parameters_suggest_declaring_them():
    with pytest.raises(ExpressionError, match="unknown name 'x'; parameters declared in model.init: none"):
        ParameterProblem("(x - 2)**2")
    with pytest.raises(ExpressionError, match="not a valid parameter name"):
        compile_expression("x", ["x", "not valid"])


def test_expression_config_matches_two_variable_config():
    expression = yaml.safe_load((CONFIGS / "expression.yaml").read_text())
    two_variable = yaml.safe_load((CONFIGS / "two_variable.yaml").read_text())
    assert expression["model"]["init_args"].pop("objective") == AS_TEXT["two_variable"]
    assert two_variable["model"]["init_args"].pop("objective") == "two_variable"
    assert expression == two_variable


def test_training_expression_yaml_gives_the_two_variable_result(fit_config):
    by_text = fit_config("expression")
    by_name = fit_config("two_variable")
    assert by_text.trainer.global_step == by_name.trainer.global_step < by_name.trainer.max_epochs
    for name, value in by_name.model.values().items():
        assert torch.equal(by_text.model.values()[name], value), name
    assert by_name.model.values()["x"].item() == pytest.approx(3.1417, abs=1e-3)


def test_cli_refuses_a_bad_expression_with_one_error_line(tmp_path, capsys):
    code = main(
        [
            "fit",
            "--config",
            str(CONFIGS / "expression.yaml"),
            "--model.objective",
            "x.__class__",
            "--trainer.default_root_dir",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2
    assert errors == [
        line for line in err.splitlines() if line.strip() and not line.startswith("Seed set")
    ], err
    assert len(errors) == 1 and "'x.__class__' at column 1: attribute access is not allowed" in errors[0]
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.ckpt"))  # refused before training started
