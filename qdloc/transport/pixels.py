"""D straight from the pixels: the likelihood of the diffusion coefficient given a movie's counts.

No localisation and no linking: the line-level hidden Markov model of
:mod:`qdloc.localise.bayes` is run across all the frames of a movie, and the forward pass's
normalisers give ``log p(counts | D)``, the likelihood of ``D`` itself.

* **State and clocks.** The dot's position at the middle of each line's dwells, on a lattice
  of spacing ``grid_px``. Between the middles of consecutive lines of a frame one line period
  passes; from the last line of a frame to the first of the next, one line period plus
  ``frame_pause_s`` (the simulator's clocks, :func:`qdloc.sim.scanner.movie_sample_intervals_s`:
  the last dwell, the flyback and the pause). Each step is the discrete Gaussian
  ``e^{-t} I_n(t)`` of the right variance (:func:`qdloc.localise.bayes.discrete_gaussian`).
* **z.** A hidden state of the chain too. The simulator's z walk is free and starts symmetric
  about the focal plane (``start_z_sd_um``; default 0, in focus), and Eq. 1 depends on z only
  through ``b = exp(-z²/2σz²)``, so the chain tracks ``|z|`` on :data:`N_Z` nodes
  (:func:`z_nodes`): six equally spaced in ``b`` from 1 down to :data:`Z_B_MIN` (2.45 σz), then
  two dark ones (3.3 and 4.5 σz) that hold the walk's excursions away from focus. Its walk is
  the finite-volume Laplacian on those nodes, reflecting at 0 (the fold) and at the top
  (:func:`z_walk`), exponentiated for each time step. z moves slowly against a line (0.08 µm
  per line at D = 3 µm²/s, 0.4 µm per frame, against σz = 1.36 µm), so it is held fixed for
  blocks of :data:`Z_BLOCK` lines and steps between blocks and between frames (the steps add
  up to the simulator's clocks). The nodes are an extra batch dimension: the (x, y) line pass
  runs once for all of them (a likelihood costs 4.6-6.2 times the chain without z).
* **Observation.** Line ``i``'s counts are Poisson around Eq. 1 with the dot held at the line's
  middle, at the brightness of its z node. The likelihood is written relative to a
  background-only line, so that a dot far from every pixel has likelihood ratio exactly 1 (it
  adds no photons).
* **Leaving the field and coming back.** The dot is followed on a large periodic lattice (a
  torus) whose period exceeds the field, plus the PSF's reach, by :data:`WRAP_SD` standard
  deviations of the whole movie's walk per axis: a dot that leaves keeps diffusing, unobserved,
  and may come back; coming back "round the torus" needs a walk of more than
  :data:`WRAP_SD` sd (probability below 1e-4). The frame-to-frame update of that lattice is one
  FFT product (the discrete Gaussian's transfer function ``exp(-t(2 - cos ωx - cos ωy))`` is
  exact on a torus). The line-by-line part, where the counts act, runs only on a local window:
  the field, the PSF's reach (:func:`psf_reach_px`) and :data:`LOCAL_SD` sd of one frame's walk.
  Because the observation acts linearly, the frame update is
  ``α' = K_gap * (K_frame * α + [β - β0])``, with ``β`` the window after the frame's lines and
  ``β0`` the same window diffused without observations: mass that never met the field moves
  exactly, mass that did is corrected (errors are 5-sd tails of one frame's walk). z's steps
  commute with the (x, y) ones: each term takes the z step of its own span of time.
* **Estimate.** ``log p(counts | D)`` on a grid of D (log-spaced, then refined around the
  maximum), a cubic spline in ``log D``; the maximum is the MLE, and the 95 % interval is where
  the profile log likelihood is within ``χ²₁(0.95)/2 = 1.92`` of it (Wilks; D is the only
  parameter, the start and the whole path are integrated out). Several movies: sum of their
  log likelihoods.

Checks (``tests/test_pixel_diffusion.py``): a one-frame movie has the image model's evidence
(within the test's 0.02 nats at D >= 1); on three 3 x 4 frames the log likelihood agrees with
importance sampling of the pixel-level simulator (z walk included) within 0.19 nats (the
reference's own scatter: up to 0.09), and its change between D = 0.5 and 2 within 0.05 nats;
the default z chain agrees with a finer one (16 nodes, a z step every line) within 0.16 nats on
6-frame movies at D = 3; simulated movies are recovered. Measured before z was a state: the line-by-line pass in
float32 gave the same log likelihoods as float64 within 0.001 nats per movie, and the lattice
spacing of 1 px moved a pooled estimate by about 1 % against 0.5 px.

Measured (``/tmp/pix12`` scripts, one torch thread, on a machine shared with other jobs):

* **Approximation error of the z chain.** Against a dense chain (41 nodes 0.15 µm apart up to
  4.5 σz, a z step every line), on 4 of chapter 07's movies (30 frames, D = 2) at D = 1, 2 and
  4: the default (8 nodes, blocks of 6 lines) within 0.74 nats per movie (mean +0.05), and the
  changes ``log p(D) - log p(2)`` within 1.0 nats (mean +0.07 at D = 1, +0.12 at 4: a slightly
  flatter likelihood, no tilt); 10 nodes: 0.71 and 0.33 nats; 12 nodes: 0.55 and 0.35; a z
  step every line instead of every 6 lines: no closer (0.72, 1.07); nodes equally spaced in
  ``|z|`` (8 or 10) were worse (up to 1.2 nats). Without z as a state the log likelihood was
  55 nats off a per-line 17-node chain, and ``log p(D) - log p(2)`` 22 nats off. On 3 x 4
  frames with σz = 0.4 µm (z matters 3.4 times more; ``n_qd`` scaled to keep the peak) the
  default is within 0.32 nats of importance sampling and 16 nodes with a step every line 0.20.
* **Speed.** Movies per second of one likelihood evaluation (30 frames, 24 x 25 px, 8 movies
  per batch), without z as a state / with it, same run: 16.6 / 3.6 at D = 0.5, 14.3 / 2.8 at 1,
  11.6 / 2.1 at 2, 9.8 / 1.6 at 3 (4.6-6.2 times slower, about the number of nodes).
* **Bias.** On chapter 07's movies (seed 70, 40 per D, 30 frames, first-pass grid 0.08, 0.18,
  0.4, 0.9, 2, 4.5 and 10 µm²/s, ``n_refine=6``): pooled D 0.522 µm²/s at D = 0.5 (+4.4 %, 95 %
  interval 0.487-0.559) and 2.118 at D = 2 (+5.9 %, 1.960-2.290); on the first 16 at D = 0.25, 1
  and 3: +2.0, -0.2 and +2.1 % (without z as a state: +9.4 % at 0.5, 11-15 % low at 2-3). A 0.5 px
  lattice (24 movies, D = 0.5) moved single movies' MLEs by -1.3 % (sd 1.9 %) and raised the
  information by 7 %.
* **Coverage** (``/tmp/pixcov``). Per-movie 95 % intervals held the truth in 112 of chapter 07's
  128 movies at D = 0.25-3 (87.5 %), but chapter 07 gives every D the same random numbers (steps
  scaled by √D), so hard movies miss at every D (movie 6 at 0.25, 0.5 and 1; 13 at 1, 2 and 3):
  the 16 misses are 9 movies, not 16 independent trials. On independent movies the likelihood is
  calibrated: ``W = 2(ℓ(D̂) - ℓ(D))`` had mean 0.92 ± 0.12 and 95 % quantile 3.0 ± 0.8 at
  D = 0.5 (100 movies, seed 71; χ²₁: 1 and 3.84), and the score's variance over the mean observed
  information (1 for a correct model at any sample size) was 0.93 ± 0.09 at D = 0.5 (200 movies)
  and 0.75 ± 0.13 at D = 2 (100): no approximation (lattice, dot held at each line's middle, z
  chain) makes it overconfident, and Wilks holds on 30 frames. A 16-node z chain stepping every
  line changed W by -0.03 ± 0.03 (40 movies, D = 2); the interval search gives a dense grid's
  intervals. Validation (:func:`pixel_estimates`, the grid above, fresh independent movies of
  seed 73): 40 of 40 at D = 0.5 and 75 of 80 at D = 2 (115 of 120, 95.8 ± 1.8 %); with 20 at
  0.25 and 1 and 40 at 3, 192 of 200 (96.0 ± 1.4 %; misses 6 above, 2 below). W's mean grows
  with D: 0.71 ± 0.09 at D <= 1 (80 of 80 held), 1.26 ± 0.17 at 2-3 (112 of 120, 93.3 ± 2.3 %),
  where a dot that leaves the field early makes a movie's likelihood irregular (a miss at D = 3
  had D̂ = 14.8). Rerun: :func:`qdloc.study.pixel_diffusion.coverage_check`. Its own files,
  five of 40 movies each on seeds 74-78 (``data/checks/pixel_coverage_*``, read by chapter 07):
  186 of 200 intervals held the truth (93.0 ± 1.8 %; 36, 37, 37 of 40 at D = 0.5, 37 and 39 at
  2; misses 10 above, 4 below) and the pooled estimates were +0.6 to +3.3 % off.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.special
import torch
from scipy import fft as sfft
from scipy.interpolate import CubicSpline

from qdloc.localise.bayes import box_prior, check_D, check_positive, discrete_gaussian
from qdloc.sim.params import SimParams, check_int
from qdloc.sim.psf import eq1_signal

__all__ = [
    "psf_reach_px",
    "movie_log_likelihood",
    "profile_interval",
    "pixel_estimates",
    "D_from_pixels",
    "z_nodes",
    "z_walk",
    "CHI2_95_HALF",
]

#: Half the 95 % quantile of χ²₁: the profile-likelihood drop at the ends of a 95 % interval.
CHI2_95_HALF = 1.920729410347062
#: The torus exceeds the field (plus the PSF's reach) by this many sd of the movie's walk.
WRAP_SD = 4.0
#: The local window exceeds the field (plus reach) by this many sd of one frame's walk.
LOCAL_SD = 5.0
#: The line-step kernel is cut at this many sd (its mass beyond: < 1e-6).
TAP_SD = 5.0
#: A dot farther than the PSF's reach from every pixel adds fewer photons than this per pixel.
REACH_PHOTONS = 1e-4
#: Precision of the line-by-line pass on the local window (the torus is float64).
LINE_DTYPE = torch.float32
#: Largest log likelihood ratio of one line applied without rescaling (float32 holds e^88).
MAX_LOG_RATIO = 60.0
#: Floor of a line's log likelihood ratio (as the image model's floor of -70): keeps float32
#: clear of underflow where the counts rule the dot out.
LOG_RATIO_FLOOR = -70.0
#: Default number of ``|z|`` nodes (:func:`z_nodes`).
N_Z = 8
#: Brightness factor of the last bright ``|z|`` node (:func:`z_nodes`).
Z_B_MIN = 0.05
#: The top ``|z|`` node, in σz (Eq. 1's z factor there: 4e-5), reflecting.
Z_REACH_SD = 4.5
#: Default lines between z steps (the z walk moves 0.08 µm per line at D = 3, σz = 1.36 µm).
Z_BLOCK = 6
#: Largest ratio of D within one vectorised batch (the lattice grows with the batch's largest D).
BATCH_D_RATIO = 1.5
#: Default log-spaced grid of D, µm²/s, for the first pass of :func:`D_from_pixels`.
D_GRID = tuple(float(v) for v in np.geomspace(0.04, 12.0, 11))


def psf_reach_px(params: SimParams) -> float:
    """Distance (px) beyond which a dot in focus adds fewer than :data:`REACH_PHOTONS` per pixel.

    Parameters
    ----------
    params : SimParams

    Returns
    -------
    float
    """
    peak = float(eq1_signal(0.0, 0.0, 0.0, params))
    if peak <= REACH_PHOTONS:
        return 0.0
    return params.sigma_xy_um / params.pixel_size_um * math.sqrt(2 * math.log(peak / REACH_PHOTONS))


def _size(half: float, h: float) -> int:
    """Cells per axis of a lattice centred on the field that covers ``±half`` px."""
    return 2 * int(math.ceil(half / h)) + 1


class _Layout:
    """Lattice sizes of one batch: the torus, the local window and the line bands."""

    def __init__(self, params: SimParams, D_max: float, T: int, h: float):
        H, W, a = params.height_px, params.width_px, params.pixel_size_um
        reach = psf_reach_px(params)
        sd_frame = math.sqrt(2 * D_max * params.frame_period_s) / a
        sd_movie = math.sqrt(2 * D_max * T * params.frame_period_s) / a
        self.h, self.reach = h, reach
        self.cx, self.cy = (W - 1) / 2, (H - 1) / 2
        # local window: field + reach + LOCAL_SD frame sd (+ one cell)
        loc = LOCAL_SD * sd_frame + reach + h
        self.nlx, self.nly = _size((W - 1) / 2 + loc, h), _size((H - 1) / 2 + loc, h)
        # torus: field + reach + WRAP_SD movie sd, and at least the window
        pad = max(loc, reach + 0.5 * WRAP_SD * sd_movie)
        self.nx = max(sfft.next_fast_len(_size((W - 1) / 2 + pad, h)), self.nlx)
        self.ny = max(sfft.next_fast_len(_size((H - 1) / 2 + pad, h)), self.nly)
        self.x = self.cx + h * (np.arange(self.nx) - self.nx // 2)
        self.y = self.cy + h * (np.arange(self.ny) - self.ny // 2)
        self.kx0, self.ky0 = self.nx // 2 - self.nlx // 2, self.ny // 2 - self.nly // 2
        self.xl = self.x[self.kx0 : self.kx0 + self.nlx]
        self.yl = self.y[self.ky0 : self.ky0 + self.nly]
        # rows of the window within reach of line 0; line i's band starts i/h rows lower
        self.r0 = int(math.ceil((-reach - self.yl[0]) / h - 1e-9))
        self.nb = int(math.floor((reach - self.yl[0]) / h + 1e-9)) - self.r0 + 1
        self.dys = self.yl[0] + h * (self.r0 + np.arange(self.nb))  # offsets from line 0, px
        self.step = int(round(1 / h))
        if self.r0 < 0 or self.r0 + (H - 1) * self.step + self.nb > self.nly:  # pragma: no cover
            raise AssertionError("the local window does not hold every line's band")


def _transfer(t_cells: torch.Tensor, ny: int, nx: int) -> torch.Tensor:
    """rFFT transfer functions (B, ny, nx//2+1) of discrete Gaussians of variance ``t`` cells²."""
    wy = torch.from_numpy(2 - 2 * np.cos(2 * np.pi * np.fft.fftfreq(ny)))
    wx = torch.from_numpy(2 - 2 * np.cos(2 * np.pi * np.fft.rfftfreq(nx)))
    return torch.exp(-t_cells[:, None, None] * (wy[:, None] + wx[None, :]) / 2)


def _taps(t_cells: np.ndarray) -> torch.Tensor:
    """Line-step kernels (B, 2r+1), one per batch element, padded to the largest radius."""
    ks = [discrete_gaussian(t, TAP_SD) for t in t_cells]
    r = max(len(k) for k in ks) // 2
    out = np.zeros((len(ks), 2 * r + 1))
    for b, k in enumerate(ks):
        q = len(k) // 2
        out[b, r - q : r + q + 1] = k
    return torch.from_numpy(out)


def _circ_conv(g: torch.Tensor, w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Periodic convolution of ``g`` (B, ny, nx) along both axes with kernels ``w`` (B, 2r+1),
    times ``scale`` (B,)."""
    r = w.shape[1] // 2
    if r == 0:
        return g * scale[:, None, None]
    B = g.shape[0]
    x = torch.nn.functional.pad(g[None], (r, r, 0, 0), mode="circular")
    x = torch.nn.functional.conv2d(x, (w * scale[:, None])[:, None, None, :], groups=B)
    x = torch.nn.functional.pad(x, (0, 0, r, r), mode="circular")
    return torch.nn.functional.conv2d(x, w[:, None, :, None], groups=B)[0]


def _tables(params: SimParams, lay: _Layout) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-brightness signal ``S`` (W, nb·nlx) of a dot at each band offset and window column,
    and its line sum (nb·nlx,)."""
    a, W = params.pixel_size_um, params.width_px
    dx = (lay.xl[None, None, :] - np.arange(W)[:, None, None]) * a
    sig = eq1_signal(dx, lay.dys[None, :, None] * a, 0.0, params)  # (W, nb, nlx)
    s = torch.from_numpy(sig.reshape(W, -1))
    return s, s.sum(0)


def z_nodes(params: SimParams, n_z: int = N_Z) -> np.ndarray:
    """The ``|z|`` nodes (µm) of the chain: ``n_z`` of them, quadrature-like in the brightness.

    Eq. 1 depends on z only through ``b = exp(-z²/2σz²)``. The first ``n_z - 2`` nodes are
    equally spaced in ``b`` from 1 (z = 0) down to :data:`Z_B_MIN` (where the dot is nearly
    dark, 2.45 σz), so that the brightness is resolved evenly; two dark nodes at 3.3 and
    :data:`Z_REACH_SD` σz keep the walk's excursions away from focus (and their return time).

    Parameters
    ----------
    params : SimParams
    n_z : int
        Number of nodes (>= 4).

    Returns
    -------
    ndarray (n_z,)
        Increasing ``|z|``, µm, from 0.
    """
    n_z = check_int("n_z", n_z, 4)
    b = np.linspace(1.0, Z_B_MIN, n_z - 2)
    s = np.sqrt(-2 * np.log(b))
    return params.sigma_z_um * np.concatenate([s, [3.3, Z_REACH_SD]])


def z_walk(params: SimParams, z_um: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brightness factors, the folded z walk's generator per unit D, and the start, on nodes.

    The simulator's z walk is free and starts symmetric about the focal plane, so ``|z|`` is a
    reflected walk (Neumann at 0). On nodes ``z_0 = 0 < z_1 < ...`` the generator is the
    finite-volume Laplacian: node ``k`` owns the cell between the midpoints to its
    neighbours (from 0 at the bottom; the top cell ends at its node, reflecting), and the rate
    from ``k`` to a neighbour ``j`` is ``1 / (|cell_k| |z_j - z_k|)`` per unit D (mass is
    conserved; on equal spacing ``dz`` the rates are ``1/dz²``, twice that out of 0: the
    fold of the nearest-neighbour walk of variance ``2Dt``).

    Parameters
    ----------
    params : SimParams
    z_um : ndarray (n,)
        Increasing nodes from 0, µm (:func:`z_nodes`).

    Returns
    -------
    brightness : ndarray (n,)
        Eq. 1's z factor ``exp(-z²/2σz²)`` at each node.
    generator : ndarray (n, n)
        Rates per unit D (row: from), rows sum to 0.
    start : ndarray (n,)
        Start distribution of ``|z|`` (``start_z_sd_um`` 0: the node z = 0; else the folded
        normal's mass in each node's cell).
    """
    z = np.asarray(z_um, dtype=np.float64)
    if z.ndim != 1 or len(z) < 2 or z[0] != 0 or np.any(np.diff(z) <= 0):
        raise ValueError(f"z nodes {z!r}: expected at least 2 increasing values from 0")
    mids = (z[1:] + z[:-1]) / 2
    edges = np.concatenate([[0.0], mids, [z[-1]]])
    width = np.diff(edges)
    n = len(z)
    Q = np.zeros((n, n))
    k = np.arange(n - 1)
    Q[k, k + 1] = 1 / (width[k] * np.diff(z))
    Q[k + 1, k] = 1 / (width[k + 1] * np.diff(z))
    Q[np.arange(n), np.arange(n)] = -Q.sum(1)
    sd = params.start_z_sd_um
    if sd == 0:
        start = np.eye(n)[0]
    else:
        cdf = scipy.special.erf(edges / (sd * math.sqrt(2)))
        start = np.diff(cdf)
        start[-1] += 1 - cdf[-1]
    return np.exp(-0.5 * (z / params.sigma_z_um) ** 2), Q, start


def _z_steps(Q: np.ndarray, D: np.ndarray, t_s: float) -> torch.Tensor:
    """Transition matrices (B, n, n) of the ``|z|`` walk over ``t_s`` seconds, one per D."""
    out = np.empty((len(D), *Q.shape))
    for d in np.unique(D):
        out[D == d] = scipy.linalg.expm(Q * d * t_s)
    return torch.from_numpy(np.clip(out, 0, None))


def _zmix(g: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Apply the z step ``P`` (B, n, n) to ``g`` (B, n, ...) (row vectors: ``g' = g P``)."""
    B, n = g.shape[:2]
    out = torch.bmm(P.transpose(1, 2).to(g.dtype), g.reshape(B, n, -1))
    return out.view(g.shape)


def _frame_lines(g, counts_f, L, A_S, taps, Pz_block, block, lay):
    """Observe the H lines of one frame on the window ``g`` (B, nz, nly, nlx); returns ``g``,
    log scale. ``L`` (nz, W, K) are ``log1p(b_z S / n_bkg)``, ``A_S`` (nz, K) the line sums;
    ``Pz_block`` is the z step applied after every ``block`` lines."""
    B, H, W = counts_f.shape
    nz = g.shape[1]
    cL = (counts_f.reshape(B * H, W) @ L.permute(1, 0, 2).reshape(W, -1)).view(B, H, nz, -1) - A_S
    taps_z = taps.to(g.dtype).repeat_interleave(nz, 0)
    log_s = torch.zeros(B, dtype=torch.float64)
    for i in range(H):
        logr = cL[:, i].view(B, nz, lay.nb, lay.nlx).clamp_min(LOG_RATIO_FLOOR)
        r = lay.r0 + i * lay.step
        if float(logr.max()) > MAX_LOG_RATIO:  # a very bright line: scale the rest down first
            mx = logr.amax(dim=(1, 2, 3))
            g *= torch.exp(-mx)[:, None, None, None]
            log_s += mx.double()
            logr = logr - mx[:, None, None, None]
        rest = g[:, :, :r].sum(dim=(1, 2, 3)) + g[:, :, r + lay.nb :].sum(dim=(1, 2, 3))
        band = g[:, :, r : r + lay.nb]
        band *= torch.exp(logr)
        tot = rest + band.sum(dim=(1, 2, 3))
        log_s += torch.log(tot.double())
        if i < H - 1:  # the step to the next line, with the normalisation folded into the kernel
            gx = _circ_conv(g.view(B * nz, lay.nly, lay.nlx), taps_z, (1 / tot).repeat_interleave(nz))
            g = gx.view(B, nz, lay.nly, lay.nlx)
            if (i + 1) % block == 0:
                g = _zmix(g, Pz_block)
        else:
            g /= tot[:, None, None, None]
    return g, log_s


def _movie_batch(counts: torch.Tensor, D: np.ndarray, params: SimParams, h: float,
                 z_um: np.ndarray, block: int) -> np.ndarray:
    """``log p(counts | D)`` of a batch (B, T, H, W) of movies, one D per movie, up to ``-Σ log c!``."""
    B, T, H, W = counts.shape
    a, lp = params.pixel_size_um, params.line_period_s
    lay = _Layout(params, float(D.max()), T, h)
    cells = (a * h) ** 2
    Dt = torch.from_numpy(D)
    T_frame = _transfer(2 * Dt * params.frame_period_s / cells, lay.ny, lay.nx)[:, None]
    T_gap = _transfer(2 * Dt * (lp + params.frame_pause_s) / cells, lay.ny, lay.nx)[:, None]
    T_null = _transfer(2 * Dt * (H - 1) * lp / cells, lay.nly, lay.nlx)[:, None]
    taps = _taps(2 * D * lp / cells)
    bz, Q, z0 = z_walk(params, z_um)
    n_in = (H - 1) // block  # z steps inside a frame, each of `block` lines
    t_in = n_in * block * lp
    Pz_block, Pz_null = _z_steps(Q, D, block * lp), _z_steps(Q, D, t_in)
    Pz_frame = _z_steps(Q, D, params.frame_period_s)
    Pz_end = _z_steps(Q, D, params.frame_period_s - t_in)
    S, S_sum = _tables(params, lay)
    bt = torch.from_numpy(bz)
    L = torch.log1p(bt[:, None, None] * (S / params.n_bkg)[None]).to(LINE_DTYPE)
    A_S = (bt[:, None] * S_sum[None]).to(LINE_DTYPE)
    t_mid = np.arange(H) * lp + (W - 1) / 2 * params.dwell_s
    m = params.start_margin_px
    prior = np.outer(box_prior(lay.y, m, H - 1 - m, h), box_prior(lay.x, m, W - 1 - m, h))
    t0 = _transfer(2 * Dt * t_mid[0] / cells, lay.ny, lay.nx)
    alpha = torch.fft.irfft2(torch.fft.rfft2(torch.from_numpy(prior)) * t0, s=(lay.ny, lay.nx))
    alpha = alpha.clamp_min(0)
    alpha /= alpha.sum(dim=(1, 2), keepdim=True)
    zs = _z_steps(Q, D, t_mid[0]).transpose(1, 2) @ torch.from_numpy(z0)  # (B, nz)
    alpha = alpha[:, None] * zs[:, :, None, None]
    log_z = torch.zeros(B, dtype=torch.float64)
    wy = slice(lay.ky0, lay.ky0 + lay.nly)
    wx = slice(lay.kx0, lay.kx0 + lay.nlx)
    for f in range(T):
        g0 = alpha[:, :, wy, wx].clone()
        g, log_s = _frame_lines(g0.to(LINE_DTYPE, copy=True), counts[:, f].to(LINE_DTYPE), L, A_S,
                                taps, Pz_block, block, lay)
        g = g.double()
        beta0 = _zmix(torch.fft.irfft2(torch.fft.rfft2(g0) * T_null, s=(lay.nly, lay.nlx)), Pz_null)
        mx = log_s.clamp_min(0)
        e1, e0 = torch.exp(log_s - mx)[:, None, None, None], torch.exp(-mx)[:, None, None, None]
        corr = torch.zeros_like(alpha)
        corr[:, :, wy, wx] = _zmix(e1 * g - e0 * beta0, Pz_end)
        spec = torch.fft.rfft2(_zmix(alpha, Pz_frame)) * T_frame * e0
        spec += torch.fft.rfft2(corr) * T_gap
        alpha = torch.fft.irfft2(spec, s=(lay.ny, lay.nx)).clamp_min_(0)
        tot = alpha.sum(dim=(1, 2, 3))
        alpha /= tot[:, None, None, None]
        log_z += mx + torch.log(tot)
    c = counts.sum(dim=(1, 2, 3))
    return (log_z + c * math.log(params.n_bkg) - T * H * W * params.n_bkg).numpy()


def _as_movies(movies, params: SimParams) -> np.ndarray:
    """``movies`` as (n, T, H, W) float64 counts, after checking shape and values."""
    arr = np.asarray(movies)
    if arr.ndim == 3:
        arr = arr[None]
    shape = (params.height_px, params.width_px)
    if arr.ndim != 4 or arr.shape[2:] != shape or arr.shape[1] < 1:
        raise ValueError(
            f"movies have shape {np.shape(movies)}; expected (n, T, {shape[0]}, {shape[1]}) "
            "or (T, H, W) as given by the parameters (height_px, width_px)"
        )
    arr = arr.astype(np.float64)
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
        raise ValueError("movies hold negative or non-finite values; expected photon counts")
    return arr


def _batches(D_sorted: np.ndarray, pairs: np.ndarray, batch: int) -> list[np.ndarray]:
    """Split pairs sorted by D into batches of at most ``batch`` whose largest D is at most
    :data:`BATCH_D_RATIO` times their smallest (a batch's lattice fits its largest D)."""
    out, lo = [], 0
    while lo < len(pairs):
        hi = lo + 1
        while hi < min(len(pairs), lo + batch) and D_sorted[hi] <= BATCH_D_RATIO * D_sorted[lo]:
            hi += 1
        out.append(pairs[lo:hi])
        lo = hi
    return out


def movie_log_likelihood(
    movies,
    D,
    params: SimParams | None = None,
    grid_px: float = 1.0,
    batch: int = 32,
    threads: int | None = 1,
    n_z: int = N_Z,
    z_block: int = Z_BLOCK,
) -> np.ndarray:
    """``log p(counts | D)`` of each movie at each D, up to ``-Σ log c!`` (the same for every D).

    Parameters
    ----------
    movies : array_like (n, T, H, W) or (T, H, W)
        Photon counts of movies simulated with ``params`` (:func:`qdloc.sim.simulate.simulate_movie`).
    D : array_like (k,) or (n, k)
        Diffusion coefficients, µm²/s (> 0): the same for every movie, or one row per movie.
    params : SimParams, optional
        The simulator's parameters (default: the calibrated ``SimParams()``); Poisson counts
        (``pmt_excess_noise`` 1). ``frame_pause_s`` sets the time between frames.
    grid_px : float
        Lattice spacing, px (``1/grid_px`` an integer: 1, 0.5, 0.25 ...).
    batch : int
        (movie, D) pairs per vectorised pass (pairs are sorted by D and a pass holds D within a
        factor :data:`BATCH_D_RATIO`, so that its lattice, which fits its largest D, is not
        much larger than each pair needs).
    threads : int or None
        Torch intra-op threads during the call (``None``: leave torch's setting).
    n_z : int
        Nodes of ``|z|`` (:func:`z_nodes`).
    z_block : int
        Lines between steps of z (z is held within a block; the frame's last block ends at
        the next frame's first line).

    Returns
    -------
    ndarray (n, k)
    """
    params = params or SimParams()
    if params.pmt_excess_noise != 1.0:
        raise ValueError(
            f"pmt_excess_noise={params.pmt_excess_noise!r} is not allowed: the pixel likelihood "
            "expects Poisson counts (1.0)"
        )
    h = check_positive("grid_px", grid_px, 2.0)
    if abs(1 / h - round(1 / h)) > 1e-9:
        raise ValueError(f"grid_px={grid_px!r} is not allowed: expected 1/grid_px to be an integer")
    batch = check_int("batch", batch, 1)
    z_block = check_int("z_block", z_block, 1)
    z_um = z_nodes(params, n_z)
    arr = _as_movies(movies, params)
    Dv = np.asarray(D, dtype=np.float64)
    Dm = np.broadcast_to(Dv, (len(arr), Dv.shape[-1])) if Dv.ndim == 1 else Dv
    if Dm.ndim != 2 or Dm.shape[0] != len(arr):
        raise ValueError(f"D has shape {Dv.shape}; expected (k,) or ({len(arr)}, k)")
    for v in np.unique(Dm).tolist():
        if not (check_D(v) > 0):
            raise ValueError(f"D={v!r} is not allowed: expected D > 0 µm²/s")
    pairs = np.argsort(Dm, axis=None, kind="stable")
    out = np.empty(Dm.size)
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads, 1))
    try:
        for idx in _batches(Dm.reshape(-1)[pairs], pairs, batch):
            mv, _ = np.unravel_index(idx, Dm.shape)
            out[idx] = _movie_batch(torch.from_numpy(arr[mv]), Dm.reshape(-1)[idx].copy(), params, h,
                                    z_um, z_block)
    finally:
        torch.set_num_threads(old)
    return out.reshape(Dm.shape)


def profile_interval(D, log_lik, drop: float = CHI2_95_HALF) -> tuple[float, float, float]:
    """MLE and profile-likelihood interval from log likelihoods on a grid of D.

    A cubic spline in ``log D`` through the points; the MLE is its maximum, the interval the
    range where it is within ``drop`` of the maximum. An end that the grid does not reach is
    reported as the grid's end (``0`` below is never claimed; ``inf`` above the grid).

    Parameters
    ----------
    D : array_like (k,)
        Diffusion coefficients, µm²/s (> 0, at least 4 distinct).
    log_lik : array_like (k,)
        Log likelihood at each.
    drop : float
        Drop that defines the interval (1.92: 95 %).

    Returns
    -------
    D_hat, low, high : float
    """
    D = np.asarray(D, dtype=np.float64)
    ll = np.asarray(log_lik, dtype=np.float64)
    if D.shape != ll.shape or D.ndim != 1 or not np.all(D > 0) or not np.all(np.isfinite(ll)):
        raise ValueError(
            f"D {D.shape} and log_lik {ll.shape}: expected equal 1-D shapes, D > 0, finite values"
        )
    u, idx = np.unique(np.log(D), return_index=True)
    if len(u) < 4:
        raise ValueError(f"{len(u)} distinct D values; expected at least 4")
    spline = CubicSpline(u, ll[idx])
    fine = np.linspace(u[0], u[-1], 4001)
    v = spline(fine)
    k = int(np.argmax(v))
    inside = v >= v[k] - drop
    lo_k, hi_k = k, k
    while lo_k > 0 and inside[lo_k - 1]:
        lo_k -= 1
    while hi_k < len(v) - 1 and inside[hi_k + 1]:
        hi_k += 1
    low = float(np.exp(fine[lo_k])) if lo_k > 0 else float(np.exp(u[0]))
    high = float(np.exp(fine[hi_k])) if hi_k < len(v) - 1 else math.inf
    return float(np.exp(fine[k])), low, high


def _refine(D_grid: np.ndarray, ll: np.ndarray, n: int) -> np.ndarray:
    """``n`` log-spaced D around a first interval (widened by 25 % on the log scale)."""
    _, lo, hi = profile_interval(D_grid, ll)
    hi = min(hi, D_grid[-1] * 1.5)
    lo_l, hi_l = math.log(lo), math.log(hi)
    pad = 0.25 * (hi_l - lo_l) + 0.05
    return np.exp(np.linspace(lo_l - pad, hi_l + pad, n))


def _movie_list(movies, params: SimParams) -> list[np.ndarray]:
    """Movies as a list of (T, H, W) float64 counts (an array (n, T, H, W) or a list of movies)."""
    if isinstance(movies, list | tuple):
        if not movies:
            raise ValueError("movies is empty; expected at least one movie")
        bad = [i for i, m in enumerate(movies) if np.ndim(m) != 3]
        if bad:
            raise ValueError(f"movie {bad[0]} of the list has {np.ndim(movies[bad[0]])} dimensions; "
                             "expected (T, H, W)")
        return [_as_movies(m, params)[0] for m in movies]
    return list(_as_movies(movies, params))


def _log_lik(movies: list[np.ndarray], D: np.ndarray, params, grid_px, threads) -> np.ndarray:
    """``log p`` (n, k) of a list of movies (any frame counts) at D (n, k), grouped by length."""
    out = np.empty(D.shape)
    lengths = np.array([len(m) for m in movies])
    for T in np.unique(lengths):
        sel = np.flatnonzero(lengths == T)
        out[sel] = movie_log_likelihood(np.stack([movies[i] for i in sel]), D[sel], params,
                                        grid_px, threads=threads)
    return out


def pixel_estimates(
    movies,
    params: SimParams | None = None,
    per_movie: bool = True,
    pooled: bool = True,
    D_grid=D_GRID,
    grid_px: float = 1.0,
    n_refine: int = 8,
    threads: int | None = 1,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Per-movie and pooled MLEs of D with 95 % profile-likelihood intervals, sharing one pass.

    The log likelihood of every movie on ``D_grid``; then ``n_refine`` values around each
    movie's first interval (``per_movie``) and around the pooled one (``pooled``).

    Parameters
    ----------
    movies : array_like (n, T, H, W) or (T, H, W), or a list of (T_i, H, W) movies
        Photon counts of movies recorded with ``params``.
    params : SimParams, optional
        The simulator's parameters (default: the calibrated ``SimParams()``).
    per_movie, pooled : bool
        Which estimates to return (the other is ``None``).
    D_grid : sequence of float
        First-pass grid of D, µm²/s (log-spaced; at least 4 values).
    grid_px : float
        Lattice spacing, px (:func:`movie_log_likelihood`).
    n_refine : int
        D values added around each first-pass interval (0: none).
    threads : int or None
        Torch threads (:func:`movie_log_likelihood`).

    Returns
    -------
    per_movie, pooled : DataFrame or None
        Columns ``movie`` (0..n-1, or "pooled"), ``n_movies``, ``n_frames`` (frames used),
        ``D_um2_per_s``, ``ci_low``, ``ci_high`` (95 %; ``inf`` when the likelihood has not
        dropped by 1.92 at the grid's top) and ``log_lik_max``.
    """
    params = params or SimParams()
    mvs = _movie_list(movies, params)
    grid = np.asarray(D_grid, dtype=np.float64)
    n_refine = check_int("n_refine", n_refine, 0)
    n = len(mvs)
    ll = _log_lik(mvs, np.broadcast_to(grid, (n, len(grid))), params, grid_px, threads)
    cols = ["movie", "n_movies", "n_frames", "D_um2_per_s", "ci_low", "ci_high", "log_lik_max"]
    one = pool = None
    if pooled:
        tot, Ds = ll.sum(0), grid
        if n_refine:
            extra = _refine(grid, tot, n_refine)
            Ds = np.concatenate([grid, extra])
            more = _log_lik(mvs, np.broadcast_to(extra, (n, len(extra))), params, grid_px, threads)
            tot = np.concatenate([tot, more.sum(0)])
        row = ("pooled", n, sum(len(m) for m in mvs), *profile_interval(Ds, tot), tot.max())
        pool = pd.DataFrame([row], columns=cols)
    if per_movie:
        Ds = np.broadcast_to(grid, ll.shape)
        if n_refine:
            extra = np.stack([_refine(grid, r, n_refine) for r in ll])
            ll = np.concatenate([ll, _log_lik(mvs, extra, params, grid_px, threads)], axis=1)
            Ds = np.concatenate([Ds, extra], axis=1)
        rows = [(m, 1, len(mvs[m]), *profile_interval(Ds[m], ll[m]), ll[m].max()) for m in range(n)]
        one = pd.DataFrame(rows, columns=cols)
    return one, pool


def D_from_pixels(
    movies,
    params: SimParams | None = None,
    pool: bool = False,
    D_grid=D_GRID,
    grid_px: float = 1.0,
    n_refine: int = 8,
    threads: int | None = 1,
) -> pd.DataFrame:
    """Maximum-likelihood D and its 95 % profile-likelihood interval from movies' photon counts.

    Parameters
    ----------
    movies : array_like (n, T, H, W) or (T, H, W), or a list of (T_i, H, W) movies
        Photon counts of movies recorded with ``params``.
    params : SimParams, optional
        The simulator's parameters (default: the calibrated ``SimParams()``).
    pool : bool
        One estimate from all movies (sum of log likelihoods) instead of one per movie.
    D_grid, grid_px, n_refine, threads
        As for :func:`pixel_estimates`.

    Returns
    -------
    DataFrame
        One row per movie, or one row with ``pool`` (:func:`pixel_estimates`' columns).
    """
    one, pooled = pixel_estimates(movies, params, not pool, pool, D_grid, grid_px, n_refine, threads)
    return pooled if pool else one
