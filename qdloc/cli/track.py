"""``qdloc track``: localise the dot in every frame of a movie and link the frames into tracks.

::

    qdloc track MOVIE.tif --method trackpy -o tracks.csv
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from qdloc.cli._common import (
    CLIError,
    Command,
    add_method_argument,
    add_model_argument,
    finite_positive,
    get_locator,
    write_csv,
)
from qdloc.data.dataset import read_stack
from qdloc.localise.registry import SHIPPED_MODELS
from qdloc.transport.linking import DEFAULT_SEARCH_RANGE_PX, link_tracks, localise_movie

__all__ = ["COMMANDS", "run"]


def add_arguments(tr: argparse.ArgumentParser) -> None:
    """The arguments of ``qdloc track``."""
    tr.add_argument(
        "stack", type=Path, metavar="STACK", help="TIFF movie (T, H, W), or a set folder"
    )
    add_method_argument(tr)
    add_model_argument(tr)
    tr.add_argument(
        "--search-range",
        type=float,
        default=DEFAULT_SEARCH_RANGE_PX,
        metavar="PX",
        help="largest frame-to-frame displacement linked, px "
        f"(default {DEFAULT_SEARCH_RANGE_PX:g}: the field's width; a step at D = 3 µm²/s, "
        "27.6 ms frames, 0.07 µm pixels exceeds it with probability 1e-4)",
    )
    tr.add_argument(
        "--memory", type=int, default=0, metavar="N",
        help="frames a dot may be missed and keep its track (default 0)",
    )
    tr.add_argument(
        "--max-per-frame", type=int, default=1, metavar="N",
        help="localisations kept per frame, best score first (default 1: one dot per movie; "
        "0 keeps all)",
    )
    tr.add_argument(
        "--min-score", type=float, default=None, metavar="S",
        help="drop localisations scored below S (the method's score)",
    )
    tr.add_argument("-o", "--output", required=True, type=Path, metavar="CSV", help="output CSV")


def _check(args: argparse.Namespace) -> None:
    """Refuse bad values before the movie is read."""
    finite_positive("--search-range", args.search_range, "px")
    if args.memory < 0:
        raise CLIError(f"--memory {args.memory}: expected an integer >= 0")
    if args.max_per_frame < 0:
        raise CLIError(f"--max-per-frame {args.max_per_frame}: expected an integer >= 0 (0: all)")
    if args.min_score is not None and math.isnan(args.min_score):
        raise CLIError("--min-score nan: expected a number")
    if args.method not in SHIPPED_MODELS and args.model is not None:
        raise CLIError(f"--model {args.model} is not used by --method {args.method}")


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc track``; return the exit status."""
    _check(args)
    images = read_stack(args.stack)
    get_locator(args.method)  # a clear error when the method's module cannot be imported
    locs = localise_movie(
        images,
        args.method,
        model_path=args.model,
        max_per_frame=args.max_per_frame or None,
        min_score=args.min_score,
    )
    tracks = link_tracks(locs, search_range_px=args.search_range, memory=args.memory)
    write_csv(args.output, tracks)
    n = tracks["particle"].nunique()
    print(
        f"{len(tracks)} localisations in {len(images)} frames linked into {n} track(s) "
        f"-> {args.output}"
    )
    return 0


#: The subcommands this module adds to ``qdloc``.
COMMANDS = (
    Command(
        "track",
        help="localise the dot in every frame of a movie and link the frames into tracks",
        description="Localise quantum dots in every frame of a single-channel TIFF movie "
        "(qdloc.transport.linking.localise_movie), keep the best-scored localisation(s) per "
        "frame, and link them into tracks with trackpy.link. The CSV has one row per "
        "localisation: frame, x, y (px, x = column, pixel centres at integers), particle, score, "
        "and the method's own columns. Written atomically.",
        add_arguments=add_arguments,
        run=run,
    ),
)
