"""Which checkpoints a fit leaves, and when: last.ckpt every epoch for a classifier (a SIGKILL
loses at most one epoch), once at the end for a problem (whose epochs are single steps)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from scaffold import Classifier, DataModule, ParameterProblem
from scaffold.errors import ConfigError


class LastCheckpointProbe(L.Callback):
    """Records, at the start of each epoch, which epoch the current last.ckpt holds (None: none)."""

    def __init__(self) -> None:
        self.seen: list[int | None] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last = Path(trainer.log_dir) / "checkpoints" / "last.ckpt"
        self.seen.append(torch.load(last, weights_only=True)["epoch"] if last.exists() else None)


def fit(module: L.LightningModule, tmp_path, epochs: int, datamodule=None) -> LastCheckpointProbe:
    probe = LastCheckpointProbe()
    trainer = L.Trainer(
        max_epochs=epochs,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[probe],
    )
    trainer.fit(module, datamodule=datamodule)
    return probe


def test_a_classifier_rewrites_last_ckpt_every_epoch(tmp_path):
    probe = fit(Classifier(hidden=(32,)), tmp_path, epochs=3, datamodule=DataModule("digits"))
    assert probe.seen == [None, 0, 1]
    files = sorted(p.name for p in tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    assert files[-1] == "last.ckpt" and len(files) == 2 and files[0].startswith("best-epoch2-acc")


def test_lightning_finds_no_trainer_checkpoint_to_override_and_says_nothing(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO):  # the Trainer has Lightning's default ModelCheckpoint
        fit(ParameterProblem("quadratic", lr=0.1), tmp_path, epochs=3)
    assert "Trainer" in caplog.text  # Lightning's info lines are captured
    assert "will override existing callbacks" not in caplog.text


def test_a_problem_writes_last_ckpt_once_at_the_end(tmp_path):
    probe = fit(ParameterProblem("quadratic", init={"x": -3.5}, epsilon=0.0), tmp_path, epochs=5)
    assert probe.seen == [None] * 5
    files = [p.name for p in tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt")]
    assert files == ["last.ckpt"]
    assert (
        torch.load(tmp_path / "lightning_logs/version_0/checkpoints/last.ckpt", weights_only=True)[
            "global_step"
        ]
        == 5
    )


def test_ckpt_path_last_picks_the_newest_run_of_the_same_model(fit_config):
    """Every config logs into one lightning_logs/: `last` must skip another model's newer run."""
    digits = fit_config("digits", "--trainer.max_epochs=1")
    fit_config("quadratic", "--trainer.max_epochs=3")  # newer, and a ParameterProblem
    tested = fit_config("digits", "--ckpt_path=last", subcommand="test")
    assert tested.config_init["test"]["ckpt_path"] == str(
        Path(digits.trainer.log_dir) / "checkpoints" / "last.ckpt"
    )
    assert tested.trainer.callback_metrics["test/acc"] > 0.5


def test_ckpt_path_last_reads_the_checkpoints_hyperparameters_as_its_file_path_does(fit_config):
    """A run fitted with other model flags is tested with `--ckpt_path last` alone, as with its path."""
    fitted = fit_config("digits", "--trainer.max_epochs=1", "--model.hidden=[16]")
    by_last = fit_config("digits", "--ckpt_path=last", subcommand="test")
    path = str(Path(fitted.trainer.log_dir) / "checkpoints" / "last.ckpt")
    by_path = fit_config("digits", f"--ckpt_path={path}", subcommand="test")
    assert by_last.config_init["test"]["ckpt_path"] == path
    assert list(by_last.model.hparams.hidden) == list(by_path.model.hparams.hidden) == [16]
    assert by_last.trainer.callback_metrics["test/acc"] == by_path.trainer.callback_metrics["test/acc"]


def test_ckpt_path_last_looks_where_the_configured_logger_keeps_its_runs(fit_config, tmp_path):
    logger = '{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "%s"}}'
    logger %= tmp_path / "csv"
    fitted = fit_config("digits", "--trainer.max_epochs=1", "--trainer.logger", logger)
    tested = fit_config("digits", "--trainer.logger", logger, "--ckpt_path=last", subcommand="test")
    expected = Path(fitted.trainer.log_dir) / "checkpoints" / "last.ckpt"
    assert Path(tested.config_init["test"]["ckpt_path"]) == expected
    assert tested.config_init["test"]["ckpt_path"].startswith(str(tmp_path / "csv"))


