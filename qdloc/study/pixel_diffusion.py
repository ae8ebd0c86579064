"""D from the pixels on chapter 07's movies: bias of the pooled estimate, coverage of the intervals.

The movies are chapter 07's (:func:`qdloc.study.diffusion.diffusion_study`): at each D,
``simulate_movie(n, n_frames, params, seed=seed, D=D)``, so the first ``n`` movies of that
chapter at every D. Each movie gets its own maximum-likelihood D and 95 % profile-likelihood
interval, and the movies of each D one pooled estimate (:func:`qdloc.transport.pixels.pixel_estimates`).

The issue's must-show (pooled bias and per-movie coverage, 40 movies of 30 frames at D = 0.5 and
2 µm²/s) is :func:`coverage_check`; rerun it with ``python -m qdloc.study.pixel_diffusion``
(``--independent`` for a fresh block of movies per D, ``--help`` for the rest; 40 movies took
7-8 minutes at D = 0.5 µm²/s and 13 minutes at D = 2 on one thread, two runs at a time on a
2-core machine).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from qdloc.io import atomic_write_text, write_results
from qdloc.sim.params import SimParams, check_int
from qdloc.sim.simulate import simulate_movie
from qdloc.transport.pixels import D_GRID, pixel_estimates

__all__ = ["QUICK_D_GRID", "CHECK_D_GRID", "pixel_diffusion_study", "pixel_summary", "pixel_rows",
           "coverage_check", "coverage_table", "main"]

#: A shorter first-pass grid of D (µm²/s) for the chapter's pooled estimates at 0.25-3 µm²/s:
#: the pooled likelihood peaks sharply, and the refinement adds points around its interval (up
#: to 1.5 times the grid's top). Without the former top point 10 µm²/s (the costliest: the
#: lattice grows with D) a chapter 07 run with one movie per D took 47.5 s instead of 60.9 s,
#: with the same estimates within 0.002 µm²/s.
QUICK_D_GRID = (0.08, 0.18, 0.4, 0.9, 2.0, 4.5)
#: First-pass grid of D (µm²/s) of :func:`coverage_check`: :data:`QUICK_D_GRID` and 10 µm²/s, so
#: that single movies' intervals at D = 2-3 µm²/s end inside the refined grid.
CHECK_D_GRID = (*QUICK_D_GRID, 10.0)


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
    independent: bool = False,
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
    independent : bool
        Give the ``k``-th D the movies ``k·n_movies ... (k+1)·n_movies - 1`` of the seed, so that
        no two D share random numbers. By default (chapter 07) every D has movies
        ``0 ... n_movies - 1``: the same starts, normal steps (scaled by √D) and photon
        uniforms, so that a hard movie is hard at every D and the per-movie coverages of
        different D are not independent.

    Returns
    -------
    per_movie : DataFrame
        ``D_true`` and :func:`~qdloc.transport.pixels.pixel_estimates`' per-movie columns, plus
        ``covered`` (the interval holds ``D_true``) and ``index`` (the movie's index in the
        seed's stream); empty unless ``per_movie``.
    pooled : DataFrame
        One row per D: ``D_true``, the pooled columns, ``rel_bias``, ``seconds`` (wall time of
        that D's estimates) and ``movies_per_s``.
    """
    params = params or SimParams()
    one_rows, pool_rows = [], []
    for k, D in enumerate(D_values):
        mv = simulate_movie(n_movies, n_frames, params, seed=seed, D=float(D),
                            start=k * n_movies if independent else 0, threads=1)
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
            one["index"] = np.asarray(mv.index)
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


