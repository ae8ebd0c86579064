"""D from the pixels on chapter 07's movies: bias of the pooled estimate, coverage of the intervals.

The movies are chapter 07's (:func:`qdloc.study.diffusion.diffusion_study`): at each D,
``simulate_movie(n, n_frames, params, seed=seed, D=D)``, so the first ``n`` movies of that
chapter at every D. Each movie gets its own maximum-likelihood D and 95 % profile-likelihood
interval, and the movies of each D one pooled estimate (:func:`qdloc.transport.pixels.pixel_estimates`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from qdloc.sim.params import SimParams
from qdloc.sim.simulate import simulate_movie
from qdloc.transport.pixels import D_GRID, pixel_estimates

__all__ = ["QUICK_D_GRID", "pixel_diffusion_study", "pixel_summary", "pixel_rows"]

#: A shorter first-pass grid of D (µm²/s) for the chapter's pooled estimates at 0.25-3 µm²/s:
#: the pooled likelihood peaks sharply, and the refinement adds points around its interval (up
#: to 1.5 times the grid's top). Without the former top point 10 µm²/s (the costliest: the
#: lattice grows with D) a chapter 07 run with one movie per D took 47.5 s instead of 60.9 s,
#: with the same estimates within 0.002 µm²/s.
QUICK_D_GRID = (0.08, 0.18, 0.4, 0.9, 2.0, 4.5)


def pixel_diffusion_study(
    D_values,
    n_movies: int,
    n_frames: int = 30,
    params: SimParams | None = None,
    seed: int = 70,
    per_movie: bool = True,
    D_grid=D_GRID,
    n_refine: int = 8,
    threads: int | None = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-movie and pooled D from the pixels of chapter 07's movies at each true D.

    Parameters
    ----------
    D_values : sequence of float
        True D of the movies, µm²/s.
    n_movies, n_frames : int
        Movies per D (the first ``n_movies`` of chapter 07's) and frames per movie.
    params : SimParams, optional
        Simulator parameters (default ``SimParams()``).
    seed : int
        Seed of the movies (chapter 07: 70, the same at every D).
    per_movie : bool
        Also estimate each movie alone (for the coverage of the intervals).
    D_grid, n_refine, threads
        As for :func:`qdloc.transport.pixels.pixel_estimates`.

    Returns
    -------
    per_movie : DataFrame
        ``D_true`` and :func:`~qdloc.transport.pixels.pixel_estimates`' per-movie columns, plus
        ``covered`` (the interval holds ``D_true``); empty unless ``per_movie``.
    pooled : DataFrame
        One row per D: ``D_true``, the pooled columns, ``rel_bias``, ``seconds`` (wall time of
        that D's estimates) and ``movies_per_s``.
    """
    params = params or SimParams()
    one_rows, pool_rows = [], []
    for D in D_values:
        mv = simulate_movie(n_movies, n_frames, params, seed=seed, D=float(D), threads=1)
        t0 = time.perf_counter()
        one, pool = pixel_estimates(mv.images, params, per_movie, True, D_grid, n_refine=n_refine,
                                    threads=threads)
        dt = time.perf_counter() - t0
        pool.insert(0, "D_true", float(D))
        pool["rel_bias"] = pool["D_um2_per_s"] / float(D) - 1
        pool["seconds"], pool["movies_per_s"] = dt, n_movies / dt
        pool_rows.append(pool)
        if per_movie:
            one.insert(0, "D_true", float(D))
            one["covered"] = (one["ci_low"] <= D) & (D <= one["ci_high"])
            one_rows.append(one)
    per = pd.concat(one_rows, ignore_index=True) if one_rows else pd.DataFrame()
    return per, pd.concat(pool_rows, ignore_index=True)


def pixel_summary(per_movie: pd.DataFrame, pooled: pd.DataFrame) -> dict:
    """The figures the issue asks for: pooled bias per D and at worst, coverage, speed.

    Parameters
    ----------
    per_movie, pooled : DataFrame
        :func:`pixel_diffusion_study`'s.

    Returns
    -------
    dict
        ``rel_bias`` (D -> pooled relative bias), ``max_abs_rel_bias``, ``mean_rel_bias``,
        ``coverage`` (fraction of per-movie intervals holding the truth, NaN without them),
        ``coverage_se`` (its binomial standard error; both None without per-movie intervals),
        ``n_intervals``, ``pooled_covered`` (pooled intervals holding the truth), ``n_D`` and
        ``movies_per_s``.
    """
    n = len(per_movie)
    cov = float(per_movie["covered"].mean()) if n else None
    held = (pooled["ci_low"] <= pooled["D_true"]) & (pooled["D_true"] <= pooled["ci_high"])
    return {
        "rel_bias": {float(d): float(b) for d, b in zip(pooled["D_true"], pooled["rel_bias"],
                                                        strict=True)},
        "max_abs_rel_bias": float(pooled["rel_bias"].abs().max()),
        "mean_rel_bias": float(pooled["rel_bias"].mean()),
        "coverage": cov,
        "coverage_se": float(np.sqrt(cov * (1 - cov) / n)) if n else None,
        "n_intervals": n,
        "pooled_covered": int(held.sum()),
        "n_D": len(pooled),
        "movies_per_s": float(pooled["n_movies"].sum() / pooled["seconds"].sum()),
    }


def pixel_rows(pooled: pd.DataFrame) -> pd.DataFrame:
    """Pooled pixel estimates as rows of chapter 07's estimator table (method "pixels").

    Parameters
    ----------
    pooled : DataFrame
        :func:`pixel_diffusion_study`'s pooled table.

    Returns
    -------
    DataFrame
        Columns of :func:`qdloc.study.diffusion.diffusion_study`'s pooled table:
        ``D_err_um2_per_s`` is the interval's half-width / 1.96 on the log scale times D
        (the interval is not symmetric), ``ci_low`` and ``ci_high`` are kept, track
        columns are NaN.
    """
    half = (np.log(pooled["ci_high"]) - np.log(pooled["ci_low"])) / (2 * 1.959964)
    return pd.DataFrame({
        "D_true": pooled["D_true"], "method": "pixels", "D_um2_per_s": pooled["D_um2_per_s"],
        "D_err_um2_per_s": half * pooled["D_um2_per_s"], "sigma_nm": np.nan,
        "D_uncensored": np.nan, "n_tracks": np.nan, "n_positions": np.nan, "n_ended": np.nan,
        "threshold": np.nan, "ci_low": pooled["ci_low"], "ci_high": pooled["ci_high"],
        "n_movies": pooled["n_movies"],
    })
