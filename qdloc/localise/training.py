"""The epoch loop that both trainers share.

:func:`qdloc.localise.compact.train_compact` and :func:`qdloc.localise.frcnn.train_frcnn`
differ in their model, data, loss and validation metric, and agree on the rest: epochs
numbered from 1, each one trained, validated and appended to the history; the epoch that
the model's selection rule prefers saved as ``best.pt``; everything needed to resume
checkpointed after every epoch (:class:`qdloc.localise.checkpoints.Checkpointer`); a
time budget checked before each epoch. :func:`run_epochs` is that loop; each trainer
passes its own steps as functions. The loop draws no random numbers itself, so a
trainer's results depend only on its own steps and their order.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from qdloc.localise.checkpoints import set_rng_state

__all__ = [
    "run_epochs",
    "restore_state",
    "torch_settings",
    "check_time_budget",
    "stderr_log",
]


def check_time_budget(time_budget_s: Any) -> None:
    """Check a training time budget.

    Parameters
    ----------
    time_budget_s : float or None
        Seconds of training, or None for no budget.

    Raises
    ------
    ValueError
        When it is neither None nor a finite number of seconds > 0.
    """
    if time_budget_s is None:
        return
    ok = (not isinstance(time_budget_s, bool) and isinstance(time_budget_s, int | float | np.number)
          and math.isfinite(time_budget_s) and time_budget_s > 0)
    if not ok:
        raise ValueError(f"time_budget_s={time_budget_s!r} is not allowed: "
                         "expected None or a number of seconds > 0")


def stderr_log(progress: bool) -> Callable[[str], None]:
    """A function that prints one line to stderr when ``progress`` is true, and does nothing otherwise.

    Parameters
    ----------
    progress : bool
        Whether to print.

    Returns
    -------
    callable
        ``log(message)``.
    """
    if progress:
        return lambda msg: print(msg, file=sys.stderr, flush=True)
    return lambda msg: None


@contextlib.contextmanager
def torch_settings(threads: int, deterministic: bool = True) -> Iterator[None]:
    """Run a block with ``threads`` torch threads and deterministic algorithms; restore both after.

    Parameters
    ----------
    threads : int
        Torch intra-op threads inside the block.
    deterministic : bool
        ``torch.use_deterministic_algorithms`` inside the block.
    """
    import torch  # heavy: imported only by the trainers that need it

    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def restore_state(state: dict, model, optimizer, scheduler=None) -> list[dict]:
    """Load a resume state (written by a trainer through the Checkpointer) into the training objects.

    Parameters
    ----------
    state : dict
        The checkpoint: ``model``, ``optimizer``, ``rng``, ``history`` and, when ``scheduler``
        is given, ``scheduler``.
    model, optimizer, scheduler : torch objects
        Receive their saved states; the RNG states of torch, Python and NumPy's legacy
        generator are restored too.

    Returns
    -------
    list of dict
        The history of the completed epochs (a new list).
    """
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return list(state["history"])


def run_epochs(history: list[dict], epochs: int, run_epoch: Callable[[int], dict],
               better: Callable[[dict, dict | None], bool], save_best: Callable[[int, dict], None],
               end_epoch: Callable[[dict, int], None], best_epoch: int = 0,
               over_budget: Callable[[list[dict]], bool] | None = None) -> tuple[int, bool]:
    """Train epochs ``len(history) + 1 .. epochs`` (numbered from 1), selecting and checkpointing.

    For each epoch: stop if ``over_budget(history)``; ``row = run_epoch(epoch)`` (train and
    validate; the history row); append it; if ``better(row, best_row)`` (``best_row`` is the
    row of the best epoch so far, None before the first) the epoch becomes the best and
    ``save_best(epoch, row)`` writes its model file; then ``end_epoch(row, best_epoch)``
    checkpoints and reports.

    Parameters
    ----------
    history : list of dict
        The rows of the epochs already done (a resumed run's); appended to in place.
    epochs : int
        The last epoch to train.
    run_epoch, better, save_best, end_epoch : callables
        The trainer's steps (see above).
    best_epoch : int
        The best epoch so far (0: none).
    over_budget : callable, optional
        ``over_budget(history) -> bool``, asked before each epoch.

    Returns
    -------
    best_epoch : int
        The selected epoch (0 when none was trained and none is known).
    stopped : bool
        True when ``over_budget`` stopped the loop before ``epochs``.
    """
    for epoch in range(len(history) + 1, epochs + 1):
        if over_budget is not None and over_budget(history):
            return best_epoch, True
        row = run_epoch(epoch)
        history.append(row)
        if better(row, history[best_epoch - 1] if best_epoch else None):
            best_epoch = epoch
            save_best(epoch, row)
        end_epoch(row, best_epoch)
    return best_epoch, False
