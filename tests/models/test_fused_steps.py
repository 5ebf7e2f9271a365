"""``Classifier(steps_per_call=K)``: K batches per Lightning call train and log exactly like K = 1 (issue 6).

Exactly: the same weights bit for bit, the same TensorBoard series (every tag, step and value),
the same ``global_step`` and checkpoints; with ``max_steps`` inside a call, learning-rate
schedulers, and a run stopped after a call and resumed. Trainer options that K > 1 would change
are refused before fit starts.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from scaffold.data import DataModule
from scaffold.errors import ConfigError
from scaffold.models import Classifier

BATCHES = 23  # ceil(1438 / 64) digits batches per epoch


def fit(root, steps_per_call: int, model_class=Classifier, ckpt_path=None, callbacks=(), **trainer_options):
    """Two epochs of digits (batch 64), logged into ``root``/version_0; returns (trainer, model)."""
    L.seed_everything(0)
    options = dict(max_epochs=2, log_every_n_steps=5, enable_progress_bar=False, enable_model_summary=False)
    trainer = L.Trainer(
        logger=TensorBoardLogger(root, name="", version=0),
        callbacks=list(callbacks),
        **(options | trainer_options),
    )
    model = model_class(hidden=(32,), lr=3e-3, steps_per_call=steps_per_call)
    trainer.fit(model, DataModule("digits", batch_size=64), ckpt_path=ckpt_path)
    return trainer, model


def scalars(root) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of the run, over all its event files, in step order."""
    series: dict[str, list[tuple[int, float]]] = {}
    for path in sorted((root / "version_0").glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            series.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
    return {tag: sorted(pairs) for tag, pairs in series.items()}


def assert_same_weights(model: Classifier, reference: Classifier) -> None:
    weights, expected = model.state_dict(), reference.state_dict()
    assert weights.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(weights[name], value), name


@pytest.fixture(scope="module")
def one_step_per_call(tmp_path_factory):
    root = tmp_path_factory.mktemp("k1")
    trainer, model = fit(root, 1)
    return root, trainer, model


@pytest.mark.parametrize("steps_per_call", [4, 8, BATCHES, 40])
def test_fused_steps_train_log_and_checkpoint_exactly_like_one_step_per_call(
    tmp_path, one_step_per_call, steps_per_call
):
    root, reference_trainer, reference = one_step_per_call
    trainer, model = fit(tmp_path, steps_per_call)
    assert trainer.global_step == reference_trainer.global_step == 2 * BATCHES
    assert_same_weights(model, reference)
    logged, expected = scalars(tmp_path), scalars(root)
    assert set(logged) == set(expected) >= {"train/loss", "train/acc", "val/loss", "val/acc", "epoch"}
    for tag, pairs in expected.items():
        assert logged[tag] == pairs, tag
    assert [step for step, _ in logged["train/loss"]][:3] == [4, 9, 14]  # every 5 steps, inside calls
    checkpoints = sorted(p.name for p in (tmp_path / "version_0" / "checkpoints").iterdir())
    assert checkpoints == sorted(p.name for p in (root / "version_0" / "checkpoints").iterdir())
    last = torch.load(tmp_path / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["global_step"], last["epoch"]) == (2 * BATCHES, 1)


def test_max_steps_stops_inside_a_call(tmp_path):
    trainer, model = fit(tmp_path / "fused", 8, max_steps=30)
    reference_trainer, reference = fit(tmp_path / "one", 1, max_steps=30)
    assert trainer.global_step == reference_trainer.global_step == 30
    assert_same_weights(model, reference)


class Scheduled(Classifier):
    """SGD with a learning-rate scheduler stepped per epoch (``kind = "epoch"``) or every 3 batches."""

    kind = "epoch"

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        if self.kind == "epoch":
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.97)
        config = {"scheduler": scheduler, "interval": "step", "frequency": 3}
        return {"optimizer": optimizer, "lr_scheduler": config}


