"""``python -m scaffold`` is the ``scaffold`` command."""

import signal
import sys


def main() -> int:
    """The ``scaffold`` command; a Ctrl-C while it imports torch and Lightning gets one line too."""
    try:
        from scaffold.cli import main as run
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    return run()


if __name__ == "__main__":
    sys.exit(main())
