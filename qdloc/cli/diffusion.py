"""``qdloc diffusion``: the diffusion coefficient of every track, with its uncertainty.

::

    qdloc diffusion tracks.csv [--estimator msd] [-o D.csv]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from qdloc.cli._common import CLIError, Command, finite_positive, read_csv_table, write_csv
from qdloc.sim.params import SimParams
from qdloc.transport.diffusion import DEFAULT_MIN_LENGTH, estimate_D, scanner_blur_coefficient

__all__ = ["COMMANDS", "run"]


def add_arguments(d: argparse.ArgumentParser) -> None:
    """The arguments of ``qdloc diffusion``."""
    d.add_argument(
        "tracks", type=Path, metavar="TRACKS", help="track CSV (e.g. from 'qdloc track')"
    )
    _add_model_arguments(d)
    d.add_argument(
        "--estimator", choices=["mle", "msd"], default="mle", help="estimator (default mle)"
    )
    d.add_argument(
        "--min-length",
        type=int,
        default=DEFAULT_MIN_LENGTH,
        metavar="N",
        help=f"skip tracks with fewer localisations (default {DEFAULT_MIN_LENGTH})",
    )
    d.add_argument("-o", "--output", type=Path, metavar="CSV",
                   help="write the table as CSV (default: print it)")


def _add_model_arguments(d: argparse.ArgumentParser) -> None:
    """The measurement model: frame interval, motion blur, pixel size."""
    p = SimParams()
    d.add_argument(
        "--frame-interval-s",
        type=float,
        default=p.frame_time_s,
        metavar="S",
        help=f"time between frame starts, s (default {p.frame_time_s:g}: the default scanner's "
        f"frame period, {p.height_px}·({p.width_px}·{p.dwell_s * 1e6:g} µs + "
        f"{p.retrace_s * 1e3:g} ms))",
    )
    gb = d.add_mutually_exclusive_group()
    gb.add_argument(
        "--blur",
        type=float,
        default=None,
        metavar="R",
        help="motion-blur coefficient R in [0, 0.25] (0: instantaneous exposure, 1/6: uniform "
        "exposure over the whole frame)",
    )
    gb.add_argument(
        "--scanner",
        action="store_true",
        help="R of the default scanner raster: the position is the mean at the pixel dwell "
        "times of SimParams() (the default; 0.1664 with the default frame interval)",
    )
    d.add_argument(
        "--pixel-size-um",
        type=float,
        default=p.pixel_size_um,
        metavar="A",
        help=f"pixel size, µm (default {p.pixel_size_um:g})",
    )


def _blur(args: argparse.Namespace, dt: float) -> tuple[float, str]:
    """The blur coefficient R, and where it came from (``--blur`` or ``scanner``)."""
    if args.blur is not None:
        if not math.isfinite(args.blur) or not 0 <= args.blur <= 0.25:
            raise CLIError(f"--blur {args.blur:g}: expected a number in [0, 0.25]")
        return args.blur, "--blur"
    p = SimParams()
    if dt < p.frame_time_s * (1 - 1e-9):
        raise CLIError(
            f"--frame-interval-s {dt:g}: shorter than the scanner's frame "
            f"({p.frame_time_s:g} s); expected >= the frame time, or give --blur R"
        )
    return scanner_blur_coefficient(p, dt), "scanner"


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc diffusion``; return the exit status."""
    dt = finite_positive("--frame-interval-s", args.frame_interval_s, "s")
    a = finite_positive("--pixel-size-um", args.pixel_size_um, "µm")
    if args.min_length < 3:
        raise CLIError(f"--min-length {args.min_length}: expected an integer >= 3")
    R, what = _blur(args, dt)
    tracks = read_csv_table(
        args.tracks, ["frame", "x", "y", "particle"], numeric=["frame", "x", "y"]
    )
    table = estimate_D(tracks, dt, R, pixel_size_um=a, method=args.estimator,
                       min_length=args.min_length)
    head = (
        f"{len(table)} track(s) of {tracks['particle'].nunique()} with >= {args.min_length} "
        f"localisations; estimator {args.estimator}, frame interval {dt:g} s, blur R = {R:.4f} "
        f"({what}), pixel {a:g} µm"
    )
    if args.output is not None:
        write_csv(args.output, table)
        print(f"{head} -> {args.output}")
        return 0
    print(head)
    if len(table):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


#: The subcommands this module adds to ``qdloc``.
COMMANDS = (
    Command(
        "diffusion",
        help="diffusion coefficient of every track, with its uncertainty",
        description="Estimate D of every track of a track CSV (frame, x, y, particle; x, y in "
        "px), correcting for localisation error and motion blur (qdloc.transport.diffusion): "
        "maximum likelihood (Berglund 2010, default) or an MSD fit with the optimal number of "
        "points (Michalet 2010). One row per track: particle, n_frames, n_used, D_um2_per_s, "
        "D_err_um2_per_s, sigma_nm, method.",
        add_arguments=add_arguments,
        run=run,
    ),
)
