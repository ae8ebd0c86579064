"""The simulator: scanner + random walk + Eq. 1 + Poisson noise, vectorised.

Randomness and reproducibility
------------------------------
Images are drawn in fixed blocks of :data:`BLOCK` images. Block ``b`` of a
simulation with seed ``s`` has its own generator,
``PCG64(SeedSequence(s, spawn_key=(b,)))``, and draws, in this order: the
start positions (uniforms, normals), the walk's standard-normal steps (float32),
then two uniforms per pixel for the Poisson inversion. None of these draws
depends on ``D``, ``N_qd`` or any other parameter, so image ``k`` depends
only on ``(seed, k)`` and its own parameters: asking for images ``[k0, k1)``
in any chunking gives the same arrays.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .params import SimParams
from .psf import sample_counts, signal_counts
from .walk import as_D_array, centroid_px, random_walk_um, start_positions_um

__all__ = ["BLOCK", "Simulation", "simulate", "iter_simulate"]

#: Images per random block. Part of the reproducibility contract: changing it
#: changes every simulated image.
BLOCK = 256


@dataclass(frozen=True)
class Simulation:
    """A batch of simulated images.

    Attributes
    ----------
    images : ndarray (n, H, W) uint16
        Recorded photon counts.
    trajectories : ndarray (n, H·W, 3) float64
        Dot positions (x, y, z) in µm, one sample per pixel in scan order.
    centroids : ndarray (n, 2) float64
        Labels: trajectory centroid (x, y) in pixels, pixel centres at integers.
    D : ndarray (n,) float64
        Diffusion coefficient of each image, µm²/s.
    index : ndarray (n,) int64
        Global image index ``k`` (the seed's stream position).
    params : SimParams
    seed : int
    """

    images: np.ndarray | None
    trajectories: np.ndarray
    centroids: np.ndarray
    D: np.ndarray
    index: np.ndarray
    params: SimParams
    seed: int

    def __len__(self) -> int:
        return len(self.index)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} is not allowed: expected an integer >= 0")
    return int(seed)


def _n_threads(threads, n_tasks: int) -> int:
    if threads is None:
        threads = min(os.cpu_count() or 1, 4)
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ValueError(f"threads={threads!r} is not allowed: expected an integer >= 1")
    return max(1, min(int(threads), n_tasks))


def _block_draws(seed: int, b: int, params: SimParams, lo: int, hi: int, photons: bool):
    """Raw random numbers of images ``[lo, hi)`` within block ``b`` (0 <= lo < hi <= BLOCK)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(b,))))
    n_px = params.n_pixels
    u_xy = rng.random((BLOCK, 2))[lo:hi]
    n_z = rng.standard_normal(BLOCK)[lo:hi]
    steps = rng.standard_normal((BLOCK, n_px - 1, 3), dtype=np.float32)[lo:hi]
    if not photons:
        return u_xy, n_z, steps, None
    shape = (params.height_px, params.width_px)
    # two uniforms per pixel; skip the images before `lo` without drawing them
    # (random() consumes exactly one 64-bit output per number)
    rng.bit_generator.advance(lo * 2 * n_px)
    u = rng.random((hi - lo, 2) + shape)
    return u_xy, n_z, steps, u


def simulate(
    n: int,
    params: SimParams | None = None,
    seed: int = 0,
    D=None,
    start: int = 0,
    photons: bool = True,
    threads: int | None = None,
) -> Simulation:
    """Simulate ``n`` two-photon images of a diffusing quantum dot.

    Parameters
    ----------
    n : int
        Number of images.
    params : SimParams, optional
        Simulator parameters (default: :data:`qdloc.params.PAPER`).
    seed : int
        Seed of the image stream; image ``k`` depends only on ``(seed, k)``.
    D : float or array (n,), optional
        Diffusion coefficient(s) in µm²/s (default ``params.D_um2_per_s``).
    start : int
        Global index of the first image, so that ``simulate(n, start=k0)``
        returns images ``k0 .. k0+n-1`` of the stream.
    photons : bool
        If False, skip the images (trajectories and labels only).
    threads : int, optional
        Worker threads over blocks (default: up to the number of CPUs, at most 4).
        The result does not depend on it.

    Returns
    -------
    Simulation
    """
    params = params or SimParams()
    seed = _check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n={n!r} is not allowed: expected an integer >= 0")
    if isinstance(start, bool) or not isinstance(start, int | np.integer) or start < 0:
        raise ValueError(f"start={start!r} is not allowed: expected an integer >= 0")
    n, start = int(n), int(start)
    D_arr = as_D_array(params.D_um2_per_s if D is None else D, n)

    H, W = params.height_px, params.width_px
    traj = np.empty((n, params.n_pixels, 3))
    images = np.empty((n, H, W), dtype=np.uint16) if photons else None
    # split [start, start+n) at block boundaries: (block, lo, hi, position in output)
    tasks = []
    pos, k = 0, start
    while pos < n:
        b, lo = divmod(k, BLOCK)
        hi = min(BLOCK, lo + (n - pos))
        tasks.append((b, lo, hi, pos))
        pos += hi - lo
        k += hi - lo

    def run(task):
        b, lo, hi, p0 = task
        sl = slice(p0, p0 + hi - lo)
        u_xy, n_z, steps, u = _block_draws(seed, b, params, lo, hi, photons)
        random_walk_um(start_positions_um(u_xy, n_z, params), steps, D_arr[sl], params, out=traj[sl])
        if photons:
            sig = signal_counts(traj[sl], params)
            images[sl] = sample_counts(sig, params, u[:, 0], u[:, 1])

    workers = _n_threads(threads, len(tasks))
    if workers == 1:
        for t in tasks:
            run(t)
    else:  # blocks are independent; NumPy releases the GIL in the heavy loops
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(run, tasks))
    return Simulation(
        images=images,
        trajectories=traj,
        centroids=centroid_px(traj, params),
        D=D_arr,
        index=np.arange(start, start + n, dtype=np.int64),
        params=params,
        seed=seed,
    )


def iter_simulate(
    n: int,
    params: SimParams | None = None,
    seed: int = 0,
    D=None,
    chunk: int = 4 * BLOCK,
    start: int = 0,
    photons: bool = True,
    threads: int | None = None,
) -> Iterator[Simulation]:
    """Stream ``n`` images in chunks of ``chunk`` (memory bounded by the chunk size).

    Concatenating the chunks gives exactly ``simulate(n, ...)``.
    """
    params = params or SimParams()
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise ValueError(f"chunk={chunk!r} is not allowed: expected an integer >= 1")
    D_all = None if D is None or np.ndim(D) == 0 else as_D_array(D, n)
    for pos in range(0, n, chunk):
        m = min(chunk, n - pos)
        d = D if D_all is None else D_all[pos : pos + m]
        yield simulate(m, params, seed=seed, D=d, start=start + pos, photons=photons, threads=threads)
