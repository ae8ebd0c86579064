"""Chapter 06: bootstrap standard errors of Table 1's cells.

A cell of Table 1 is the AUC of one localiser on one test set at one tolerance. Its standard
error comes from resampling the set's *images* with replacement (each image keeps all of its
predictions, and its label): the AUC of each resample, and the standard deviation of those AUCs.

With one label per image, whether a prediction is a true positive does not depend on which other
images are in the set (:func:`qdloc.eval.metrics.match_predictions`: the first prediction within
the tolerance, in score order, of each image). An image drawn ``w`` times therefore contributes
each of its predictions ``w`` times, with the same status and score, and the precision-recall
curve of a resample is the curve of the original ranking with weights ``w``. So every resample is
computed at once, as weighted cumulative sums along one ranking (:func:`weighted_average_precision`),
and equals :func:`qdloc.eval.metrics.average_precision` of the explicitly duplicated set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from qdloc.eval.metrics import PAPER_EPS_NM, MatchResult, match_predictions

__all__ = [
    "resample_counts",
    "weighted_average_precision",
    "bootstrap_auc",
    "bootstrap_se_row",
    "bootstrap_choice",
]


def resample_counts(n_images: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """How often each image is drawn in each bootstrap resample.

    Parameters
    ----------
    n_images : int
        Images in the set (>= 1); each resample draws as many, with replacement.
    n_resamples : int
        Number of resamples (>= 1).
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        Shape ``(n_resamples, n_images)``, integers; every row sums to ``n_images``.
    """
    for name, v in (("n_images", n_images), ("n_resamples", n_resamples)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name}={v!r} is not allowed: expected an integer >= 1")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng={rng!r} is not allowed: expected a numpy.random.Generator")
    return rng.multinomial(int(n_images), np.full(int(n_images), 1.0 / n_images), size=int(n_resamples))


def weighted_average_precision(match: MatchResult, counts: np.ndarray) -> np.ndarray:
    """All-point interpolated AP of each resample, from one matching and image counts.

    Parameters
    ----------
    match : MatchResult
        :func:`qdloc.eval.metrics.match_predictions` on the original set.
    counts : numpy.ndarray
        Shape ``(B, n_images)``: how often each image is in each resample
        (:func:`resample_counts`); a row of ones gives the original AP.

    Returns
    -------
    numpy.ndarray
        Shape ``(B,)``: the AUC of each resample, as
        :func:`qdloc.eval.metrics.average_precision` of its precision-recall curve (tie groups of
        equal score enter together).
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2 or counts.shape[1] != match.n_truth:
        raise ValueError(f"counts has shape {counts.shape}: expected (B, {match.n_truth}), one column "
                         "per image of the matched set")
    if np.any(counts < 0) or np.any(counts.sum(axis=1) <= 0):
        raise ValueError("counts: expected non-negative counts and at least one image per resample")
    if match.frame.size == 0:
        return np.zeros(counts.shape[0])
    w = counts[:, match.frame]  # (B, M), in ranked order
    tp = np.cumsum(w * match.is_tp, axis=1)
    fp = np.cumsum(w * ~match.is_tp, axis=1)
    s = match.score
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # last member of each tie group
    tp_e, fp_e = tp[:, ends], fp[:, ends]
    tot = tp_e + fp_e
    precision = np.divide(tp_e, tot, out=np.zeros_like(tp_e), where=tot > 0)
    recall = tp_e / counts.sum(axis=1, keepdims=True)
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    return np.sum(np.diff(recall, axis=1, prepend=0.0) * envelope, axis=1)


