"""Chapter 01: where the laser beam is, and when.

The microscope scans a unidirectional raster of ``H`` lines of ``W`` pixels.
The beam dwells ``dwell_s`` on each pixel, then at the end of a line it takes
``retrace_s`` to return to the start of the next line; no photons are
recorded during the retrace.

Conventions (used everywhere in :mod:`qdloc`):

* pixel (row ``i``, column ``j``) is scanned with the beam at
  ``x = j·a``, ``y = i·a``, ``z = 0`` (``a`` = pixel size in µm), so pixel
  centres sit at integer pixel coordinates, ``x`` = column, ``y`` = row
  (trackpy's convention);
* its dwell starts at ``t = i·(W·dwell + retrace) + j·dwell``;
* sample ``k = i·W + j`` of a trajectory is the dot's position during that dwell.

With ``params.bidirectional`` (off by default) odd lines are scanned right to
left: sample ``k = i·W + s`` of an odd line ``i`` is pixel ``j = W - 1 - s``,
and its dwell starts at ``i·(W·dwell + retrace) + (W - 1 - j)·dwell``; the
retrace is then the turnaround between lines. The trajectory samples stay in
time order, so the walk (chapter 02) does not change; only the pixel a
sample lights up does.
"""

from __future__ import annotations

import numpy as np

from qdloc.sim.params import SimParams, check_int

__all__ = [
    "pixel_start_times_s",
    "sample_columns",
    "sample_beam_positions_um",
    "beam_positions_um",
    "sample_intervals_s",
    "movie_sample_intervals_s",
    "frame_start_times_s",
    "beam_path_um",
    "beam_state_at",
]


def pixel_start_times_s(params: SimParams) -> np.ndarray:
    """Dwell start time of every pixel, shape ``(H, W)``, in seconds.

    ``t[i, j] = i·(W·dwell + retrace) + j·dwell``, computed from integer
    multiples so that the times are exact up to one rounding.
    """
    i = np.arange(params.height_px, dtype=np.float64)[:, None]
    s = np.arange(params.width_px, dtype=np.float64)[None, :]
    # position of pixel j in its line's scan order: j, or W-1-j on odd lines of a bidirectional scan
    s = np.broadcast_to(s, (params.height_px, params.width_px)).copy()
    if params.bidirectional:
        s[1::2] = s[1::2, ::-1]
    return i * params.line_period_s + s * params.dwell_s


def sample_columns(params: SimParams) -> np.ndarray:
    """Column ``j`` of the pixel that sample ``k = i·W + s`` records: shape ``(H, W)``, ``[i, s]``.

    ``j = s`` for a unidirectional scan; odd lines run right to left
    (``j = W - 1 - s``) when ``params.bidirectional``.
    """
    cols = np.broadcast_to(np.arange(params.width_px), (params.height_px, params.width_px)).copy()
    if params.bidirectional:
        cols[1::2] = cols[1::2, ::-1]
    return cols


def sample_beam_positions_um(params: SimParams) -> np.ndarray:
    """Beam position during each trajectory sample, in scan (time) order: shape ``(H·W, 3)`` µm."""
    a = params.pixel_size_um
    pos = np.zeros((params.height_px, params.width_px, 3))
    pos[..., 0] = sample_columns(params) * a
    pos[..., 1] = np.arange(params.height_px)[:, None] * a
    return pos.reshape(-1, 3)


def beam_positions_um(params: SimParams) -> np.ndarray:
    """Beam position while dwelling on each pixel, shape ``(H, W, 3)`` (x, y, z) in µm."""
    a = params.pixel_size_um
    pos = np.zeros((params.height_px, params.width_px, 3))
    pos[..., 0] = np.arange(params.width_px)[None, :] * a
    pos[..., 1] = np.arange(params.height_px)[:, None] * a
    return pos


def sample_intervals_s(params: SimParams) -> np.ndarray:
    """Time between consecutive trajectory samples, shape ``(H·W - 1,)``.

    Within a line the interval is one dwell (the fast clock); from the last
    pixel of a line to the first of the next it is one dwell plus the retrace
    (the slow clock: 1.102 ms with the paper's values, the paper's "1.1 ms"
    retrace plus the dwell of the line's last pixel). These are exactly the
    differences of :func:`pixel_start_times_s`, built without subtraction.
    """
    H, W = params.height_px, params.width_px
    dt = np.full(H * W - 1, params.dwell_s)
    dt[W - 1 :: W] = params.dwell_s + params.retrace_s
    return dt


