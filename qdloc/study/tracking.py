"""Chapter 07's report: steps between frames, an example movie's tracks, how far each method's
D stays from the truth, exits from the window, and the chapter's results files.

The experiments themselves are :func:`qdloc.study.diffusion.diffusion_study` and
:func:`qdloc.study.detector.detector_study`; this module reads their tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qdloc.io import atomic_write_text, write_results
from qdloc.sim.params import SimParams
from qdloc.study.diffusion import score_threshold
from qdloc.transport.censored import window_px
from qdloc.transport.diffusion import scanner_blur_coefficient
from qdloc.transport.linking import link_tracks, localise_movie

__all__ = [
    "BIAS_COLUMNS",
    "SHOW_COLUMNS",
    "RESULTS_FILE",
    "TRACKS_FILE",
    "frame_steps",
    "example_tracks",
    "max_abs_rel_bias",
    "beats_at_every_D",
    "frames_before_exit",
    "setup_glue",
    "bias_claims",
    "tracking_results",
    "write_tracking_results",
]

#: The columns of :func:`qdloc.study.diffusion.bias_table` kept in the results file.
BIAS_COLUMNS = ("D_true", "method", "n_tracks", "D_um2_per_s", "D_err_um2_per_s", "rel_bias",
                "rel_bias_uncensored", "sigma_nm", "rel_iqr_per_track")
#: The columns the chapter shows.
SHOW_COLUMNS = ("D_true", "method", "n_tracks", "D_um2_per_s", "D_err_um2_per_s", "rel_bias",
                "rel_bias_uncensored", "sigma_nm", "n_tracks_fitted", "rel_iqr_per_track")
RESULTS_FILE = "07_tracking.json"
TRACKS_FILE = "07_tracking_tracks.csv"


def frame_steps(params: SimParams, D_values: Sequence[float]) -> pd.DataFrame:
    """The per-axis step of the dot between consecutive frames, in pixels.

    ``sqrt(2 D dt) / a`` with ``dt`` the frame period and ``a`` the pixel size.

    Returns
    -------
    DataFrame
        Columns ``D_um2_per_s`` and ``step_px``.
    """
    D = np.asarray(D_values, dtype=float)
    if D.ndim != 1 or D.size == 0 or not np.all(np.isfinite(D) & (D >= 0)):
        raise ValueError(f"D_values={D_values!r}: expected a non-empty list of finite D >= 0")
    step = np.sqrt(2 * D * params.frame_period_s) / params.pixel_size_um
    return pd.DataFrame({"D_um2_per_s": D, "step_px": step})


def example_tracks(images: np.ndarray, localisers: Mapping[str, tuple[str, str | Path | None]],
                   false_alarm: float, params: SimParams,
                   ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Localise one movie with each method (above its detection threshold) and link the tracks.

    Parameters
    ----------
    images : ndarray (T, H, W)
        One movie.
    localisers : mapping
        ``{name: (method, model_path or None)}``.
    false_alarm : float
        The detection threshold of each method: the score that this fraction of empty frames
        exceeds (:func:`qdloc.study.diffusion.score_threshold`).
    params : SimParams
        The movie's parameters.

    Returns
    -------
    tracks : dict
        ``{name: DataFrame frame, x, y, particle, ...}``
        (:func:`qdloc.transport.linking.link_tracks`).
    counts : DataFrame
        One row per method: ``method``, ``localisations``, ``tracks``.
    """
    tracks, rows = {}, []
    for name, (method, model) in localisers.items():
        thr = score_threshold(method, model, false_alarm, params=params)
        locs = localise_movie(images, method, model_path=model, min_score=thr)
        tracks[name] = link_tracks(locs)
        rows.append({"method": name, "localisations": len(locs),
                     "tracks": int(tracks[name]["particle"].nunique())})
    return tracks, pd.DataFrame(rows)


def max_abs_rel_bias(table: pd.DataFrame, methods: Sequence[str], lo: float = 0.5,
                     hi: float = 2.0) -> dict[str, float]:
    """Per method, the largest ``|relative bias|`` of D over the true D in ``[lo, hi]``.

    Parameters
    ----------
    table : DataFrame
        :func:`qdloc.study.diffusion.bias_table` (``D_true``, ``method``, ``rel_bias``).

    Returns
    -------
    dict
        ``{method: largest abs(rel_bias)}`` (NaN for a method without rows in the range).
    """
    missing = sorted(set(methods) - set(table["method"]))
    if missing:
        raise ValueError(f"methods {missing} are not in the table: expected some of "
                         f"{sorted(set(table['method']))}")
    sub = table[table["D_true"].between(lo, hi)]
    worst = sub.assign(a=sub["rel_bias"].abs()).groupby("method")["a"].max()
    return {m: float(worst.get(m, np.nan)) for m in methods}


