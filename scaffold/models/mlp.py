"""The plain ``nn.Module`` the Classifier trains: a multi-layer perceptron (the "component")."""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch import nn

from scaffold.errors import ScaffoldError


class MLP(nn.Sequential):
    """Flatten, then ``Linear -> ReLU`` per hidden size, then a ``Linear`` to one score per class.

    With no hidden sizes it is softmax regression (one linear layer; cross-entropy adds the softmax).

    Example::

        MLP(64, 10, hidden=(256,))(torch.rand(32, 8, 8)).shape  # torch.Size([32, 10])
    """

    def __init__(self, num_features: int, num_classes: int, hidden: Sequence[int] = ()) -> None:
        sizes = [num_features, *hidden]
        _check_fits_in_memory(num_features, [*sizes, num_classes])
        layers: list[nn.Module] = [nn.Flatten()]
        for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(size_in, size_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], num_classes))
        super().__init__(*layers)


# float32 weights, their gradients and up to two optimiser states (Adam) per parameter
_BYTES_PER_PARAMETER = 16


def _check_fits_in_memory(num_features: int, sizes: list[int]) -> None:
    """Refuse, before allocating, a network this machine cannot train: the OOM killer gives no message.

    A typo in a libsvm file (feature index 5000000 instead of 500) is the usual cause.
    """
    count = sum((size_in + 1) * size_out for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True))
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this platform: no check
        return
    if count * _BYTES_PER_PARAMETER > memory / 2:  # the data, activations and Python need the rest
        raise ScaffoldError(
            f"the network would have {count:,} parameters for {num_features:,} input features: "
            f"{count * _BYTES_PER_PARAMETER / 2**30:.1f} GiB to train, more than half of this machine's "
            f"{memory / 2**30:.1f} GiB of memory; check the data's feature count (a libsvm feature "
            "index, --data.n_features) or --model.hidden"
        )
