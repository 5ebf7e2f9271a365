"""Figure 5: wall time of `scaffold fit --config configs/quadratic.yaml`, start to exit, vs a minimal script.

    python benchmarks/startup.py [--repeats 5] [--out DIR]   (from the repository root)

Both are fresh processes that import lightning and fit f(x) = (x - 2)^2 to convergence (54 steps);
the baseline is benchmarks/minimal_quadratic.py (a LightningModule, a Trainer, nothing else).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from common import Row, alternate, parser, report, timed

REPO = Path(__file__).resolve().parents[1]


def run(command: list[str]) -> None:
    """Run ``command`` from the repository root in a fresh log folder; fail loudly if it fails."""
    with tempfile.TemporaryDirectory() as root:
        done = subprocess.run([*command, root], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0 or "54 steps" not in done.stdout:
        raise RuntimeError(f"{command} failed or did not converge in 54 steps:\n{done.stdout}\n{done.stderr}")


def startup_row(repeats: int) -> Row:
    """Measure figure 5: the two processes' wall times, alternately, medians."""
    minimal = [sys.executable, str(REPO / "benchmarks" / "minimal_quadratic.py")]
    scaffold = [sys.executable, "-m", "scaffold", "fit", "--config", "configs/quadratic.yaml"]
    scaffold.append("--trainer.default_root_dir")  # run() appends the folder
    base, ours = alternate(timed(lambda: run(minimal)), timed(lambda: run(scaffold)), repeats)
    what = "start-up to exit: scaffold fit quadratic.yaml vs minimal Lightning script"
    return Row("5", what, f"{base:.2f} s", f"{ours:.2f} s", ours / base, "<= 1.25")


def main() -> None:
    """Print figure 5's row."""
    args = parser(__doc__.splitlines()[0]).parse_args()
    report([startup_row(args.repeats)], "startup", args.out)


if __name__ == "__main__":
    main()
