"""What the subcommands of ``qdloc`` share: the error, the parser, argument helpers, CSV I/O."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from qdloc.cluster import MIN_TASKS_FOR_CLUSTER
from qdloc.io import atomic_write_text
from qdloc.localise.registry import METHODS, MethodUnavailable, locator

__all__ = [
    "Command",
    "CLIError",
    "Parser",
    "check_workers",
    "add_cluster_arguments",
    "add_method_argument",
    "add_model_argument",
    "finite_positive",
    "keep_freed_memory",
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


def add_cluster_arguments(parser: argparse.ArgumentParser, what: str = "tasks",
                          description: str | None = None) -> None:
    """``--scheduler`` and ``--workers``: where the tasks run (:func:`qdloc.cluster.get_client`)."""
    g = parser.add_argument_group(
        "where it runs",
        description or f"The work is cut into {what}. Without --scheduler or --workers, fewer than "
        f"{MIN_TASKS_FOR_CLUSTER} tasks run in this process and more on a local Dask cluster with "
        "one worker process per core: starting workers costs a few seconds, and a task is a few "
        "seconds of work, so a small job is faster without them. The output does not depend on "
        "where it ran.",
    )
    g.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the tasks on the Dask cluster of this scheduler (e.g. tcp://HOST:8786, "
                   "from 'dask scheduler'); its workers must see the input and output folders")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run the tasks on a local Dask cluster of N worker processes")


def check_workers(args: argparse.Namespace) -> None:
    """Refuse ``--workers`` < 1 and ``--workers`` with ``--scheduler``."""
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers {args.workers}: expected an integer >= 1")
    if args.workers is not None and args.scheduler:
        raise CLIError("--workers cannot be combined with --scheduler (the cluster has its own workers)")


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


#: glibc's mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(mib: int = 512) -> bool:
    """Let this process's allocator keep and reuse blocks of up to ``mib`` MiB (glibc on Linux).

    By default glibc hands every block above its mmap threshold (128 kB, rising to at most
    32 MB) back to the kernel when it is freed, so a localiser that allocates the same tensors
    batch after batch pays page faults for each: measured on 20,000 images with the compact
    network, 1.9 s of system time in a 5.8 s call, against 0.15 s in 2.3 s with the blocks kept.
    A command-line process is short and does one job, so it keeps them (library code and Dask
    workers are left as they are). Elsewhere this does nothing.

    Parameters
    ----------
    mib : int
        Blocks up to this size come from (and return to) the heap instead of fresh mappings.

    Returns
    -------
    bool
        Whether the setting was applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    limit = int(mib) * 2**20
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * limit))


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
