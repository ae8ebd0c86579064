"""Fixtures shared by the tests (the project-wide hooks are in the root ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qdloc.cli import main


@pytest.fixture
def run_main(capsys) -> Callable[..., tuple[int, str, str]]:
    """``run_main(*args)``: ``qdloc ARGS`` in this process, returning (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            rc = main(list(args))
        except SystemExit as exc:  # argparse: --help, usage errors
            rc = exc.code
        out, err = capsys.readouterr()
        return rc, out, err

    return run
