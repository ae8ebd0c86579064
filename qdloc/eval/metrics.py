"""Scoring localisers against one ground-truth point per image.

The paper's metric (§4.8): a test set holds ``N`` images; image ``i`` has
exactly one ground-truth point, the centroid of the quantum dot's trajectory
during the scan, ``truth_xy[i] = (x, y)`` in pixels. A localiser returns rows
``(frame, x, y, score)`` -- none, one or several per image, ``frame`` being the
image index ``0 .. N-1``. Positions are in pixels; ``pixel_size_nm`` (default
70 nm, the paper's pitch) turns distances into nm, and the tolerance ``eps_nm``
is in nm (the paper uses 70, 140 and 210 nm, i.e. 1, 2 and 3 px).

Matching (:func:`match_predictions`)
    All predictions of the whole set are ranked by descending score; ties keep
    their input order (a stable sort), so the ranking is deterministic. Walking
    down the ranking, a prediction is a true positive (TP) when its Euclidean
    distance to *its own image's* truth is ``<= eps_nm`` (inclusive, "below or
    equal" in the paper) and that truth is not matched yet; every other
    prediction is a false positive (FP): too far, or a duplicate on a truth
    already matched. A truth that no prediction matches is a false negative
    (FN).

Precision-recall curve (:func:`precision_recall`)
    One curve point per distinct score threshold ``t``, counting every
    prediction with ``score >= t``. Tied scores cannot be separated by a
    threshold, so a group of equal scores enters the curve as a whole.

Area under the curve (:func:`average_precision`, :func:`auc_pr`)
    All-point interpolated average precision (Pascal VOC 2010+, or COCO
    without its 101-point recall sampling); see :func:`average_precision`.

Detection metrics (:func:`detection_metrics`, :func:`f1_integral`)
    The vocabulary of the SMLM challenge and DECODE: Jaccard index, precision,
    recall, F1, lateral RMSE of matched pairs, at one tolerance, with the same
    one-to-one matching, and F1 averaged over tolerances ``0 .. eps_max``.

Everything here is deterministic (no random numbers) and uses numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from qdloc.eval.checks import finite_1d, preview as _preview

__all__ = [
    "PAPER_EPS_NM",
    "MatchResult",
    "PRCurve",
    "match_predictions",
    "precision_recall",
    "precision_recall_from_match",
    "average_precision",
    "auc_pr",
    "auc_table",
    "detection_metrics",
    "f1_integral",
]

#: The paper's tolerances in nm (1, 2 and 3 pixels of 70 nm).
PAPER_EPS_NM: tuple[float, float, float] = (70.0, 140.0, 210.0)

_PRED_COLUMNS = ("frame", "x", "y", "score")


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class MatchResult:
    """Outcome of :func:`match_predictions`; every array is in ranked order.

    Attributes
    ----------
    order : ndarray of int, shape (M,)
        Input indices of the predictions, ranked by descending score (ties in
        input order). ``order[k]`` is the input row of the ``k``-th ranked one.
    is_tp : ndarray of bool, shape (M,)
        Whether the ranked prediction is a true positive.
    dist_nm : ndarray of float, shape (M,)
        Distance of each ranked prediction to its own image's truth, in nm
        (given for every prediction, TP or FP).
    score : ndarray of float, shape (M,)
        Scores in ranked order (non-increasing).
    frame : ndarray of int, shape (M,)
        Image index of each ranked prediction.
    n_truth : int
        Number of ground-truth points (images), ``N``.
    eps_nm : float
        Tolerance used, in nm.
    """

    order: np.ndarray
    is_tp: np.ndarray
    dist_nm: np.ndarray
    score: np.ndarray
    frame: np.ndarray
    n_truth: int
    eps_nm: float

    @property
    def n_pred(self) -> int:
        """Number of predictions ``M``."""
        return int(self.order.size)

    @property
    def n_tp(self) -> int:
        """Number of true positives."""
        return int(np.count_nonzero(self.is_tp))

    @property
    def n_fp(self) -> int:
        """Number of false positives, ``M - TP``."""
        return self.n_pred - self.n_tp

    @property
    def n_fn(self) -> int:
        """Number of false negatives (unmatched truths), ``N - TP``."""
        return self.n_truth - self.n_tp


class PRCurve(NamedTuple):
    """Precision-recall curve, one point per distinct score threshold.

    Attributes
    ----------
    recall : ndarray of float, shape (K,)
        ``TP(t) / N`` -- non-decreasing along the curve.
    precision : ndarray of float, shape (K,)
        ``TP(t) / (TP(t) + FP(t))``.
    thresholds : ndarray of float, shape (K,)
        Distinct scores, in decreasing order; point ``k`` counts every
        prediction with ``score >= thresholds[k]``.
    """

    recall: np.ndarray
    precision: np.ndarray
    thresholds: np.ndarray


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------
def _as_finite_float(name: str, value: Any, expected: str, bool_note: str = "") -> float:
    """``float(value)``, refusing bools (the message then ends with ``bool_note``) and NaN/inf."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}={_preview(value)}: expected {expected}{bool_note}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={_preview(value)}: expected {expected}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name}={_preview(value)}: expected {expected}")
    return out


