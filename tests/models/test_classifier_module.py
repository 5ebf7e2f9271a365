"""Classifier (system), MLP (component) and the image grid (scaffold/models)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from scaffold.data import DataModule
from scaffold.errors import ConfigError, DivergenceError
from scaffold.models import MLP, Classifier
from scaffold.models.images import image_grid


def test_mlp_shapes_and_softmax_regression():
    mlp = MLP(64, 10, hidden=(32, 16))
    assert mlp(torch.rand(5, 8, 8)).shape == (5, 10)
    assert [m.out_features for m in mlp if isinstance(m, nn.Linear)] == [32, 16, 10]
    regression = MLP(64, 3)
    assert [type(m) for m in regression] == [nn.Flatten, nn.Linear]


def test_image_grid_tiles_with_white_lines():
    images = torch.stack([torch.full((2, 3), float(i)) for i in range(5)])
    grid = image_grid(images, columns=4, pad=1)
    assert grid.shape == (2 * 3 + 1, 4 * 4 + 1)
    assert grid[1:3, 1:4].eq(0).all() and grid[1:3, 5:8].eq(0.25).all() and grid[4:6, 1:4].eq(1).all()
    assert grid[0].eq(1).all() and grid[:, 4].eq(1).all()  # separators
    assert grid[4:6, 5:8].eq(1).all()  # blank tile after the last image


def trainer(tmp_path, **kwargs) -> L.Trainer:
    options = dict(
        max_epochs=8,
        logger=L.pytorch.loggers.TensorBoardLogger(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    return L.Trainer(**{**options, **kwargs})


def test_trains_on_digits_and_reloads_without_data(tmp_path):
    L.seed_everything(0)
    model, data = Classifier(hidden=(64,), lr=3e-3), DataModule("digits")
    fit = trainer(tmp_path)
    fit.fit(model, data)
    metrics = fit.callback_metrics
    assert {"train/loss", "train/acc", "val/loss", "val/acc"} <= set(metrics)
    assert metrics["val/acc"] > 0.93 and metrics["train/acc"] > 0.93
    assert (model.hparams.num_features, model.hparams.num_classes) == (64, 10)

    checkpoint = tmp_path / "model.ckpt"
    fit.save_checkpoint(checkpoint)
    loaded = Classifier.load_from_checkpoint(checkpoint, weights_only=True)
    inputs, _ = data.val_set.__getitems__(range(32))
    model.eval()
    assert torch.equal(loaded(inputs), model(inputs))

    results = trainer(tmp_path).test(loaded, data, verbose=False)[0]
    assert results["test/acc"] == pytest.approx(metrics["val/acc"].item(), abs=1e-6)  # test = val part here


@pytest.mark.parametrize("steps_per_call", [1, 4])
def test_eval_loss_is_the_mean_over_every_row_of_the_set(tmp_path, steps_per_call):
    data = DataModule("digits", batch_size=100)  # 360 validation rows: the last batch has 60
    model = Classifier(hidden=(16,), steps_per_call=steps_per_call, sample_images=0)
    fit = trainer(tmp_path, max_epochs=1, limit_train_batches=3)
    fit.fit(model, data)
    inputs, targets = data.val_set.__getitems__(range(len(data.val_set)))
    model.eval()
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(inputs), targets)
    torch.testing.assert_close(fit.callback_metrics["val/loss"], expected)
    results = trainer(tmp_path).test(model, data, verbose=False)[0]
    assert results["test/loss"] == pytest.approx(expected.item(), rel=1e-5)  # digits: test = val part


def test_eval_loss_weighs_batches_exactly_for_bfloat16_losses():
    model = Classifier(num_features=4, num_classes=3, sample_images=0)
    model.on_validation_epoch_start()
    for loss, rows in ((1.0, 256), (3.0, 257)):  # a bfloat16 257 would be 256
        model._eval_losses.append((torch.tensor(loss, dtype=torch.bfloat16), rows))
    assert model._eval_loss_mean(model.val_loss).compute().item() == pytest.approx(1027 / 513, rel=1e-6)


def test_a_validation_stopped_by_an_exception_leaves_nothing_to_the_next(tmp_path):
    data = DataModule("digits", batch_size=100)
    model = Classifier(hidden=(16,), sample_images=0, num_features=64, num_classes=10)
    expected = trainer(tmp_path).validate(model, data, verbose=False)[0]

    def failing_step(batch, batch_idx):
        Classifier.validation_step(model, batch, batch_idx)
        if batch_idx == 2:
            raise RuntimeError("stopped")

    model.validation_step = failing_step
    with pytest.raises(RuntimeError, match="stopped"):
        trainer(tmp_path).validate(model, data, verbose=False)
    del model.validation_step
    assert trainer(tmp_path).validate(model, data, verbose=False)[0] == expected


def test_a_nan_batch_loss_makes_the_eval_loss_nan(tmp_path):
    data = DataModule("digits", batch_size=100)
    data.setup("fit")
    model = Classifier(hidden=(16,), sample_images=0, num_features=64, num_classes=10)
    with torch.no_grad():
        model.net[-1].bias[0] = float("nan")  # every row's loss is NaN: a diverged model
    results = trainer(tmp_path).validate(model, data, verbose=False)[0]
    assert torch.isnan(torch.tensor(results["val/loss"]))


@pytest.mark.parametrize("steps_per_call, limit_val_batches", [(1, None), (4, None), (1, 0)])
def test_a_diverged_fit_stops_before_any_checkpoint_keeps_nan_weights(
    tmp_path, steps_per_call, limit_val_batches
):
    model = Classifier(hidden=(16,), lr=1e30, sample_images=0, steps_per_call=steps_per_call)
    options = {} if limit_val_batches is None else {"limit_val_batches": limit_val_batches}
    fit = trainer(tmp_path, max_epochs=3, **options)
    with pytest.raises(DivergenceError, match=r"training diverged in epoch 0 \(step 23, lr=1e\+30\)"):
        fit.fit(model, DataModule("digits"))
    assert not list(tmp_path.rglob("*.ckpt"))


def test_sample_images_reach_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(
        Classifier(sample_images=10), DataModule("digits")
    )
    events = EventAccumulator(str(next(tmp_path.rglob("events.out.tfevents.*")).parent))
    events.Reload()
    image = events.Images("samples")[0]
    assert (image.width, image.height) == (8 * 9 + 1, 2 * 9 + 1)  # 10 images of 8x8, 8 per row


def test_no_checkpoint_when_the_trainer_disables_checkpointing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    L.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(Classifier(), DataModule("digits"))
    assert not list(tmp_path.rglob("*.ckpt"))


def test_checkpoint_on_other_data_is_refused(tmp_path):
    model = Classifier(num_features=20, num_classes=10)
    with pytest.raises(
        ConfigError, match="the model has 20 inputs and 10 classes but the data has 64 and 10"
    ):
        trainer(tmp_path, max_epochs=1).fit(model, DataModule("digits"))


def test_without_sizes_or_datamodule(tmp_path):
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.rand(4, 3), torch.zeros(4).long())
    )
    with pytest.raises(ConfigError, match="needs model.num_features and model.num_classes"):
        trainer(tmp_path, max_epochs=1).fit(Classifier(), loader)


@pytest.mark.parametrize(
    "kwargs, message", [({"lr": 0}, "model.lr must be > 0"), ({"hidden": (0,)}, "hidden")]
)
def test_bad_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Classifier(**kwargs)


def test_a_datamodule_of_the_users_needs_only_its_sizes():
    from types import SimpleNamespace

    model = Classifier(hidden=(8,))
    model.size_for(SimpleNamespace(num_features=5, num_classes=3))  # no image_shape
    assert model.net is not None and model.image_shape is None
