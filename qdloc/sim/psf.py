"""Chapter 03: expected photon counts (the paper's Eq. 1) and Poisson noise.

With the dot at ``(X, Y, Z)`` and the beam at ``(x, y, z)``, the expected
number of photons recorded in one pixel is

.. math::

    N = \\frac{N_{qd}}{2\\pi\\sigma_{xy}^2}
        e^{-\\frac{(X-x)^2 + (Y-y)^2}{2\\sigma_{xy}^2}}
        \\frac{1}{\\sqrt{2\\pi}\\sigma_z} e^{-\\frac{(Z-z)^2}{2\\sigma_z^2}} + N_{bkg}.

The recorded count is Poisson with that mean. We draw it by *inversion* from
one uniform number per pixel and per term (background, signal): a
``Poisson(N_bkg)`` and a ``Poisson(signal)`` draw summed, which is exactly
``Poisson(N)``. Inversion consumes a fixed amount of randomness whatever the
mean is, so an image's noise does not depend on the other images drawn with it
(see :mod:`qdloc.sim.simulate`), and it is fast: the background term uses a lookup
table, and the signal term is zero with probability ``exp(-signal)``, which
settles almost every pixel in one comparison.
"""

from __future__ import annotations

import math

import numpy as np

from qdloc.sim.params import SimParams
from qdloc.sim.scanner import sample_beam_positions_um

__all__ = [
    "eq1_signal",
    "signal_counts",
    "expected_counts",
    "expected_counts_static",
    "poisson_inverse",
    "poisson_inverse_const",
    "sample_counts",
    "pmt_amplify",
    "pmt_moments",
]


def _signal_from_offsets(d2_xy, dz2, params: SimParams, out=None):
    """Eq. 1's first term from squared lateral and axial offsets (µm²)."""
    sxy2 = params.sigma_xy_um**2
    sz2 = params.sigma_z_um**2
    norm = params.n_qd / (2 * math.pi * sxy2 * math.sqrt(2 * math.pi) * params.sigma_z_um)
    arg = d2_xy * (-0.5 / sxy2) + dz2 * (-0.5 / sz2)
    out = np.exp(arg, out=out)
    out *= norm
    return out


def eq1_signal(dx_um, dy_um, dz_um, params: SimParams) -> np.ndarray:
    """Eq. 1's signal term for a dot offset by ``(dx, dy, dz)`` µm from the beam (broadcasts)."""
    dx, dy, dz = (np.asarray(v, dtype=np.float64) for v in (dx_um, dy_um, dz_um))
    return _signal_from_offsets(dx * dx + dy * dy, dz * dz, params)


def signal_counts(traj_um: np.ndarray, params: SimParams) -> np.ndarray:
    """Eq. 1 without the background: expected signal photons per pixel.

    Parameters
    ----------
    traj_um : ndarray, shape (n, H·W, 3)
        Dot positions (x, y, z) in µm, sample ``k = i·W + j`` during the dwell on pixel (i, j).
    params : SimParams

    Returns
    -------
    ndarray, shape (n, H, W), float64
    """
    traj_um = np.asarray(traj_um, dtype=np.float64)
    H, W = params.height_px, params.width_px
    if traj_um.ndim != 3 or traj_um.shape[1:] != (H * W, 3):
        raise ValueError(
            f"traj_um has shape {traj_um.shape}; expected (n, {H * W}, 3) for a {H}x{W} image"
        )
    beam = sample_beam_positions_um(params)  # in scan order: sample k lights up this beam position
    dx = traj_um[..., 0] - beam[:, 0]
    dy = traj_um[..., 1] - beam[:, 1]
    dz = traj_um[..., 2]  # the beam is in the focal plane, z = 0
    dx *= dx
    dy *= dy
    dx += dy
    dz = dz * dz
    out = _signal_from_offsets(dx, dz, params).reshape(-1, H, W)
    if params.bidirectional:  # samples of odd lines ran right to left
        out[:, 1::2] = out[:, 1::2, ::-1].copy()
    return out


def expected_counts(traj_um: np.ndarray, params: SimParams) -> np.ndarray:
    """Eq. 1: expected photons per pixel, ``signal + N_bkg``, shape ``(n, H, W)``."""
    return signal_counts(traj_um, params) + params.n_bkg


def expected_counts_static(xyz_um, params: SimParams) -> np.ndarray:
    """Eq. 1 for a dot that does not move (D = 0), at ``xyz_um`` = (X, Y, Z) µm: shape ``(H, W)``.
    """
    xyz = np.asarray(xyz_um, dtype=np.float64).reshape(1, 1, 3)
    traj = np.broadcast_to(xyz, (1, params.n_pixels, 3))
    return expected_counts(traj, params)[0]


