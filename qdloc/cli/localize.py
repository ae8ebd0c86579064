"""``qdloc localize``: localise dots in every frame of a TIFF stack, write a CSV.

::

    qdloc localize STACK.tif --method trackpy -o locs.csv    # any single-channel TIFF stack
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qdloc.cli._common import (
    CLIError,
    Command,
    add_method_argument,
    add_model_argument,
    get_locator,
    write_csv,
)
from qdloc.data.dataset import read_stack
from qdloc.localise.registry import SHIPPED_MODELS, shipped_model

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


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc localize``; return the exit status."""
    images = read_stack(args.stack)
    locate = get_locator(args.method)
    if args.method in SHIPPED_MODELS:
        model = args.model if args.model is not None else shipped_model(args.method)
        df = locate(images, model_path=model)
    else:
        if args.model is not None:
            raise CLIError(f"--model {args.model} is not used by --method {args.method}")
        df = locate(images)
    missing = [c for c in FIRST if c not in df.columns]
    if missing:  # pragma: no cover - a method's bug, not the user's
        raise CLIError(f"method {args.method!r} returned no column(s) {missing}")
    df = df[FIRST + [c for c in df.columns if c not in FIRST]]
    write_csv(args.output, df)
    print(f"{len(df)} localisations in {len(images)} frames -> {args.output}")
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