@pytest.mark.parametrize("kind", ["epoch", "step"])
def test_learning_rate_schedulers_step_as_in_lightnings_own_loop(tmp_path, kind, monkeypatch):
    monkeypatch.setattr(Scheduled, "kind", kind)
    _, model = fit(tmp_path / "fused", 8, Scheduled, max_epochs=3)
    _, reference = fit(tmp_path / "one", 1, Scheduled, max_epochs=3)
    lr, reference_lr = (m.optimizers().optimizer.param_groups[0]["lr"] for m in (model, reference))
    assert lr == reference_lr < 0.1
    assert_same_weights(model, reference)


class StopAfterBatch(L.Callback):
    """Lightning's SIGTERM stop (checkpoint, then exit) after the call that ends with ``batch`` of epoch 1."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (trainer.current_epoch, batch_idx) == (1, self.batch):
            trainer._signal_connector.received_sigterm = True


def test_a_fused_run_stopped_mid_epoch_resumes_like_an_uninterrupted_one(tmp_path, one_step_per_call):
    root, _, reference = one_step_per_call
    with pytest.raises(SIGTERMException):
        fit(tmp_path, 8, callbacks=[StopAfterBatch(7)])  # the first call of epoch 1 ends at batch 7
    last = tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == BATCHES + 8
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 1, "batches": 8}]
    trainer, model = fit(tmp_path, 8, ckpt_path=last)
    assert trainer.global_step == 2 * BATCHES
    assert_same_weights(model, reference)
    logged, expected = scalars(tmp_path), scalars(root)
    for tag in ("train/loss", "train/acc", "val/loss", "val/acc"):
        assert logged[tag] == expected[tag], tag


@pytest.mark.parametrize(
    "option, shown",
    [
        ({"gradient_clip_val": 1.0}, "trainer.gradient_clip_val 1.0"),
        ({"accumulate_grad_batches": 2}, "trainer.accumulate_grad_batches 2"),
        ({"val_check_interval": 0.5}, "trainer.val_check_interval 0.5"),
        ({"val_check_interval": 1}, "trainer.val_check_interval 1"),  # every batch, not every epoch
    ],
)
def test_trainer_options_that_fused_steps_would_change_are_refused(tmp_path, option, shown):
    with pytest.raises(ConfigError, match=f"steps_per_call 8 steps the optimiser itself.*{shown}"):
        fit(tmp_path, 8, **option)
    assert not (tmp_path / "version_0" / "checkpoints").exists()


def test_more_than_one_device_and_plateau_schedulers_are_refused(tmp_path, monkeypatch):
    model = Classifier(steps_per_call=8)
    model.trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    model.trainer.state.fn = TrainerFn.FITTING
    with pytest.raises(ConfigError, match="DDPStrategy"):
        model.check_fused_steps()

    def plateau(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}

    monkeypatch.setattr(Classifier, "configure_optimizers", plateau)
    with pytest.raises(ConfigError, match="cannot train with ReduceLROnPlateau"):
        fit(tmp_path, 8)


class OwnOptimizerStep(Classifier):
    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)


class TwoOptimizers(Classifier):
    def configure_optimizers(self):
        parameters = list(self.parameters())
        half = len(parameters) // 2
        return [torch.optim.SGD(parameters[:half], lr=0.1), torch.optim.SGD(parameters[half:], lr=0.1)]


class OwnTrainingStep(Classifier):
    def training_step(self, batch, batch_idx):
        decay = sum(parameter.square().sum() for parameter in self.parameters())
        return super().training_step(batch, batch_idx) + 1e-3 * decay


class _StepMixin:
    def training_step(self, batch, batch_idx):
        return Classifier.training_step(self, batch, batch_idx)


class MixedInTrainingStep(_StepMixin, Classifier):
    pass


class Unsized(DataModule):
    def train_dataloader(self):
        loader = super().train_dataloader()
        return (batch for batch in loader)  # no __len__


@pytest.mark.parametrize(
    "model_class, datamodule_class, shown",
    [
        (OwnOptimizerStep, DataModule, "the module's own optimizer_step"),
        (TwoOptimizers, DataModule, "2 optimisers"),
        (OwnTrainingStep, DataModule, "its own training_step"),
        (MixedInTrainingStep, DataModule, "its own training_step"),
        (Classifier, Unsized, "a train loader without a length"),
    ],
)
def test_what_the_fused_steps_would_bypass_is_refused(tmp_path, model_class, datamodule_class, shown):
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with pytest.raises(ConfigError, match=f"steps_per_call 8 .*{shown}"):
        trainer.fit(model_class(hidden=(32,), steps_per_call=8), datamodule_class("digits", batch_size=64))


@pytest.mark.parametrize("first, then", [(1, 8), (8, 1)], ids=["1-then-8", "8-then-1"])
def test_a_run_resumed_with_another_steps_per_call_continues_where_it_stopped(
    tmp_path, one_step_per_call, first, then
):
    root, _, reference = one_step_per_call
    with pytest.raises(SIGTERMException):
        fit(tmp_path, first, callbacks=[StopAfterBatch(7)])  # K = 1 and 8 both stop after batch 7
    trainer, model = fit(tmp_path, then, ckpt_path=tmp_path / "version_0" / "checkpoints" / "last.ckpt")
    assert trainer.global_step == 2 * BATCHES  # not 0 + 2 * 23: the other mode's step counter is carried over
    assert_same_weights(model, reference)
    logged, expected = scalars(tmp_path), scalars(root)
    for tag in ("train/loss", "train/acc", "val/loss", "val/acc"):
        assert logged[tag] == expected[tag], tag


class FailsAtStep30(Classifier):
    def train_loss(self, batch):
        if self.global_step == 30:
            raise RuntimeError("a failing step")
        return super().train_loss(batch)


def test_a_crash_keeps_the_last_epochs_checkpoint_which_resumes_exactly(tmp_path, one_step_per_call):
    _, _, reference = one_step_per_call
    with pytest.raises(RuntimeError, match="a failing step"):
        fit(tmp_path, 8, FailsAtStep30)  # step 30: batch 7 of epoch 1
    last = tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert (saved["global_step"], saved["epoch"]) == (BATCHES, 0)  # epoch 0's, not the crash's
    trainer, model = fit(tmp_path, 8, ckpt_path=last)
    assert trainer.global_step == 2 * BATCHES
    assert_same_weights(model, reference)


def test_steps_per_call_below_one_is_refused():
    with pytest.raises(ConfigError, match="model.steps_per_call must be >= 1, got 0"):
        Classifier(steps_per_call=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: torch.cuda.is_available() is False")
@pytest.mark.parametrize(
    "precision, on_device", [("32-true", False), ("32-true", True), ("16-mixed", False)], ids=str
)
def test_fused_steps_on_a_gpu_train_like_one_step_per_call(tmp_path, precision, on_device):
    """Host batches are moved by the fused step itself; 16-mixed goes through Lightning's gradient scaler."""

    class DeviceSeen(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            devices.add(pl_module.device.type)

    devices: set[str] = set()

    def gpu_fit(root, steps_per_call):
        L.seed_everything(0)
        trainer = L.Trainer(
            accelerator="gpu", devices=1, precision=precision, max_epochs=2, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[DeviceSeen()],
        )  # fmt: skip
        model = Classifier(hidden=(32,), lr=3e-3, steps_per_call=steps_per_call)
        trainer.fit(model, DataModule("digits", batch_size=64, on_device=on_device))
        return trainer, model

    trainer, model = gpu_fit(tmp_path / "fused", 8)
    reference_trainer, reference = gpu_fit(tmp_path / "one", 1)
    assert trainer.global_step == reference_trainer.global_step == 2 * BATCHES
    assert devices == {"cuda"}  # (Lightning moves the module back to the CPU when fit ends)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=0, atol=1e-6, msg=name)
    metrics = (trainer.callback_metrics[key] for key in ("val/acc", "train/acc"))
    assert [float(value) for value in metrics] == [
        float(reference_trainer.callback_metrics[key]) for key in ("val/acc", "train/acc")
    ]
