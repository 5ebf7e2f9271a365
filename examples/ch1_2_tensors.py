"""python examples/ch1_2_tensors.py

Chapter 1.2 (tensors) and 1.2.1 (devices) of *Inside Deep Learning*, with exercises 1 and 2:
tensor shapes, NumPy to torch and its dtypes, boolean masks, sum, transpose, moving tensors to a
device, the mean of ``torch_tensor3d`` with for-loops, and the index expression that gives 13.
(Exercise 3, the CPU/GPU timing, is ``examples/exercise3_speedup.py``.)
"""

from __future__ import annotations

import numpy as np
import torch

from scaffold.devices import choose_device, move_to

torch_scalar = torch.tensor(3.14)
torch_vector = torch.tensor([1, 2, 3, 4])
torch_matrix = torch.tensor([[1, 2], [3, 4], [5, 6], [7, 8]])
torch_tensor3d = torch.tensor(
    [
        [[1, 2, 3], [4, 5, 6]],
        [[7, 8, 9], [10, 11, 12]],
        [[13, 14, 15], [16, 17, 18]],
        [[19, 20, 21], [22, 23, 24]],
    ]
)


def random_matrix(seed: int = 0) -> np.ndarray:
    """The chapter's ``np.random.random((4, 4))``, seeded so the printed output is repeatable."""
    return np.random.default_rng(seed).random((4, 4))


def shapes() -> None:
    """Print the shapes of the scalar, vector, matrix and 3-d tensor."""
    print(torch_scalar.shape)
    print(torch_vector.shape)
    print(torch_matrix.shape)
    print(torch_tensor3d.shape)


def numpy_interop(seed: int = 0) -> None:
    """NumPy to torch: dtypes, a boolean mask, ``sum`` and ``transpose`` on both sides."""
    x_np = random_matrix(seed)
    print(x_np)
    x_pt = torch.tensor(x_np)
    print(x_pt)
    print(x_np.dtype, x_pt.dtype)  # float64 is kept
    x_np = np.asarray(x_np, dtype=np.float32)
    x_pt = torch.tensor(x_np, dtype=torch.float32)
    print(x_np.dtype, x_pt.dtype)
    b_np = x_np > 0.5
    print(b_np)
    print(b_np.dtype)
    b_pt = x_pt > 0.5
    print(b_pt)
    print(b_pt.dtype)
    print(np.sum(x_np))
    print(torch.sum(x_pt))
    print(np.transpose(x_np))
    print(torch.transpose(x_pt, 0, 1))
    print(torch.transpose(torch_tensor3d, 0, 2).shape)


def devices() -> None:
    """Chapter 1.2.1: pick the fastest device there is and move a list of tensors to it."""
    print("Is CUDA available? :", torch.cuda.is_available())
    device = choose_device("auto")
    some_tensors = [torch.tensor(1), torch.tensor(2)]
    print(some_tensors)
    print(move_to(some_tensors, device))


def loop_mean(tensor: torch.Tensor) -> float:
    """Exercise 1: the mean of a 3-d tensor, with one for-loop per dimension."""
    total = 0.0
    for i in range(tensor.shape[0]):
        for j in range(tensor.shape[1]):
            for k in range(tensor.shape[2]):
                total += tensor[i, j, k].item()
    return total / (tensor.shape[0] * tensor.shape[1] * tensor.shape[2])


def exercises() -> None:
    """Exercise 1 (loop mean vs ``.float().mean()``) and exercise 2 (the index that gives 13)."""
    print("exercise 1: loop mean =", loop_mean(torch_tensor3d))
    print("exercise 1: torch_tensor3d.float().mean() =", torch_tensor3d.float().mean().item())
    print("exercise 2: torch_tensor3d[2, 0, 0] =", torch_tensor3d[2, 0, 0].item())


def main() -> None:
    """Print everything the chapter prints, section by section."""
    shapes()
    numpy_interop()
    devices()
    exercises()


if __name__ == "__main__":
    main()