def movie_sample_intervals_s(params: SimParams, n_frames: int) -> np.ndarray:
    """Intervals between the ``n_frames·H·W`` samples of a movie, shape ``(n_frames·H·W - 1,)``.

    Within a frame they are :func:`sample_intervals_s`. From the last pixel of
    a frame to the first pixel of the next: the last pixel's dwell, the
    flyback to the top (``retrace_s``) and the pause ``frame_pause_s``, so
    that consecutive frames start ``params.frame_period_s`` apart.
    """
    n_frames = check_int("n_frames", n_frames, 1)
    n_px = params.n_pixels
    dt = np.empty(int(n_frames) * n_px - 1)
    dt[: n_px - 1] = sample_intervals_s(params)
    gap = params.dwell_s + params.retrace_s + params.frame_pause_s
    for f in range(1, int(n_frames)):
        dt[f * n_px - 1] = gap
        dt[f * n_px : (f + 1) * n_px - 1] = dt[: n_px - 1]
    return dt


def frame_start_times_s(params: SimParams, n_frames: int) -> np.ndarray:
    """Start of each frame's first dwell, ``f·frame_period_s``, shape ``(n_frames,)``."""
    return np.arange(int(n_frames)) * params.frame_period_s


def beam_path_um(
    params: SimParams, points_per_retrace: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The beam's continuous path for drawing: ``(t_s, x_um, y_um, recording)``.

    Returns times, x, y, and a boolean array that is True while photons are
    recorded (during dwells) and False during retraces. The retrace is drawn
    as a straight line back to the next line's start.
    """
    H, W, a = params.height_px, params.width_px, params.pixel_size_um
    ts, xs, ys, rec = [], [], [], []
    left, right = -0.5 * a, (W - 0.5) * a
    for i in range(H):
        t0 = i * params.line_period_s
        # the line: from the start of its first pixel's dwell to the end of its last
        backwards = params.bidirectional and i % 2 == 1
        x_start, x_end = (right, left) if backwards else (left, right)
        ts += [t0, t0 + W * params.dwell_s]
        xs += [x_start, x_end]
        ys += [i * a, i * a]
        rec += [True, True]
        if i < H - 1:
            s = np.linspace(0, 1, points_per_retrace)[1:-1]
            # to the next line's start: back to the left (flyback), or straight down (turnaround)
            x_next = right if (params.bidirectional and i % 2 == 0) else left
            ts += list(t0 + W * params.dwell_s + s * params.retrace_s)
            xs += list(x_end + s * (x_next - x_end))
            ys += list(i * a + s * a)
            rec += [False] * len(s)
    return np.array(ts), np.array(xs), np.array(ys), np.array(rec)


def beam_state_at(params: SimParams, t_s: float) -> dict:
    """What the beam does at time ``t_s`` after the start of a frame: recording, or retracing.

    Parameters
    ----------
    params : SimParams
        The scan.
    t_s : float
        Time since the start of the frame's first dwell, s (``0 <= t_s < frame_time_s``).

    Returns
    -------
    dict
        ``line`` (the line whose period contains ``t_s``), ``into_line_s`` (time since that
        line's first dwell started), ``retracing`` (True once the line's ``W`` dwells are over)
        and ``n_recording`` (pixels whose dwell covers ``t_s``: 0 or 1).
    """
    t_s = float(t_s)
    if not 0.0 <= t_s < params.frame_time_s:
        raise ValueError(
            f"t_s={t_s!r} is not allowed: "
            f"expected 0 <= t_s < frame_time_s = {params.frame_time_s!r}"
        )
    starts = pixel_start_times_s(params)
    line = int(t_s // params.line_period_s)
    into_line_s = t_s - line * params.line_period_s
    return {
        "line": line,
        "into_line_s": into_line_s,
        "retracing": bool(into_line_s >= params.width_px * params.dwell_s),
        "n_recording": int(np.sum((starts <= t_s) & (t_s < starts + params.dwell_s))),
    }
