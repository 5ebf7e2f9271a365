"""The same config and seed give the same ``train/loss`` series, with 0 or 2 loader workers (issue 7)."""

from __future__ import annotations

import pytest
from conftest import read_scalars

ARGS = ("--trainer.max_epochs=3", "--trainer.log_every_n_steps=1")


def train_losses(fit_config, root, *overrides: str) -> list[tuple[int, float]]:
    cli = fit_config("digits", f"--trainer.default_root_dir={root}", *ARGS, *overrides)
    return read_scalars(cli.trainer.log_dir, "train/loss")


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """The losses of a run whose loader works in the training process (the scaffold's default)."""
    from conftest import CONFIGS

    from scaffold.cli import build_cli

    root = tmp_path_factory.mktemp("workers0")
    cli = build_cli(
        ["fit", "--config", str(CONFIGS / "digits.yaml"), f"--trainer.default_root_dir={root}", *ARGS]
    )
    return read_scalars(cli.trainer.log_dir, "train/loss")


@pytest.mark.parametrize("workers", [0, 2])
def test_same_seed_same_train_losses(fit_config, tmp_path, in_process, workers):
    losses = train_losses(fit_config, tmp_path, f"--data.num_workers={workers}")
    assert len(losses) == 3 * 23 and losses == in_process  # also: 2 workers load exactly what 0 load


def test_another_seed_other_losses(fit_config, tmp_path, in_process):
    losses = train_losses(fit_config, tmp_path, "--data.seed=1")
    assert len(losses) == len(in_process) and losses != in_process
