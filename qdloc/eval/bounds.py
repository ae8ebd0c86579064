"""Bounds on localisation precision: the Cramér-Rao bound of a still dot.

Imports nothing from the rest of qdloc: the parameters are any object with the
attributes of :class:`qdloc.sim.params.SimParams` that the bound reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["crlb_still_dot_nm"]


def crlb_still_dot_nm(params: Any, x_px: float | None = None, y_px: float | None = None,
                      z_um: float = 0.0, nuisance: bool = False) -> dict:
    """Cramér-Rao lower bound on the position of a dot that does not move (D = 0).

    The image of a still dot at ``(X, Y, Z)`` is Poisson with the means of Eq. 1
    evaluated at the pixel centres (as the simulator does),
    ``λ_ij = S(X, Y, Z; i, j) + N_bkg``. For independent Poisson pixels the
    Fisher information is exactly ``I_ab = sum_ij (∂λ_ij/∂θ_a)(∂λ_ij/∂θ_b) / λ_ij``
    (Mortensen et al. 2010, for a pixelated Poisson model), computed here
    numerically over the pixels. The bound on each coordinate is
    ``sqrt((I^-1)_aa)``.

    Parameters
    ----------
    params : SimParams
        ``n_qd``, ``n_bkg``, the PSF (``sigma_xy_um``, ``sigma_z_um``) and the pixels
        (``pixel_size_um``, ``height_px``, ``width_px``).
    x_px, y_px : float, optional
        Position of the dot (default: the centre of the frame).
    z_um : float
        Distance from the focal plane.
    nuisance : bool
        Also estimate the photon number ``N_qd`` and the background (4 x 4
        Fisher matrix); False: they are known, as they are to a network trained
        at one calibration.

    Raises
    ------
    ValueError
        For ``n_qd = 0`` (no information on the position).

    Returns
    -------
    dict
        ``sigma_x_nm``, ``sigma_y_nm``: the bounds on each coordinate;
        ``sigma_nm``: their root mean square; ``signal_photons``: expected
        signal photons in the frame; ``n_bkg``.
    """
    p = params
    if p.n_qd <= 0:
        raise ValueError(f"n_qd={p.n_qd!r} is not allowed here: without photons from the dot the bound is infinite")
    H, W, a = p.height_px, p.width_px, p.pixel_size_um
    X = ((W - 1) / 2 if x_px is None else float(x_px)) * a
    Y = ((H - 1) / 2 if y_px is None else float(y_px)) * a
    jj, ii = np.meshgrid(np.arange(W) * a, np.arange(H) * a)
    s2 = p.sigma_xy_um**2
    norm = p.n_qd / (2 * np.pi * s2 * np.sqrt(2 * np.pi) * p.sigma_z_um) * np.exp(-z_um**2 / (2 * p.sigma_z_um**2))
    S = norm * np.exp(-((jj - X) ** 2 + (ii - Y) ** 2) / (2 * s2))
    lam = S + p.n_bkg
    grads = [S * (jj - X) / s2, S * (ii - Y) / s2]  # ∂λ/∂X, ∂λ/∂Y in photons/µm
    if nuisance:
        grads += [S / max(p.n_qd, 1e-300), np.ones_like(S)]  # ∂λ/∂N_qd, ∂λ/∂N_bkg
    G = np.stack([g.ravel() for g in grads])
    fisher = (G / lam.ravel()) @ G.T
    cov = np.linalg.inv(fisher)
    sx, sy = (float(np.sqrt(cov[k, k])) * 1000.0 for k in (0, 1))
    return {"sigma_x_nm": sx, "sigma_y_nm": sy, "sigma_nm": float(np.sqrt((sx**2 + sy**2) / 2)),
            "signal_photons": float(S.sum()), "n_bkg": p.n_bkg}
