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

With a photomultiplier model (``params.pmt_excess_noise > 1``, off by
default) image ``k`` also has a generator of its own for the gains,
``SeedSequence(s, spawn_key=(b, k mod BLOCK, 1))``, so the photon counts are
the same with and without it and the gains too obey the chunking contract.

Movies (:func:`simulate_movie`, or ``simulate(..., frames=T)``): movie ``m``,
frame ``f`` draws from ``SeedSequence(s, spawn_key=(MOVIE_KEY, m, f))``: the
start position (frame 0 only), the steps into and through the frame, then the
Poisson uniforms. A movie of ``T`` frames is therefore the first ``T`` frames
of any longer movie with the same seed, and movie ``m`` does not depend on
the other movies drawn with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from qdloc.sim.params import SimParams, check_int
from qdloc.sim.psf import pmt_amplify, sample_counts, signal_counts
from qdloc.sim.scanner import frame_start_times_s, movie_sample_intervals_s
from qdloc.sim.walk import as_D_array, centroid_px, random_walk_um, start_positions_um

__all__ = [
    "BLOCK",
    "MOVIE_KEY",
    "Simulation",
    "Movie",
    "simulate",
    "simulate_movie",
    "iter_simulate",
]

#: First entry of a movie frame's spawn key (the ASCII of "MOVI"): keeps movie
#: streams apart from the single-frame blocks, whose keys are ``(b,)``.
MOVIE_KEY = 0x4D4F5649

#: Images per random block. Part of the reproducibility contract: changing it
#: changes every simulated image.
BLOCK = 256


@dataclass(frozen=True)
class _Batch:
    """What a batch of images or movies holds; ``len(batch)`` is the number of images or movies."""

    images: np.ndarray | None
    trajectories: np.ndarray
    centroids: np.ndarray
    D: np.ndarray
    index: np.ndarray
    params: SimParams
    seed: int

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class Simulation(_Batch):
    """A batch of simulated images.

    Attributes
    ----------
    images : ndarray (n, H, W) uint16, or float32 with a PMT model
        Recorded photon counts (with ``params.pmt_excess_noise > 1``: the
        photomultiplier's output in photon units).
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


def _rng(seed: int, key: tuple[int, ...]) -> np.random.Generator:
    """The generator of stream ``key`` of ``seed``: ``PCG64(SeedSequence(seed, spawn_key=key))``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _check_batch(n, start, seed) -> tuple[int, int, int]:
    """``(n, start, seed)`` as ints, each checked to be an integer >= 0."""
    return check_int("n", n), check_int("start", start), check_int("seed", seed)


def _run_tasks(run, tasks, threads) -> None:
    """``run(task)`` for every task: in this thread, or on a pool of ``threads`` threads.

    The tasks write disjoint parts of preallocated arrays and draw from their own streams,
    so the result does not depend on the number of threads (NumPy releases the GIL in the
    heavy loops).
    """
    if threads is None:
        threads = min(os.cpu_count() or 1, 4)
    workers = max(1, min(check_int("threads", threads, 1), len(tasks)))
    if workers == 1:
        for task in tasks:
            run(task)
    else:
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(run, tasks))


def _record(
    signal: np.ndarray, params: SimParams, u: np.ndarray, seed: int, pmt_keys
) -> np.ndarray:
    """Photon counts of images ``(m, H, W)`` from their signal and uniforms ``u`` ``(m, 2, H, W)``.

    With a photomultiplier model (``params.pmt_excess_noise > 1``) image ``i`` is amplified
    with the generator of stream ``pmt_keys[i]``.
    """
    counts = sample_counts(signal, params, u[:, 0], u[:, 1])
    if params.pmt_excess_noise <= 1.0:
        return counts
    return np.stack(
        [
            pmt_amplify(c, params.pmt_excess_noise, _rng(seed, key))
            for c, key in zip(counts, pmt_keys, strict=True)
        ]
    )


def _block_draws(seed: int, b: int, params: SimParams, lo: int, hi: int, photons: bool):
    """Raw random numbers of images ``[lo, hi)`` within block ``b`` (0 <= lo < hi <= BLOCK)."""
    rng = _rng(seed, (b,))
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
    frames: int | None = None,
) -> Simulation | Movie:
    """Simulate ``n`` two-photon images of a diffusing quantum dot (or ``n`` movies).

    Parameters
    ----------
    n : int
        Number of images.
    params : SimParams, optional
        Simulator parameters (default: :data:`qdloc.sim.params.PAPER`).
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
    frames : int, optional
        Record ``n`` movies of ``frames`` frames each instead of single images
        (:func:`simulate_movie`; ``start`` then counts movies).

    Returns
    -------
    Simulation, or Movie when ``frames`` is given
    """
    params = params or SimParams()
    n, start, seed = _check_batch(n, start, seed)
    if frames is not None:
        return simulate_movie(
            n, frames, params, seed=seed, D=D, start=start, photons=photons, threads=threads
        )
    D_arr = as_D_array(params.D_um2_per_s if D is None else D, n)

    H, W = params.height_px, params.width_px
    traj = np.empty((n, params.n_pixels, 3))
    pmt = params.pmt_excess_noise > 1.0
    images = np.empty((n, H, W), dtype=np.float32 if pmt else np.uint16) if photons else None
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
        start_um = start_positions_um(u_xy, n_z, params)
        random_walk_um(start_um, steps, D_arr[sl], params, out=traj[sl])
        if photons:
            keys = [(b, k, 1) for k in range(lo, hi)]
            images[sl] = _record(signal_counts(traj[sl], params), params, u, seed, keys)

    _run_tasks(run, tasks, threads)  # blocks are independent
    return Simulation(
        images=images,
        trajectories=traj,
        centroids=centroid_px(traj, params),
        D=D_arr,
        index=np.arange(start, start + n, dtype=np.int64),
        params=params,
        seed=seed,
    )


