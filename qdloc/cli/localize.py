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


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc localize``; return the exit status."""
    options = _bayes_options(args)
    images = read_stack(args.stack)
    locate = get_locator(args.method)
    if options:
        if args.model is not None:
            raise CLIError(f"--model {args.model} is not used by --method {args.method}")
        df = locate(images, **options)
    elif args.method in SHIPPED_MODELS:
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
