"""What the subcommands of ``qdloc`` share: the error, the parser, argument helpers, CSV I/O."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import ctypes.util
import functools
import gc
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
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
    "collector_paused",
    "skip_exit_collection",
    "end_program_now",
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


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off inside the block, and back as it was after it.

    Importing torch creates about 150,000 objects that the collector tracks, and the collector,
    run every few hundred allocations, walks them again and again: measured on 2 cores,
    ``import torch`` took 0.25 s less CPU time with the collector off. Reference counting still
    frees everything that is not in a cycle (a localiser's arrays and tensors), and cycles made
    inside the block are collected once the collector is back on, so a command can pause it
    while it imports and runs a localiser.

    Yields
    ------
    None
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@functools.cache
def skip_exit_collection() -> None:
    """At this process's exit, let the operating system free what exists then, not Python's collector.

    When the interpreter ends, it runs the cyclic collector over every object left: after
    ``import torch``, 0.5 s from the end of the program to the end of the process, 0.18 s with
    this (measured on 2 cores; the rest is torch's own teardown). An :mod:`atexit` handler calls :func:`gc.freeze`,
    which moves every object into the generation the collector skips; the rest of the shutdown
    (flushing the standard streams, the other exit handlers, closing files) is unchanged.
    Called once per process (later calls do nothing); in a process that goes on after the
    command (a test, a notebook), nothing happens until that process exits. Call it only after
    every output file has been closed.
    """
    atexit.register(gc.freeze)


def _is_the_qdloc_program() -> bool:
    """Whether this process is the ``qdloc`` program (``python -m qdloc`` or the ``qdloc`` script)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == "qdloc.__main__" or Path(sys.argv[0]).name == "qdloc"


def end_program_now(status: int = 0) -> None:
    """End the ``qdloc`` program now with exit status ``status``, without the interpreter's teardown.

    After ``import torch``, the interpreter's teardown (torch unregistering its thousands of
    operators, freeing its tables, the last collections) takes 0.15-0.3 s on 2 cores, more
    than a tenth of a 20,000-image localisation. A command whose output is complete (written,
    closed and renamed into place) can skip it: this flushes the log handlers and the
    standard streams, then ends the process with :func:`os._exit` (the :mod:`atexit` handlers
    are not run). It does nothing in any other process (a test, a notebook, a program that
    calls :func:`qdloc.cli.main`), where the command returns as usual.

    Parameters
    ----------
    status : int
        The exit status.
    """
    if not _is_the_qdloc_program():
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


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
