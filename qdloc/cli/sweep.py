"""``qdloc sweep``: run a chapter over a grid of parameters with papermill (parallel, resumable).

::

    qdloc sweep --preset default --out data/sweep --jobs 2
    qdloc sweep --notebook notebooks/08_sweep.ipynb --grid D=0,1,2 \\
        --grid n_qd=2.37,7.5,23.7 --param n_images=200 --out /tmp/sweep

The runner is :func:`qdloc.study.sweep.run_sweep`; this module turns the options into its
arguments, and its outcome into an exit status: 0, 1 (a point failed), 2 (bad input) or 130
(interrupted by SIGINT or SIGTERM; finished points are kept).
"""

from __future__ import annotations

import argparse
import ast
import signal
import sys
from pathlib import Path
from typing import Any

from qdloc.cli._common import CLIError, Command, add_cluster_arguments
from qdloc.cluster import get_client
from qdloc.study.sweep import PRESETS, SweepError, preset, run_sweep

__all__ = ["COMMANDS", "run"]

PROG = "qdloc sweep"


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def _literal(text: str) -> Any:
    """A value: a Python literal (number, True/False/None, quoted string, list) or a string."""
    t = text.strip()
    if t in ("true", "false", "null"):  # JSON spellings
        return {"true": True, "false": False, "null": None}[t]
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return t


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``qdloc sweep``."""
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="a named sweep: its notebook, grid and fixed parameters "
                   "(--notebook, --grid and --param given as well override its parts); "
                   "default: D = 0..3 um^2/s x N_qd = 2.37..23.7 on chapter 08")
    p.add_argument("--notebook", type=Path, help="the chapter to run (.ipynb)")
    p.add_argument("--grid", action="append", type=_assignment, default=[],
                   metavar="NAME=V1,V2,...",
                   help="a swept parameter and its values (repeat for more; every combination "
                   "runs)")
    p.add_argument("--param", action="append", type=_assignment, default=[],
                   metavar="NAME=VALUE", help="a parameter fixed at every point (repeat for more)")
    p.add_argument("--out", type=Path, required=True,
                   help="the sweep folder: runs/, results/ and table.csv")
    p.add_argument("--jobs", type=int, default=2,
                   help="points run at the same time (default 2; --workers N is the same as --jobs N)")
    p.add_argument("--force", action="store_true",
                   help="run every point again, even finished ones")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel (default python3)")
    p.add_argument("--kernel-per-point", action="store_true",
                   help="a papermill process and kernel of its own for every point (default: each "
                   "worker thread runs its points in one kernel, the namespace wiped between them)")
    p.add_argument("--quiet", action="store_true", help="print only the summary and failures")
    add_cluster_arguments(p, description="Each point is one papermill run, a Dask task. With "
                          "--scheduler, the points run on that cluster's workers (they must see the "
                          "notebook's folder and --out). Otherwise --jobs (or --workers) points run at "
                          "a time on a local cluster of threads in this process: each thread "
                          "drives a papermill process and kernel of its own.")


def sweep_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``notebook``, ``grid`` and ``base_parameters`` of :func:`~qdloc.study.sweep.run_sweep`.

    A preset's parts are overridden by ``--notebook``, ``--grid`` and ``--param``; a name given
    with ``--grid`` is no longer a fixed parameter.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``qdloc sweep``.

    Returns
    -------
    dict
        The keyword arguments, values read as Python (or JSON) literals, else as strings.

    Raises
    ------
    SweepError
        No notebook, no grid, or a ``--grid`` without values.
    """
    kw: dict[str, Any] = preset(args.preset) if args.preset else {"grid": {}, "base_parameters": {}}
    if args.notebook is not None:
        kw["notebook"] = args.notebook
    if "notebook" not in kw:
        raise SweepError("give --notebook (or --preset)")
    grid = dict(kw["grid"])
    for name, text in args.grid:
        values = [_literal(v) for v in text.split(",") if v.strip()]
        if not values:
            raise SweepError(f"--grid {name}=: no values")
        grid[name] = values
    if not grid:
        raise SweepError("give at least one --grid NAME=V1,V2,... (or --preset)")
    base = dict(kw["base_parameters"])
    for name, text in args.param:
        base[name] = _literal(text)
    for name in list(base):
        if name in dict(args.grid):
            del base[name]  # the command line's grid wins over a preset's fixed value
    kw.update(grid=grid, base_parameters=base)
    return kw


def _sweep(args: argparse.Namespace) -> int:
    kw = sweep_kwargs(args)
    if args.workers is not None and args.scheduler:
        raise SweepError("--workers cannot be combined with --scheduler (the cluster has its own workers)")
    jobs = args.jobs if args.workers is None else args.workers
    with get_client(args.scheduler, None, 0) as client:  # None without --scheduler
        summary = run_sweep(out_dir=args.out, jobs=jobs, force=args.force, kernel=args.kernel,
                            kernel_per_point=args.kernel_per_point,
                            log=None if args.quiet else print, client=client, progress=args.quiet, **kw)
    if args.quiet:
        print(summary)
    for pid, err in summary.failed.items():
        print(f"{PROG}: point {pid} failed: {err}", file=sys.stderr)
    return 0 if summary.ok else 1


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc sweep``; return the exit status (0, 1: a point failed, 2: bad input, 130)."""
    old = signal.getsignal(signal.SIGTERM)

    def _term(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _term)
    except ValueError:  # not the main thread
        old = None
    try:
        return _sweep(args)
    except (SweepError, CLIError, OSError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished points are kept, the rest runs when started again",
              file=sys.stderr)
        return 130
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


#: The subcommands this module adds to ``qdloc``.
COMMANDS = (
    Command(
        "sweep",
        help="run a chapter over a grid of parameters with papermill (parallel, resumable)",
        description="Run a chapter with papermill at every point of a parameter grid, keep every "
        "executed notebook and gather the results files into one table (see qdloc.study.sweep).",
        add_arguments=add_arguments,
        run=run,
    ),
)