def test_ckpt_path_last_skips_newer_runs_of_another_problem_or_data_source(fit_config, tmp_path):
    """A quadratic config resumes the quadratic run, a digits config the digits run: not newer others."""
    from sklearn.datasets import dump_svmlight_file, load_digits

    quadratic = fit_config("quadratic", "--trainer.max_epochs=3")
    fit_config("wavy", "--trainer.max_epochs=3")
    digits = fit_config("digits", "--trainer.max_epochs=1")
    X, y = load_digits(return_X_y=True)
    dump_svmlight_file(X[:200], y[:200], str(tmp_path / "digits.svm"))
    libsvm = ("--data.source=libsvm", f"--data.path={tmp_path}/digits.svm")
    on_file = fit_config("digits", "--trainer.max_epochs=1", *libsvm)
    dump_svmlight_file(X[200:300], y[200:300] % 3, str(tmp_path / "other.svm"))  # newer, another file
    fit_config("digits", "--trainer.max_epochs=1", libsvm[0], f"--data.path={tmp_path}/other.svm")

    for config, fitted, extra in (
        ("quadratic", quadratic, ()),
        ("digits", digits, ()),
        ("digits", on_file, libsvm),
    ):
        tested = fit_config(config, "--ckpt_path=last", *extra, subcommand="test")
        assert tested.config_init["test"]["ckpt_path"] == str(
            Path(fitted.trainer.log_dir) / "checkpoints" / "last.ckpt"
        )


def test_ckpt_path_last_with_no_run_of_the_problem_names_the_problem(fit_config):
    fit_config("quadratic", "--trainer.max_epochs=3")
    expected = "no last.ckpt of a ParameterProblem run with model.objective 'wavy'"
    with pytest.raises(ConfigError, match=expected):
        fit_config("wavy", "--ckpt_path=last")


def test_predict_on_the_last_checkpoint_gives_one_class_per_test_row(fit_config):
    fit_config("digits", "--trainer.max_epochs=2")
    predicted = fit_config("digits", "--ckpt_path=last", subcommand="predict")
    classes = torch.cat(predicted.trainer.predict_loop.predictions)
    assert classes.shape == (359,) and classes.min() >= 0 and classes.max() <= 9


def test_ckpt_path_last_without_a_logger_resumes_from_the_default_checkpoint_folder(fit_config, tmp_path):
    first = fit_config("digits", "--trainer.logger=false", "--trainer.max_epochs=1")
    resumed = fit_config("digits", "--trainer.logger=false", "--trainer.max_epochs=2", "--ckpt_path=last")
    assert resumed.config_init["fit"]["ckpt_path"] == str(tmp_path / "checkpoints" / "last.ckpt")
    assert resumed.trainer.global_step == 2 * first.trainer.global_step


def test_remote_checkpoint_paths_are_written_by_lightnings_own_writer(tmp_path, monkeypatch):
    import fsspec

    from scaffold.checkpointing import AtomicCheckpointIO

    monkeypatch.chdir(tmp_path)
    memory = fsspec.filesystem("memory")
    try:
        AtomicCheckpointIO().save_checkpoint({"weights": torch.ones(3)}, "memory://run/checkpoints/last.ckpt")
        with memory.open("/run/checkpoints/last.ckpt", "rb") as saved:
            assert torch.equal(torch.load(saved, weights_only=True)["weights"], torch.ones(3))
        assert not any(tmp_path.iterdir())  # not a local folder named "memory:"
    finally:
        memory.rm("/run", recursive=True)


def test_a_users_model_checkpoint_is_kept_beside_the_scaffolds(fit_config, tmp_path):
    """Lightning drops Trainer callbacks of a class the module's own callbacks have; not this one."""
    mine = ("--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.monitor=val/loss")
    mine += ("--trainer.callbacks.filename=mine-{epoch}", "--trainer.callbacks.save_top_k=-1")
    fitted = fit_config("digits", "--trainer.max_epochs=2", *mine)
    files = sorted(p.name for p in (Path(fitted.trainer.log_dir) / "checkpoints").glob("*.ckpt"))
    assert files == ["best-epoch1-acc" + files[0].removeprefix("best-epoch1-acc"), "last.ckpt"] + [
        "mine-epoch=0.ckpt",
        "mine-epoch=1.ckpt",
    ]
    problem = fit_config("quadratic", "--trainer.max_epochs=2", *mine[:1], *mine[2:])
    files = sorted(p.name for p in (Path(problem.trainer.log_dir) / "checkpoints").glob("*.ckpt"))
    assert files == ["last.ckpt", "mine-epoch=0.ckpt", "mine-epoch=1.ckpt"]


