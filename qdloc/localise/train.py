"""Train a localiser: one entry point for both models.

:func:`train` dispatches to :func:`qdloc.localise.compact.train_compact` (our
compact heat-map network) or :func:`qdloc.localise.frcnn.train_frcnn` (the
paper's Keypoint R-CNN, imported only when asked for, since it needs
torchvision). The command line ``qdloc train --model compact --profile cpu
--data data/paper --out data/models/compact`` calls it.

Both trainers checkpoint every epoch into ``out_dir`` (``last.pt``,
``best.pt``, ``history.csv``); ``resume=True`` continues an interrupted run
from the last complete epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["MODELS", "DEFAULT_OUT_DIRS", "train"]

#: The models :func:`train` knows.
MODELS: tuple[str, ...] = ("compact", "frcnn")
#: Where each model's files go when ``out_dir`` is not given (relative to the working directory).
DEFAULT_OUT_DIRS: dict[str, str] = {"compact": "data/models/compact", "frcnn": "data/models/frcnn_cpu"}
#: Where the paper's data sets are written by chapter 04 (:func:`qdloc.data.dataset.write_paper_sets`).
DEFAULT_DATA_DIR = "data/paper"


def train(model: str, profile: str = "cpu", data_dir: str | Path | None = DEFAULT_DATA_DIR,
          out_dir: str | Path | None = None, resume: bool = False, seed: int = 0, progress: bool = True,
          **kw: Any):
    """Train one localiser.

    Parameters
    ----------
    model : {"compact", "frcnn"}
        ``"compact"``: our own network (:mod:`qdloc.localise.compact`), trained from
        scratch on fresh simulated images in minutes on a CPU. ``"frcnn"``: the
        paper's Keypoint R-CNN (:mod:`qdloc.localise.frcnn`).
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
        was simulated with other :class:`~qdloc.sim.params.SimParams`.
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
        :class:`~qdloc.localise.compact.CompactConfig` field for ``compact``;
        ``epochs=``, ``weights=`` for ``frcnn``.

    Returns
    -------
    What the trainer returns (:class:`qdloc.localise.compact.TrainResult` for ``compact``).

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
        # imported here: the compact model needs torch, an optional dependency
        from qdloc.localise.compact import train_compact

        return train_compact(data_dir, out, profile=profile, seed=seed, resume=resume, progress=progress, **kw)
    # imported here: Keypoint R-CNN needs torch and torchvision, optional dependencies
    from qdloc.localise.frcnn import train_frcnn

    return train_frcnn(data_dir, out, profile=profile, seed=seed, resume=resume, progress=progress, **kw)
