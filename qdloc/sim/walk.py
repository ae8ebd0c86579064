"""Chapter 02: Brownian motion of the dot on the scanner's two clocks.

The dot diffuses in 3D, each axis independently. Between consecutive pixel
samples it takes a Gaussian step of variance ``2·D·Δt`` per axis, where
``Δt`` is one dwell within a line (the fast clock, 2 µs) or one dwell plus the
retrace from one line to the next (the slow clock, 1.102 ms); see
:func:`qdloc.sim.scanner.sample_intervals_s`.

Start position (a documented choice; the paper does not give one): x and y
uniform in the frame with a margin of ``start_margin_px`` pixels, z normal
around the focal plane with standard deviation ``start_z_sd_um``.
"""

from __future__ import annotations

import numpy as np

from qdloc.sim.params import SimParams
from qdloc.sim.scanner import pixel_start_times_s, sample_intervals_s

__all__ = [
    "as_D_array",
    "start_positions_um",
    "step_sd_um",
    "random_walk_um",
    "centroid_px",
    "msd_from_start",
    "sample_times_s",
]


def as_D_array(D, n: int) -> np.ndarray:
    """Diffusion coefficients as a float array of length ``n`` (one value or one per image)."""
    arr = np.asarray(D, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(
            f"D has shape {np.shape(D)}; expected one value or one per image, shape ({n},)"
        )
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"D[{i}]={float(arr[i])!r} is not allowed: expected a finite number >= 0 µm²/s"
        )
    return arr


def start_positions_um(u_xy: np.ndarray, n_z: np.ndarray, params: SimParams) -> np.ndarray:
    """Start positions (n, 3) µm from uniforms ``u_xy`` (n, 2) in [0, 1) and normals ``n_z`` (n,).
    """
    m = params.start_margin_px
    a = params.pixel_size_um
    out = np.empty((len(n_z), 3))
    out[:, 0] = (m + u_xy[:, 0] * (params.width_px - 1 - 2 * m)) * a
    out[:, 1] = (m + u_xy[:, 1] * (params.height_px - 1 - 2 * m)) * a
    out[:, 2] = n_z * params.start_z_sd_um
    return out


def step_sd_um(params: SimParams, D) -> np.ndarray:
    """Standard deviation of each step, per axis: ``sqrt(2·D·Δt)``; shape ``(n, H·W - 1)``."""
    D = np.atleast_1d(np.asarray(D, dtype=np.float64))
    return np.sqrt(2.0 * D[:, None] * sample_intervals_s(params)[None, :])


def random_walk_um(
    start_um: np.ndarray, normals: np.ndarray, D, params: SimParams, out: np.ndarray | None = None
) -> np.ndarray:
    """Trajectories (n, H·W, 3) µm from start positions and standard-normal steps.

    Parameters
    ----------
    start_um : ndarray (n, 3)
    normals : ndarray (n, H·W - 1, 3)
        Standard normal numbers, scaled here by ``sqrt(2·D·Δt)``.
    D : float or ndarray (n,)
        Diffusion coefficient(s), µm²/s.
    out : ndarray (n, H·W, 3) float64, optional
        Where to write the result.
    """
    n = start_um.shape[0]
    D = as_D_array(D, n)
    if normals.shape != (n, params.n_pixels - 1, 3):
        raise ValueError(
            f"normals has shape {normals.shape}; expected ({n}, {params.n_pixels - 1}, 3)"
        )
    traj = np.empty((n, params.n_pixels, 3)) if out is None else out
    traj[:, 0] = start_um
    np.multiply(normals, step_sd_um(params, D)[..., None], out=traj[:, 1:])
    np.cumsum(traj, axis=1, out=traj)
    return traj


def centroid_px(traj_um: np.ndarray, params: SimParams) -> np.ndarray:
    """The label: mean of the samples, as (x, y) pixel coordinates (pixel centres at integers)."""
    n_s = traj_um.shape[-2]
    return traj_um.sum(axis=-2)[..., :2] / (n_s * params.pixel_size_um)


def sample_times_s(params: SimParams) -> np.ndarray:
    """Time of each trajectory sample, shape ``(H·W,)``: the dwell start times in scan order."""
    return pixel_start_times_s(params).reshape(-1)


def msd_from_start(traj_um: np.ndarray) -> np.ndarray:
    """Ensemble mean squared displacement from the start, per axis: shape ``(H·W, 3)`` µm².

    For free diffusion ``MSD_axis(t) = 2·D·t``.
    """
    d = traj_um - traj_um[:, :1]
    return np.mean(d**2, axis=0)