def test_checkpoint_callbacks_are_not_doubled_by_a_second_fit_or_a_subclass(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    class Mine(ModelCheckpoint):  # Lightning keeps a Trainer callback of a class ours do not derive from
        pass

    trainer = L.Trainer(
        max_epochs=1,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Mine(filename="mine")],
    )
    model, data = Classifier(hidden=(8,)), DataModule("digits")
    trainer.fit(model, datamodule=data)
    trainer.fit_loop.max_epochs = 2
    trainer.fit(model, datamodule=data)
    kinds = sorted(type(c).__name__ for c in trainer.callbacks if isinstance(c, ModelCheckpoint))
    assert kinds == ["Mine", "_BestCheckpoint", "_LastCheckpoint"]


def test_a_users_checkpoint_on_val_acc_keeps_its_own_state_across_a_resume(fit_config, tmp_path):
    """It used to share the scaffold's best-checkpoint state: after a resume both tracked the user's."""
    mine = ("--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.monitor=val/acc")
    mine += ("--trainer.callbacks.mode=max", "--trainer.callbacks.save_top_k=2")
    mine += ("--trainer.callbacks.filename=mine-{epoch}", "--model.hidden=[4]")
    first = fit_config("digits", "--trainer.max_epochs=3", *mine)
    fit_config("digits", "--trainer.max_epochs=6", "--ckpt_path=last", *mine)
    folder = Path(first.trainer.log_dir) / "checkpoints"
    assert len(list(folder.glob("best-*.ckpt"))) == 1
    assert len(list(folder.glob("mine-*.ckpt"))) == 2


