"""A user's subclass trained through the CLI: its __init__ may take fewer arguments than the parent's.

Under LightningCLI a module's ``hparams`` hold only the arguments its own class was given, so the
scaffold's modules must not read their settings from ``hparams``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

MODULE = '''
from scaffold import Classifier, ParameterProblem
from scaffold.data import DataModule


class Digits(DataModule):
    """sklearn's digits with one setting to choose."""

    def __init__(self, batch_size: int = 32):
        super().__init__("digits", batch_size=batch_size)


class DoubledBatches(DataModule):
    """Passes its parent another value than it was given."""

    def __init__(self, batch_size: int = 32):
        super().__init__("digits", batch_size=2 * batch_size)


class Softmax(Classifier):
    """Softmax regression: no hidden layer, and only a learning rate to choose."""

    def __init__(self, lr: float = 0.01):
        super().__init__(hidden=(), lr=lr)


class Tagged(Classifier):
    """The Classifier with a hook of its own."""

    def on_test_start(self):
        self.tested = True


class Wide(Classifier):
    """Fixes the layers behind **kwargs."""

    def __init__(self, width: int = 32, **kwargs):
        super().__init__(hidden=(width,), **kwargs)


class TwoVariable(ParameterProblem):
    """The chapter's two-variable problem from its starting point; only the learning rate to choose."""

    def __init__(self, lr: float = 0.1):
        super().__init__("two_variable", {"x": 0.2, "y": 10.0}, lr=lr)
'''


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    (tmp_path / "user_modules.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_classifier_subclass_without_the_parents_arguments_trains_and_resumes(fit_config, user_modules):
    fitted = fit_config("digits", "--model=user_modules.Softmax", "--trainer.max_epochs=2")
    assert fitted.model.net is not None and fitted.trainer.callback_metrics["val/acc"] > 0.5
    tested = fit_config("digits", "--model=user_modules.Softmax", "--ckpt_path=last", subcommand="test")
    assert tested.trainer.callback_metrics["test/acc"] > 0.5


def test_a_problem_subclass_without_the_parents_arguments_trains_and_resumes(fit_config, user_modules):
    fitted = fit_config("two_variable", "--model=user_modules.TwoVariable", "--trainer.max_epochs=3")
    assert fitted.trainer.global_step == 3
    resumed = fit_config(
        "two_variable", "--model=user_modules.TwoVariable", "--trainer.max_epochs=5", "--ckpt_path=last"
    )
    assert resumed.trainer.global_step == 5


def test_a_datamodule_subclass_without_the_parents_arguments_trains(fit_config, user_modules):
    fitted = fit_config("digits", "--data=user_modules.Digits", "--trainer.max_epochs=1")
    assert fitted.datamodule.hparams.batch_size == 64  # the digits config's, which Digits takes
    assert fitted.datamodule.hparams.source == "digits"  # its parent's, from Digits.__init__
    assert fitted.trainer.global_step == 23  # 1437 training rows in batches of 64


def test_a_datamodule_subclass_trains_on_what_it_passed_its_parent(fit_config, user_modules):
    fitted = fit_config("digits", "--data=user_modules.DoubledBatches", "--trainer.max_epochs=1")
    assert fitted.trainer.global_step == 12  # 1437 rows in batches of 2 x 64 (the config's batch_size)


def test_a_classifier_subclass_loads_from_its_checkpoint_without_data(fit_config, user_modules):
    import user_modules as modules

    fitted = fit_config("digits", "--model=user_modules.Softmax", "--trainer.max_epochs=1")
    path = Path(fitted.trainer.log_dir) / "checkpoints" / "last.ckpt"
    loaded = modules.Softmax.load_from_checkpoint(path)
    assert loaded.sizes == (64, 10)
    for name, value in fitted.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_a_checkpoint_of_a_subclass_replaces_the_configured_model_with_one_line(
    fit_config, user_modules, caplog
):
    import logging

    fitted = fit_config("digits", "--model=user_modules.Softmax", "--trainer.max_epochs=1")
    path = Path(fitted.trainer.log_dir) / "checkpoints" / "last.ckpt"
    with caplog.at_level(logging.INFO):
        tested = fit_config("digits", f"--ckpt_path={path}", subcommand="test")
    assert type(tested.model).__name__ == "Softmax"
    assert "the checkpoint's model, user_modules.Softmax, replaces the configured one" in caplog.text


def test_a_configured_subclass_keeps_its_class_and_hooks_with_its_parents_checkpoint(
    fit_config, user_modules
):
    fitted = fit_config("digits", "--model.hidden=[32]", "--trainer.max_epochs=1")
    path = Path(fitted.trainer.log_dir) / "checkpoints" / "last.ckpt"
    tested = fit_config("digits", "--model=user_modules.Tagged", f"--ckpt_path={path}", subcommand="test")
    assert type(tested.model).__name__ == "Tagged" and tested.model.tested
    assert tested.model.hidden == (32,)  # the checkpoint's settings


@pytest.mark.parametrize("subclass", ["Softmax", "Wide", "TwoVariable"])
def test_a_subclass_that_fixes_a_checkpoints_setting_is_replaced_by_the_checkpoints_model(
    fit_config, user_modules, subclass, caplog
):
    import logging

    # Softmax and Wide fix the layers, TwoVariable its objective: the checkpoint's model cannot be built.
    if subclass in ("Softmax", "Wide"):
        fitted = fit_config("digits", "--model.hidden=[32]", "--trainer.max_epochs=1")
        config, extra = "digits", ["--trainer.max_epochs=1"]
    else:
        fitted = fit_config("expression", "--model.objective=(x-1)**2 + (y-3)**2", "--trainer.max_epochs=3")
        config, extra = "two_variable", ["--trainer.max_epochs=5"]
    path = Path(fitted.trainer.log_dir) / "checkpoints" / "last.ckpt"
    with caplog.at_level(logging.INFO):
        resumed = fit_config(config, f"--model=user_modules.{subclass}", f"--ckpt_path={path}", *extra)
    assert type(resumed.model) is type(fitted.model)
    assert "replaces the configured one" in caplog.text
    if subclass == "TwoVariable":  # still the checkpoint's problem, not two_variable
        assert resumed.model.hparams["objective"] == "(x-1)**2 + (y-3)**2"