# --------------------------------------------------------------------------
# Exact Poisson sampling by inversion
# --------------------------------------------------------------------------
_GUIDE_BITS = 12  # guide table with 2**12 cells for the constant-mean term


def poisson_inverse_const(lam: float, u: np.ndarray) -> np.ndarray:
    """Poisson(``lam``) variates for a constant mean by inversion of uniforms ``u`` in [0, 1).

    Returns the smallest ``k`` with ``u < F(k)``, ``F`` the Poisson CDF, which
    has exactly the Poisson distribution when ``u`` is uniform. A guide table
    answers most ``u`` with one lookup; the rest (cells that hold a CDF
    step) are settled by a binary search.
    """
    u = np.asarray(u, dtype=np.float64)
    if lam == 0:
        return np.zeros(u.shape, dtype=np.int64)
    from scipy import special  # here: 0.17 s of import (numpy.f2py) that most qdloc commands never need

    kmax = int(lam + 40 * math.sqrt(lam) + 40)
    cdf = special.pdtr(np.arange(kmax + 1), lam)
    cdf[-1] = 1.0  # the tail beyond kmax has probability < 1e-300 here
    M = 1 << _GUIDE_BITS
    edges = np.arange(M + 1) / M
    lo = np.searchsorted(cdf, edges[:-1], side="right")  # k for u = m/M
    hi = np.searchsorted(
        cdf, np.nextafter(edges[1:], 0), side="right"
    )  # k for u just below (m+1)/M
    uf = u.reshape(-1)
    cell = (uf * M).astype(np.intp)  # exact: M is a power of two
    k = lo[cell]
    amb = np.flatnonzero(k != hi[cell])
    if amb.size:
        k[amb] = np.searchsorted(cdf, uf[amb], side="right")
    return k.astype(np.int64).reshape(u.shape)