def _check_scalar(name: str, value: Any, *, positive: bool) -> float:
    """Return ``value`` as a finite float that is ``> 0`` or ``>= 0``."""
    expected = "a finite number > 0" if positive else "a finite number >= 0"
    out = _as_finite_float(name, value, expected, ", not a bool")
    if out <= 0.0 if positive else out < 0.0:
        raise ValueError(f"{name}={_preview(value)}: expected {expected}")
    return out


def _check_truth(truth_xy: Any) -> np.ndarray:
    """Return ``truth_xy`` as a finite float64 array of shape ``(N, 2)``, N >= 1."""
    try:
        arr = np.asarray(truth_xy, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"truth_xy={_preview(truth_xy)}: expected an array of shape (N, 2) "
            "of finite (x, y) positions in px"
        ) from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            f"truth_xy has shape {arr.shape}: expected shape (N, 2), one (x, y) "
            "row per image"
        )
    if arr.shape[0] == 0:
        raise ValueError(
            "truth_xy has shape (0, 2): expected at least one image (N >= 1); "
            "recall is undefined without ground truth"
        )
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise ValueError(
            f"truth_xy[{i}, {j}]={_preview(arr[i, j])}: expected finite positions in px"
        )
    return arr


def _check_frame(frame: Any, n_truth: int) -> np.ndarray:
    """Return ``frame`` as a 1-D intp array of indices in ``[0, n_truth)``."""
    arr = np.asarray(frame)
    if arr.ndim != 1:
        raise ValueError(
            f"frame has shape {arr.shape}: expected a 1-D array of image indices"
        )
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if arr.dtype.kind not in "iuf":
        raise ValueError(
            f"frame has dtype {arr.dtype}: expected integer image indices"
        )
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"frame[{i}]={_preview(arr[i])}: expected an integer image index")
    # Range check before any cast, so that huge values cannot wrap around.
    bad = np.flatnonzero((arr < 0) | (arr >= n_truth))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"frame[{i}]={_preview(arr[i])}: expected an image index in [0, {n_truth - 1}] "
            f"(truth_xy has {n_truth} rows)"
        )
    return arr.astype(np.intp)


