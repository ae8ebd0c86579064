"""``qdloc diffusion``: the diffusion coefficient of every track, or of movies from their pixels.

::

    qdloc diffusion tracks.csv [--estimator msd] [-o D.csv]
    qdloc diffusion --from-pixels MOVIE.tif [MOVIE.tif ...] [--params P.json] [--pool] -o D.csv

``--from-pixels`` needs no localisation and no linking: the likelihood of D given each movie's
photon counts (:mod:`qdloc.transport.pixels`). The movies must be recorded as the simulator's
parameters say (``--params``, a file written by ``SimParams.to_json``; default: the parameters
of the movie set the file belongs to, else the calibrated ``SimParams()``); the time between
frames is the movie's own ImageJ ``finterval`` where it has one (it sets ``frame_pause_s``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd
import tifffile

from qdloc.cli._common import CLIError, Command, finite_positive, read_csv_table, write_csv
from qdloc.data.dataset import read_stack
from qdloc.data.movieset import MOVIE_FORMAT
from qdloc.sim.params import SimParams
from qdloc.transport.diffusion import DEFAULT_MIN_LENGTH, estimate_D, scanner_blur_coefficient
from qdloc.transport.pixels import D_from_pixels

__all__ = ["COMMANDS", "run"]


def add_arguments(d: argparse.ArgumentParser) -> None:
    """The arguments of ``qdloc diffusion``."""
    d.add_argument(
        "tracks", type=Path, metavar="TRACKS", nargs="?", default=None,
        help="track CSV (e.g. from 'qdloc track'); not with --from-pixels",
    )
    d.add_argument(
        "--from-pixels", type=Path, nargs="+", metavar="MOVIE", default=None,
        help="estimate D from the photon counts of these TIFF movies (no localisation, no linking)",
    )
    d.add_argument(
        "--params", type=Path, default=None, metavar="JSON",
        help="--from-pixels: simulator parameters as written by SimParams.to_json (default: the "
        "movie set's params.json next to movies/, else the calibrated SimParams())",
    )
    d.add_argument("--pool", action="store_true",
                   help="--from-pixels: one estimate from all movies (summed log likelihoods)")
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


def _sim_params(args: argparse.Namespace, movie: Path) -> SimParams:
    """The parameters of ``movie``: ``--params``, its movie set's ``params.json``, or the default."""
    if args.params is not None:
        if not args.params.is_file():
            raise CLIError(f"--params {args.params}: no such file")
        try:
            return SimParams.from_json(args.params)
        except (ValueError, TypeError, KeyError) as exc:
            raise CLIError(f"--params {args.params}: {exc}") from None
    meta_file = movie.resolve().parent.parent / "params.json"
    if meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            meta = None
        if isinstance(meta, dict) and meta.get("format") == MOVIE_FORMAT:
            try:
                return SimParams.from_dict(meta["sim_params"])
            except (KeyError, TypeError, ValueError) as exc:
                raise CLIError(f"{meta_file}: invalid sim_params ({exc})") from None
    return SimParams()


def _with_frame_interval(params: SimParams, movie: Path) -> SimParams:
    """``params`` with ``frame_pause_s`` set by the movie's ImageJ ``finterval`` (if it has one)."""
    with tifffile.TiffFile(movie) as tif:
        finterval = (tif.imagej_metadata or {}).get("finterval")
    if finterval is None:
        return params
    try:
        dt = float(finterval)
    except (TypeError, ValueError):
        raise CLIError(f"{movie}: ImageJ finterval {finterval!r} is not a number") from None
    if not math.isfinite(dt) or dt < params.frame_time_s * (1 - 1e-6):
        raise CLIError(
            f"{movie}: frame interval {dt:g} s is shorter than the scanner's frame "
            f"({params.frame_time_s:g} s by the parameters); expected >= the frame time"
        )
    if math.isclose(dt, params.frame_period_s, rel_tol=1e-6):
        return params
    return params.replace(frame_pause_s=max(0.0, dt - params.frame_time_s))


def run_pixels(args: argparse.Namespace) -> int:
    """``qdloc diffusion --from-pixels``: D from the movies' photon counts."""
    movies, params = [], None
    for path in args.from_pixels:
        images = read_stack(path)
        p = _with_frame_interval(_sim_params(args, path), path)
        shape = (p.height_px, p.width_px)
        if images.shape[1:] != shape:
            raise CLIError(f"{path}: frames of {images.shape[1]}x{images.shape[2]} px; the "
                           f"parameters say {shape[0]}x{shape[1]}")
        if params is not None and p != params:
            raise CLIError(f"{path}: recorded with other parameters (or frame interval) than "
                           f"{args.from_pixels[0]}; expected one set of parameters for all movies")
        params = p
        movies.append(images)
    table = D_from_pixels(movies, params, pool=args.pool)
    names = ["pooled"] if args.pool else [str(p) for p in args.from_pixels]
    table["movie"] = pd.Series(names, dtype=object)
    head = (f"D from the pixels of {len(movies)} movie(s), frame interval "
            f"{params.frame_period_s:g} s, 95 % profile-likelihood intervals")
    if args.output is not None:
        write_csv(args.output, table)
        print(f"{head} -> {args.output}")
        return 0
    print(head)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc diffusion``; return the exit status."""
    if args.from_pixels is not None:
        if args.tracks is not None:
            raise CLIError(f"{args.tracks}: give either a track CSV or --from-pixels, not both")
        return run_pixels(args)
    if args.params is not None or args.pool:
        raise CLIError("--params and --pool are used only with --from-pixels")
    if args.tracks is None:
        raise CLIError("no input: give a track CSV or --from-pixels MOVIE.tif")
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
        "D_err_um2_per_s, sigma_nm, method. With --from-pixels, D of TIFF movies straight from "
        "their photon counts (qdloc.transport.pixels): one row per movie, or one with --pool: "
        "movie, n_movies, n_frames, D_um2_per_s, ci_low, ci_high (95 %), log_lik_max.",
        add_arguments=add_arguments,
        run=run,
    ),
)
