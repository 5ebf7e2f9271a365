"""python examples/lr_study.py [--out DIR] [--steps N] [--optimizers sgd momentum adam]

Figure 1.7 of the chapter: gradient descent on f(x) = (x - 2)² from x = -3.5 with three learning
rates. The gradient is 2(x - 2), so one step is x - 2η(x - 2):
  η = 0.01 is too small: each step removes only 2% of the distance to the minimum;
  η = 0.5 is just right: x - (x - 2) = 2, the minimum in one step;
  η = 1.1 is too large: each step overshoots by 1.2 times the distance, so the run diverges, and the
  study shows where ("diverged at step 7") instead of crashing.
Writes DIR/lr_study.png and a TensorBoard event file in DIR (default lightning_logs/lr_study).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from scaffold.errors import run_script
from scaffold.problems.lr_study import OPTIMIZERS, run_study, save_study

LEARNING_RATES = (0.01, 0.5, 1.1)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the study, print one line per run, save the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    parser.add_argument("--out", default="lightning_logs/lr_study", help="folder for the PNG and TensorBoard")
    parser.add_argument("--steps", type=int, default=60, help="steps per run (the chapter uses 60)")
    parser.add_argument("--optimizers", nargs="+", default=["sgd"], choices=sorted(OPTIMIZERS))
    args = parser.parse_args(argv)

    study = run_study("quadratic", {"x": -3.5}, LEARNING_RATES, optimizers=args.optimizers, steps=args.steps)
    print(study.table())
    png = save_study(study, args.out)
    print(f"figure: {png} (also in TensorBoard: tensorboard --logdir {args.out})")


if __name__ == "__main__":
    run_script(main)