def _check_predictions(
    frame: Any, x: Any, y: Any, score: Any, truth_xy: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate the prediction columns and the truth; return them as arrays."""
    truth = _check_truth(truth_xy)
    fr = np.asarray(frame)
    if fr.ndim != 1:
        raise ValueError(
            f"frame has shape {fr.shape}: expected a 1-D array of image indices"
        )
    xs = finite_1d("x", x)
    ys = finite_1d("y", y)
    ss = finite_1d("score", score)
    sizes = {"frame": fr.size, "x": xs.size, "y": ys.size, "score": ss.size}
    if len(set(sizes.values())) != 1:
        raise ValueError(
            f"prediction columns have lengths {sizes}: expected one common length "
            "(one row per prediction)"
        )
    return _check_frame(fr, truth.shape[0]), xs, ys, ss, truth


def _columns(pred: Any) -> tuple[Any, Any, Any, Any]:
    """Extract ``frame, x, y, score`` from a DataFrame, a mapping or an (M, 4) array."""
    if isinstance(pred, np.ndarray):
        if pred.ndim != 2 or pred.shape[1] != 4:
            raise ValueError(
                f"pred has shape {pred.shape}: expected a DataFrame / mapping with "
                "columns frame, x, y, score, or an array of shape (M, 4)"
            )
        return pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    if not (isinstance(pred, Mapping) or hasattr(pred, "columns")):
        raise ValueError(
            f"pred={_preview(pred)}: expected a DataFrame or mapping with columns "
            "frame, x, y, score"
        )
    missing = [c for c in _PRED_COLUMNS if c not in pred]
    if missing:
        have = list(pred.columns) if hasattr(pred, "columns") else list(pred.keys())
        raise ValueError(
            f"pred lacks column(s) {missing} (has {have}): expected columns "
            "frame, x, y, score"
        )
    return tuple(np.asarray(pred[c]) for c in _PRED_COLUMNS)  # type: ignore[return-value]


# --------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------
def _rank(score: np.ndarray) -> np.ndarray:
    """Indices sorting ``score`` descending; ties keep their input order."""
    # argsort of -score with a stable sort is descending with ties in input
    # order (-0.0 == 0.0, so signed zeros tie too).
    return np.argsort(-score, kind="stable")


def _distances_px(
    frame: np.ndarray, x: np.ndarray, y: np.ndarray, truth: np.ndarray
) -> np.ndarray:
    """Distance of each prediction to its own image's truth, in px."""
    return np.hypot(x - truth[frame, 0], y - truth[frame, 1])


def match_predictions(
    frame: Any,
    x: Any,
    y: Any,
    score: Any,
    truth_xy: Any,
    eps_nm: float,
    pixel_size_nm: float = 70.0,
) -> MatchResult:
    """Match predictions to the one truth of their image, greedily by score.

    Parameters
    ----------
    frame : array_like of int, shape (M,)
        Image index of each prediction, in ``[0, N)``. Floats holding whole
        numbers (as a DataFrame may store them) are accepted.
    x, y : array_like of float, shape (M,)
        Predicted position in px (finite).
    score : array_like of float, shape (M,)
        Confidence; higher ranks first (finite).
    truth_xy : array_like of float, shape (N, 2)
        Ground-truth ``(x, y)`` in px, one row per image, ``N >= 1``.
    eps_nm : float
        Tolerance in nm, ``>= 0``; a distance equal to ``eps_nm`` matches.
    pixel_size_nm : float, optional
        Pixel size in nm (default 70).

    Returns
    -------
    MatchResult
        ``order``, ``is_tp``, ``dist_nm``, ``score``, ``frame`` in ranked order,
        and ``n_truth``.

    Raises
    ------
    ValueError
        On columns of unequal length, non-finite positions or scores, a frame
        outside ``[0, N)`` or not a whole number, ``truth_xy`` not of shape
        ``(N, 2)`` with ``N >= 1`` and finite, ``eps_nm < 0`` or
        ``pixel_size_nm <= 0``.

    Notes
    -----
    Ranking: descending score, ties in input order (stable sort). Walking the
    ranking, a prediction is a TP when its distance to its image's truth is
    ``<= eps_nm`` and that truth is unmatched; otherwise it is an FP.

    Distances are compared as ``hypot(dx, dy) * pixel_size_nm <= eps_nm`` in
    floating point, without any extra tolerance.
    """
    eps = _check_scalar("eps_nm", eps_nm, positive=False)
    px = _check_scalar("pixel_size_nm", pixel_size_nm, positive=True)
    fr, xs, ys, ss, truth = _check_predictions(frame, x, y, score, truth_xy)

    order = _rank(ss)
    frame_r = fr[order]
    dist_r = _distances_px(fr, xs, ys, truth)[order] * px

    # The greedy walk is sequential in principle, but each image has exactly
    # one truth, and a prediction can only match its own image's truth. So
    # the walk reduces to: for each image, the FIRST prediction in ranked
    # order that lies within eps is the TP (it takes the truth; every later
    # one in that image finds it taken); everything else is an FP. "First
    # within eps per frame" is np.unique(..., return_index=True) on the frame
    # numbers of the within-eps candidates, taken in ranked order.
    candidates = np.flatnonzero(dist_r <= eps)
    _, first = np.unique(frame_r[candidates], return_index=True)
    is_tp = np.zeros(order.size, dtype=bool)
    is_tp[candidates[first]] = True

    return MatchResult(
        order=order,
        is_tp=is_tp,
        dist_nm=dist_r,
        score=ss[order],
        frame=frame_r,
        n_truth=int(truth.shape[0]),
        eps_nm=eps,
    )


# --------------------------------------------------------------------------
# Precision-recall and its area
# --------------------------------------------------------------------------
def precision_recall_from_match(match: MatchResult) -> PRCurve:
    """Precision-recall curve of a :class:`MatchResult`.

    Parameters
    ----------
    match : MatchResult
        Output of :func:`match_predictions`.

    Returns
    -------
    PRCurve
        ``(recall, precision, thresholds)``, one point per distinct score
        (tie group), in decreasing score order; empty when there are no
        predictions.

    Notes
    -----
    Cumulative TP and FP counts are taken along the ranking, but only at the
    last prediction of each group of equal scores: a threshold ``t`` keeps
    every prediction with ``score >= t``, so it cannot split a tie group, and
    the curve must not depend on the (arbitrary) order inside the group.
    """
    tp = np.cumsum(match.is_tp)
    fp = np.cumsum(~match.is_tp)
    s = match.score
    # Index of the last member of each tie group (scores are non-increasing).
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True)) if s.size else np.zeros(0, int)
    tp_e = tp[ends].astype(np.float64)
    fp_e = fp[ends].astype(np.float64)
    # tp_e + fp_e = ends + 1 >= 1: no division by zero.
    precision = tp_e / (tp_e + fp_e)
    recall = tp_e / match.n_truth
    return PRCurve(recall=recall, precision=precision, thresholds=s[ends].copy())


