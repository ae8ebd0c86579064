"""``qdloc localize``: localise dots in every frame of a TIFF stack, write a CSV.

::

    qdloc localize STACK.tif --method trackpy -o locs.csv    # any single-channel TIFF stack
    qdloc localize STACK.tif --method bayes --params P.json --D 1.0 -o locs.csv

``--method bayes`` (:mod:`qdloc.localise.bayes`) is the posterior under the simulator's own
model: it needs the parameters the images were simulated with (``--params``, a file written by
``SimParams.to_json``; default the calibrated ``SimParams()``) and the diffusion coefficient
(``--D`` µm²/s; default the parameters' ``D_um2_per_s``, 1.0 for the defaults).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from qdloc.cli._common import (
    CLIError,
    Command,
    add_cluster_arguments,
    add_method_argument,
    add_model_argument,
    check_workers,
    collector_paused,
    end_program_now,
    get_locator,
    keep_freed_memory,
    skip_exit_collection,
    write_csv,
)
from qdloc.cluster import get_client
from qdloc.data.dataset import read_stack
from qdloc.localise.registry import SHIPPED_MODELS, TASK_IMAGES, locate_stack, shipped_model, stack_frames
from qdloc.sim.params import SimParams

__all__ = ["COMMANDS", "run"]

#: The columns every localiser returns, first in the CSV.
FIRST = ["frame", "x", "y", "score"]


def add_arguments(loc: argparse.ArgumentParser) -> None:
    """The arguments of ``qdloc localize``."""
    loc.add_argument(
        "stack", type=Path, metavar="STACK", help="TIFF stack (2D or 3D), or a set folder"
    )
    add_method_argument(loc)
    loc.add_argument("-o", "--output", required=True, type=Path, metavar="CSV", help="output CSV")
    add_model_argument(loc)
    loc.add_argument(
        "--params",
        type=Path,
        default=None,
        metavar="PARAMS.json",
        help="bayes: simulator parameters as written by SimParams.to_json "
        "(default: the calibrated defaults)",
    )
    loc.add_argument(
        "--D",
        type=float,
        default=None,
        metavar="D",
        help="bayes: diffusion coefficient in µm²/s (default: the parameters' D_um2_per_s)",
    )
    loc.add_argument("--no-progress", action="store_true", help="no progress bar (on a cluster)")
    add_cluster_arguments(loc, "chunks of --task-size frames, each localised by one task (the "
                          "stack read through a memory map, the localiser loaded once per worker)")
    loc.add_argument("--task-size", type=int, default=TASK_IMAGES, metavar="FRAMES",
                     help=f"frames per task on a Dask cluster (default {TASK_IMAGES}, a multiple of "
                     "the learned methods' batches: the same numbers as in one process)")


def _bayes_options(args: argparse.Namespace) -> dict:
    """``params`` and ``D`` for ``--method bayes``, checked; refused for the other methods."""
    if args.method != "bayes":
        for flag, value in (("--params", args.params), ("--D", args.D)):
            if value is not None:
                raise CLIError(f"{flag} is used only by --method bayes, not {args.method}")
        return {}
    if args.params is None:
        params = SimParams()
    else:
        if not args.params.is_file():
            raise CLIError(f"--params {args.params}: no such file")
        try:
            params = SimParams.from_json(args.params)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"--params {args.params}: {exc}") from None
    D = params.D_um2_per_s if args.D is None else args.D
    if not math.isfinite(D) or D < 0:
        raise CLIError(f"--D {D:g}: expected a finite number >= 0 µm²/s")
    return {"params": params, "D": D}


def _openmp_threads_spin_briefly() -> None:
    """Let torch's OpenMP threads spin only briefly before they sleep, unless the user chose otherwise.

    libgomp (the OpenMP of torch's Linux wheels) lets a thread that waits for work spin for up
    to 300,000 rounds before it sleeps. On a machine whose cores other jobs share, spinning
    threads take the cores from the threads that have work. Measured with the compact network
    on 20,000 images on 2 cores (in one process; wall time):

    ==================================  ==========  ==================  ===================
    ``GOMP_SPINCOUNT``                  idle        1 busy process      2 busy processes
    ==================================  ==========  ==================  ===================
    unset (300,000)                     2.1 s       5.3-6.7 s           over 20 s
    1,000 (this)                        2.2 s       4.5 s               10 s
    0 (``OMP_WAIT_POLICY=PASSIVE``)     2.5 s       4.2 s               6-8 s
    ==================================  ==========  ==================  ===================

    OpenMP reads its settings once, when torch loads it, so this is set before torch is
    imported (in a process that has imported torch already it changes nothing), and only when
    neither ``GOMP_SPINCOUNT`` nor ``OMP_WAIT_POLICY`` is set. Other OpenMP runtimes ignore it.
    """
    if "torch" not in sys.modules and not {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"} & os.environ.keys():
        os.environ["GOMP_SPINCOUNT"] = "1000"


def _locate(args: argparse.Namespace, options: dict):
    """The localisations and the number of frames, in this process or as Dask tasks."""
    if args.model is not None and (options or args.method not in SHIPPED_MODELS):
        raise CLIError(f"--model {args.model} is not used by --method {args.method}")
    if args.task_size < 1:
        raise CLIError(f"--task-size {args.task_size}: expected an integer >= 1")
    check_workers(args)
    _openmp_threads_spin_briefly()
    model = args.model
    if args.method in SHIPPED_MODELS and model is None:
        model = shipped_model(args.method)
    n = stack_frames(args.stack)  # from the header, or by reading a file that cannot be memory-mapped
    with get_client(args.scheduler, args.workers, -(-n // args.task_size)) as client:
        if client is None:
            keep_freed_memory()  # batch after batch, the same tensors: no page faults for each
            with collector_paused():  # torch's import: 150,000 objects the collector would walk again and again
                images = read_stack(args.stack)
                locate = get_locator(args.method)
                df = locate(images, model_path=model, **options) if model is not None else locate(images, **options)
            return df, len(images)
        get_locator(args.method)  # a missing module is one line here, not a task's traceback
        df = locate_stack(args.stack, args.method, model, client=client, task_size=args.task_size,
                          progress=not args.no_progress, **options)
        return df, n


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc localize``; return the exit status."""
    options = _bayes_options(args)
    df, n_frames = _locate(args, options)
    missing = [c for c in FIRST if c not in df.columns]
    if missing:  # pragma: no cover - a method's bug, not the user's
        raise CLIError(f"method {args.method!r} returned no column(s) {missing}")
    df = df[FIRST + [c for c in df.columns if c not in FIRST]]
    write_csv(args.output, df)
    skip_exit_collection()  # the output is closed: no 0.3 s collection over torch's objects at exit
    print(f"{len(df)} localisations in {n_frames} frames -> {args.output}")
    end_program_now(0)  # the qdloc program ends here, without torch's teardown; elsewhere, returns
    return 0


#: The subcommands this module adds to ``qdloc``.
COMMANDS = (
    Command(
        "localize",
        help="localise dots in a TIFF stack, write a CSV",
        description="Localise quantum dots in every frame of a single-channel TIFF stack "
        "(or a set folder's images.tif). The CSV has one row per localisation: frame (page "
        "index from 0), x, y (px, x = column, pixel centres at integers), score, and the "
        "method's own columns.",
        add_arguments=add_arguments,
        run=run,
    ),
)
