"""Chapter 06: how far each localiser's estimate lands from the label, and why.

Localisation errors in nm of the top-scoring estimate of each image, measured

- on bright still dots, for TrackPy's pixel locking (:func:`pixel_locking`);
- on the same images simulated at several D (:func:`same_images_drop` for TrackPy's AUC,
  :func:`error_vs_D` for the error of every method);
- on the D = 1 test set: per method (:func:`errors_per_method`), its worst images
  (:func:`worst_images`) and what its failures have in common (:func:`failure_factors`).

Also the small studies of the chapter's exercises: a seen-position oracle
(:func:`seen_position_oracle`), a mass threshold scan (:func:`threshold_scan`) and whether the
compact network's score ranks its reliability (:func:`score_halves`), and the N_qd the compact
network needs to reach a row (:func:`nqd_needed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from qdloc.eval.metrics import auc_table, detection_metrics
from qdloc.localise.trackpy import TrackpyParams, brightest_per_frame, trackpy_locate
from qdloc.sim.params import SimParams
from qdloc.sim.psf import signal_counts
from qdloc.sim.simulate import Simulation, simulate
from qdloc.study.calibration import localisation_errors_nm

__all__ = [
    "pixel_locking",
    "same_images_drop",
    "error_vs_D",
    "errors_per_method",
    "worst_images",
    "failure_factors",
    "describe_failures",
    "nqd_needed",
    "seen_position_oracle",
    "threshold_scan",
    "score_halves",
]

Locator = Callable[[np.ndarray], pd.DataFrame]


def _check_n(name: str, n: int) -> None:
    if int(n) != n or n < 1:
        raise ValueError(f"{name}={n!r} is not allowed: expected a positive integer")


def pixel_locking(
    params: SimParams,
    trackpy_params: TrackpyParams,
    diameters: Sequence[int] = (7, 11),
    n: int = 200,
    seed: int = 0,
    n_qd: float = 2000.0,
    margin_px: float = 6.0,
) -> pd.DataFrame:
    """TrackPy's error on bright dots that do not move, for several feature diameters.

    ``n`` still dots (D = 0) at ``n_qd`` are simulated at random positions at least
    ``margin_px`` from the edges, and TrackPy's brightest feature of each image is compared
    with the true position.

    Parameters
    ----------
    params : SimParams
    trackpy_params : TrackpyParams
        Settings; only the diameter varies.
    diameters : sequence of int
        TrackPy diameters, px (odd).
    n : int
        Images.
    seed : int
        Seed of the images.
    n_qd, margin_px : float
        Brightness and start margin of the still dots.

    Returns
    -------
    pandas.DataFrame
        One row per diameter: ``diameter``, ``found`` (images with a feature),
        ``mean_px``, ``max_px`` and ``max_nm``.
    """
    _check_n("n", n)
    still = simulate(n, params.replace(n_qd=n_qd, start_margin_px=margin_px), seed=seed, D=0.0)
    rows = []
    for d in diameters:
        top = brightest_per_frame(trackpy_locate(still.images, trackpy_params.replace(diameter=d)))
        err_px = np.hypot(top.x.to_numpy() - still.centroids[top.frame, 0],
                          top.y.to_numpy() - still.centroids[top.frame, 1])
        rows.append({"diameter": int(d), "found": len(top), "mean_px": float(err_px.mean()),
                     "max_px": float(err_px.max()),
                     "max_nm": float(err_px.max() * params.pixel_size_um * 1e3)})
    return pd.DataFrame(rows)


def same_images_drop(
    params: SimParams,
    trackpy_params: TrackpyParams,
    n: int,
    seed: int,
    paper: pd.DataFrame,
    D_pair: tuple[float, float] = (0.75, 1.0),
    eps_nm: Sequence[float] = (140.0, 210.0),
) -> pd.DataFrame:
    """How much TrackPy's AUC drops between two D on the same images, against the paper's drop.

    The same seed at both D gives the same starts, random steps and photon-noise uniforms,
    so the difference is the effect of D alone.

    Parameters
    ----------
    params : SimParams
    trackpy_params : TrackpyParams
    n : int
        Images per D.
    seed : int
        Their seed.
    paper : pandas.DataFrame
        The paper's row (index D, columns eps).
    D_pair : (float, float)
        The two diffusion coefficients, µm²/s.
    eps_nm : sequence of float
        Tolerances.

    Returns
    -------
    pandas.DataFrame
        Index ``eps_nm``; columns ``ours`` and ``paper`` (AUC at the first D minus at the second).
    """
    _check_n("n", n)
    a, b = (auc_table(trackpy_locate(s.images, trackpy_params), s.centroids)
            for s in (simulate(n, params, seed=seed, D=D) for D in D_pair))
    lo, hi = D_pair
    return pd.DataFrame({"ours": [a[e] - b[e] for e in eps_nm],
                         "paper": [paper.loc[lo, e] - paper.loc[hi, e] for e in eps_nm]},
                        index=pd.Index([float(e) for e in eps_nm], name="eps_nm"))


def _error_row(method: str, D: float, e: np.ndarray) -> dict[str, Any]:
    found = np.isfinite(e)
    return {"method": method, "D_um2_per_s": D, "median_nm": float(np.median(e[found])),
            "mean_nm": float(e[found].mean()), "rmse_nm": float(np.sqrt(np.mean(e[found] ** 2))),
            "found": float(found.mean())}


def error_vs_D(
    D_grid: Sequence[float],
    params: SimParams,
    locators: Mapping[str, Locator],
    n: int,
    seed: int,
) -> pd.DataFrame:
    """Median, mean and RMS error of each method's top estimate at each D.

    At every D, ``n`` images are simulated with the same ``seed`` (the same starts and the
    same random steps, scaled by √D) and given to every locator.

    Parameters
    ----------
    D_grid : sequence of float
        Diffusion coefficients, µm²/s.
    params : SimParams
    locators : mapping
        ``{method: function(images) -> DataFrame with frame, x, y, score}``.
    n : int
        Images per D.
    seed : int

    Returns
    -------
    pandas.DataFrame
        One row per (D, method): ``method``, ``D_um2_per_s``, ``median_nm``, ``mean_nm``,
        ``rmse_nm`` (over the images with an estimate) and ``found`` (their fraction).
    """
    _check_n("n", n)
    rows = []
    for D in D_grid:
        s = simulate(n, params, seed=seed, D=D)
        for method, locate in locators.items():
            e = localisation_errors_nm(locate(s.images), s.centroids)
            rows.append(_error_row(method, D, e))
    return pd.DataFrame(rows)


def errors_per_method(
    predictions: Mapping[str, pd.DataFrame], truth_xy: np.ndarray, pixel_size_nm: float = 70.0
) -> dict[str, np.ndarray]:
    """``{method: error of each image's top estimate, nm}`` (NaN: no estimate).

    Parameters
    ----------
    predictions : mapping
        ``{method: DataFrame with frame, x, y, score}`` on one set.
    truth_xy : ndarray (n, 2)
        The labels, px.
    pixel_size_nm : float

    Returns
    -------
    dict
    """
    return {m: localisation_errors_nm(p, truth_xy, pixel_size_nm) for m, p in predictions.items()}


def worst_images(errors: Mapping[str, np.ndarray], k: int = 3) -> dict[str, np.ndarray]:
    """The ``k`` images with the largest error per method, worst first (no estimate: worst).

    Parameters
    ----------
    errors : mapping
        ``{method: errors}`` as from :func:`errors_per_method`.
    k : int

    Returns
    -------
    dict
        ``{method: image indices}``.
    """
    _check_n("k", k)
    return {m: np.argsort(np.nan_to_num(e, nan=np.inf))[::-1][:k] for m, e in errors.items()}


def _image_factors(sim: Simulation, params: SimParams) -> dict[str, Any]:
    H, W = params.height_px, params.width_px
    cx, cy = sim.centroids[:, 0], sim.centroids[:, 1]
    z_um = sim.trajectories[:, :, 2]
    xy_um = sim.trajectories[:, :, :2]
    rg_nm = 1e3 * np.sqrt(((xy_um - xy_um.mean(axis=1, keepdims=True)) ** 2).sum(-1).mean(-1))
    return {
        "near_edge": np.minimum.reduce([cx, cy, W - 1 - cx, H - 1 - cy]) < 2.0,
        "out_of_focus": np.abs(z_um).mean(axis=1) > params.sigma_z_um / 2,
        "wide_path": rg_nm > np.quantile(rg_nm, 0.9),
        "max_abs_z_um": float(np.abs(z_um).max()),
        "rg_median_nm": float(np.median(rg_nm)),
        "rg_q90_nm": float(np.quantile(rg_nm, 0.9)),
    }


def failure_factors(
    sim: Simulation,
    errors: Mapping[str, np.ndarray],
    params: SimParams,
    eps_nm: float = 210.0,
) -> dict[str, Any]:
    """What the images a method fails on (error above ``eps_nm`` or none) have in common.

    Three candidate causes per image: its centroid within 2 px of the border
    (``near_edge``), a mean ``|z|`` over the scan above σz/2 (``out_of_focus``), and a radius of
    gyration of the path in the top tenth of the set (``wide_path``).

    Parameters
    ----------
    sim : Simulation
        The set (images, centroids, trajectories).
    errors : mapping
        ``{method: errors in nm}`` on ``sim``, as from :func:`errors_per_method`.
    params : SimParams
    eps_nm : float
        The error above which an image counts as a failure.

    Returns
    -------
    dict
        ``"set"``: ``n_images``, the share of each cause over all images, ``max_abs_z_um``,
        ``rg_median_nm`` and ``rg_q90_nm``; ``"methods"``: per method ``n_fail``,
        ``fail_fraction`` and ``{cause}_in_fail``, the share of each cause among
        the failures (0 without failures).
    """
    if not eps_nm > 0:
        raise ValueError(f"eps_nm={eps_nm!r} is not allowed: expected a positive tolerance")
    f = _image_factors(sim, params)
    causes = ("near_edge", "out_of_focus", "wide_path")
    methods = {}
    for m, e in errors.items():
        fail = ~(e <= eps_nm)
        share = {c: float(f[c][fail].mean()) if fail.any() else 0.0 for c in causes}
        methods[m] = {"n_fail": int(fail.sum()),
                      "fail_fraction": float(fail.mean()),
                      **{f"{c}_in_fail": v for c, v in share.items()}}
    whole = {c: float(f[c].mean()) for c in causes}
    extra = ("max_abs_z_um", "rg_median_nm", "rg_q90_nm")
    return {"set": {"n_images": len(sim.centroids), **whole, **{k: f[k] for k in extra}},
            "methods": methods}


def describe_failures(report: Mapping[str, Any], sigma_z_um: float) -> str:
    """:func:`failure_factors`' report in words, one line per method.

    Parameters
    ----------
    report : mapping
        :func:`failure_factors`' output.
    sigma_z_um : float
        The PSF's σz, for the first line.

    Returns
    -------
    str
    """
    s = report["set"]
    lines = [f"largest |z| in the set: {s['max_abs_z_um']:.2f} um (sigma_z = {sigma_z_um} um); "
             f"radius of gyration: median {s['rg_median_nm']:.0f} nm, top tenth above "
             f"{s['rg_q90_nm']:.0f} nm"]
    for m, d in report["methods"].items():
        lines.append(
            f"{m}: {d['n_fail']} failures of {s['n_images']} ({d['fail_fraction']:.1%}); of them "
            f"{d['near_edge_in_fail']:.0%} near the edge (all images: {s['near_edge']:.0%}), "
            f"{d['out_of_focus_in_fail']:.0%} out of focus ({s['out_of_focus']:.0%}), "
            f"{d['wide_path_in_fail']:.0%} with a wide path ({s['wide_path']:.0%}); "
            f"near the edge {d['near_edge_in_fail'] / max(s['near_edge'], 1e-12):.1f}x, wide "
            f"path {d['wide_path_in_fail'] / max(s['wide_path'], 1e-12):.1f}x as often as in "
            "all images")
    return "\n".join(lines)


def nqd_needed(
    scan: pd.DataFrame, row: pd.DataFrame, eps_nm: float = 70.0
) -> dict[float, float | None]:
    """The smallest N_qd of a scan at which the AUC reaches a row's, per D.

    Parameters
    ----------
    scan : pandas.DataFrame
        ``n_qd``, ``D`` and ``auc_{eps}nm`` (``nqd_scan.csv``).
    row : pandas.DataFrame
        The row to reach (index D, columns eps).
    eps_nm : float

    Returns
    -------
    dict
        ``{D: N_qd}``; None where no N_qd of the scan reaches it.
    """
    col = f"auc_{float(eps_nm):g}nm"
    missing = {"n_qd", "D", col} - set(scan.columns)
    if missing:
        raise ValueError(f"scan lacks column(s) {sorted(missing)}; it has {list(scan.columns)}")
    out: dict[float, float | None] = {}
    for D, g in scan.groupby("D"):
        above = g[g[col] >= row.loc[float(D), float(eps_nm)]].n_qd
        out[float(D)] = float(above.min()) if len(above) else None
    return out


def seen_position_oracle(sim: Simulation, params: SimParams) -> pd.DataFrame:
    """Where the dot was when the beam saw it best: one noise-free estimate per image.

    For each image, the dot's true position during the dwell on the pixel with the largest
    expected signal, scored by that signal.

    Parameters
    ----------
    sim : Simulation
    params : SimParams

    Returns
    -------
    pandas.DataFrame
        ``frame, x, y, score`` (px).
    """
    sig = signal_counts(sim.trajectories, params).reshape(len(sim), -1)
    best = sig.argmax(axis=1)
    seen_px = sim.trajectories[np.arange(len(sim)), best, :2] / params.pixel_size_um
    return pd.DataFrame({"frame": np.arange(len(sim)), "x": seen_px[:, 0], "y": seen_px[:, 1],
                         "score": sig.max(axis=1)})


def threshold_scan(
    pred: pd.DataFrame, truth_xy: np.ndarray, thresholds: Sequence[float], eps_nm: float = 210.0
) -> pd.DataFrame:
    """Detection metrics (:func:`qdloc.eval.metrics.detection_metrics`) per score threshold.

    Parameters
    ----------
    pred : pandas.DataFrame
        ``frame, x, y, score``.
    truth_xy : ndarray (n, 2)
    thresholds : sequence of float
        Smallest score kept.
    eps_nm : float

    Returns
    -------
    pandas.DataFrame
        Index: the thresholds; columns: the metrics, as floats.
    """
    return pd.DataFrame({float(t): detection_metrics(pred, truth_xy, eps_nm=eps_nm, min_score=t)
                         for t in thresholds}).T.astype(float)


def score_halves(
    pred: pd.DataFrame, errors_nm: np.ndarray, pixel_size_nm: float = 70.0
) -> pd.DataFrame:
    """Error of the top-scoring half of a set's estimates against the bottom half.

    Parameters
    ----------
    pred : pandas.DataFrame
        One estimate per image: ``frame``, ``score`` and ``sigma_px`` (the compact
        network's predicted error per axis).
    errors_nm : ndarray (n,)
        The error of each image's estimate, in frame order.
    pixel_size_nm : float

    Returns
    -------
    pandas.DataFrame
        Rows ``top-scoring half`` and ``bottom half``: ``mean error (nm)``,
        ``within 70 nm`` and ``predicted 2D error (nm)``.
    """
    p = pred.sort_values("frame")
    if len(p) != len(errors_nm):
        raise ValueError(f"pred has {len(p)} rows and errors_nm {len(errors_nm)}: expected one "
                         "estimate per image")
    e = np.asarray(errors_nm, dtype=float)
    top = p["score"].to_numpy() > np.median(p["score"])
    sig = p["sigma_px"].to_numpy()
    return pd.DataFrame({
        "mean error (nm)": [e[top].mean(), e[~top].mean()],
        "within 70 nm": [(e[top] <= 70.0).mean(), (e[~top] <= 70.0).mean()],
        "predicted 2D error (nm)": [np.sqrt(2) * pixel_size_nm * sig[top].mean(),
                                    np.sqrt(2) * pixel_size_nm * sig[~top].mean()],
    }, index=["top-scoring half", "bottom half"])
