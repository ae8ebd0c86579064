"""What the subcommands of ``qdloc`` share: the error, the parser, argument helpers, CSV I/O."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from qdloc.io import atomic_write_text
from qdloc.localise.registry import METHODS, MethodUnavailable, locator

__all__ = [
    "Command",
    "CLIError",
    "Parser",
    "add_method_argument",
    "add_model_argument",
    "finite_positive",
    "get_locator",
    "read_csv_table",
    "write_csv",
]


class CLIError(Exception):
    """A usage problem found after parsing; reported as one line, exit status 2."""


@dataclass(frozen=True)
class Command:
    """One subcommand of ``qdloc``: its name, its help texts, its arguments and what runs it.

    Each module of :mod:`qdloc.cli` lists its commands in ``COMMANDS``;
    :func:`qdloc.cli.build_parser` adds them, so that no module repeats the parser's set-up.
    """

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str) -> NoReturn:  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_method_argument(parser: argparse.ArgumentParser) -> None:
    """``--method``: one of the localisers of :data:`qdloc.localise.registry.METHODS`."""
    parser.add_argument(
        "--method", choices=sorted(METHODS), default="trackpy", help="localiser (default trackpy)"
    )


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """``--model``: the model file of a learned localiser (default: the shipped weights)."""
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="PATH",
        help="model file for compact/frcnn (default: the shipped weights in data/models/)",
    )


def get_locator(method: str) -> Callable[[np.ndarray], pd.DataFrame]:
    """The localiser ``method``; a :class:`CLIError` when its module cannot be imported."""
    try:
        return locator(method)
    except MethodUnavailable as exc:
        raise CLIError(str(exc)) from None


def finite_positive(flag: str, value: float, unit: str) -> float:
    """``value`` if it is a finite number > 0, else a :class:`CLIError` that names ``flag``."""
    if not math.isfinite(value) or value <= 0:
        raise CLIError(f"{flag} {value:g}: expected a number > 0 {unit}".rstrip())
    return value


def read_csv_table(
    path: Path, columns: Sequence[str], numeric: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a CSV file that must have ``columns``, of which ``numeric`` must hold numbers.

    Parameters
    ----------
    path : Path
        The CSV file.
    columns : sequence of str
        Columns the file must have (others are kept).
    numeric : sequence of str
        Columns whose values must all be numbers.

    Returns
    -------
    pandas.DataFrame
        The table as :func:`pandas.read_csv` reads it.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not CSV, lacks a column, or has text in a numeric column; the message
        names the file and what was expected.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read as CSV ({exc})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {', '.join(columns)}")
    for c in numeric:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise ValueError(f"{path}: column {c!r} holds non-numbers; expected numbers")
    return df


def write_csv(path: Path, table: pd.DataFrame) -> None:
    """Write ``table`` to ``path`` as CSV (no index, ``\\n`` line ends), atomically."""
    atomic_write_text(path, table.to_csv(index=False, lineterminator="\n"))
