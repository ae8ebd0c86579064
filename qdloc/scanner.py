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
"""

from __future__ import annotations

import numpy as np

from .params import SimParams

__all__ = [
    "pixel_start_times_s",
    "beam_positions_um",
    "sample_intervals_s",
    "beam_path_um",
]


def pixel_start_times_s(params: SimParams) -> np.ndarray:
    """Dwell start time of every pixel, shape ``(H, W)``, in seconds.

    ``t[i, j] = i·(W·dwell + retrace) + j·dwell``, computed from integer
    multiples so that the times are exact up to one rounding.
    """
    i = np.arange(params.height_px, dtype=np.float64)[:, None]
    j = np.arange(params.width_px, dtype=np.float64)[None, :]
    return i * params.line_period_s + j * params.dwell_s


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
    for i in range(H):
        t0 = i * params.line_period_s
        # the line: from the start of pixel 0's dwell to the end of pixel W-1's
        ts += [t0, t0 + W * params.dwell_s]
        xs += [-0.5 * a, (W - 0.5) * a]
        ys += [i * a, i * a]
        rec += [True, True]
        if i < H - 1:
            s = np.linspace(0, 1, points_per_retrace)[1:-1]
            ts += list(t0 + W * params.dwell_s + s * params.retrace_s)
            xs += list((W - 0.5) * a + s * (-W * a))
            ys += list(i * a + s * a)
            rec += [False] * len(s)
    return np.array(ts), np.array(xs), np.array(ys), np.array(rec)
