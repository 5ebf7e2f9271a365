"""Figure 1 (and 6 on a GPU): Classifier + DataModule through Trainer.fit vs a plain PyTorch loop.

    python benchmarks/throughput.py [--repeats 5] [--epochs 3] [--steps-per-call 32] [--out DIR]

Both sides train an MLP 784-256-10 with SGD (lr 0.05) on the same MNIST-shaped data (synthetic,
70000 28x28 images: 48000 train, 12000 val, 10000 test, written as IDX files once), batch 256, on
the same batches in the same order (the DataModule's EpochPermutation), and evaluate the
validation rows after every epoch. The scaffold side is the whole system: TensorBoard logger on,
``train/loss`` every 50 steps, accuracies per epoch, ``last.ckpt`` and the best checkpoint written
every epoch, progress bar off (and no sample-image grid). The figure is training samples per second
over the whole run.

Rows: (a) the fast path, ``Classifier(steps_per_call=K)``, batches from host memory; (b) the same
with ``DataModule(on_device=True)`` (each split held once as one tensor on the accelerator, plain
tensors on a CPU), against a plain loop that gathers from tensors there too. Diagnostics: the
default ``steps_per_call=1`` (Lightning's own loop, one call per batch) and a bare Trainer (loss
only: no logger, metrics, checkpoints), both with batches from host memory.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from common import Row, alternate, parser, rate, report, timed
from lightning.pytorch.loggers import TensorBoardLogger

from scaffold.data import DataModule
from scaffold.data.sampling import EpochPermutation
from scaffold.data.synthetic import write_synthetic_mnist
from scaffold.models import MLP, Classifier

BATCH, LR, HIDDEN = 256, 0.05, (256,)


class SGDClassifier(Classifier):
    """The Classifier with plain SGD, as ``--optimizer SGD`` gives it on the CLI."""

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """SGD with the configured lr."""
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def mnist_shaped(folder: Path, **datamodule_options) -> DataModule:
    """A ready DataModule over 70000 synthetic 28x28 images (IDX files written once into ``folder``)."""
    if not (folder / "t10k-labels-idx1-ubyte").is_file():
        write_synthetic_mnist(folder, train=60000, test=10000)
    datamodule = DataModule("mnist", path=str(folder), batch_size=BATCH, **datamodule_options)
    datamodule.setup("fit")
    return datamodule


Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def split_tensors(datamodule: DataModule) -> Arrays:
    """The train and val parts as contiguous CPU tensors: what a hand-written loop starts from."""
    train, val = datamodule.train_set, datamodule.val_set
    return (*train.__getitems__(range(len(train))), *val.__getitems__(range(len(val))))


def plain_loop(
    arrays: Arrays, seed: int, epochs: int, device: torch.device, phases: dict[str, float] | None = None
) -> int:
    """The hand-written loop; returns the number of training samples it trained on.

    A batch is one ``index_select`` (the fastest row gather measured here) where the arrays are
    (host memory, or the device when resident there), then a copy to ``device`` unless already
    there; validation batches are slices. ``phases``, when given, accumulates the seconds spent
    training and validating (``"train"``, ``"val"``).
    """
    x_train, y_train, x_val, y_val = arrays
    model = MLP(784, 10, HIDDEN).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    order = EpochPermutation(len(y_train), seed=seed)
    clock = {"train": 0.0, "val": 0.0}
    for epoch in range(epochs):
        started = time.perf_counter()
        model.train()
        rows = torch.from_numpy(order.order(epoch)).to(x_train.device)
        for start in range(0, len(rows), BATCH):
            index = rows[start : start + BATCH]
            inputs = x_train.index_select(0, index).to(device, non_blocking=True)
            targets = y_train.index_select(0, index).to(device, non_blocking=True)
            loss = F.cross_entropy(model(inputs), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        trained = time.perf_counter()
        clock["train"] += trained - started
        model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=device)
        total_loss = torch.zeros((), device=device)
        with torch.no_grad():
            for start in range(0, len(y_val), BATCH):
                inputs = x_val[start : start + BATCH].to(device, non_blocking=True)
                targets = y_val[start : start + BATCH].to(device, non_blocking=True)
                logits = model(inputs)
                total_loss += F.cross_entropy(logits, targets, reduction="sum")
                correct += (logits.argmax(dim=1) == targets).sum()
        accuracy = correct.item() / len(y_val)  # one host sync per epoch, as the scaffold's logging has
        clock["val"] += time.perf_counter() - trained
    if phases is not None:
        for phase, seconds in clock.items():
            phases[phase] = phases.get(phase, 0.0) + seconds
    print(f"    plain loop: val accuracy {accuracy:.3f} after {epochs} epochs", flush=True)
    return epochs * len(y_train)


class Bare(L.LightningModule):
    """The same MLP as a minimal LightningModule: loss only, nothing logged (a diagnostic row)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = MLP(784, 10, HIDDEN)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Cross-entropy of one batch."""
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Forward the validation batch; nothing logged."""
        self.net(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """SGD."""
        return torch.optim.SGD(self.parameters(), lr=LR)


def bare_fit(datamodule: DataModule, epochs: int, accelerator: str) -> int:
    """A bare Trainer (no logger, no checkpoints, no metrics) on the same loaders."""
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Bare(), datamodule)
    return epochs * len(datamodule.train_set)