def bootstrap_auc(
    pred: pd.DataFrame,
    truth_xy: np.ndarray,
    eps_nm: Iterable[float] = PAPER_EPS_NM,
    n_resamples: int = 200,
    rng: np.random.Generator | int = 0,
    pixel_size_nm: float = 70.0,
) -> pd.DataFrame:
    """Bootstrap AUCs of one set's predictions, at several tolerances (the same resamples).

    Parameters
    ----------
    pred : pandas.DataFrame
        Columns ``frame, x, y, score``.
    truth_xy : numpy.ndarray
        Labels, shape ``(n_images, 2)`` px.
    eps_nm : iterable of float
        Tolerances (default 70, 140, 210 nm).
    n_resamples : int
        Resamples (default 200).
    rng : numpy.random.Generator or int
        The randomness (an int seeds a new Generator).
    pixel_size_nm : float

    Returns
    -------
    pandas.DataFrame
        One line per resample, one column per tolerance (``eps_nm``).
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    truth = np.asarray(truth_xy, dtype=float)
    counts = resample_counts(len(truth), n_resamples, rng)
    out = {}
    for e in eps_nm:
        m = match_predictions(pred["frame"], pred["x"], pred["y"], pred["score"], truth, float(e),
                              pixel_size_nm)
        out[float(e)] = weighted_average_precision(m, counts)
    df = pd.DataFrame(out)
    df.columns.name = "eps_nm"
    return df


def bootstrap_se_row(
    features: Mapping[float, tuple[pd.DataFrame, np.ndarray]],
    eps_nm: Iterable[float] = PAPER_EPS_NM,
    n_resamples: int = 200,
    seed: int = 0,
    pixel_size_nm: float = 70.0,
) -> pd.DataFrame:
    """Bootstrap standard error of every cell of a row (images resampled within each set).

    Parameters
    ----------
    features : mapping
        ``{D: (predictions, labels)}``, as for :func:`qdloc.study.calibration.row_from_features`.
    eps_nm : iterable of float
    n_resamples : int
        Resamples per set (default 200).
    seed : int
        Set at D uses ``numpy.random.default_rng([seed, round(1000 * D)])``: its resamples depend
        only on the seed and D, and are shared by the three tolerances and by every method.
    pixel_size_nm : float

    Returns
    -------
    pandas.DataFrame
        Standard deviation (``ddof=1``) of the resampled AUCs: index ``D_um2_per_s``, columns
        ``eps_nm``, as a row.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} is not allowed: expected an integer >= 0")
    eps = [float(e) for e in eps_nm]
    se = {}
    for D, (pred, truth) in features.items():
        rng = np.random.default_rng([int(seed), int(round(1000 * float(D)))])
        se[float(D)] = bootstrap_auc(pred, truth, eps, n_resamples, rng, pixel_size_nm).std(ddof=1)
    df = pd.DataFrame(se).T.sort_index().sort_index(axis=1)
    df.index.name, df.columns.name = "D_um2_per_s", "eps_nm"
    return df


def bootstrap_choice(
    features_by_value: Mapping[float, Mapping[float, tuple[pd.DataFrame, np.ndarray]]],
    reference: pd.DataFrame,
    n_resamples: int = 200,
    seed: int = 0,
    pixel_size_nm: float = 70.0,
) -> pd.Series:
    """How often a minimax fit picks each value when the fitting images are resampled.

    Each value of the grid was scored on the same images (common random numbers); a resample
    draws those images with replacement (the same draw for every value), recomputes every row and
    picks the value whose largest ``|row - reference|`` is smallest, as
    :func:`qdloc.study.calibration.fit_n_qd` does on the original images.

    Parameters
    ----------
    features_by_value : mapping
        ``{value: {D: (predictions, labels)}}`` (the ``features`` of :class:`qdloc.study.calibration.NqdFit`).
    reference : pandas.DataFrame
        The row fitted (index D, columns eps); its cells set the sets and tolerances used.
    n_resamples : int
    seed : int
        As in :func:`bootstrap_se_row` (the resamples of the set at D).
    pixel_size_nm : float

    Returns
    -------
    pandas.Series
        Fraction of resamples that pick each value (index: the values, in the given order).
    """
    values = list(features_by_value)
    if not values:
        raise ValueError("features_by_value is empty: expected at least one value")
    worst = np.zeros((len(values), n_resamples))
    for D in reference.index:
        sizes = {len(features_by_value[v][float(D)][1]) for v in values}
        if len(sizes) != 1:
            raise ValueError(f"the set at D = {D} has {sorted(sizes)} images across values: "
                             "expected the same images for every value")
        rng = np.random.default_rng([int(seed), int(round(1000 * float(D)))])
        counts = resample_counts(sizes.pop(), n_resamples, rng)
        for i, v in enumerate(values):
            pred, truth = features_by_value[v][float(D)]
            for e in reference.columns:
                m = match_predictions(pred["frame"], pred["x"], pred["y"], pred["score"], truth,
                                      float(e), pixel_size_nm)
                dev = np.abs(weighted_average_precision(m, counts) - float(reference.loc[D, e]))
                worst[i] = np.maximum(worst[i], dev)
    picks = np.argmin(worst, axis=0)
    return pd.Series(np.bincount(picks, minlength=len(values)) / n_resamples, index=values,
                     name="fraction of resamples")
