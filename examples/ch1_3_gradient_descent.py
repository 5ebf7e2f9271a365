"""python examples/ch1_3_gradient_descent.py [--out DIR]

Chapter 1.3: minimise f(x) = (x - 2)^2 by hand-written gradient descent with autograd, stopping
with the chapter's rule ||x_cur - x_prev|| <= epsilon. Writes f and f' to DIR/ch1_3_f_and_derivative.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from scaffold.atomic import atomic_path


def f(x: torch.Tensor) -> torch.Tensor:
    """The chapter's objective."""
    return torch.pow(x - 2.0, 2)


def gradient_descent(
    start: float = -3.5, eta: float = 0.1, epsilon: float = 1e-5
) -> tuple[torch.Tensor, int]:
    """The chapter's loop: step against the gradient until a step moves x by <= epsilon."""
    x = torch.tensor([start], requires_grad=True)
    x_cur = x.clone()
    x_prev = x_cur * 100  # anything far from x_cur, so the loop starts
    steps = 0
    while torch.linalg.norm(x_cur - x_prev) > epsilon:
        x_prev = x_cur.clone()
        value = f(x)
        value.backward()
        x.data -= eta * x.grad
        x.grad.zero_()
        x_cur = x.data
        steps += 1
    return x_cur, steps


def plot_f_and_derivative(path: Path) -> None:
    """Plot f and its derivative f' (computed by autograd) on [-7, 9], as the chapter does."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = torch.linspace(-7, 9, 100, requires_grad=True)
    ys = f(xs)
    ys.sum().backward()  # each y depends only on its own x, so xs.grad is f'(x) pointwise
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(xs.detach(), ys.detach(), label="$f(x) = (x-2)^2$")
    axes.plot(xs.detach(), xs.grad, label="$f'(x)$")
    axes.axhline(0, color="gray", linewidth=0.5)
    axes.legend()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    """Run the chapter's gradient descent and save the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the PNG (default: .)")
    args = parser.parse_args(argv)
    x, steps = gradient_descent()
    print(x)
    print(f"steps: {steps}")
    png = args.out / "ch1_3_f_and_derivative.png"
    plot_f_and_derivative(png)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
