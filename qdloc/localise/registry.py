"""The localisers by name: one registry for the command line, the tracker and the studies.

A localiser is a function that takes an ``(n, H, W)`` stack and returns a DataFrame with at
least ``frame, x, y, score`` (px, x = column, pixel centres at integers). Each is named here
once, with the module that holds it (imported only when used: torch is needed only by the
learned ones) and, for learned ones, the shipped weights it uses by default.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile

from qdloc.cluster import run_tasks
from qdloc.data.dataset import IMAGES, DatasetError, read_stack

__all__ = ["METHODS", "SHIPPED_MODELS", "TASK_IMAGES", "MethodUnavailable", "shipped_model", "locator", "locate",
           "stack_frames", "read_frames", "locate_chunk_task", "locate_stack"]

#: Images per task when a stack is localised on a Dask cluster: a few seconds of work on one
#: core, and a multiple of every learned method's batch (128 and 64), so that every batch holds
#: the same images as in one call on the whole stack and the numbers are the same.
TASK_IMAGES = 16384

#: Localisation methods: name -> (module, function).
METHODS: dict[str, tuple[str, str]] = {
    "trackpy": ("qdloc.localise.trackpy", "trackpy_locate"),
    "compact": ("qdloc.localise.compact", "compact_locate"),
    "frcnn": ("qdloc.localise.frcnn", "frcnn_locate"),
    "bayes": ("qdloc.localise.bayes", "bayes_locate"),
}

#: Methods with learned weights, and the shipped model file each uses by default
#: (relative to the project folder that holds the ``qdloc`` package).
SHIPPED_MODELS: dict[str, str] = {
    "compact": "data/models/compact/compact.pt",
    "frcnn": "data/models/frcnn_cpu/frcnn_cpu.pt",
}

#: The project folder that holds the ``qdloc`` package (and ``data/models``).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class MethodUnavailable(ValueError):
    """A localiser that is not known, or whose module cannot be imported here."""


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise MethodUnavailable(f"method={method!r} is not allowed: expected one of {sorted(METHODS)}")


def shipped_model(method: str) -> Path:
    """The shipped model file of ``method`` (an absolute path, whatever the working directory)."""
    if method not in SHIPPED_MODELS:
        raise MethodUnavailable(
            f"method={method!r} has no shipped model: expected one of {sorted(SHIPPED_MODELS)}"
        )
    return PROJECT_ROOT / SHIPPED_MODELS[method]


def locator(method: str) -> Callable[..., pd.DataFrame]:
    """The localisation function of ``method`` (its module imported now)."""
    _check_method(method)
    module, func = METHODS[method]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise MethodUnavailable(f"method {method!r} is not available: cannot import {module} ({exc})") from None
    try:
        return getattr(mod, func)
    except AttributeError:
        raise MethodUnavailable(f"method {method!r} is not available: {module} has no {func}") from None


def locate(images: np.ndarray, method: str, model_path: str | Path | None = None, **kw) -> pd.DataFrame:
    """Localise a stack with ``method`` (a key of :data:`METHODS`: trackpy, compact, frcnn, bayes).

    Parameters
    ----------
    images : array_like (n, H, W)
        The stack (photon counts).
    method : str
        A key of :data:`METHODS`.
    model_path : path, optional
        Weights of a learned method (default: its shipped model, :func:`shipped_model`).
        A ``model_path`` given to ``trackpy`` is refused.
    **kw
        Passed to the localiser.

    Returns
    -------
    DataFrame
        ``frame, x, y, score`` and the method's own columns.
    """
    fn = locator(method)
    if method in SHIPPED_MODELS:
        model = shipped_model(method) if model_path is None else Path(model_path)
        return fn(images, model_path=model, **kw)
    if model_path is not None:
        raise ValueError(f"model_path={str(model_path)!r} is not used by method {method!r}")
    return fn(images, **kw)


def _stack_file(path: str | Path) -> Path:
    path = Path(path)
    return path / IMAGES if path.is_dir() else path


def _memmap(path: Path) -> np.ndarray | None:
    """The stack as a read-only ``(n, H, W)`` memory map, or None when the file cannot be mapped
    (compressed, tiled, not contiguous, truncated, several channels)."""
    logger = logging.getLogger("tifffile")  # a damaged file is reported by read_stack, once
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        mm = tifffile.memmap(path, mode="r")
    except Exception:  # tifffile and numpy raise ValueError, OSError, ... for what cannot be mapped
        return None
    finally:
        logger.setLevel(level)
    if mm.ndim == 2:
        return mm[None]
    if mm.ndim == 3 and mm.dtype.kind in "uif":
        return mm
    return None


def stack_frames(path: str | Path) -> int:
    """The number of frames of a TIFF stack (or a set folder's ``images.tif``), read from its header.

    A file that cannot be memory-mapped is read once, with all of :func:`read_stack`'s checks.

    Raises
    ------
    FileNotFoundError, DatasetError
        As :func:`qdloc.data.dataset.read_stack`.
    """
    f = _stack_file(path)
    if not f.exists():
        raise FileNotFoundError(f"{f}: no such file")
    mm = _memmap(f)
    return len(read_stack(f)) if mm is None else len(mm)


def read_frames(path: str | Path, start: int, stop: int) -> np.ndarray:
    """Frames ``start .. stop-1`` of a stack, through a memory map where the file allows it.

    Parameters
    ----------
    path : path
        A TIFF stack or a set folder.
    start, stop : int
        The frames (page indices from 0).

    Returns
    -------
    numpy.ndarray
        ``(stop - start, H, W)``, in memory.

    Raises
    ------
    DatasetError
        For a frame with a NaN or infinite pixel (naming its page index), or a file that
        :func:`qdloc.data.dataset.read_stack` refuses.
    """
    f = _stack_file(path)
    mm = _memmap(f)
    data = np.array(mm[start:stop]) if mm is not None else read_stack(f)[start:stop]
    if data.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(data.reshape(len(data), -1)).all(axis=1))
        if bad.size:
            raise DatasetError(f"{f}: frame {start + int(bad[0])} (page index from 0) holds non-finite pixel "
                               "values (NaN or inf); expected finite intensities: replace or remove them first")
    return data


@functools.cache
def _cached_locator(method: str) -> Callable[..., pd.DataFrame]:
    """The localiser, its module (and torch) imported once per process (once per Dask worker)."""
    return locator(method)


def locate_chunk_task(path: str, start: int, stop: int, method: str, model_path: str | None,
                      kw: dict[str, Any]) -> pd.DataFrame:
    """One task of :func:`locate_stack`: frames ``start .. stop-1`` of the stack at ``path``.

    Returns
    -------
    DataFrame
        The localiser's table, ``frame`` the page index in the whole stack.
    """
    fn = _cached_locator(method)
    images = read_frames(path, start, stop)
    df = fn(images, model_path=Path(model_path), **kw) if model_path is not None else fn(images, **kw)
    df["frame"] = df["frame"].to_numpy() + np.int64(start)
    return df


def locate_stack(path: str | Path, method: str, model_path: str | Path | None = None, *, client: Any = None,
                 task_size: int = TASK_IMAGES, progress: bool = True, **kw) -> pd.DataFrame:
    """Localise every frame of a TIFF stack (or a set folder) with ``method``, here or on a Dask cluster.

    Parameters
    ----------
    path : path
        A single-channel TIFF stack, or a set folder (its ``images.tif``).
    method, model_path, **kw
        As for :func:`locate`.
    client : distributed.Client, optional
        Run on this Dask cluster (:mod:`qdloc.cluster`): chunks of ``task_size`` frames are tasks,
        each reading its frames through a memory map of the file (which the workers must see),
        the localiser imported once per worker. Without a client, the stack is read and
        localised in this process.
    task_size : int
        Frames per task (default :data:`TASK_IMAGES`; keep it a multiple of the method's batch for
        numbers identical to one call on the whole stack).
    progress : bool
        One progress bar over the tasks (only on a terminal).

    Returns
    -------
    DataFrame
        As :func:`locate`, ``frame`` the page index; the same table whether or not a client ran it.
    """
    if isinstance(task_size, bool) or not isinstance(task_size, int) or task_size < 1:
        raise ValueError(f"task_size={task_size!r} is not allowed: expected an integer >= 1")
    if client is None:
        return locate(read_stack(path), method, model_path, **kw)
    _check_method(method)
    if method in SHIPPED_MODELS:
        model = str(shipped_model(method) if model_path is None else Path(model_path).resolve())
    elif model_path is not None:
        raise ValueError(f"model_path={str(model_path)!r} is not used by method {method!r}")
    else:
        model = None
    f = str(_stack_file(path).resolve())
    n = stack_frames(f)
    args = [(f, a, min(n, a + task_size), method, model, dict(kw)) for a in range(0, n, task_size)]
    parts = run_tasks(client, locate_chunk_task, args, desc=Path(f).name, unit="img", progress=progress,
                      weights=[b - a for _, a, b, *_ in args])
    kept = [p for p in parts if len(p)] or parts[:1]  # pandas warns on concatenating empty tables
    return pd.concat(kept, ignore_index=True)
