"""Chapter 07's diffusion study: movies at several D, localised frame by frame with each
method, cut into tracks inside the field (:mod:`qdloc.transport.censored`), D estimated
per track and pooled, compared with the true D."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from qdloc.localise.registry import locate
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import simulate, simulate_movie
from qdloc.transport.censored import (
    censored_mle,
    tracks_from_localisations,
    tracks_from_truth,
    window_px,
)
from qdloc.transport.diffusion import scanner_blur_coefficient

__all__ = ["score_threshold", "diffusion_study", "bias_table"]


def score_threshold(method: str, model_path=None, false_alarm: float = 0.05, n_images: int = 1000,
                    params: SimParams | None = None, seed: int = 77) -> float:
    """Detection threshold of a localiser: a quantile of its best score on empty frames.

    Frames with background only (``n_qd = 0``): a localisation scoring above the
    threshold is found in a fraction ``false_alarm`` of them (a constant false-alarm rate).

    Parameters
    ----------
    method, model_path : the localiser (:func:`qdloc.localise.registry.locate`)
    false_alarm : float in (0, 1)
    n_images, seed : the empty frames
    params : SimParams, optional
        The simulator's other parameters (default ``SimParams()``).

    Returns
    -------
    float
        The ``1 - false_alarm`` quantile of the best score per frame (``-inf`` where a frame
        has no localisation).
    """
    if not 0 < false_alarm < 1:
        raise ValueError(f"false_alarm={false_alarm!r} is not allowed: expected a number in (0, 1)")
    p = (params or SimParams()).replace(n_qd=0.0)
    sim = simulate(n_images, p, seed=seed, D=0.0)
    loc = locate(sim.images, method, model_path)
    best = loc.groupby("frame")["score"].max().reindex(range(n_images))
    best = best.fillna(-np.inf).to_numpy()
    return float(np.quantile(best, 1 - false_alarm))


def diffusion_study(
    D_grid,
    localisers: Mapping[str, tuple[str, str | Path | None]],
    n_movies: int = 200,
    n_frames: int = 30,
    params: SimParams | None = None,
    seed: int = 70,
    edge_px: float = 1.0,
    false_alarm: float = 0.05,
    min_track: int = 5,
    movies_per_method: Mapping[str, int] | None = None,
    log=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Movies at each D, localised, linked and fitted; the truth's tracks fitted alike.

    Returns
    -------
    pooled : DataFrame
        One row per (D_true, method): the censored MLE over all tracks
        (``D_um2_per_s``, ``D_err_um2_per_s``, ``sigma_nm``), the same
        likelihood without the censoring terms (``D_uncensored``), track counts.
    per_track : DataFrame
        One row per track of at least ``min_track`` positions: the censored
        MLE of that track alone (``D_um2_per_s``), with ``D_true``, ``method``, ``n_positions``.
    """
    params = params or SimParams()
    R = scanner_blur_coefficient(params)
    dt = params.frame_period_s
    win = window_px(params, edge_px)
    thr = {name: score_threshold(meth, model, false_alarm, params=params)
           for name, (meth, model) in localisers.items()}
    pooled, per_track = [], []
    for D in D_grid:
        mv = simulate_movie(n_movies, n_frames, params, seed=seed, D=float(D))
        sets = {"truth": tracks_from_truth(mv.centroids, win)}
        for name, (meth, model) in localisers.items():
            n_m = min(n_movies, (movies_per_method or {}).get(name, n_movies))
            frames = mv.images[:n_m].reshape(-1, params.height_px, params.width_px)
            loc = locate(frames, meth, model)
            loc = loc.sort_values(["frame", "score"], ascending=[True, False])
            loc = loc.drop_duplicates("frame")
            loc["movie"] = loc["frame"] // n_frames
            loc["frame"] = loc["frame"] % n_frames
            sets[name] = tracks_from_localisations(loc, n_frames, win, thr[name])
        for name, tr in sets.items():
            fit = censored_mle(tr, dt, R, win, n_frames - 1, params.pixel_size_um)
            plain = censored_mle(tr, dt, R, win, n_frames - 1, params.pixel_size_um, censor=False)
            pooled.append({"D_true": float(D), "method": name, "D_um2_per_s": fit.D_um2_per_s,
                           "D_err_um2_per_s": fit.D_err_um2_per_s, "sigma_nm": fit.sigma_nm,
                           "D_uncensored": plain.D_um2_per_s, "n_tracks": fit.n_tracks,
                           "n_positions": fit.n_positions, "n_ended": fit.n_ended,
                           "threshold": thr.get(name, math.nan)})
            starts = ((max(fit.D_um2_per_s, 1e-3),) if math.isfinite(fit.D_um2_per_s)
                      else (1.0,))
            for pid, g in tr.groupby("particle"):
                if len(g) >= min_track:
                    one = censored_mle(g, dt, R, win, n_frames - 1, params.pixel_size_um,
                                       starts=starts)
                    per_track.append({"D_true": float(D), "method": name, "particle": int(pid),
                                      "n_positions": len(g), "D_um2_per_s": one.D_um2_per_s,
                                      "D_err_um2_per_s": one.D_err_um2_per_s})
            if log:
                log(f"D={D:g} {name}: {fit.n_tracks} tracks, "
                    f"D_hat={fit.D_um2_per_s:.3f} ± {fit.D_err_um2_per_s:.3f}")
    return pd.DataFrame(pooled), pd.DataFrame(per_track)


def bias_table(pooled: pd.DataFrame, per_track: pd.DataFrame | None = None) -> pd.DataFrame:
    """Relative bias (pooled censored MLE) and spread (per-track estimates) of D, per method and D.

    Parameters
    ----------
    pooled, per_track : DataFrame
        :func:`diffusion_study`'s.

    Returns
    -------
    DataFrame
        ``pooled`` with ``rel_bias``, ``rel_err``, ``rel_bias_uncensored`` and, given
        ``per_track``, ``median_per_track``, ``iqr_per_track``, ``n_tracks_fitted``,
        ``rel_iqr_per_track``.
    """
    t = pooled.copy()
    t["rel_bias"] = t["D_um2_per_s"] / t["D_true"] - 1
    t["rel_err"] = t["D_err_um2_per_s"] / t["D_true"]
    t["rel_bias_uncensored"] = t["D_uncensored"] / t["D_true"] - 1
    if per_track is not None and len(per_track):
        g = per_track.groupby(["D_true", "method"])["D_um2_per_s"]
        spread = (g.quantile(0.75) - g.quantile(0.25)).rename("iqr_per_track")
        med = g.median().rename("median_per_track")
        cnt = g.size().rename("n_tracks_fitted")
        t = t.merge(pd.concat([med, spread, cnt], axis=1).reset_index(), on=["D_true", "method"],
                    how="left")
        t["rel_iqr_per_track"] = t["iqr_per_track"] / t["D_true"]
    return t