def beats_at_every_D(table: pd.DataFrame, better: str, worse: str) -> bool:
    """Is ``better``'s ``|relative bias|`` smaller than ``worse``'s at every true D of the table?"""
    wide = table.pivot(index="D_true", columns="method", values="rel_bias").abs()
    for m in (better, worse):
        if m not in wide:
            raise ValueError(f"method {m!r} is not in the table: expected one of {list(wide)}")
    return bool((wide[better] < wide[worse]).all())


def frames_before_exit(centroids: np.ndarray, params: SimParams,
                       margins_px: Sequence[float]) -> pd.Series:
    """Mean number of frames before the true centroid first leaves the window, per margin.

    Parameters
    ----------
    centroids : ndarray (n_movies, T, 2)
        Per-frame true centroids, px.
    params : SimParams
        Their parameters (the image size).
    margins_px : floats
        Window margins (:func:`qdloc.transport.censored.window_px`).

    Returns
    -------
    Series
        Indexed by margin; a movie that never leaves counts ``T`` frames.
    """
    c = np.asarray(centroids, dtype=float)
    if c.ndim != 3 or c.shape[-1] != 2:
        raise ValueError(f"centroids has shape {c.shape}: expected (n_movies, T, 2)")
    out = {}
    for m in margins_px:
        x0, x1, y0, y1 = window_px(params, float(m))
        inside = (c[..., 0] >= x0) & (c[..., 0] <= x1) & (c[..., 1] >= y0) & (c[..., 1] <= y1)
        first_exit = np.where(~inside.all(axis=1), np.argmin(inside, axis=1), c.shape[1])
        out[float(m)] = float(first_exit.mean())
    return pd.Series(out, name="mean frames before the first exit").rename_axis("margin_px")


def setup_glue(params: SimParams, R: float, steps: pd.DataFrame, false_alarm: float) -> dict[str, Any]:
    """The numbers of the chapter's opening prose: field, blur coefficient, steps per frame.

    Parameters
    ----------
    params : SimParams
        The movies' parameters.
    R : float
        The scanner's motion-blur coefficient.
    steps : DataFrame
        :func:`frame_steps` (``D_um2_per_s``, ``step_px``).
    false_alarm : float
        The detection threshold's false-alarm rate.

    Returns
    -------
    dict
        ``height_px``, ``width_px``, ``frame_ms``, ``R``, ``R_uniform`` (1/6), ``false_alarm_pct``
        and ``step_D<d>_px`` for every D of ``steps`` (``.`` written ``p``: ``step_D0p5_px``).
    """
    out: dict[str, Any] = {"height_px": params.height_px, "width_px": params.width_px,
                           "frame_ms": params.frame_period_s * 1e3, "R": float(R),
                           "R_uniform": 1 / 6, "false_alarm_pct": 100 * false_alarm}
    for d, s in zip(steps["D_um2_per_s"], steps["step_px"], strict=True):
        out[f"step_D{float(d):g}_px".replace(".", "p")] = float(s)
    return out