def precision_recall(
    frame: Any,
    x: Any,
    y: Any,
    score: Any,
    truth_xy: Any,
    eps_nm: float,
    pixel_size_nm: float = 70.0,
) -> PRCurve:
    """Precision-recall curve over score thresholds, ties entering as a group.

    Parameters
    ----------
    frame, x, y, score, truth_xy, eps_nm, pixel_size_nm
        As in :func:`match_predictions`.

    Returns
    -------
    PRCurve
        Named tuple ``(recall, precision, thresholds)``; point ``k`` counts the
        predictions with ``score >= thresholds[k]``: ``recall = TP / N`` and
        ``precision = TP / (TP + FP)``. Empty arrays when there are no
        predictions.

    Raises
    ------
    ValueError
        As :func:`match_predictions`.
    """
    return precision_recall_from_match(
        match_predictions(frame, x, y, score, truth_xy, eps_nm, pixel_size_nm)
    )


def average_precision(recall: Any, precision: Any) -> float:
    """Area under a precision-recall curve: all-point interpolated AP.

    Parameters
    ----------
    recall : array_like of float, shape (K,)
        Recall along the curve, non-decreasing, in ``[0, 1]``.
    precision : array_like of float, shape (K,)
        Precision at the same points, in ``[0, 1]``.

    Returns
    -------
    float
        ``AP = sum_k (r_k - r_{k-1}) * p_interp(r_k)`` with ``r_0 = 0``
        prepended and ``p_interp(r_k) = max_{j >= k} p_j`` (the precision
        envelope, made non-increasing from the right). 0 for an empty curve.

    Raises
    ------
    ValueError
        When the arrays are not 1-D of one length, hold non-finite values or
        values outside ``[0, 1]``, or ``recall`` decreases.

    Notes
    -----
    This is the all-point interpolation of Pascal VOC 2010 and later (and of
    COCO, without COCO's sampling at 101 recall values). Recall beyond the
    last point contributes nothing, so a localiser that never reaches recall 1
    cannot score 1.
    """
    r = finite_1d("recall", recall)
    p = finite_1d("precision", precision)
    if r.size != p.size:
        raise ValueError(
            f"recall has length {r.size} and precision has length {p.size}: "
            "expected equal lengths"
        )
    for name, arr in (("recall", r), ("precision", p)):
        bad = np.flatnonzero((arr < 0.0) | (arr > 1.0))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name}[{i}]={_preview(arr[i])}: expected values in [0, 1]")
    drops = np.flatnonzero(np.diff(r) < 0.0)
    if drops.size:
        i = int(drops[0])
        raise ValueError(
            f"recall[{i + 1}]={_preview(r[i + 1])} < recall[{i}]={_preview(r[i])}: expected a "
            "non-decreasing recall"
        )
    if r.size == 0:
        return 0.0
    envelope = np.maximum.accumulate(p[::-1])[::-1]
    delta = np.diff(r, prepend=0.0)
    return float(np.sum(delta * envelope))


def auc_pr(
    frame: Any,
    x: Any,
    y: Any,
    score: Any,
    truth_xy: Any,
    eps_nm: float,
    pixel_size_nm: float = 70.0,
) -> float:
    """Area under the precision-recall curve (all-point interpolated AP).

    Parameters
    ----------
    frame, x, y, score, truth_xy, eps_nm, pixel_size_nm
        As in :func:`match_predictions`.

    Returns
    -------
    float
        :func:`average_precision` of :func:`precision_recall`; 0 when there are
        no predictions.

    Raises
    ------
    ValueError
        As :func:`match_predictions` (in particular for an empty ``truth_xy``).
    """
    curve = precision_recall(frame, x, y, score, truth_xy, eps_nm, pixel_size_nm)
    return average_precision(curve.recall, curve.precision)


