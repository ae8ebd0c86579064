"""Argument checks of the metrics, for any layer that judges arrays the same way.

:mod:`qdloc.eval` imports nothing else from qdloc, so its checks live here; layers
above it (the diffusion estimators of :mod:`qdloc.transport`) use them too, so that
every message names the argument, shows the bad value and says what was expected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["preview", "finite_1d"]


def preview(value: Any) -> str:
    """Short ``repr`` of a value for error messages (NumPy scalars as Python ones).

    Parameters
    ----------
    value : object
        The value to show.

    Returns
    -------
    str
        Its ``repr``, cut to 80 characters (ending in ``...``) when longer.
    """
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def finite_1d(name: str, value: Any) -> np.ndarray:
    """``value`` as a 1-D float64 array of finite numbers.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : array_like
        The values to check.

    Returns
    -------
    ndarray of float64, shape (n,)

    Raises
    ------
    ValueError
        When ``value`` is not numeric, not one-dimensional, or holds NaN or inf
        (the message names the first such element and counts them).
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}={preview(value)} is not allowed: expected a 1-D array of finite numbers"
        ) from None
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape}: expected a 1-D array of finite numbers")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name}[{i}]={preview(arr[i])} is not allowed ({bad.size} non-finite value(s) in "
            "all): expected finite numbers (no NaN or inf)"
        )
    return arr
