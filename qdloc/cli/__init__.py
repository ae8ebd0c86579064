"""The ``qdloc`` command line: simulate sets, localise dots in TIFF stacks, score localisations.

::

    qdloc simulate --preset paper --out data/paper          # the paper's five sets
    qdloc simulate --D 1.0 --n 2410 --seed 7 --out DIR       # one set
    qdloc simulate --D-range 0.75 1.75 --n 1000000 --seed 1 --shard 0/4 --out DIR.0
    qdloc concat DIR.0 DIR.1 DIR.2 DIR.3 --out DIR           # join shards
    qdloc localize STACK.tif --method trackpy -o locs.csv    # any single-channel TIFF stack
    qdloc evaluate --pred locs.csv --truth DIR [--json scores.json]
    qdloc train --model compact --out data/models/compact
    qdloc track MOVIE.tif -o tracks.csv
    qdloc diffusion tracks.csv
    qdloc sweep --preset default --out data/sweep --jobs 2

One module per subcommand (:mod:`qdloc.cli.simulate` holds ``simulate`` and ``concat``), each
listing its commands in ``COMMANDS`` (name, help texts, arguments, ``run``);
``qdloc.cli._common`` holds what they share. ``python -m qdloc`` is the same program. A bad
argument or an unreadable file ends the program with exit status 2 and one line on stderr;
nothing is written then (sets and output files appear only when complete).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from qdloc.cli._common import CLIError, Parser

__all__ = ["main", "build_parser", "CLIError"]

#: The subcommand modules, in the order ``qdloc --help`` lists their commands.
SUBCOMMANDS = ("simulate", "localize", "train", "sweep", "evaluate", "track", "diffusion")
#: Each command's module, so that ``qdloc CMD`` imports only that one (torch, trackpy, papermill
#: are imported only by the commands that use them).
COMMAND_MODULES = {"simulate": "simulate", "concat": "simulate", "localize": "localize", "train": "train",
                   "sweep": "sweep", "evaluate": "evaluate", "track": "track", "diffusion": "diffusion"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``qdloc`` (one subparser per command; only ``only``'s module when given)."""
    p = Parser(
        prog="qdloc",
        description="Simulated two-photon images of diffusing quantum dots, "
        "and localisers for them.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    names = SUBCOMMANDS if only is None else (only,)
    for module in (importlib.import_module(f"qdloc.cli.{name}") for name in names):
        for command in module.COMMANDS:
            parser = sub.add_parser(command.name, help=command.help, description=command.description)
            command.add_arguments(parser)
            parser.set_defaults(func=command.run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qdloc`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(COMMAND_MODULES.get(first))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (CLIError, ValueError, OSError) as exc:  # DatasetError is a ValueError
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"qdloc {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"qdloc {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
