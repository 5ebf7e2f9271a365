"""A grid of input images, for TensorBoard (the chapter's ``plt.imshow`` of an example)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def image_grid(images: Tensor, columns: int = 8, pad: int = 1) -> Tensor:
    """Tile ``(N, H, W)`` images into one ``(rows*(H+pad)+pad, columns*(W+pad)+pad)`` image in [0, 1].

    Values are min-max scaled over all images together; ``pad``-wide white lines separate them.
    """
    images = images.detach().float().cpu()
    low, high = images.min(), images.max()
    images = (images - low) / (high - low).clamp_min(1e-12)
    n, height, width = images.shape
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    blanks = torch.ones(rows * columns - n, height, width)
    tiles = F.pad(torch.cat([images, blanks]), (0, pad, 0, pad), value=1.0)
    grid = tiles.reshape(rows, columns, height + pad, width + pad).permute(0, 2, 1, 3)
    return F.pad(grid.reshape(rows * (height + pad), columns * (width + pad)), (pad, 0, pad, 0), value=1.0)