def bias_claims(table: pd.DataFrame, large_D: float = 2.0) -> tuple[dict[str, bool], dict[str, float]]:
    """What the chapter says about the bias table, as checkable flags and the numbers behind them.

    Parameters
    ----------
    table : DataFrame
        :func:`qdloc.study.diffusion.bias_table` with the methods truth, compact, frcnn, trackpy.
    large_D : float
        "Large D": the true D from which the truth's tracks are said to come out low.

    Returns
    -------
    flags : dict
        ``censoring_helps_truth`` (the censored bias is smaller than the uncensored one at
        every D), ``truth_low_at_large_D`` (negative bias at every D >= ``large_D``),
        ``compact_sigma_grows`` (the compact's static error increases with D),
        ``frcnn_wider_than_compact`` (larger standard error at every D),
        ``trackpy_sigma_over_100nm`` (TrackPy's fitted static error above 100 nm at every D).
    numbers : dict
        ``truth_worst_low_pct`` (the truth's most negative bias at large D, %),
        ``compact_sigma_lo_nm``, ``compact_sigma_hi_nm`` (at the smallest and largest D),
        ``trackpy_sigma_min_nm``.
    """
    w = {c: table.pivot(index="D_true", columns="method", values=c)
         for c in ("rel_bias", "rel_bias_uncensored", "sigma_nm", "D_err_um2_per_s")}
    missing = sorted({"truth", "compact", "frcnn", "trackpy"} - set(w["rel_bias"]))
    if missing:
        raise ValueError(f"methods {missing} are not in the table: expected truth, compact, "
                         "frcnn and trackpy")
    large = w["rel_bias"].index >= large_D
    sig = w["sigma_nm"]
    flags = {
        "censoring_helps_truth": bool((w["rel_bias"]["truth"].abs()
                                       < w["rel_bias_uncensored"]["truth"].abs()).all()),
        "truth_low_at_large_D": bool((w["rel_bias"]["truth"][large] < 0).all()),
        "compact_sigma_grows": bool(np.all(np.diff(sig["compact"].to_numpy()) > 0)),
        "frcnn_wider_than_compact": bool((w["D_err_um2_per_s"]["frcnn"]
                                          > w["D_err_um2_per_s"]["compact"]).all()),
        "trackpy_sigma_over_100nm": bool((sig["trackpy"] > 100).all()),
    }
    numbers = {
        "truth_worst_low_pct": float(-100 * w["rel_bias"]["truth"][large].min()),
        "compact_sigma_lo_nm": float(sig["compact"].iloc[0]),
        "compact_sigma_hi_nm": float(sig["compact"].iloc[-1]),
        "trackpy_sigma_min_nm": float(sig["trackpy"].min()),
    }
    return flags, numbers


def _round(v: Any) -> Any:
    return round(float(v), 5) if isinstance(v, float | np.floating) else v


def tracking_results(table: pd.DataFrame, detector: pd.DataFrame, params: SimParams,
                     edge_px: float, n_movies: Mapping[str, int], n_frames: int,
                     seed: int, methods: Sequence[str] = ("truth", "compact", "frcnn", "trackpy"),
                     pixels: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Chapter 07's results: the clocks, the bias table, its summary and the detector study.

    Parameters
    ----------
    table : DataFrame
        :func:`qdloc.study.diffusion.bias_table`.
    detector : DataFrame
        :func:`qdloc.study.detector.detector_study`.
    params : SimParams
        The movies' parameters.
    edge_px : float
        The observation window's margin.
    n_movies : mapping
        Movies per D of each method.
    n_frames, seed : int
        Frames per movie, the movies' seed.
    methods : strings
        The methods summarised (``max_abs_rel_bias_0.5_to_2``).
    pixels : mapping, optional
        :func:`qdloc.study.pixel_diffusion.pixel_summary` of D from the pixels (``pixels``).

    Returns
    -------
    dict
        JSON-ready: floats of the bias table rounded to 5 digits, the summary to 4.
    """
    return {
        "frame_interval_s": params.frame_period_s,
        "blur_R": scanner_blur_coefficient(params),
        "window_px": list(window_px(params, edge_px)),
        "n_movies": dict(n_movies),
        "n_frames": n_frames,
        "seed": seed,
        "bias": [{k: _round(v) for k, v in row.items()}
                 for row in table[list(BIAS_COLUMNS)].to_dict("records")],
        "max_abs_rel_bias_0.5_to_2": {m: round(v, 4)
                                      for m, v in max_abs_rel_bias(table, methods).items()},
        "compact_beats_trackpy_at_every_D": beats_at_every_D(table, "compact", "trackpy"),
        "detector_auc": detector.to_dict("records"),
        **({"pixels": dict(pixels)} if pixels is not None else {}),
    }


def write_tracking_results(results_dir: str | Path, results: Mapping[str, Any],
                           per_track: pd.DataFrame) -> tuple[Path, Path]:
    """Write :data:`RESULTS_FILE` (the results) and :data:`TRACKS_FILE` (per-track estimates).

    The per-track table is rounded to 6 digits.

    Returns
    -------
    (Path, Path)
        The two files.
    """
    json_path = write_results(results_dir, RESULTS_FILE, dict(results))
    csv_path = atomic_write_text(Path(results_dir) / TRACKS_FILE,
                                 per_track.round(6).to_csv(index=False, lineterminator="\n"))
    return json_path, csv_path