def auc_table(
    pred: Any,
    truth_xy: Any,
    eps_nm: Iterable[float] = PAPER_EPS_NM,
    pixel_size_nm: float = 70.0,
) -> dict[float, float]:
    """AUC of the precision-recall curve at several tolerances.

    Parameters
    ----------
    pred : DataFrame, mapping of arrays, or ndarray of shape (M, 4)
        Predictions with columns ``frame, x, y, score`` (an array holds them in
        that order).
    truth_xy : array_like of float, shape (N, 2)
        Ground truth in px, one row per image.
    eps_nm : iterable of float, optional
        Tolerances in nm (default the paper's 70, 140, 210).
    pixel_size_nm : float, optional
        Pixel size in nm (default 70).

    Returns
    -------
    dict of float to float
        ``{eps: auc}`` with ``eps`` as a float, in the order given.

    Raises
    ------
    ValueError
        When ``pred`` lacks a column, or as :func:`match_predictions`.
    """
    frame, x, y, score = _columns(pred)
    eps_list = [_check_scalar("eps_nm", e, positive=False) for e in eps_nm]
    return {e: auc_pr(frame, x, y, score, truth_xy, e, pixel_size_nm) for e in eps_list}


# --------------------------------------------------------------------------
# Detection metrics (SMLM challenge / DECODE vocabulary)
# --------------------------------------------------------------------------
def _filtered(pred: Any, min_score: float | None) -> tuple[Any, Any, Any, Any]:
    """Columns of ``pred``, keeping rows with ``score >= min_score`` if given."""
    frame, x, y, score = _columns(pred)
    if min_score is None:
        return frame, x, y, score
    expected = "None or a finite number (rows with score >= min_score are kept)"
    thr = _as_finite_float("min_score", min_score, expected)
    ss = finite_1d("score", score)
    if any(np.ndim(c) != 1 or np.size(c) != ss.size for c in (frame, x, y)):
        # Unequal lengths: let the full validation report them.
        return frame, x, y, score
    keep = ss >= thr
    return np.asarray(frame)[keep], np.asarray(x)[keep], np.asarray(y)[keep], ss[keep]


def detection_metrics(
    pred: Any,
    truth_xy: Any,
    eps_nm: float,
    pixel_size_nm: float = 70.0,
    min_score: float | None = None,
) -> dict[str, float]:
    """Jaccard index, precision, recall, F1 and lateral RMSE at one tolerance.

    Parameters
    ----------
    pred : DataFrame, mapping of arrays, or ndarray of shape (M, 4)
        Predictions with columns ``frame, x, y, score``.
    truth_xy : array_like of float, shape (N, 2)
        Ground truth in px, one row per image.
    eps_nm : float
        Tolerance in nm (``<=`` matches).
    pixel_size_nm : float, optional
        Pixel size in nm (default 70).
    min_score : float, optional
        When given, only predictions with ``score >= min_score`` count; by
        default every prediction counts (no threshold).

    Returns
    -------
    dict
        ``n_tp``, ``n_fp``, ``n_fn`` (ints) and the floats

        * ``jaccard`` = TP / (TP + FP + FN),
        * ``precision`` = TP / (TP + FP), defined as 0 without predictions,
        * ``recall`` = TP / N,
        * ``f1`` = 2 TP / (2 TP + FP + FN) (= harmonic mean of the two above),
        * ``rmse_lat_nm`` = sqrt(mean(d²)) over the TP pairs, in nm,
        * ``mean_error_nm`` = mean(d) over the TP pairs, in nm,
        * ``bias_x_nm``, ``bias_y_nm`` = mean signed error (prediction - truth)
          over the TP pairs, in nm;

        the last four are NaN when there is no TP.

    Raises
    ------
    ValueError
        As :func:`match_predictions`, or for a non-finite ``min_score``.

    Notes
    -----
    The matching is the one of :func:`match_predictions` (greedy by score,
    one-to-one). With one truth per image the number of TP equals that of a
    maximum matching (the SMLM challenge's distance-based assignment); only
    which prediction of an image is paired can differ -- here the best-scored
    one within ``eps_nm``, not the nearest -- which affects the error metrics.
    """
    frame, x, y, score = _filtered(pred, min_score)
    m = match_predictions(frame, x, y, score, truth_xy, eps_nm, pixel_size_nm)
    n_tp, n_fp, n_fn = m.n_tp, m.n_fp, m.n_fn
    px = float(pixel_size_nm)
    if n_tp:
        d = m.dist_nm[m.is_tp]
        rows = m.order[m.is_tp]
        truth = np.asarray(truth_xy, dtype=np.float64)
        fr = m.frame[m.is_tp]
        dx = (np.asarray(x, dtype=np.float64)[rows] - truth[fr, 0]) * px
        dy = (np.asarray(y, dtype=np.float64)[rows] - truth[fr, 1]) * px
        rmse = float(np.sqrt(np.mean(d**2)))
        mean_err = float(np.mean(d))
        bias_x, bias_y = float(np.mean(dx)), float(np.mean(dy))
    else:
        rmse = mean_err = bias_x = bias_y = math.nan
    return {
        "jaccard": n_tp / (n_tp + n_fp + n_fn),
        "precision": n_tp / (n_tp + n_fp) if (n_tp + n_fp) else 0.0,
        "recall": n_tp / m.n_truth,
        "f1": 2 * n_tp / (2 * n_tp + n_fp + n_fn),
        "rmse_lat_nm": rmse,
        "mean_error_nm": mean_err,
        "bias_x_nm": bias_x,
        "bias_y_nm": bias_y,
        "n_tp": n_tp,
        "n_fp": n_fp,
        "n_fn": n_fn,
    }


