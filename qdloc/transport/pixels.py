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
* **Observation.** As in the image model: line ``i``'s counts are Poisson around Eq. 1 with the
  dot held at the line's middle; z enters only through the expected brightness factor at the
  line's time since the movie began (``sqrt(σz²/(σz²+σ0²+2Dt))``, ``σ0 = start_z_sd_um``),
  which over a 30-frame movie at D = 3 falls to about 0.5: the z walk is not tracked as a state.
  The likelihood is written relative to a background-only line, so that a dot far from every
  pixel has likelihood ratio exactly 1 (it adds no photons).
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
  exactly, mass that did is corrected (errors are 5-sd tails of one frame's walk).
* **Estimate.** ``log p(counts | D)`` on a grid of D (log-spaced, then refined around the
  maximum), a cubic spline in ``log D``; the maximum is the MLE, and the 95 % interval is where
  the profile log likelihood is within ``χ²₁(0.95)/2 = 1.92`` of it (Wilks; D is the only
  parameter, the start and the whole path are integrated out). Several movies: sum of their
  log likelihoods.

Checks (``tests/test_pixel_diffusion.py``): a one-frame movie has the image model's evidence
(within 0.01 nats at the true D); on three 3 x 4 frames the log likelihood agrees with
importance sampling of the pixel-level simulator (z walk included) within 0.16 nats, and its
change between D = 0.5 and 2 within 0.05 nats; simulated movies are recovered. The line-by-line
pass runs in float32 (the same log likelihoods as float64 within 0.001 nats per movie) and the
lattice spacing of 1 px moved a pooled estimate by about 1 % against 0.5 px.

What it does not yet do: track z. On chapter 07's movies (16 per D, 30 frames,
:func:`qdloc.study.pixel_diffusion.pixel_diffusion_study`) the pooled estimate is within 3.3 %
of the truth at D = 0.25-1.5 µm²/s but 11-15 % low at 2-3, and the per-movie 95 % intervals hold
the truth in only 74 % of 112 movies; on 40 movies per D, +9.4 % at D = 0.5 and -10.1 % at 2,
intervals holding the truth in 73 % of 80. The errors follow each movie's z walk: at D = 1, movie 0's
dot stays near the focal plane (1.17 times the model's expected brightness, averaged over the
frames) and comes out at 0.59 µm²/s, movie 2's wanders off (0.84 times) and comes out at 2.6.
A dot brighter than the model expects is read as a slow one. With z made irrelevant
(``sigma_z_um`` = 100 µm, ``n_qd`` scaled to keep the peak) the same walks give pooled
estimates 0.9 % low at D = 0.5 and 5.2 % high at D = 2, and 27 of 32 per-movie intervals
(84 %) hold the truth; at D = 3 on 24 movies, 0.9 % low with 22 of 24 intervals (92 %)
holding it, so the line-level approximation is not what biases the estimate. The remedy is z as
a state of the chain: a prototype with 17 nodes of ``abs(z)`` (0.4 µm apart, the simulator's
free z walk folded, Eq. 1's z factor per node) was 15-24 times slower (27 against 394 frames/s
at D = 1) and was not finished or measured at high D; it is not in this module.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
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