def poisson_inverse(lam: np.ndarray, u: np.ndarray, max_steps: int | None = None) -> np.ndarray:
    """Poisson(``lam``) variates, one per element, by inversion of uniforms ``u`` in [0, 1).

    Returns the smallest ``k`` with ``u < F(k; lam)``. Exact for any mean:

    * ``k = 0`` when ``u < exp(-lam)``; since ``exp(-lam) >= 1 - lam``, only the
      elements with ``u >= 1 - lam`` need the exponential, a cheap pre-filter that
      settles almost every background pixel of an image in one comparison;
    * means up to :data:`_SEQ_MAX`: a sequential search up from ``k = 1``;
    * larger means: a search that starts at ``floor(lam)`` with the CDF from
      ``scipy.special.pdtr`` and walks up or down the probability mass function.
    """
    lam = np.asarray(lam, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if lam.shape != u.shape:
        raise ValueError(
            f"lam has shape {lam.shape} but u has shape {u.shape}; expected equal shapes"
        )
    out = np.zeros(lam.shape, dtype=np.int64)
    lf, uf, of = lam.reshape(-1), u.reshape(-1), out.reshape(-1)
    cand = np.flatnonzero(uf >= 1.0 - lf)
    e = np.exp(-lf[cand])
    keep = uf[cand] >= e
    idx, e = cand[keep], e[keep]
    if idx.size == 0:
        return out
    lm, uu = lf[idx], uf[idx]
    small = lm <= _SEQ_MAX
    res = np.empty(idx.size, dtype=np.int64)
    if small.any():
        res[small] = _search_up_from_one(lm[small], uu[small], e[small])
    if not small.all():
        res[~small] = _search_from_mode(lm[~small], uu[~small], max_steps)
    of[idx] = res
    return out


#: Largest mean handled by the sequential search from k = 1 (its cost grows with the mean).
_SEQ_MAX = 40.0


def _search_up_from_one(lm, uu, e):
    """Smallest k >= 1 with u < F(k), for u >= F(0) = e = exp(-lam)."""
    k = np.ones(lm.size)
    p = lm * e
    F = e + p
    act = np.flatnonzero(uu >= F)
    while act.size:
        ka = k[act] + 1
        k[act] = ka
        pa = p[act] * lm[act] / ka
        p[act] = pa
        Fa = F[act] + pa
        F[act] = Fa
        # pa > 0 guards against a CDF that rounds to just below u in the far tail
        act = act[(uu[act] >= Fa) & (pa > 0)]
    return k.astype(np.int64)


def _search_from_mode(lm, uu, max_steps):
    """Smallest k with u < F(k), starting at floor(lam); for large means."""
    from scipy import special  # here, not at the top: see poisson_inverse_const

    k = np.floor(lm)
    F = special.pdtr(k, lm)
    p = np.exp(k * np.log(lm) - lm - special.gammaln(k + 1))
    res = k.copy()
    limit = max_steps or int(np.max(lm) + 50 * math.sqrt(np.max(lm)) + 100)
    up = np.flatnonzero(uu >= F)
    if up.size:  # walk up: k+1, k+2, ... until u < F(k)
        ku, Fu, pu, uu_up, lu = k[up], F[up], p[up], uu[up], lm[up]
        act = np.arange(up.size)
        for _ in range(limit):
            ku[act] += 1
            pu[act] *= lu[act] / ku[act]
            Fu[act] += pu[act]
            act = act[(uu_up[act] >= Fu[act]) & (pu[act] > 0)]
            if act.size == 0:
                break
        res[up] = ku
    dn = np.flatnonzero(uu < F)
    if dn.size:  # walk down while u < F(k-1) = F(k) - p(k)
        kd, Fd, pd, uu_dn, ld = k[dn], F[dn], p[dn], uu[dn], lm[dn]
        act = np.flatnonzero((kd > 0) & (uu_dn < Fd - pd))
        for _ in range(limit):
            if act.size == 0:
                break
            Fd[act] -= pd[act]
            pd[act] *= kd[act] / ld[act]
            kd[act] -= 1
            act = act[(kd[act] > 0) & (uu_dn[act] < Fd[act] - pd[act])]
        res[dn] = kd
    return res.astype(np.int64)


def sample_counts(
    signal: np.ndarray, params: SimParams, u_bkg: np.ndarray, u_sig: np.ndarray
) -> np.ndarray:
    """Recorded counts: ``Poisson(N_bkg) + Poisson(signal)`` = ``Poisson(Eq. 1)``, as uint16.

    ``u_bkg`` and ``u_sig`` are uniforms in [0, 1) of the same shape as ``signal``.
    """
    counts = poisson_inverse_const(params.n_bkg, u_bkg) + poisson_inverse(signal, u_sig)
    if (
        counts.size and counts.max() > np.iinfo(np.uint16).max
    ):  # pragma: no cover - guarded by SimParams
        raise ValueError(f"a count of {counts.max()} does not fit in uint16; lower n_qd or n_bkg")
    return counts.astype(np.uint16)


# --------------------------------------------------------------------------
# Photomultiplier excess noise (off by default: the paper's pure Poisson counts)
# --------------------------------------------------------------------------
def pmt_amplify(counts: np.ndarray, excess_noise: float, rng: np.random.Generator) -> np.ndarray:
    """A photomultiplier's output for ``counts`` detected photons, in photon units (float32).

    Each photoelectron is multiplied by an independent gain ``G`` with a Gamma
    distribution of mean 1 and variance ``F - 1`` (shape ``1/(F-1)``), where
    ``F = excess_noise`` is the excess noise factor ``<G²>/<G>²``. The sum of
    ``n`` such gains is ``Gamma(n/(F-1), scale=F-1)``, drawn here in one step
    per pixel. For Poisson counts of mean ``λ`` the output has mean ``λ`` and
    variance ``F·λ`` (:func:`pmt_moments`). ``F = 1`` returns the counts
    unchanged (an ideal photon counter).

    The Gamma family covers the usual single-photoelectron pulse-height
    spectra: ``F ≈ δ/(δ-1)`` ≈ 1.2-1.3 for a dynode chain with first-stage
    gain δ ≈ 4-6, ``F = 2`` for an exponential spectrum (GaAsP photocathodes
    are often quoted near 1.5-2).
    """
    F = float(excess_noise)
    if not (math.isfinite(F) and F >= 1.0):
        raise ValueError(
            f"excess_noise={excess_noise!r} is not allowed: expected a finite number >= 1"
        )
    counts = np.asarray(counts)
    if F == 1.0:
        return counts.astype(np.float32)
    theta = F - 1.0
    return (rng.standard_gamma(counts.astype(np.float64) / theta) * theta).astype(np.float32)


def pmt_moments(lam, excess_noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the PMT output for Poisson(``lam``) photons: ``(λ, F·λ)``."""
    lam = np.asarray(lam, dtype=np.float64)
    return lam, float(excess_noise) * lam
