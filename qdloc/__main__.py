"""``python -m qdloc``: the same program as the ``qdloc`` command (:mod:`qdloc.cli`)."""

import sys

from qdloc.cli import main

if __name__ == "__main__":
    sys.exit(main())
