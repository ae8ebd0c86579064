"""``qdloc evaluate``: score localisations against a set's labels.

::

    qdloc evaluate --pred locs.csv --truth DIR [--json scores.json]

The scores are :func:`qdloc.study.scoring.score_predictions`'s; this module reads the CSV,
prints the table and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from qdloc.cli._common import CLIError, Command, read_csv_table
from qdloc.io import atomic_write_text
from qdloc.study.scoring import score_predictions

__all__ = ["COMMANDS", "run"]


def add_arguments(e: argparse.ArgumentParser) -> None:
    """The arguments of ``qdloc evaluate``."""
    e.add_argument(
        "--pred", required=True, type=Path, metavar="CSV", help="localisations: frame, x, y, score"
    )
    e.add_argument("--truth", required=True, type=Path, metavar="DIR", help="the set's folder")
    e.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=None,
        metavar="NM",
        help="tolerances in nm (default 70 140 210)",
    )
    e.add_argument("--json", type=Path, metavar="FILE", help="also write the scores as JSON")


def format_scores(res: dict[str, Any]) -> str:
    """The scores of :func:`~qdloc.study.scoring.score_predictions` as a text table.

    Parameters
    ----------
    res : dict
        What :func:`~qdloc.study.scoring.score_predictions` returns.

    Returns
    -------
    str
        A header line, one line per tolerance (AUC, Jaccard, precision, recall, F1, RMSE), and
        the F1 integral; an undefined number is ``nan``.
    """

    def f(v: Any, nd: int = 3) -> str:
        return "nan" if v is None else f"{v:.{nd}f}"

    lines = [
        f"truth: {res['truth']} ({res['n_images']} images), {res['n_predictions']} predictions, "
        f"pixel {res['pixel_size_nm']:g} nm",
        f"{'eps_nm':>7} {'AUC':>6} {'jaccard':>8} {'precision':>9} {'recall':>7} {'f1':>6} "
        f"{'rmse_nm':>8}",
    ]
    for e in res["eps_nm"]:
        key = f"{e:g}"
        m = res["metrics"][key]
        lines.append(
            f"{e:7g} {f(res['auc'][key]):>6} {f(m['jaccard']):>8} {f(m['precision']):>9} "
            f"{f(m['recall']):>7} {f(m['f1']):>6} {f(m['rmse_lat_nm'], 1):>8}"
        )
    lines.append(f"F1 integral, 0-{res['f1_integral_eps_max_nm']:g} nm: {f(res['f1_integral'])}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc evaluate``; return the exit status."""
    if args.eps is not None and any(not math.isfinite(e) or e <= 0 for e in args.eps):
        raise CLIError(f"--eps {args.eps}: expected tolerances > 0 nm")
    pred = read_csv_table(args.pred, ["frame", "x", "y", "score"])
    res = score_predictions(pred, args.truth, args.eps)
    res["pred"] = str(args.pred)
    if args.json is not None:
        atomic_write_text(
            args.json, json.dumps(res, indent=2, sort_keys=True, allow_nan=False) + "\n"
        )
    print(format_scores(res))
    return 0


#: The subcommands this module adds to ``qdloc``.
COMMANDS = (
    Command(
        "evaluate",
        help="score localisations against a set's labels",
        description="Area under the precision-recall curve at each tolerance (the paper's "
        "70, 140, 210 nm), with Jaccard, precision, recall, F1 and lateral RMSE, and the mean "
        "F1 over tolerances 0..max (qdloc.eval.metrics). Prediction frames are page indices of "
        "the set's images.tif.",
        add_arguments=add_arguments,
        run=run,
    ),
)
