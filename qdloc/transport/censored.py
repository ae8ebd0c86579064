"""The censored likelihood of D for tracks in a small field of view (chapter 07).

The field of view and the censored likelihood
---------------------------------------------
The paper's field is 24 x 25 px (1.7 µm) and a frame takes 27.6 ms: at
D = 2 µm²/s the dot moves 4.7 px per axis per frame and leaves the field after
a few frames. A track therefore ends *because* of a large step, the one that
carried the dot out, and that step is never observed: every estimator that
fits only the observed increments (an MSD fit, Berglund's likelihood) is
biased low, by ~10 % at D = 1 and ~40 % at D = 3 even with perfect positions
(chapter 07 shows it). :func:`censored_mle` adds what is known about the
unobserved step, the fact that the dot was not found inside the observation
window in the next frame: the likelihood of a track is Berglund's (Gaussian
increments with static error σ and motion blur R) times, for a track that
ended before the movie did, the probability that the next observed position
falls outside the window, computed from the exact Gaussian prediction of the
next increment given the track's own increments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import fft as sfft, optimize, special

from qdloc.sim.params import SimParams
from qdloc.transport.linking import DEFAULT_SEARCH_RANGE_PX, link_tracks

__all__ = [
    "window_px",
    "tracks_from_truth",
    "tracks_from_localisations",
    "CensoredFit",
    "censored_mle",
]








# --------------------------------------------------------------------------
# Tracks in a small field of view
# --------------------------------------------------------------------------
def window_px(params: SimParams, edge_px: float) -> tuple[float, float, float, float]:
    """Observation window ``(x_lo, x_hi, y_lo, y_hi)`` px: the image less ``edge_px`` on each side.

    The image spans ``[-0.5, W - 0.5]`` (pixel centres at integers).
    """
    if not (math.isfinite(edge_px) and 0 <= 2 * edge_px < min(params.width_px, params.height_px)):
        raise ValueError(f"edge_px={edge_px!r} is not allowed: expected 0 <= edge_px < min(H, W)/2")
    return (-0.5 + edge_px, params.width_px - 0.5 - edge_px, -0.5 + edge_px, params.height_px - 0.5 - edge_px)


def _inside(x, y, win) -> np.ndarray:
    return (x >= win[0]) & (x <= win[1]) & (y >= win[2]) & (y <= win[3])




def _segments(frames: np.ndarray, ok: np.ndarray) -> list[np.ndarray]:
    """Runs of consecutive frames where ``ok`` holds (indices into ``frames``)."""
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return []
    br = np.flatnonzero(np.diff(frames[idx]) != 1) + 1
    return np.split(idx, br)


def tracks_from_truth(centroids: np.ndarray, win) -> pd.DataFrame:
    """Tracks of perfect localisations: the true per-frame centroids while inside the window.

    ``centroids`` (n_movies, T, 2) px. A movie gives one track per run of
    frames inside ``win``. Columns: movie, frame, x, y, particle.
    """
    rows = []
    pid = 0
    T = centroids.shape[1]
    f = np.arange(T)
    for m, c in enumerate(centroids):
        for seg in _segments(f, _inside(c[:, 0], c[:, 1], win)):
            rows.append(pd.DataFrame({"movie": m, "frame": f[seg], "x": c[seg, 0], "y": c[seg, 1], "particle": pid}))
            pid += 1
    cols = ["movie", "frame", "x", "y", "particle"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def tracks_from_localisations(locs: pd.DataFrame, n_frames: int, win, min_score: float,
                              search_range_px: float | None = None) -> pd.DataFrame:
    """Link per-frame localisations of many movies into tracks with :func:`trackpy.link`.

    ``locs`` has columns movie, frame, x, y, score (at most one row per movie and
    frame). Localisations scoring below ``min_score`` or outside the window are
    dropped; a track ends at the first frame without one (memory 0), so that
    the end of a track is an observed event that :func:`censored_mle` models.
    """
    keep = (locs["score"] >= min_score) & _inside(locs["x"].to_numpy(), locs["y"].to_numpy(), win)
    d = locs[keep].copy()
    # one linking call for all movies: frames of movie m are offset so that no link crosses movies
    d["frame_local"] = d["frame"]
    d["frame"] = d["movie"] * (n_frames + 2) + d["frame"]
    cols = ["movie", "frame", "x", "y", "particle", "score"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    tr = link_tracks(d, search_range_px or DEFAULT_SEARCH_RANGE_PX, memory=0)
    tr["frame"] = tr["frame_local"].astype(np.int64)
    # a track with a gap (impossible with memory 0) would be split here
    return tr[cols].sort_values(["particle", "frame"]).reset_index(drop=True)


@dataclass(frozen=True)
class CensoredFit:
    """Result of :func:`censored_mle` (µm²/s, nm)."""

    D_um2_per_s: float
    D_err_um2_per_s: float
    sigma_nm: float
    n_tracks: int
    n_positions: int
    n_ended: int


def _prepare(tracks: pd.DataFrame, px_um: float, last_frame: int):
    out = []
    for _, g in tracks.groupby("particle", sort=False):
        g = g.sort_values("frame")
        f = g["frame"].to_numpy()
        x = g["x"].to_numpy(dtype=float) * px_um
        y = g["y"].to_numpy(dtype=float) * px_um
        br = np.flatnonzero(np.diff(f) != 1) + 1
        for idx in np.split(np.arange(len(f)), br):
            M = len(idx) - 1
            ended = bool(f[idx[-1]] < last_frame)
            if M:
                d = np.stack([np.diff(x[idx]), np.diff(y[idx])])
                k = np.arange(1, M + 1)
                c = np.cos(k * np.pi / (M + 1))
                yt2 = np.sum(sfft.dst(d, type=1, norm="ortho", axis=1) ** 2, axis=0)  # both axes
                yt = sfft.dst(d, type=1, norm="ortho", axis=1)
                SM = math.sqrt(2.0 / (M + 1)) * np.sin(M * k * np.pi / (M + 1))
            else:
                c = yt2 = SM = np.zeros(0)
                yt = np.zeros((2, 0))
            out.append((M, c, yt2, yt, SM, ended, np.array([x[idx[-1]], y[idx[-1]]])))
    return out


@dataclass(frozen=True)
class _Packed:
    """:func:`_prepare`'s tracks as flat arrays, for a log likelihood without a loop over tracks.

    ``c``, ``yt2``: every increment mode of every track (``λ_k = a + 2b c_k``); of the tracks
    that ended (the censoring terms), ``pos`` (their modes' places in ``c``), ``seg`` (which
    ended track each belongs to), ``SM`` and ``yt`` (2, ·), and ``last`` (n_end, 2).
    """

    c: np.ndarray
    yt2: np.ndarray
    pos: np.ndarray
    seg: np.ndarray
    SM: np.ndarray
    yt: np.ndarray
    last: np.ndarray


def _pack(prep) -> _Packed:
    c, yt2, pos, seg, SM, yt, last = [], [], [], [], [], [], []
    at = 0
    for M, ck, y2, y, sm, ended, end_xy in prep:
        c.append(ck)
        yt2.append(y2)
        if ended:
            pos.append(np.arange(at, at + M))
            seg.append(np.full(M, len(last)))
            SM.append(sm)
            yt.append(y)
            last.append(end_xy)
        at += M

    def cat(parts, shape=(0,)):
        return np.concatenate(parts, axis=-1) if parts else np.zeros(shape)

    return _Packed(cat(c), cat(yt2), cat(pos).astype(np.intp), cat(seg).astype(np.intp), cat(SM),
                   cat(yt, (2, 0)), np.array(last, dtype=float).reshape(-1, 2))


def _censored_loglik(D, s2, pk: _Packed, dt, R, lo, hi, censor=True):
    """Log likelihood of all tracks (:func:`_pack`): Berglund's increments, plus censoring terms."""
    a = 2.0 * D * dt * (1.0 - 2.0 * R) + 2.0 * s2
    b = 2.0 * R * D * dt - s2
    lam = a + 2.0 * b * pk.c
    if lam.size and lam.min() <= 0:
        return -math.inf
    ll = -float(np.sum(np.log(2.0 * np.pi * lam) + 0.5 * pk.yt2 / lam))
    n_end = len(pk.last)
    if censor and n_end:
        # Gaussian prediction of each ended track's next increment given its increments
        w = pk.SM / lam[pk.pos]
        mu = b * np.stack([np.bincount(pk.seg, weights=pk.yt[i] * w, minlength=n_end) for i in (0, 1)])
        var = a - b * b * np.bincount(pk.seg, weights=pk.SM * w, minlength=n_end)
        sd = np.sqrt(np.maximum(var, 1e-30))
        m = pk.last.T + mu
        p_in = np.prod(special.ndtr((hi[:, None] - m) / sd) - special.ndtr((lo[:, None] - m) / sd), axis=0)
        ll += float(np.sum(np.log(np.maximum(1.0 - p_in, 1e-300))))
    return ll


