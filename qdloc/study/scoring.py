"""Score a table of localisations against a set on disk (what ``qdloc evaluate`` reports).

:func:`score_predictions` reads the set's labels, and gives the area under the
precision-recall curve at each tolerance, the detection metrics (Jaccard, precision, recall,
F1, lateral RMSE) at each tolerance and the F1 integral (:mod:`qdloc.eval.metrics`), as a
JSON-ready dictionary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qdloc.data.dataset import load_dataset
from qdloc.eval.metrics import PAPER_EPS_NM, auc_table, detection_metrics, f1_integral

__all__ = ["score_predictions"]


def _json_number(v: Any) -> Any:
    """A JSON-ready number: NumPy scalars become Python ones, NaN and infinities None."""
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def score_predictions(
    pred: pd.DataFrame, truth_dir: str | Path, eps_nm: Sequence[float] | None = None
) -> dict[str, Any]:
    """Score localisations against the labels of a set folder.

    Parameters
    ----------
    pred : pandas.DataFrame
        Localisations: columns ``frame`` (page index of the set's ``images.tif``), ``x``,
        ``y`` (px) and ``score``.
    truth_dir : str or Path
        The set's folder (:func:`qdloc.data.dataset.load_dataset`).
    eps_nm : sequence of float, optional
        Tolerances, nm (default: the paper's 70, 140, 210).

    Returns
    -------
    dict
        ``truth``, ``n_images``, ``n_predictions``, ``pixel_size_nm``, ``eps_nm``;
        ``auc`` and ``metrics`` (detection metrics) keyed by the tolerance written with
        ``%g`` (``"70"``); ``f1_integral`` over tolerances 0 to ``f1_integral_eps_max_nm``
        (the largest of ``eps_nm``). Numbers are Python floats and ints; an undefined one
        (NaN) is None.

    Raises
    ------
    ValueError
        For a tolerance that is not a finite number > 0, a set that cannot be read, or
        predictions the metrics refuse (the message names the set).
    """
    eps = [float(e) for e in (PAPER_EPS_NM if eps_nm is None else eps_nm)]
    if not eps or any(not math.isfinite(e) or e <= 0 for e in eps):
        raise ValueError(f"eps_nm={eps}: expected tolerances > 0 nm")
    ds = load_dataset(truth_dir, mmap=True)
    px = ds.pixel_size_nm
    truth = ds.truth_xy
    try:
        auc = auc_table(pred, truth, eps, pixel_size_nm=px)
        metrics = {e: detection_metrics(pred, truth, e, pixel_size_nm=px) for e in eps}
        f1i = f1_integral(pred, truth, eps_max_nm=max(eps), pixel_size_nm=px)
    except ValueError as exc:
        raise ValueError(f"predictions against {truth_dir}: {exc}") from None
    return {
        "truth": str(truth_dir),
        "n_images": len(ds),
        "n_predictions": len(pred),
        "pixel_size_nm": px,
        "eps_nm": eps,
        "auc": {f"{e:g}": _json_number(v) for e, v in auc.items()},
        "metrics": {
            f"{e:g}": {k: _json_number(v) for k, v in m.items()} for e, m in metrics.items()
        },
        "f1_integral": _json_number(f1i),
        "f1_integral_eps_max_nm": max(eps),
    }
