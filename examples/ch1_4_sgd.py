"""python examples/ch1_4_sgd.py

Chapter 1.4: the same minimisation with an ``nn.Parameter`` and ``torch.optim.SGD`` for 60 epochs.
"""

from __future__ import annotations

import torch


def f(x: torch.Tensor) -> torch.Tensor:
    """The chapter's objective."""
    return torch.pow(x - 2.0, 2)


def fit(start: float = -3.5, eta: float = 0.1, epochs: int = 60) -> torch.Tensor:
    """The chapter's loop: zero the gradient, compute the loss, backward, step."""
    x_param = torch.nn.Parameter(torch.tensor([start]), requires_grad=True)
    optimizer = torch.optim.SGD([x_param], lr=eta)
    for _epoch in range(epochs):
        optimizer.zero_grad()
        loss_incurred = f(x_param)
        loss_incurred.backward()
        optimizer.step()
    return x_param.data


def main() -> None:
    """Print the parameter after 60 epochs: tensor([2.0000])."""
    print(fit())


if __name__ == "__main__":
    main()