def censored_mle(tracks: pd.DataFrame, frame_interval_s: float, blur_R: float, win,
                 last_frame: int, pixel_size_um: float = 0.07, censor: bool = True,
                 starts=(0.1, 1.0, 3.0)) -> CensoredFit:
    """Maximum-likelihood D and σ of tracks observed in a window, with the window's censoring.

    Parameters
    ----------
    tracks : DataFrame
        ``frame, x, y, particle`` (px); the tracks of one D (pooled) or one track.
    frame_interval_s, blur_R : float
        Δt and the motion-blur coefficient (:func:`qdloc.transport.diffusion.scanner_blur_coefficient`).
    win : (x_lo, x_hi, y_lo, y_hi) px
        The observation window the tracks were cut to (:func:`window_px`).
    last_frame : int
        The movies' last frame: a track that reaches it ended with the movie, not
        because the dot left (no censoring term).
    censor : bool
        False drops the censoring terms (Berglund's likelihood alone, pooled).

    Returns
    -------
    CensoredFit
        D, its standard error from the observed information (numerical Hessian
        of the log-likelihood), σ (negative when the fitted σ² is: a small
        negative σ² is allowed, the increments' covariance staying positive definite).
    """
    lo = np.array([win[0], win[2]]) * pixel_size_um
    hi = np.array([win[1], win[3]]) * pixel_size_um
    prep = _prepare(tracks, pixel_size_um, last_frame)
    n_pos = int(sum(t[0] + 1 for t in prep))
    n_end = int(sum(t[5] for t in prep))
    if not prep or (n_pos - len(prep) == 0 and not (censor and n_end)):
        return CensoredFit(math.nan, math.nan, math.nan, len(prep), n_pos, n_end)
    packed = _pack(prep)

    dt = frame_interval_s
    # σ² = r·DΔt with r above the edge of positive definiteness, r > 2R - 1/2 (λ_k > 0 for
    # every k): a small negative σ² is allowed, as in Berglund's estimator, so that σ = 0 is
    # not a boundary that biases D. Nelder-Mead in (log D, r): robust to the infinite
    # penalty outside the allowed region.
    r_min = 2.0 * blur_R - 0.5

    def nll_Dr(th):
        D, r = math.exp(th[0]), th[1]
        if not (r_min < r < 1e3) or not (1e-6 < D < 1e3):
            return math.inf
        v = -_censored_loglik(D, r * D * dt, packed, dt, blur_R, lo, hi, censor)
        return v if math.isfinite(v) else math.inf

    best = None
    for D0 in starts:
        for r0 in (0.02, 0.5)[: 1 if len(starts) == 1 else 2]:
            res = optimize.minimize(nll_Dr, [math.log(D0), r0], method="Nelder-Mead",
                                    options={"xatol": 1e-5, "fatol": 1e-7, "maxiter": 2000})
            if best is None or res.fun < best.fun:
                best = res
    D, r = math.exp(float(best.x[0])), float(best.x[1])
    s2 = r * D * dt

    def nll(th):
        v = -_censored_loglik(th[0], th[1], packed, dt, blur_R, lo, hi, censor)
        return v if math.isfinite(v) else 1e300

    # observed information in (D, σ²): central differences of the negative log-likelihood
    x0 = np.array([D, s2])
    h = np.array([max(1e-4, 1e-3 * D), max(1e-8, 1e-3 * abs(s2))])
    Hm = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            def at(di, dj, i=i, j=j):
                x = x0.copy()
                x[i] += di * h[i]
                x[j] += dj * h[j]
                return nll(x)
            Hm[i, j] = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h[i] * h[j])
    try:
        err = float(math.sqrt(np.linalg.inv(Hm)[0, 0]))
    except (np.linalg.LinAlgError, ValueError):
        err = math.nan
    return CensoredFit(D, err, 1000.0 * math.copysign(math.sqrt(abs(s2)), s2), len(prep), n_pos, n_end)