@dataclass(frozen=True)
class Movie(_Batch):
    """A batch of simulated movies: the scanner records frame after frame while the dot diffuses.

    Attributes
    ----------
    images : ndarray (n, T, H, W) uint16, or float32 with a PMT model
    trajectories : ndarray (n, T, H·W, 3) float64
        Dot positions (x, y, z) µm, one sample per pixel in scan order, frame by frame.
    centroids : ndarray (n, T, 2) float64
        Per-frame labels: the centroid (x, y) in pixels of the frame's samples.
    in_view : ndarray (n, T) bool
        Whether the frame's centroid lies inside the image (``-0.5 <= x <= W - 0.5``,
        same for y): the dot may leave the field of view.
    D : ndarray (n,) float64
    index : ndarray (n,) int64
        Global movie index ``m``.
    frame_times_s : ndarray (T,)
        Start of each frame's first dwell.
    params : SimParams
    seed : int
    """

    in_view: np.ndarray
    frame_times_s: np.ndarray

    @property
    def n_frames(self) -> int:
        return len(self.frame_times_s)

    @property
    def frame_interval_s(self) -> float:
        """Time between the starts of consecutive frames (``params.frame_period_s``)."""
        return self.params.frame_period_s


def _movie_draws(seed: int, m: int, n_frames: int, params: SimParams, photons: bool):
    """Raw random numbers of movie ``m``: start, steps ``(T·H·W - 1, 3)``, uniforms (T, 2, H, W).

    The start is ``(u_xy, n_z)`` as for :func:`qdloc.sim.walk.start_positions_um`.
    """
    n_px = params.n_pixels
    steps = np.empty((n_frames * n_px - 1, 3), dtype=np.float32)
    u = np.empty((n_frames, 2, params.height_px, params.width_px)) if photons else None
    for f in range(n_frames):
        rng = _rng(seed, (MOVIE_KEY, m, f))
        if f == 0:
            u_xy = rng.random((1, 2))
            n_z = rng.standard_normal(1)
            steps[: n_px - 1] = rng.standard_normal((n_px - 1, 3), dtype=np.float32)
        else:
            steps[f * n_px - 1 : (f + 1) * n_px - 1] = rng.standard_normal(
                (n_px, 3), dtype=np.float32
            )
        if photons:
            u[f] = rng.random((2, params.height_px, params.width_px))
    return u_xy, n_z, steps, u


def simulate_movie(
    n: int,
    n_frames: int,
    params: SimParams | None = None,
    seed: int = 0,
    D=None,
    start: int = 0,
    photons: bool = True,
    threads: int | None = None,
) -> Movie:
    """Simulate ``n`` movies of ``n_frames`` frames of a diffusing quantum dot.

    The scanner records frame after frame (``params.frame_pause_s`` between
    frames, :func:`qdloc.sim.scanner.movie_sample_intervals_s`) and the dot
    keeps diffusing on the same clocks; it may leave the field of view.
    Frame 0 has exactly the single-frame simulator's statistics (start
    position, walk, Eq. 1, noise); later frames start where the dot is.

    Parameters
    ----------
    n : int
        Number of movies.
    n_frames : int
        Frames per movie (>= 1).
    params, seed, D, photons, threads
        As for :func:`simulate` (``D`` one value or one per movie).
    start : int
        Global index of the first movie.

    Returns
    -------
    Movie
    """
    params = params or SimParams()
    n, start, seed = _check_batch(n, start, seed)
    dt = movie_sample_intervals_s(params, n_frames)  # validates n_frames
    T = int(n_frames)
    D_arr = as_D_array(params.D_um2_per_s if D is None else D, n)
    H, W, n_px = params.height_px, params.width_px, params.n_pixels
    pmt = params.pmt_excess_noise > 1.0
    traj = np.empty((n, T * n_px, 3))
    images = np.empty((n, T, H, W), dtype=np.float32 if pmt else np.uint16) if photons else None

    def run(i: int) -> None:
        m = start + i
        u_xy, n_z, steps, u = _movie_draws(seed, m, T, params, photons)
        tr = traj[i]
        tr[0] = start_positions_um(u_xy, n_z, params)[0]
        np.multiply(steps, np.sqrt(2.0 * D_arr[i] * dt)[:, None], out=tr[1:])
        np.cumsum(tr, axis=0, out=tr)
        if photons:
            keys = [(MOVIE_KEY, m, f, 1) for f in range(T)]
            images[i] = _record(
                signal_counts(tr.reshape(T, n_px, 3), params), params, u, seed, keys
            )

    _run_tasks(run, range(n), threads)  # movies are independent
    traj = traj.reshape(n, T, n_px, 3)
    cen = centroid_px(traj, params)
    in_view = (
        (cen[..., 0] >= -0.5)
        & (cen[..., 0] <= W - 0.5)
        & (cen[..., 1] >= -0.5)
        & (cen[..., 1] <= H - 0.5)
    )
    return Movie(
        images=images,
        trajectories=traj,
        centroids=cen,
        in_view=in_view,
        D=D_arr,
        index=np.arange(start, start + n, dtype=np.int64),
        frame_times_s=frame_start_times_s(params, T),
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
    chunk = check_int("chunk", chunk, 1)
    D_all = None if D is None or np.ndim(D) == 0 else as_D_array(D, n)
    for pos in range(0, n, chunk):
        m = min(chunk, n - pos)
        d = D if D_all is None else D_all[pos : pos + m]
        yield simulate(
            m, params, seed=seed, D=d, start=start + pos, photons=photons, threads=threads
        )
