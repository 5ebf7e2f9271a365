"""The one exception type scaffold raises for problems a user can fix."""

import sys
from collections.abc import Callable


class ScaffoldError(Exception):
    """A user-facing error: the CLI prints ``error: <message>`` and exits with ``exit_code``.

    ``exit_code`` follows the CLI contract: 2 for bad usage or configuration, 1 for bad data
    or a failed run.
    """

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(ScaffoldError):
    """Bad usage or configuration (exit code 2)."""

    exit_code = 2


class DivergenceError(ScaffoldError):
    """The optimisation produced a non-finite loss, gradient or parameter (exit code 1)."""


def report(error: ScaffoldError) -> int:
    """Print ``error: <message>`` on stderr, the one line every user error gets; return its exit code."""
    print(f"error: {error}", file=sys.stderr)
    return error.exit_code


def run_script(main: Callable[[], object]) -> None:
    """Run an example's ``main()``; a ScaffoldError becomes one ``error:`` line and its exit code."""
    try:
        main()
    except ScaffoldError as error:
        sys.exit(report(error))
