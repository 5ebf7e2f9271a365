"""A classifier run interrupted and resumed ends like an uninterrupted one: same weights, same logs (issue 7).

At an epoch boundary (a run to k epochs, then ``--ckpt_path last`` to N), mid-epoch and during
the end-of-epoch validation (Lightning's SIGTERM stop after a given batch, in process; and a real
SIGTERM to ``scaffold fit``, slow): the train loader is resumable, so the resumed run trains on the
rest of the interrupted epoch's batches, and a stop waits for validation to end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import lightning as L
import pytest
import torch
from conftest import CONFIGS, REPO, scaffold_command
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from scaffold.data import DataModule
from scaffold.models import Classifier

TAGS = ("train/loss", "train/acc", "val/loss", "val/acc")
EPOCHS = 4


def run_folder(root) -> object:
    return root / "lightning_logs" / "version_0"


def saved_weights(root) -> dict[str, torch.Tensor]:
    return torch.load(run_folder(root) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def logged(folder, tag: str) -> list[tuple[int, float]]:
    """(step, value) pairs of ``tag`` over all event files of a run folder, in step order, once each.

    Read file by file: a folder reader sorts files by name, and two runs in one process within one
    second get names that can sort the resumed run's file first (its counter 10 before 9).
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    pairs = []
    for path in folder.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()["scalars"]:
            pairs += [(event.step, event.value) for event in accumulator.Scalars(tag)]
    steps = [step for step, _ in pairs]
    assert len(steps) == len(set(steps)), f"{tag} logged twice for some step: {sorted(steps)}"
    return sorted(pairs)


def assert_same_run(root, reference_root) -> None:
    """Same final weights (bit for bit) and the same logged series, in one run folder."""
    expected = saved_weights(reference_root)
    weights = saved_weights(root)
    assert weights.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(weights[name], value), name
    for tag in TAGS:
        assert logged(run_folder(root), tag) == logged(run_folder(reference_root), tag), tag
    assert not (root / "lightning_logs" / "version_1").exists()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted digits run, through the CLI."""
    from scaffold.cli import build_cli

    root = tmp_path_factory.mktemp("reference")
    args = ["fit", "--config", str(CONFIGS / "digits.yaml"), f"--trainer.default_root_dir={root}"]
    build_cli([*args, f"--trainer.max_epochs={EPOCHS}"])
    return root


def test_resuming_at_an_epoch_boundary_ends_like_an_uninterrupted_run(fit_config, tmp_path, reference):
    fit_config("digits", "--trainer.max_epochs=2")
    first = torch.load(run_folder(tmp_path) / "checkpoints" / "last.ckpt", weights_only=True)
    assert first["global_step"] == 2 * 23
    fit_config("digits", f"--trainer.max_epochs={EPOCHS}", "--ckpt_path", "last")
    assert_same_run(tmp_path, reference)


class StopAfter(L.Callback):
    """Lightning's SIGTERM stop (checkpoint, then exit), requested after one train or validation batch."""

    def __init__(self, stage: str, epoch: int, batch: int) -> None:
        self.stage, self.at = stage, (epoch, batch)

    def _request(self, trainer: L.Trainer, stage: str, batch_idx: int) -> None:
        if (
            stage == self.stage
            and (trainer.current_epoch, batch_idx) == self.at
            and not trainer.sanity_checking
        ):
            trainer._signal_connector.received_sigterm = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._request(trainer, "train", batch_idx)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._request(trainer, "validation", batch_idx)


def fit_digits(root, ckpt_path=None, callbacks=()) -> L.Trainer:
    """configs/digits.yaml as a plain Trainer, logging into ``root``'s version_0 like the CLI."""
    L.seed_everything(0)
    trainer = L.Trainer(
        max_epochs=EPOCHS,
        log_every_n_steps=10,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=TensorBoardLogger(root, name="lightning_logs", version=0),
        callbacks=list(callbacks),
    )
    trainer.fit(Classifier(hidden=(256,), lr=0.003), DataModule("digits", batch_size=64), ckpt_path=ckpt_path)
    return trainer


@pytest.mark.parametrize(
    "stage, batch, step, position",
    [("train", 5, 23 + 6, (1, 6)), ("train", 22, 2 * 23, (1, 23)), ("validation", 2, 2 * 23, (1, 23))],
    ids=["mid-epoch", "after-the-last-batch", "during-validation"],
)
def test_a_run_stopped_inside_an_epoch_resumes_exactly(tmp_path, reference, stage, batch, step, position):
    with pytest.raises(SIGTERMException):
        fit_digits(tmp_path, callbacks=[StopAfter(stage, epoch=1, batch=batch)])
    last = run_folder(tmp_path) / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == step
    epoch, batches = position
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": epoch, "batches": batches}
    ]
    resumed = fit_digits(tmp_path, ckpt_path=last)
    assert resumed.global_step == EPOCHS * 23
    assert_same_run(tmp_path, reference)


class SigtermAfterTheHooks(L.Callback):
    """A real SIGTERM right after validation batch 2's hooks, where Lightning checks its stop flag next."""

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if trainer.current_epoch != 1 or batch_idx != 2 or trainer.sanity_checking:
            return
        connector = trainer._logger_connector
        on_batch_end = connector.on_batch_end

        def signal_then_go_on() -> None:  # runs after the module's hooks, before Lightning's check
            del connector.on_batch_end
            os.kill(os.getpid(), signal.SIGTERM)
            on_batch_end()

        connector.on_batch_end = signal_then_go_on


def test_a_sigterm_just_before_lightnings_check_still_waits_for_validation_end(tmp_path, reference):
    with pytest.raises(SIGTERMException):
        fit_digits(tmp_path, callbacks=[SigtermAfterTheHooks()])
    last = run_folder(tmp_path) / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 2 * 23  # after epoch 1's validation
    fit_digits(tmp_path, ckpt_path=last)
    assert_same_run(tmp_path, reference)


def scaffold_fit(root, *extra: str) -> list[str]:
    return scaffold_command("digits", root, *extra)


@pytest.mark.slow
def test_sigterm_during_scaffold_fit_then_resume_equals_an_uninterrupted_run(fit_config, tmp_path):
    epochs = 40
    reference_root = tmp_path / "reference"
    fit_config("digits", f"--trainer.max_epochs={epochs}", f"--trainer.default_root_dir={reference_root}")

    root = tmp_path / "interrupted"
    command = scaffold_fit(root, f"--trainer.max_epochs={epochs}")
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    # Once the first epoch's last.ckpt exists the run is past step 0 however slow the machine is
    # (a fixed wait after the first event file could land in the sanity check).
    while not (run_folder(root) / "checkpoints" / "last.ckpt").is_file():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run did not finish an epoch within 90 s"
        time.sleep(0.02)
    time.sleep(0.2)  # into a later epoch, usually mid-epoch
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    stopped_at = torch.load(run_folder(root) / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 0 < stopped_at < epochs * 23

    resumed = subprocess.run(
        scaffold_fit(root, f"--trainer.max_epochs={epochs}", "--ckpt_path=last"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    print(f"interrupted at step {stopped_at} (epoch {stopped_at // 23}, batch {stopped_at % 23})")
    assert_same_run(root, reference_root)
