"""``python -m nexusloop``: see :mod:`nexusloop._cli`."""
import sys

from nexusloop._cli import main

if __name__ == "__main__":
    sys.exit(main())