def coverage_check(
    results_dir,
    D_values=(0.5, 2.0),
    n_movies: int = 40,
    n_frames: int = 30,
    params: SimParams | None = None,
    seed: int = 70,
    independent: bool = False,
    D_grid=CHECK_D_GRID,
    n_refine: int = 6,
    threads: int | None = 1,
    name: str = "pixel_coverage",
) -> dict:
    """The issue's must-show, rerunnable: pooled bias and per-movie 95 % coverage of D from pixels.

    Runs :func:`pixel_diffusion_study` (per-movie and pooled estimates) and writes, atomically,
    ``results_dir/<name>.json`` (:func:`pixel_summary`'s figures plus per-D counts, the settings
    and the wall time) and ``results_dir/<name>_movies.csv`` (one row per movie). With the
    defaults (chapter 07's movies, 40 per D at 0.5 and 2 µm²/s, 30 frames) it takes about
    20 minutes on one thread (433-484 s and 764-776 s for the two D, measured on the shipped
    checks in ``data/checks``, two runs at a time on a 2-core machine).

    Parameters
    ----------
    results_dir : path
        Folder of the two files (created when missing).
    D_values : sequence of float
        True D, µm²/s.
    n_movies, n_frames, params, seed, independent, D_grid, n_refine, threads
        As for :func:`pixel_diffusion_study` (``independent=True``: a fresh block of movies per
        D, the fair test of coverage across D).
    name : str
        Stem of the two file names.

    Returns
    -------
    dict
        What the JSON file holds: :func:`pixel_summary`'s keys, ``covered`` and ``n_movies``
        (per D), ``n_covered``, ``misses_below`` and ``misses_above`` (intervals entirely below
        or above the truth), ``settings`` and ``seconds``.
    """
    n_movies = check_int("n_movies", n_movies, 1)
    if not str(name) or "/" in str(name):
        raise ValueError(f"name={name!r} is not allowed: expected a file stem without '/'")
    t0 = time.perf_counter()
    per, pooled = pixel_diffusion_study(D_values, n_movies, n_frames, params, seed, True, D_grid,
                                        n_refine, threads, independent)
    out = pixel_summary(per, pooled)
    by_D = per.groupby("D_true")["covered"]
    out.update({
        "covered": {float(d): int(v) for d, v in by_D.sum().items()},
        "n_movies": {float(d): int(v) for d, v in by_D.size().items()},
        "n_covered": int(per["covered"].sum()),
        "misses_below": int((per["ci_high"] < per["D_true"]).sum()),
        "misses_above": int((per["ci_low"] > per["D_true"]).sum()),
        "pooled": pooled.drop(columns="movie").to_dict(orient="records"),
        "settings": {"D_values": [float(d) for d in D_values], "n_movies": n_movies,
                     "n_frames": int(n_frames), "seed": int(seed), "independent": bool(independent),
                     "D_grid": [float(d) for d in D_grid], "n_refine": int(n_refine)},
        "seconds": time.perf_counter() - t0,
    })
    out = {k: ({str(d): v for d, v in val.items()} if isinstance(val, dict) and k != "settings" else val)
           for k, val in out.items()}
    write_results(results_dir, f"{name}.json", out)
    atomic_write_text(Path(results_dir) / f"{name}_movies.csv", per.to_csv(index=False))
    return out


