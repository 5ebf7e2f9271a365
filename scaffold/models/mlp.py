"""The plain ``nn.Module`` the Classifier trains: a multi-layer perceptron (the "component")."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


class MLP(nn.Sequential):
    """Flatten, then ``Linear -> ReLU`` per hidden size, then a ``Linear`` to one score per class.

    With no hidden sizes it is softmax regression (one linear layer; cross-entropy adds the softmax).

    Example::

        MLP(64, 10, hidden=(256,))(torch.rand(32, 8, 8)).shape  # torch.Size([32, 10])
    """

    def __init__(self, num_features: int, num_classes: int, hidden: Sequence[int] = ()) -> None:
        sizes = [num_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(size_in, size_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], num_classes))
        super().__init__(*layers)