def scaffold_fit(
    datamodule: DataModule,
    epochs: int,
    accelerator: str,
    root: Path,
    steps_per_call: int = 1,
    callbacks: list[L.Callback] | None = None,
) -> int:
    """Trainer.fit of the Classifier on the DataModule; returns the number of training samples."""
    trainer = L.Trainer(
        callbacks=callbacks,
        accelerator=accelerator,
        devices=1,
        max_epochs=epochs,
        logger=TensorBoardLogger(root),
        log_every_n_steps=50,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    # No sample-image grid: a one-off at fit start (~20 ms here) that needs PIL, absent on some GPU hosts.
    model = SGDClassifier(hidden=HIDDEN, lr=LR, sample_images=0, steps_per_call=steps_per_call)
    trainer.fit(model, datamodule)
    accuracy = trainer.callback_metrics["val/acc"]
    print(
        f"    scaffold (steps_per_call {steps_per_call}): val accuracy {accuracy:.3f} after {epochs} epochs"
    )
    return epochs * len(datamodule.train_set)


def samples_per_second(run, synchronize) -> callable:
    """``run()`` (which returns a sample count) as a callable returning samples/s."""

    def measure() -> float:
        synchronize()
        samples = 0

        def work() -> None:
            nonlocal samples
            samples = run()
            synchronize()

        seconds = timed(work)()
        return samples / seconds

    return measure


def throughput_rows(
    figure: str,
    where: str,
    folder: Path,
    epochs: int,
    repeats: int,
    accelerator: str = "cpu",
    steps_per_call: int = 32,
) -> list[Row]:
    """One figure: the fast path (host memory, then on_device) and two diagnostics, each vs the plain loop."""
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    host, resident = mnist_shaped(folder), mnist_shaped(folder, on_device=True)
    arrays, seed = split_tensors(host), host.hparams.seed
    on_device = tuple(t.to(device) for t in arrays)  # once, as the DataModule copies each split once

    def plain(tensors: Arrays) -> callable:
        return samples_per_second(lambda: plain_loop(tensors, seed, epochs, device), synchronize)

    rows = []
    with tempfile.TemporaryDirectory() as logs:

        def system(datamodule: DataModule, k: int) -> callable:
            return samples_per_second(
                lambda: scaffold_fit(datamodule, epochs, accelerator, Path(logs), k), synchronize
            )

        cases = [
            (
                f"{figure}a",
                f"{where}: fast path (steps_per_call {steps_per_call}), batches from host memory",
                plain(arrays),
                system(host, steps_per_call),
            ),
            (
                f"{figure}b",
                f"{where}: fast path (steps_per_call {steps_per_call}), --data.on_device true",
                plain(on_device),
                system(resident, steps_per_call),
            ),
            (
                f"({figure})",
                f"{where}, diagnostic: the default steps_per_call 1 (one Lightning call per batch)",
                plain(arrays),
                system(host, 1),
            ),
            (
                f"({figure})",
                f"{where}, diagnostic: bare Trainer (loss only; no logger, metrics, checkpoints)",
                plain(arrays),
                samples_per_second(lambda: bare_fit(host, epochs, accelerator), synchronize),
            ),
        ]
        for name, what, baseline, ours in cases:
            for warm_up in (baseline, ours):  # allocator, kernels, caches: not part of any figure
                warm_up()
            base, value = alternate(baseline, ours, repeats)
            rows.append(Row(name, what, rate(base), rate(value), value / base, ">= 0.90"))
            print(rows[-1].markdown(), flush=True)
    return rows


def main() -> None:
    """Print figure 1's rows (CPU)."""
    options = parser(__doc__.splitlines()[0])
    options.add_argument("--epochs", type=int, default=3)
    options.add_argument(
        "--steps-per-call", type=int, default=32, help="the fast path's Classifier(steps_per_call)"
    )
    options.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "scaffold_bench_mnist")
    args = options.parse_args()
    where = f"training samples/s vs plain loop ({args.epochs} epochs, CPU)"
    rows = throughput_rows(
        "1", where, args.data, args.epochs, args.repeats, steps_per_call=args.steps_per_call
    )
    report(rows, "throughput", args.out)


if __name__ == "__main__":
    main()
