"""Train a localiser: one entry point for both models.

:func:`train` dispatches to :func:`qdloc.models.compact.train_compact` (our
compact heat-map network) or :func:`qdloc.models.frcnn.train_frcnn` (the
paper's Keypoint R-CNN, imported only when asked for, since it needs
torchvision). The command-line interface (``qdloc train ...``) calls it; it can
also be run directly::

    python -m qdloc.train compact cpu --data data/paper --out data/models/compact

Both trainers checkpoint every epoch into ``out_dir`` (``last.pt``,
``best.pt``, ``history.csv``); ``resume=True`` continues an interrupted run
from the last complete epoch.
"""

from __future__ import annotations

import os

# Torch is much slower on a busy machine when its OpenMP threads spin while they wait for
# each other; a passive wait avoids that. Must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

__all__ = ["MODELS", "DEFAULT_OUT_DIRS", "train", "main"]

#: The models :func:`train` knows.
MODELS: tuple[str, ...] = ("compact", "frcnn")
#: Where each model's files go when ``out_dir`` is not given (relative to the working directory).
DEFAULT_OUT_DIRS: dict[str, str] = {"compact": "data/models/compact", "frcnn": "data/models/frcnn_cpu"}
#: Where the paper's data sets are written by chapter 04 (:func:`qdloc.dataset.write_paper_sets`).
DEFAULT_DATA_DIR = "data/paper"


def train(model: str, profile: str = "cpu", data_dir: str | Path | None = DEFAULT_DATA_DIR,
          out_dir: str | Path | None = None, resume: bool = False, seed: int = 0, progress: bool = True,
          **kw: Any):
    """Train one localiser.

    Parameters
    ----------
    model : {"compact", "frcnn"}
        ``"compact"``: our own network (:mod:`qdloc.models.compact`), trained from
        scratch on fresh simulated images in minutes on a CPU. ``"frcnn"``: the
        paper's Keypoint R-CNN (:mod:`qdloc.models.frcnn`).
    profile : str
        A preset of the model's settings (``frcnn`` also takes an ``FRCNNConfig``). Both models know ``"paper"`` (the
        paper's training setting: its fixed training set of 29,838 images, 20
        epochs, model selection on the validation split) and ``"cpu"`` (what fits
        a CPU: for ``compact`` this is the shipped model, trained on fresh data
        every epoch; for ``frcnn`` a reduced setting, see its module). ``compact``
        also has ``"test"``, a tiny run for the unit tests.
    data_dir : path or None
        Folder of the paper preset (``train``, ``val``, ``test_*``), as written by
        chapter 04. ``compact`` reads only the validation split (and, with profile
        ``"paper"``, the training set) and simulates in memory what is missing or
        was simulated with other :class:`~qdloc.params.SimParams`.
    out_dir : path, optional
        Where the checkpoints, the training curves (``history.csv``) and the final
        model file go. Default: :data:`DEFAULT_OUT_DIRS` of the model.
    resume : bool
        Continue from ``out_dir/last.pt`` instead of starting afresh (which
        deletes an earlier run's checkpoints in ``out_dir``).
    seed : int
        Seed of the weights' initialisation and of the training data's order or draws.
    progress : bool
        Show progress bars and one line per epoch on stderr.
    **kw
        Passed to the model's trainer, e.g. ``epochs=``, ``time_budget_s=`` or any
        :class:`~qdloc.models.compact.CompactConfig` field for ``compact``;
        ``epochs=``, ``weights=`` for ``frcnn``.

    Returns
    -------
    What the trainer returns (:class:`qdloc.models.compact.TrainResult` for ``compact``).

    Raises
    ------
    ValueError
        For an unknown model, or bad arguments (named in the message).
    """
    if model not in MODELS:
        raise ValueError(f"model={model!r} is not allowed: expected one of {list(MODELS)}")
    if model == "compact" and not isinstance(profile, str):
        raise ValueError(f"profile={profile!r} is not allowed: expected a profile name such as 'cpu' or 'paper'")
    out = Path(out_dir) if out_dir is not None else Path(DEFAULT_OUT_DIRS[model])
    if model == "compact":
        from .models.compact import train_compact

        return train_compact(data_dir, out, profile=profile, seed=seed, resume=resume, progress=progress, **kw)
    from .models.frcnn import train_frcnn  # torchvision is needed only here

    return train_frcnn(data_dir, out, profile=profile, seed=seed, resume=resume, progress=progress, **kw)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m qdloc.train", description=train.__doc__.split("\n")[0])
    p.add_argument("model", choices=MODELS, help="which localiser to train")
    p.add_argument("profile", nargs="?", default="cpu", help="settings preset: cpu (default), paper, test")
    p.add_argument("--data", default=DEFAULT_DATA_DIR, help="folder of the paper's data sets (default %(default)s)")
    p.add_argument("--out", default=None, help="output folder (default data/models/compact or data/models/frcnn_cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--epochs", type=int, default=None, help="override the profile's number of epochs")
    p.add_argument("--time-budget-s", type=float, default=None,
                   help="compact: stop (checkpointed, resumable) before an epoch would end past this")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m qdloc.train MODEL [PROFILE] [--data ...] [--out ...] ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    kw: dict[str, Any] = {}
    if a.epochs is not None:
        kw["epochs"] = a.epochs
    if a.time_budget_s is not None:
        kw["time_budget_s"] = a.time_budget_s
    if a.model == "compact":
        kw["command"] = shlex.join(["python", "-m", "qdloc.train", *argv])
    result = train(a.model, a.profile, a.data, a.out, resume=a.resume, seed=a.seed, progress=not a.quiet, **kw)
    if getattr(result, "stopped_early", False):
        print(f"stopped by the time budget after epoch {len(result.history)}; add --resume to continue")
    elif getattr(result, "model_path", None) is not None:
        print(f"model file: {result.model_path} (selected epoch {result.best_epoch}, "
              f"wall time {result.wall_s:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
