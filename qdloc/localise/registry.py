"""The localisers by name: one registry for the command line, the tracker and the studies.

A localiser is a function that takes an ``(n, H, W)`` stack and returns a DataFrame with at
least ``frame, x, y, score`` (px, x = column, pixel centres at integers). Each is named here
once, with the module that holds it (imported only when used: torch is needed only by the
learned ones) and, for learned ones, the shipped weights it uses by default.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["METHODS", "SHIPPED_MODELS", "MethodUnavailable", "shipped_model", "locator", "locate"]

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