def _brightness(params: SimParams, D: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Expected brightness factor (B, len(t)) of a dot whose z walks from N(0, start_z_sd)."""
    s2 = params.sigma_z_um**2
    return np.sqrt(s2 / (s2 + params.start_z_sd_um**2 + 2 * D[:, None] * t_s[None, :]))


def _frame_lines(g, counts_f, S, S_sum, A_f, dA, taps, lay, params):
    """Observe the H lines of one frame on the window ``g`` (B, nly, nlx); returns ``g``, log scale."""
    B, H, W = counts_f.shape
    bkg = params.n_bkg
    q = S / bkg  # (W, K)
    A_f, dA, taps = A_f.to(g.dtype), dA.to(g.dtype), taps.to(g.dtype)
    cL0 = torch.empty((B, H, q.shape[1]), dtype=g.dtype)
    cL1 = torch.empty_like(cL0)
    for A in torch.unique(A_f):  # the tables depend on D only through A: share them
        sel = A_f == A
        cL0[sel] = counts_f[sel] @ torch.log1p(A * q)
        cL1[sel] = counts_f[sel] @ (q / (1 + A * q))  # d/dA of log1p(A q)
    log_s = torch.zeros(B, dtype=torch.float64)
    for i in range(H):
        A_i = A_f + dA[:, i]
        logr = cL0[:, i] + dA[:, i, None] * cL1[:, i] - A_i[:, None] * S_sum[None]
        logr = logr.view(B, lay.nb, lay.nlx).clamp_min_(LOG_RATIO_FLOOR)
        r = lay.r0 + i * lay.step
        if float(logr.max()) > MAX_LOG_RATIO:  # a very bright line: scale the rest down first
            mx = logr.amax(dim=(1, 2))
            g *= torch.exp(-mx)[:, None, None]
            log_s += mx.double()
            logr = logr - mx[:, None, None]
        rest = g[:, :r].sum(dim=(1, 2)) + g[:, r + lay.nb :].sum(dim=(1, 2))
        band = g[:, r : r + lay.nb]
        band *= torch.exp(logr)
        tot = rest + band.sum(dim=(1, 2))
        log_s += torch.log(tot.double())
        if i < H - 1:  # the step to the next line, with the normalisation folded into the kernel
            g = _circ_conv(g, taps, 1 / tot)
        else:
            g /= tot[:, None, None]
    return g, log_s


def _movie_batch(counts: torch.Tensor, D: np.ndarray, params: SimParams, h: float) -> np.ndarray:
    """``log p(counts | D)`` of a batch (B, T, H, W) of movies, one D per movie, up to ``-Σ log c!``."""
    B, T, H, W = counts.shape
    a, lp = params.pixel_size_um, params.line_period_s
    lay = _Layout(params, float(D.max()), T, h)
    cells = (a * h) ** 2
    Dt = torch.from_numpy(D)
    T_frame = _transfer(2 * Dt * params.frame_period_s / cells, lay.ny, lay.nx)
    T_gap = _transfer(2 * Dt * (lp + params.frame_pause_s) / cells, lay.ny, lay.nx)
    T_null = _transfer(2 * Dt * (H - 1) * lp / cells, lay.nly, lay.nlx)
    taps = _taps(2 * D * lp / cells)
    S, S_sum = (v.to(LINE_DTYPE) for v in _tables(params, lay))
    t_mid = np.arange(H) * lp + (W - 1) / 2 * params.dwell_s
    m = params.start_margin_px
    prior = np.outer(box_prior(lay.y, m, H - 1 - m, h), box_prior(lay.x, m, W - 1 - m, h))
    t0 = _transfer(2 * Dt * t_mid[0] / cells, lay.ny, lay.nx)
    alpha = torch.fft.irfft2(torch.fft.rfft2(torch.from_numpy(prior)) * t0, s=(lay.ny, lay.nx))
    alpha = alpha.clamp_min(0)
    alpha /= alpha.sum(dim=(1, 2), keepdim=True)
    log_z = torch.zeros(B, dtype=torch.float64)
    wy = slice(lay.ky0, lay.ky0 + lay.nly)
    wx = slice(lay.kx0, lay.kx0 + lay.nlx)
    for f in range(T):
        t_lines = f * params.frame_period_s + t_mid
        A_lines = torch.from_numpy(_brightness(params, D, t_lines))  # (B, H)
        A_f = A_lines[:, H // 2]
        g0 = alpha[:, wy, wx].clone()
        g, log_s = _frame_lines(
            g0.to(LINE_DTYPE, copy=True), counts[:, f].to(LINE_DTYPE), S, S_sum, A_f, A_lines - A_f[:, None],
            taps, lay, params,
        )
        g = g.double()
        beta0 = torch.fft.irfft2(torch.fft.rfft2(g0) * T_null, s=(lay.nly, lay.nlx))
        mx = log_s.clamp_min(0)
        corr = torch.zeros_like(alpha)
        corr[:, wy, wx] = torch.exp(log_s - mx)[:, None, None] * g - torch.exp(-mx)[:, None, None] * beta0
        spec = torch.fft.rfft2(alpha) * T_frame * torch.exp(-mx)[:, None, None]
        spec += torch.fft.rfft2(corr) * T_gap
        alpha = torch.fft.irfft2(spec, s=(lay.ny, lay.nx)).clamp_min_(0)
        tot = alpha.sum(dim=(1, 2))
        alpha /= tot[:, None, None]
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


def movie_log_likelihood(
    movies,
    D,
    params: SimParams | None = None,
    grid_px: float = 1.0,
    batch: int = 32,
    threads: int | None = 1,
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
        (movie, D) pairs per vectorised pass (pairs are sorted by D, so that each pass's
        lattice fits its largest D).
    threads : int or None
        Torch intra-op threads during the call (``None``: leave torch's setting).

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
        for lo in range(0, len(pairs), batch):
            idx = pairs[lo : lo + batch]
            mv, _ = np.unravel_index(idx, Dm.shape)
            out[idx] = _movie_batch(torch.from_numpy(arr[mv]), Dm.reshape(-1)[idx].copy(), params, h)
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
