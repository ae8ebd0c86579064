"""Tracks from movies: localise the dot in every frame, link the frames with :func:`trackpy.link`.

Default search range. The paper's dots diffuse with D up to 3 µm²/s and a
frame takes Δt = 27.6 ms (``SimParams().frame_time_s``), so a frame-to-frame
step has a per-axis standard deviation ``sqrt(2·D·Δt)`` = 0.41 µm = 5.8 px
(0.07 µm pixels); its 2D length is Rayleigh distributed and exceeds a search
range ``r`` with probability ``exp(-r² / (4·D·Δt))``. With
:data:`DEFAULT_SEARCH_RANGE_PX` = 25 px (1.75 µm, the width of the 24 x 25
field) a link is missed with probability 1e-4 per frame at D = 3 µm²/s, and
2e-9 at D = 1 µm²/s. A range as large as the field costs nothing here
because the movies hold one dot: with several dots per frame, lower it to
what separates them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import trackpy

from qdloc.localise.registry import SHIPPED_MODELS, locator, shipped_model
from qdloc.localise.trackpy import QuietTrackpy

__all__ = [
    "DEFAULT_SEARCH_RANGE_PX",
    "TRACK_COLUMNS",
    "localise_movie",
    "link_tracks",
    "track_movie",
]

#: Default search range of :func:`link_tracks`, px (see the module docstring).
DEFAULT_SEARCH_RANGE_PX = 25.0
#: First columns of a track table (then the localiser's own columns).
TRACK_COLUMNS = ("frame", "x", "y", "particle", "score")


def localise_movie(
    stack,
    method: str = "trackpy",
    model_path: str | Path | None = None,
    max_per_frame: int | None = 1,
    min_score: float | None = None,
    **kw,
) -> pd.DataFrame:
    """Localise the dot(s) in every frame of a movie.

    Parameters
    ----------
    stack : array_like (T, H, W)
        The movie (photon counts); frame = index along the first axis.
    method : {"trackpy", "compact", "frcnn"}
        Localiser (:data:`qdloc.localise.registry.METHODS`).
    model_path : path, optional
        Model file of ``compact`` / ``frcnn`` (default: the shipped weights,
        :func:`qdloc.localise.registry.shipped_model`). Not used by ``trackpy``.
    max_per_frame : int or None
        Keep at most this many localisations per frame, highest ``score``
        first (default 1: the movies hold one dot); None keeps all.
    min_score : float, optional
        Drop localisations with ``score`` below this (scores are the
        method's: TrackPy's mass, the compact model's ``-sigma_px``, the
        R-CNN's probability).
    **kw
        Passed to the localiser (e.g. ``params=TrackpyParams(...)``, ``tta=False``).

    Returns
    -------
    DataFrame
        ``frame, x, y, score`` (px, x = column, pixel centres at integers)
        and the method's own columns, sorted by frame then decreasing score.
    """
    if max_per_frame is not None and (
        isinstance(max_per_frame, bool) or not isinstance(max_per_frame, int | np.integer)
        or max_per_frame < 1
    ):
        raise ValueError(
            f"max_per_frame={max_per_frame!r} is not allowed: expected None or an integer >= 1"
        )
    real = int | float | np.integer | np.floating
    if min_score is not None and (
        isinstance(min_score, bool) or not isinstance(min_score, real)
        or math.isnan(float(min_score))
    ):
        raise ValueError(f"min_score={min_score!r} is not allowed: expected None or a number")
    locate = locator(method)
    images = np.asarray(stack)
    if images.ndim != 3:
        raise ValueError(f"stack has shape {images.shape}: expected a movie (T, H, W)")
    if method in SHIPPED_MODELS:
        model = shipped_model(method) if model_path is None else Path(model_path)
        df = locate(images, model_path=model, **kw)
    else:
        if model_path is not None:
            raise ValueError(f"model_path={str(model_path)!r} is not used by method {method!r}")
        df = locate(images, **kw)
    missing = [c for c in ("frame", "x", "y", "score") if c not in df.columns]
    if missing:  # pragma: no cover - a localiser's bug
        raise ValueError(f"method {method!r} returned no column(s) {missing}")
    if min_score is not None:
        df = df[df["score"] >= float(min_score)]
    df = df.sort_values(["frame", "score"], ascending=[True, False], kind="stable")
    if max_per_frame is not None:
        df = df.groupby("frame", sort=False).head(int(max_per_frame))
    first = ["frame", "x", "y", "score"]
    df = df[first + [c for c in df.columns if c not in first]].reset_index(drop=True)
    df["frame"] = df["frame"].astype(np.int64)
    return df


def link_tracks(
    locs: pd.DataFrame, search_range_px: float = DEFAULT_SEARCH_RANGE_PX, memory: int = 0
) -> pd.DataFrame:
    """Link localisations into tracks with :func:`trackpy.link`.

    Parameters
    ----------
    locs : DataFrame
        Columns ``frame``, ``x``, ``y`` (px) and any others (kept).
    search_range_px : float
        Largest displacement between linked localisations, px (default
        :data:`DEFAULT_SEARCH_RANGE_PX`, see the module docstring).
    memory : int
        Frames a particle may vanish for and keep its identity (default 0).

    Returns
    -------
    DataFrame
        ``frame, x, y, particle`` (then ``score`` and the other columns),
        sorted by particle then frame; ``particle`` numbers from 0. TrackPy's
        logging is silenced during the call.
    """
    if not isinstance(locs, pd.DataFrame):
        raise ValueError(f"locs is a {type(locs).__name__}: expected a pandas DataFrame")
    missing = [c for c in ("frame", "x", "y") if c not in locs.columns]
    if missing:
        raise ValueError(f"locs has no column(s) {missing}: expected frame, x, y")
    sr = search_range_px
    if isinstance(sr, bool) or not isinstance(sr, int | float | np.integer | np.floating) or not (
        math.isfinite(float(sr)) and float(sr) > 0
    ):
        raise ValueError(f"search_range_px={sr!r} is not allowed: expected a finite number > 0")
    if isinstance(memory, bool) or not isinstance(memory, int | np.integer) or memory < 0:
        raise ValueError(f"memory={memory!r} is not allowed: expected an integer >= 0")
    first = [c for c in TRACK_COLUMNS if c in locs.columns or c == "particle"]
    if len(locs) == 0:
        out = locs.copy()
        out["particle"] = np.zeros(0, dtype=np.int64)
        return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True)
    pos = locs[["x", "y"]].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(pos)):
        raise ValueError("locs has NaN or infinite x, y: expected finite positions")
    df = locs.reset_index(drop=True).copy()
    df["frame"] = df["frame"].astype(np.int64)
    if "particle" in df.columns:
        df = df.drop(columns="particle")
    with QuietTrackpy():
        linked = trackpy.link(df, float(sr), memory=int(memory))
    linked = linked.reset_index(drop=True)
    # renumber particles 0.. in order of first appearance
    order = linked.sort_values(["frame"], kind="stable")["particle"].drop_duplicates()
    new_id = {p: i for i, p in enumerate(order)}
    linked["particle"] = linked["particle"].map(new_id).astype(np.int64)
    linked = linked.sort_values(["particle", "frame"], kind="stable").reset_index(drop=True)
    return linked[first + [c for c in linked.columns if c not in first]]


def track_movie(
    stack,
    method: str = "trackpy",
    search_range_px: float = DEFAULT_SEARCH_RANGE_PX,
    memory: int = 0,
    model_path: str | Path | None = None,
    max_per_frame: int | None = 1,
    min_score: float | None = None,
    **kw,
) -> pd.DataFrame:
    """:func:`localise_movie` then :func:`link_tracks`; returns the track table."""
    locs = localise_movie(
        stack, method, model_path=model_path, max_per_frame=max_per_frame, min_score=min_score, **kw
    )
    return link_tracks(locs, search_range_px=search_range_px, memory=memory)