def coverage_table(paths) -> tuple[pd.DataFrame, dict]:
    """What :func:`coverage_check` files say, one row per file and true D, and their totals.

    Parameters
    ----------
    paths : sequence of path, or str
        ``<name>.json`` files written by :func:`coverage_check`, each run on a seed of its own
        (so that no two share random numbers), e.g. one per D or several per D; or a glob
        pattern that matches them.

    Returns
    -------
    rows : DataFrame
        One row per file and true D, by D then seed: ``D_true``, ``n_movies``, ``covered``
        (per-movie 95 % intervals holding the truth),
        ``D_um2_per_s``, ``ci_low``, ``ci_high`` and ``rel_bias`` (the pooled estimate), ``seed``,
        ``independent`` and ``seconds`` (that file's wall time).
    totals : dict
        ``n_movies``, ``n_covered``, ``coverage`` and ``coverage_se`` (binomial), ``misses_below``
        and ``misses_above``, ``max_abs_rel_bias``, ``hours`` (all the files' wall time).

    Raises
    ------
    ValueError
        No paths, a file that is not a coverage check's, or a true D twice with the same seed.
    """
    rows, below, above, secs = [], 0, 0, 0.0
    if isinstance(paths, str):
        pattern, paths = paths, sorted(glob.glob(paths))
        if not paths:
            raise ValueError(f"no file matches {pattern!r}: expected coverage check files (<name>.json)")
    if not paths:
        raise ValueError("paths is empty: expected at least one coverage check file (<name>.json)")
    for path in paths:
        d = json.loads(Path(path).read_text())
        if "settings" not in d or "pooled" not in d:
            raise ValueError(f"{path}: not a coverage check's results (no 'settings' or 'pooled')")
        below, above, secs = below + d["misses_below"], above + d["misses_above"], secs + d["seconds"]
        for p in d["pooled"]:
            key = str(float(p["D_true"]))
            rows.append({"D_true": float(p["D_true"]), "n_movies": d["n_movies"][key],
                         "covered": d["covered"][key], "D_um2_per_s": p["D_um2_per_s"],
                         "ci_low": p["ci_low"], "ci_high": p["ci_high"], "rel_bias": p["rel_bias"],
                         "seed": d["settings"]["seed"], "independent": d["settings"]["independent"],
                         "seconds": d["seconds"]})
    t = pd.DataFrame(rows).sort_values(["D_true", "seed"], ignore_index=True)
    if t[["D_true", "seed"]].duplicated().any():
        raise ValueError("a true D appears twice with the same seed (the same movies): "
                         f"{list(zip(t['D_true'], t['seed'], strict=True))}")
    n, k = int(t["n_movies"].sum()), int(t["covered"].sum())
    return t, {"n_movies": n, "n_covered": k, "coverage": k / n, "coverage_se": math.sqrt(k * (n - k) / n) / n,
               "misses_below": below, "misses_above": above,
               "max_abs_rel_bias": float(t["rel_bias"].abs().max()), "hours": secs / 3600}


def main(argv=None) -> int:
    """``python -m qdloc.study.pixel_diffusion [options]``: run :func:`coverage_check`.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: the command line's). ``--help`` lists them.

    Returns
    -------
    int
        Exit status (0; 2: bad input, with one line on standard error).
    """
    ap = argparse.ArgumentParser(prog="python -m qdloc.study.pixel_diffusion",
                                 description=coverage_check.__doc__.splitlines()[0])
    ap.add_argument("--results-dir", default="data/results", help="folder of the JSON and CSV")
    ap.add_argument("--D", type=float, nargs="+", default=[0.5, 2.0], help="true D, um^2/s")
    ap.add_argument("--n-movies", type=int, default=40, help="movies per D")
    ap.add_argument("--n-frames", type=int, default=30, help="frames per movie")
    ap.add_argument("--seed", type=int, default=70, help="seed of the movies (chapter 07: 70)")
    ap.add_argument("--independent", action="store_true", help="a fresh block of movies per D")
    ap.add_argument("--name", default="pixel_coverage", help="stem of the file names")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = ap.parse_args(argv)
    try:
        out = coverage_check(a.results_dir, a.D, a.n_movies, a.n_frames, seed=a.seed,
                             independent=a.independent, name=a.name, threads=a.threads)
    except ValueError as exc:  # bad input: one line, exit status 2
        print(f"{ap.prog}: {exc}", file=sys.stderr)
        return 2
    cov, se = out["coverage"], out["coverage_se"]
    print(f"pooled bias {out['rel_bias']}; per-movie coverage {out['n_covered']}/{out['n_intervals']}"
          f" = {cov:.3f} +- {se:.3f} ({out['misses_below']} below, {out['misses_above']} above);"
          f" {out['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
