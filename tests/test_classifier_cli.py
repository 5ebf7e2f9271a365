"""The classifier configs through the real CLI: digits, MNIST from IDX files, libsvm, memmap."""

from __future__ import annotations

import time

import pytest
import torch
from conftest import read_scalars

from scaffold.data.synthetic import write_synthetic_mnist

TAGS = ("train/loss", "train/acc", "val/loss", "val/acc")


def test_digits_reaches_95_percent_in_under_a_minute_and_tests_its_checkpoint(fit_config, tmp_path):
    start = time.perf_counter()
    cli = fit_config("digits")
    seconds = time.perf_counter() - start
    val_acc = cli.trainer.callback_metrics["val/acc"].item()
    print(f"digits: val/acc {val_acc:.4f} after {cli.trainer.current_epoch} epochs in {seconds:.1f} s")
    assert val_acc >= 0.95 and seconds < 60
    run = tmp_path / "lightning_logs" / "version_0"
    for tag in TAGS:
        assert len(read_scalars(run, tag)) >= 2, tag
    assert read_scalars(run, "val/acc")[-1][1] == pytest.approx(val_acc)
    assert_checkpoints_are_last_and_best(run)

    tested = fit_config("digits", "--ckpt_path", "last", subcommand="test")
    test_acc = tested.trainer.callback_metrics["test/acc"].item()
    assert test_acc == pytest.approx(val_acc, abs=1e-6)  # two fractions: the 20% part is val and test
    assert tested.model.hparams.num_features == 64 and tested.model.hparams.num_classes == 10


PLAIN = (bool, int, float, str, type(None))


def is_plain(value) -> bool:
    """Numbers, strings, None, and lists/tuples/dicts of them: what weights_only=True loads anyway."""
    if isinstance(value, (list, tuple)):
        return all(is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_plain(item) for key, item in value.items())
    return isinstance(value, PLAIN)


def assert_checkpoints_are_last_and_best(run) -> None:
    """last.ckpt and best-epoch<E>-acc<A>.ckpt side by side (no folder from the '/' in val/acc)."""
    epoch, best_acc = max(enumerate(value for _, value in read_scalars(run, "val/acc")), key=lambda e: e[1])
    files = sorted(path.name for path in (run / "checkpoints").iterdir())
    assert files == sorted(["last.ckpt", f"best-epoch{epoch}-acc{best_acc:.4f}.ckpt"])
    for name in files:
        checkpoint = torch.load(run / "checkpoints" / name, weights_only=True)
        assert is_plain(checkpoint["hyper_parameters"]) and is_plain(
            checkpoint["datamodule_hyper_parameters"]
        )
        assert list(checkpoint["hyper_parameters"]["hidden"]) == [256]
    best = torch.load(run / "checkpoints" / f"best-epoch{epoch}-acc{best_acc:.4f}.ckpt", weights_only=True)
    assert best["epoch"] == epoch


@pytest.fixture(scope="module")
def mnist_folder(tmp_path_factory):
    return write_synthetic_mnist(tmp_path_factory.mktemp("mnist"), train=600, test=100, gz=True)


def test_mnist_config_trains_from_an_idx_folder(fit_config, mnist_folder):
    cli = fit_config(
        "mnist", "--data.path", str(mnist_folder), "--data.batch_size=64", "--trainer.max_epochs=2"
    )
    assert (len(cli.datamodule.train_set), len(cli.datamodule.val_set)) == (480, 120)
    assert cli.trainer.callback_metrics["val/acc"] >= 0.9  # synthetic classes are easy; chance is 0.1
    tested = fit_config("mnist", "--data.path", str(mnist_folder), "--ckpt_path", "last", subcommand="test")
    assert len(tested.datamodule.test_set) == 100  # MNIST's own test files, not the val part
    assert tested.trainer.callback_metrics["test/acc"] >= 0.9


def test_short_data_options_switch_the_source(fit_config, mnist_folder):
    cli = fit_config(
        "digits", "--data.source", "mnist", "--data.path", str(mnist_folder), "--trainer.max_epochs=1"
    )
    assert cli.datamodule.hparams.source == "mnist" and cli.model.hparams.num_features == 784


def test_libsvm_config(fit_config, tmp_path):
    from sklearn.datasets import dump_svmlight_file, load_digits

    X, y = load_digits(return_X_y=True)
    dump_svmlight_file(X, y + 1, str(tmp_path / "digits.svm"))  # labels 1..10: ids must become 0..9
    cli = fit_config("libsvm", "--data.path", str(tmp_path / "digits.svm"), "--trainer.max_epochs=5")
    assert cli.model.hparams.num_classes == 10 and cli.trainer.callback_metrics["val/acc"] >= 0.9


def test_memmap_config_converts_then_trains_with_two_workers(fit_config, tmp_path):
    folder = tmp_path / "digits_memmap"
    cli = fit_config("memmap", "--data.path", str(folder), "--trainer.max_epochs=5")
    assert (folder / "x.npy").is_file() and cli.datamodule.hparams.num_workers == 2
    assert cli.trainer.callback_metrics["val/acc"] >= 0.9


def test_the_optimizer_option_replaces_the_classifiers_own(fit_config):
    # LightningCLI builds --optimizer from the parameters before fit, when the data has not sized the net yet.
    cli = fit_config("digits", "--trainer.max_epochs=1", "--optimizer=SGD", "--optimizer.lr=0.2")
    optimizer = cli.trainer.optimizers[0]
    assert type(optimizer) is torch.optim.SGD and optimizer.param_groups[0]["lr"] == 0.2
    trained = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
    assert trained == {id(parameter) for parameter in cli.model.parameters()}
    assert cli.trainer.callback_metrics["val/acc"] > 0.5


@pytest.mark.parametrize("steps_per_call", [1, 4])
def test_overfit_batches_trains_on_the_same_few_batches(fit_config, steps_per_call):
    cli = fit_config(
        "digits",
        "--trainer.overfit_batches=2",
        "--trainer.max_epochs=30",
        f"--model.steps_per_call={steps_per_call}",
    )
    assert cli.trainer.global_step == 60
    assert cli.trainer.callback_metrics["train/acc"] >= 0.99  # 128 rows, nearly learnt by heart
