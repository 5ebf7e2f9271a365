"""Figure 5's baseline: configs/quadratic.yaml's problem as the smallest Lightning script.

    python benchmarks/minimal_quadratic.py ROOT_DIR

f(x) = (x - 2)^2 from x = -3.5, SGD lr 0.1, one step per epoch, stopped by the chapter's rule
(a step of at most epsilon = 1e-5) or 1000 epochs; ``train/loss`` logged every step to Lightning's
default logger, default checkpointing, progress bar off: what the scaffold's config asks for.
"""

import sys

import lightning as L
import torch


class Quadratic(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.x = torch.nn.Parameter(torch.tensor(-3.5))
        self.previous = self.x.item()

    def training_step(self, batch, batch_idx):
        loss = (self.x - 2) ** 2
        self.log("train/loss", loss)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        current = self.x.item()
        if abs(current - self.previous) <= 1e-5:
            self.trainer.should_stop = True
        self.previous = current

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return range(1)


if __name__ == "__main__":
    model = Quadratic()
    trainer = L.Trainer(
        max_epochs=1000, log_every_n_steps=1, enable_progress_bar=False, default_root_dir=sys.argv[1]
    )
    trainer.fit(model)
    print(f"x = {model.x.item():.4f} after {trainer.global_step} steps")
