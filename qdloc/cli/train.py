"""``qdloc train``: train a localiser (compact or Keypoint R-CNN), resumable.

::

    qdloc train --model compact --out data/models/compact            # the shipped model
    qdloc train --model frcnn --profile paper --out runs/frcnn --resume
    qdloc train --model frcnn --threads 1 --time-budget-s 1800 --predict --out data/models/frcnn_cpu
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from qdloc.cli._common import CLIError, Command
from qdloc.localise.train import MODELS, train

__all__ = ["COMMANDS", "run"]


def add_arguments(t: argparse.ArgumentParser) -> None:
    """The arguments of ``qdloc train``."""
    t.add_argument("--model", required=True, choices=list(MODELS), help="which localiser")
    t.add_argument("--profile", default="cpu", choices=["cpu", "paper", "test"],
                   help="cpu: reduced, trains on a CPU (default); paper: the paper's setting; "
                   "test: a tiny run for smoke tests (compact only)")
    t.add_argument("--data", type=Path, default=Path("data/paper"),
                   help="folder of the paper's sets (train, val, test_*) (default data/paper)")
    t.add_argument("--out", type=Path, required=True, help="checkpoint and model folder")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    t.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    t.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    t.add_argument("--time-budget-s", type=float, default=None,
                   help="stop (checkpointed, resumable) before an epoch would end past this")
    t.add_argument("--weights", type=Path, default=None,
                   help="frcnn: a local torchvision keypointrcnn_resnet50_fpn COCO checkpoint "
                   "(default: train from scratch; nothing is downloaded)")
    t.add_argument("--threads", type=int, default=None, help="frcnn: torch.set_num_threads for the run")
    t.add_argument("--subset", type=int, default=None, help="frcnn: train on the first N training images")
    t.add_argument("--predict", action="store_true",
                   help="frcnn: then localise the three test sets with the best checkpoint "
                   "(OUT/pred_<set>.csv, OUT/auc_table.csv)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")


def _check(args: argparse.Namespace) -> None:
    """Refuse option combinations that the trainers would not use."""
    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs {args.epochs}: expected an integer >= 1")
    if args.profile == "test" and args.model != "compact":
        raise CLIError("--profile test is for --model compact")
    frcnn_only = [f for f, v in (("--threads", args.threads), ("--subset", args.subset),
                                 ("--predict", args.predict or None)) if v is not None]
    if frcnn_only and args.model != "frcnn":
        raise CLIError(f"{frcnn_only[0]} is for --model frcnn")
    for flag, v in (("--threads", args.threads), ("--subset", args.subset)):
        if v is not None and v < 1:
            raise CLIError(f"{flag} {v}: expected an integer >= 1")
    if args.weights is not None:
        if args.model != "frcnn":
            raise CLIError("--weights is for --model frcnn (the compact model trains from scratch)")
        if not args.weights.is_file():
            raise CLIError(f"--weights {args.weights}: no such file")


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc train``; return the exit status."""
    _check(args)
    kw: dict[str, Any] = {}
    if args.epochs is not None:
        kw["epochs"] = args.epochs
    if args.time_budget_s is not None:
        kw["time_budget_s"] = args.time_budget_s
    if args.weights is not None:
        kw["weights"] = str(args.weights)
    data = args.data if args.data.exists() else None
    if args.model == "frcnn":
        return _run_frcnn(args, data, kw)
    result = train(args.model, args.profile, data, args.out, resume=args.resume, seed=args.seed,
                   progress=not args.no_progress, **kw)
    best = getattr(result, "model_path", None) or (
        result.get("best") if isinstance(result, dict) else None
    )
    print(f"trained {args.model} ({args.profile}); model file: {best or args.out}")
    return 0


def _run_frcnn(args: argparse.Namespace, data: Path | None, kw: dict[str, Any]) -> int:
    """Keypoint R-CNN: train, then with ``--predict`` localise the test sets (results.json)."""
    # torch and torchvision load only when a Keypoint R-CNN is trained (qdloc --help stays fast)
    from qdloc.study.frcnn_run import run_frcnn

    if args.subset is not None:
        kw["subset"] = args.subset
    summary = run_frcnn(args.out, data, profile=args.profile, seed=args.seed, resume=args.resume,
                        predict=args.predict, threads=args.threads, progress=not args.no_progress,
                        command=shlex.join(["qdloc", *sys.argv[1:]]), **kw)
    print(f"trained frcnn ({args.profile}): best epoch {summary['best_epoch']}; "
          f"model and results in {args.out}")
    return 0


#: The subcommands this module adds to ``qdloc``.
COMMANDS = (
    Command(
        "train",
        help="train a localiser (compact or Keypoint R-CNN)",
        description="Train a localiser with checkpoints every epoch (OUT/last.pt), model "
        "selection on the validation split (OUT/best.pt) and training curves (OUT/history.csv). "
        "--resume continues an interrupted run exactly where it stopped.",
        add_arguments=add_arguments,
        run=run,
    ),
)
