"""The ``scaffold`` command: LightningCLI with scaffold's defaults and one-line user errors.

``scaffold fit --config configs/quadratic.yaml [--trainer.X=..] [--model.X=..] [--data.X=..]``;
also ``validate``, ``test``, ``predict`` and ``--print_config``, as in any LightningCLI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from scaffold.errors import ConfigError, ScaffoldError


class ScaffoldCLI(LightningCLI):
    """LightningCLI whose model and data are any LightningModule / LightningDataModule class."""

    def after_fit(self) -> None:
        """Print the final parameters of a ParameterProblem, as the chapter prints ``x``."""
        describe = getattr(self.model, "describe", None)
        if describe is not None and self.trainer.is_global_zero:
            print(f"final parameters: {describe()} after {self.trainer.global_step} steps")


class _OneLineParser(LightningArgumentParser):
    """Turns jsonargparse's usage-and-error text into a ConfigError (one line, exit code 2)."""

    def error(self, message: str, ex: Exception | None = None) -> None:  # type: ignore[override]
        raise ConfigError(_first_line(message))


def _first_line(message: str) -> str:
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else "invalid arguments"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (0, 1 for failed runs, 2 for bad usage)."""
    debug = os.environ.get("SCAFFOLD_DEBUG") == "1"
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        args.remove("--debug")
        debug = True
    try:
        ScaffoldCLI(
            parser_class=_OneLineParser,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            args=args,
        )
    except ScaffoldError as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