def test_a_user_checkpoint_differing_only_in_verbosity_is_still_the_users(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    trainer = L.Trainer(
        max_epochs=1,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ModelCheckpoint(verbose=True)],
    )
    trainer.fit(ParameterProblem("quadratic", epsilon=0.0))
    files = sorted(p.name for p in tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    assert files == ["epoch=0-step=1.ckpt", "last.ckpt"]


def test_ckpt_path_last_reads_default_root_dir_as_lightning_does(fit_config, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    fitted = fit_config("quadratic", "--trainer.max_epochs=3", "--trainer.default_root_dir=~/runs")
    assert Path(fitted.trainer.log_dir).is_relative_to(tmp_path / "home" / "runs")
    resumed = fit_config(
        "quadratic", "--trainer.max_epochs=4", "--trainer.default_root_dir=~/runs", "--ckpt_path=last"
    )
    assert resumed.trainer.global_step == 4


def test_ckpt_path_last_uses_a_loggers_set_version(fit_config, tmp_path):
    logger = '{"class_path": "TensorBoardLogger", "init_args": {"save_dir": "%s", "version": "run1"}}'
    logger %= tmp_path / "tb"
    fit_config("quadratic", "--trainer.max_epochs=3", "--trainer.logger", logger)
    resumed = fit_config(
        "quadratic", "--trainer.max_epochs=4", "--trainer.logger", logger, "--ckpt_path=last"
    )
    assert resumed.config_init["fit"]["ckpt_path"] == str(
        tmp_path / "tb" / "lightning_logs" / "run1" / "checkpoints" / "last.ckpt"
    )
    assert resumed.trainer.global_step == 4


def test_a_csv_logged_run_resumes_into_a_new_folder_keeping_its_metrics(fit_config, tmp_path):
    logger = '{"class_path": "CSVLogger", "init_args": {"save_dir": "%s"}}' % (tmp_path / "csv")
    first = fit_config("quadratic", "--trainer.max_epochs=3", "--trainer.logger", logger)
    metrics = Path(first.trainer.log_dir) / "metrics.csv"
    before = metrics.read_text()
    resumed = fit_config(
        "quadratic", "--trainer.max_epochs=5", "--trainer.logger", logger, "--ckpt_path=last"
    )
    assert metrics.read_text() == before  # Lightning's CSV writer empties a folder it logs into again
    assert Path(resumed.trainer.log_dir).name == "version_1"


def test_the_checkpoints_settings_are_reported_and_unknown_ones_ignored(fit_config, tmp_path, caplog):
    import logging

    fitted = fit_config("quadratic", "--trainer.max_epochs=3")
    with caplog.at_level(logging.INFO):
        fit_config("quadratic", "--trainer.max_epochs=4", "--model.lr=0.5", "--ckpt_path=last")
    assert "the checkpoint's model settings replace the configured ones: lr 0.5 -> 0.1" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        fit_config("digits", "--trainer.max_epochs=1", "--model.hidden=[16]")
        fit_config("digits", "--ckpt_path=last", subcommand="test")
    assert "replace the configured ones: hidden [256] -> [16]" in caplog.text
    assert "num_features" not in caplog.text  # unset in the config: taken from the data, not replaced

    checkpoint = torch.load(Path(fitted.trainer.log_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["dropout_old"] = 0.1
    torch.save(checkpoint, tmp_path / "old.ckpt")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        tested = fit_config("quadratic", f"--ckpt_path={tmp_path / 'old.ckpt'}", subcommand="test")
    assert (
        "ParameterProblem takes no dropout_old; the checkpoint's values for them are ignored" in caplog.text
    )
    assert "test/loss" in tested.trainer.callback_metrics


def test_identity_args_match_whatever_sequence_type_the_config_holds(tmp_path, monkeypatch):
    from jsonargparse import Namespace

    from scaffold.resume import run_kind

    (tmp_path / "my_models.py").write_text(
        "from scaffold import Classifier\nclass Net(Classifier):\n    identity_args = ('hidden',)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    parsed = Namespace(model=Namespace(class_path="my_models.Net", init_args=Namespace(hidden=(16,))))
    saved = {"model": {"class_path": "my_models.Net", "init_args": {"hidden": [16]}}}
    assert run_kind(parsed) == run_kind(saved)
    assert run_kind(parsed)[1] == {"hidden": [16]}


def test_last_ckpt_holds_the_best_checkpoints_state_of_its_own_epoch(fit_config):
    fitted = fit_config("digits", "--trainer.max_epochs=2", "--model.hidden=[16]")
    folder = Path(fitted.trainer.log_dir) / "checkpoints"
    [best_file] = folder.glob("best-*.ckpt")
    states = torch.load(folder / "last.ckpt", weights_only=True)["callbacks"]
    [best_state] = [state for key, state in states.items() if key.startswith("_BestCheckpoint")]
    assert Path(best_state["best_model_path"]) == best_file


def test_a_checkpoint_from_before_the_best_checkpoint_had_its_own_class_restores_its_state(
    fit_config, recwarn
):
    fitted = fit_config("digits", "--trainer.max_epochs=2", "--model.hidden=[16]")
    last = Path(fitted.trainer.log_dir) / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    [key] = [key for key in checkpoint["callbacks"] if key.startswith("_BestCheckpoint")]
    saved = checkpoint["callbacks"].pop(key)
    checkpoint["callbacks"][key.replace("_BestCheckpoint", "ModelCheckpoint", 1)] = saved  # as written before
    torch.save(checkpoint, last)
    resumed = fit_config("digits", "--trainer.max_epochs=4", "--model.hidden=[16]", "--ckpt_path=last")
    [best] = [c for c in resumed.trainer.callbacks if type(c).__name__ == "_BestCheckpoint"]
    assert best.best_model_score >= saved["best_model_score"]
    assert len(list(last.parent.glob("best-*.ckpt"))) == 1  # the earlier best was known, so replaced
    assert not [w for w in recwarn if "Please add the following callbacks" in str(w.message)]


def test_a_checkpoint_of_an_unrelated_model_class_is_refused(fit_config):
    quadratic = fit_config("quadratic", "--trainer.max_epochs=3")
    path = Path(quadratic.trainer.log_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(
        ConfigError, match="a checkpoint of a ParameterProblem, but this config's model is a Cl"
    ):
        fit_config("digits", f"--ckpt_path={path}", subcommand="test")


@pytest.mark.parametrize("stop", ["second Ctrl-C", "SIGTERM after divergence"])
def test_a_stop_mid_step_or_in_a_diverged_state_saves_nothing_and_names_the_last_good_checkpoint(
    tmp_path, stop
):
    from lightning.pytorch.loggers import TensorBoardLogger
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from scaffold.checkpointing import InterruptReport

    class Stop(L.Callback):
        def on_train_batch_end(self, trainer, module, *args) -> None:
            if trainer.global_step != 26:
                return
            if stop == "second Ctrl-C":
                raise KeyboardInterrupt  # raw, mid-step: what a second Ctrl-C raises
            with torch.no_grad():
                module.net[-1].bias.fill_(float("nan"))  # diverged mid-epoch, before the epoch-end check
            raise SIGTERMException  # Lightning's between-batches stop

    report = InterruptReport()
    trainer = L.Trainer(
        max_epochs=3,
        logger=TensorBoardLogger(tmp_path),
        callbacks=[Stop(), report],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises((SystemExit, SIGTERMException)):  # SystemExit: Lightning's answer to Ctrl-C
        trainer.fit(Classifier(hidden=(16,), sample_images=0), DataModule("digits"))
    last = Path(trainer.log_dir) / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 23  # epoch 0's, not step 26's
    assert "no checkpoint saved at this point" in report.message and f"the newest is {last}" in report.message
    assert ("the run diverged" in report.message) == (stop != "second Ctrl-C")


def test_atomic_checkpoint_writes_read_a_home_folder_as_lightnings_writer_does(tmp_path, monkeypatch):
    from scaffold.checkpointing import AtomicCheckpointIO

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    AtomicCheckpointIO().save_checkpoint({"step": 1}, "~/runs/last.ckpt")
    assert torch.load(tmp_path / "home" / "runs" / "last.ckpt", weights_only=True) == {"step": 1}
    assert not (tmp_path / "~").exists()


def test_run_time_settings_on_the_command_line_survive_a_resume(fit_config):
    """epsilon and figure (problems), steps_per_call and sample_images (classifiers) say how to run."""
    fit_config("quadratic", "--trainer.max_epochs=3")
    resumed = fit_config("quadratic", "--trainer.max_epochs=100", "--model.epsilon=0", "--ckpt_path=last")
    assert resumed.model.epsilon == 0 and resumed.trainer.global_step == 100  # the rule is off
    fit_config("digits", "--trainer.max_epochs=1", "--model.steps_per_call=8")
    resumed = fit_config("digits", "--trainer.max_epochs=2", "--model.steps_per_call=1", "--ckpt_path=last")
    assert resumed.model.steps_per_call == 1


def test_a_subclass_that_fixes_its_objective_resumes_its_own_runs(fit_config, tmp_path, monkeypatch):
    """As README's Rosenbrock: it takes no `objective`, so its class alone tells its runs apart."""
    (tmp_path / "my_problems.py").write_text(
        "from scaffold import ParameterProblem\n"
        "class Fixed(ParameterProblem):\n"
        "    def __init__(self, lr: float = 0.1):\n"
        "        super().__init__('quadratic', {'x': 1.0}, lr=lr)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fit_config("quadratic", "--model=my_problems.Fixed", "--trainer.max_epochs=2")
    fit_config("wavy", "--trainer.max_epochs=3")  # newer, another class
    resumed = fit_config(
        "quadratic", "--model=my_problems.Fixed", "--trainer.max_epochs=3", "--ckpt_path=last"
    )
    assert resumed.trainer.global_step == 3


def test_data_paths_are_one_identity_however_they_are_written(tmp_path, monkeypatch):
    from jsonargparse import Namespace

    from scaffold.resume import run_kind

    monkeypatch.chdir(tmp_path)

    def kind(path: str):
        data = Namespace(
            class_path="scaffold.data.DataModule", init_args=Namespace(source="libsvm", path=path)
        )
        return run_kind(Namespace(model=None, data=data))

    assert kind("a.svm") == kind("./a.svm") == kind(str(tmp_path / "a.svm"))
    assert kind("a.svm") != kind("b.svm")


def test_evaluating_a_checkpoint_attaches_no_checkpoint_callbacks(fit_config, recwarn):
    """They would only read the loaded checkpoint's states and warn that their folder has changed."""
    from scaffold.checkpointing import _ScaffoldCheckpoint

    fit_config("digits", "--trainer.max_epochs=1")
    tested = fit_config("digits", "--ckpt_path=last", subcommand="test")
    assert not [c for c in tested.trainer.callbacks if isinstance(c, _ScaffoldCheckpoint)]
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)]
    assert not [w for w in recwarn if "Please add the following callbacks" in str(w.message)]
    fit_config("quadratic", "--trainer.max_epochs=2")
    fit_config("quadratic", "--ckpt_path=last", subcommand="test")
    assert not [w for w in recwarn if "Please add the following callbacks" in str(w.message)]
