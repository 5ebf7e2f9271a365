"""``python -m scaffold`` is the ``scaffold`` command."""

import sys

from scaffold.cli import main

if __name__ == "__main__":
    sys.exit(main())