def f1_integral(
    pred: Any,
    truth_xy: Any,
    eps_max_nm: float = 210.0,
    n: int | None = 211,
    pixel_size_nm: float = 70.0,
    min_score: float | None = None,
) -> float:
    """Mean F1 over tolerances from 0 to ``eps_max_nm``.

    Parameters
    ----------
    pred, truth_xy
        As in :func:`detection_metrics`.
    eps_max_nm : float, optional
        Upper end of the tolerance range in nm, ``> 0`` (default 210, the
        paper's largest tolerance).
    n : int or None, optional
        Number of grid points, ``>= 2``: the tolerances are
        ``eps_k = eps_max_nm * k / (n - 1)``, ``k = 0 .. n-1`` (both ends
        included; the default 211 gives 1 nm steps up to 210 nm), and the
        integral is the trapezoidal rule on that grid. ``None`` integrates the
        step function ``F1(eps)`` exactly instead.
    pixel_size_nm : float, optional
        Pixel size in nm (default 70).
    min_score : float, optional
        As in :func:`detection_metrics`.

    Returns
    -------
    float
        ``(1 / eps_max_nm) * integral_0^eps_max F1(eps) d eps``, in ``[0, 1]``.

    Raises
    ------
    ValueError
        For ``eps_max_nm <= 0``, ``n < 2`` (or not an integer), or as
        :func:`match_predictions`.

    Notes
    -----
    With one truth per image an image yields a TP at tolerance ``eps`` exactly
    when one of its predictions lies within ``eps`` of its truth, so
    ``TP(eps) = #{images i : dmin_i <= eps}`` with ``dmin_i`` the distance of
    the image's nearest prediction, and ``F1 = 2 TP / (2 TP + FP + FN)
    = 2 TP(eps) / (M + N)``. This gives every grid point at once, and the
    exact integral ``2 / (M + N) * sum_i max(0, eps_max - dmin_i) / eps_max``.
    """
    eps_max = _check_scalar("eps_max_nm", eps_max_nm, positive=True)
    px = _check_scalar("pixel_size_nm", pixel_size_nm, positive=True)
    if n is not None and (
        isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2
    ):
        raise ValueError(f"n={_preview(n)}: expected None or an integer >= 2 (grid points)")
    frame, x, y, score = _filtered(pred, min_score)
    fr, xs, ys, _, truth = _check_predictions(frame, x, y, score, truth_xy)
    n_truth = truth.shape[0]
    denom = fr.size + n_truth
    dmin = np.full(n_truth, np.inf)
    # An image without prediction keeps dmin = inf and never counts as a TP.
    np.minimum.at(dmin, fr, _distances_px(fr, xs, ys, truth) * px)
    if n is None:
        return float(2.0 * np.sum(np.maximum(0.0, eps_max - dmin)) / (eps_max * denom))
    grid = eps_max * np.arange(n) / (n - 1)
    tp = np.searchsorted(np.sort(dmin), grid, side="right")  # #{dmin <= eps}
    f1 = 2.0 * tp / denom
    trapezoid_mean = (np.sum(f1) - 0.5 * (f1[0] + f1[-1])) / (n - 1)
    return float(trapezoid_mean)
