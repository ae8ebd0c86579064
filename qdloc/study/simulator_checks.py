"""Chapters 01-03's checks of the simulator: scanner timing, random-walk statistics, photon counts.

Each function turns what :mod:`qdloc.sim` produces into the numbers a chapter prints and writes to
its results file (``01_scanner_timing.json``, ``02_random_walks.json``,
``03_psf_photon_counts.json``): the checks of the scan's two clocks
(:func:`scanner_timing`), the step variances and the MSD fit of an ensemble of walks
(:func:`step_variance_ratios`, :func:`msd_fit`, :func:`random_walk_results`), and the photon
counts against the paper's Eq. 1 (:func:`psf_summary`, :func:`counts_vs_eq1`,
:func:`figure1_summary`, :func:`motion_blur_effect`). Randomness enters only through the
simulations passed in, or a seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from qdloc.sim.params import SimParams
from qdloc.sim.psf import expected_counts, expected_counts_static
from qdloc.sim.scanner import (
    beam_path_um,
    beam_positions_um,
    pixel_start_times_s,
    sample_intervals_s,
)
from qdloc.sim.simulate import Simulation, simulate
from qdloc.sim.walk import msd_from_start, sample_times_s

__all__ = [
    "two_clocks",
    "scanner_timing",
    "step_variance_ratios",
    "msd_fit",
    "random_walk_results",
    "slow_share_of_variance",
    "lateral_rms_px",
    "psf_summary",
    "counts_vs_eq1",
    "figure1_summary",
    "motion_blur_effect",
    "results_text",
]

_AXES = "xyz"


def two_clocks(params: SimParams) -> dict:
    """The scan's two clocks: the intervals between samples and which clock each one is.

    Parameters
    ----------
    params : SimParams
        The scan.

    Returns
    -------
    dict
        ``dt`` (the ``H·W - 1`` intervals, s), ``fast_s`` (one dwell), ``slow_s`` (one dwell
        plus the retrace), and the boolean masks ``fast`` and ``slow`` over ``dt``.
    """
    dt = sample_intervals_s(params)
    fast_s, slow_s = params.dwell_s, params.dwell_s + params.retrace_s
    return {
        "dt": dt,
        "fast_s": fast_s,
        "slow_s": slow_s,
        "fast": np.isclose(dt, fast_s),
        "slow": np.isclose(dt, slow_s),
    }


def scanner_timing(params: SimParams) -> dict:
    """Chapter 01's numbers: the line period, frame time, duty cycle, the two clocks and checks.

    Parameters
    ----------
    params : SimParams
        The scan (the paper's checks assume its 24 x 25 raster, 2 µs dwell, 1.1 ms retrace).

    Returns
    -------
    dict
        The content of ``01_scanner_timing.json``: ``line_period_s``, ``frame_time_s``,
        ``recording_time_s``, ``duty_cycle``, ``fast_clock_s``, ``slow_clock_s``,
        ``n_fast_intervals``, ``n_slow_intervals``, ``line2_first_pixel_start_s``,
        ``last_pixel_start_s`` and ``checks`` (a dict of booleans).
    """
    if params.height_px < 2:
        raise ValueError(
            f"params.height_px={params.height_px!r} is not allowed: expected >= 2 "
            "(the timing checks need a line change)"
        )
    t = pixel_start_times_s(params)
    dt = sample_intervals_s(params)
    fast_s, slow_s = float(dt.min()), float(dt.max())
    recording_s = params.n_pixels * params.dwell_s
    diff_err_s = float(np.max(np.abs(np.diff(t.reshape(-1)) - dt)))
    beam = beam_positions_um(params)
    _, _, _, recording = beam_path_um(params)
    a = params.pixel_size_um
    return {
        "line_period_s": params.line_period_s,
        "frame_time_s": params.frame_time_s,
        "recording_time_s": recording_s,
        "duty_cycle": recording_s / params.frame_time_s,
        "fast_clock_s": fast_s,
        "slow_clock_s": slow_s,
        "n_fast_intervals": int(np.sum(np.isclose(dt, fast_s))),
        "n_slow_intervals": int(np.sum(np.isclose(dt, slow_s))),
        "line2_first_pixel_start_s": float(t[1, 0]),
        "last_pixel_start_s": float(t[-1, -1]),
        "checks": {
            "line2_starts_at_1.15_ms": bool(np.isclose(t[1, 0], 1.15e-3, rtol=1e-12, atol=0)),
            "frame_time_is_27.6_ms": bool(
                np.isclose(params.frame_time_s, 27.6e-3, rtol=1e-12, atol=0)
            ),
            "intervals_are_start_time_differences": bool(diff_err_s < 1e-15),
            "beam_at_pixel_centres": bool(
                np.allclose(beam[..., 0], np.arange(params.width_px) * a)
                and np.allclose(beam[..., 1].T, np.arange(params.height_px) * a)
            ),
            "one_retrace_per_line_change": int(np.sum(np.diff(recording.astype(int)) == -1))
            == params.height_px - 1,
        },
    }


def _check_walks(traj_um, params: SimParams) -> np.ndarray:
    traj = np.asarray(traj_um, dtype=np.float64)
    if traj.ndim != 3 or traj.shape[1:] != (params.n_pixels, 3):
        raise ValueError(f"traj_um has shape {traj.shape}; expected (n, {params.n_pixels}, 3)")
    return traj


def step_variance_ratios(traj_um, params: SimParams, D: float) -> dict:
    """Measured step variance over its expectation ``2·D·Δt``, per clock and axis.

    Parameters
    ----------
    traj_um : array_like (n, H·W, 3)
        Walks simulated at ``D``, µm.
    params : SimParams
        The scan.
    D : float
        Their diffusion coefficient, µm²/s.

    Returns
    -------
    dict
        ``{"fast": {"x": r, "y": r, "z": r}, "slow": {...}}``; each ratio is 1 within about
        ``sqrt(2 / n_steps)``; ``None`` when ``D = 0``.
    """
    traj = _check_walks(traj_um, params)
    clocks = two_clocks(params)
    steps = np.diff(traj, axis=1)  # (n, H*W - 1, 3)
    out = {}
    for clock in ("fast", "slow"):
        var = steps[:, clocks[clock], :].reshape(-1, 3).var(axis=0)
        expected = 2 * D * clocks[f"{clock}_s"]
        out[clock] = {
            ax: (float(var[c] / expected) if D > 0 else None) for c, ax in enumerate(_AXES)
        }
    return out


def msd_fit(traj_um, params: SimParams) -> dict:
    """Least-squares fit of ``MSD_a(t) = s_a·t`` through the origin, per axis, and ``D_fit``.

    ``s_a = Σ t_k MSD_a(t_k) / Σ t_k²`` over all sample times, and ``D_fit = (s_x + s_y +
    s_z) / 6``.

    Parameters
    ----------
    traj_um : array_like (n, H·W, 3)
        An ensemble of walks, µm.
    params : SimParams
        The scan (sample times).

    Returns
    -------
    dict
        ``t_s`` (sample times), ``msd_um2`` (``(H·W, 3)``), ``slope_um2_per_s`` (a dict per
        axis) and ``D_fit_um2_per_s``.
    """
    traj = _check_walks(traj_um, params)
    t = sample_times_s(params)
    msd = msd_from_start(traj)
    slopes = (t @ msd) / (t @ t)
    return {
        "t_s": t,
        "msd_um2": msd,
        "slope_um2_per_s": {ax: float(slopes[c]) for c, ax in enumerate(_AXES)},
        "D_fit_um2_per_s": float(slopes.mean() / 2),
    }


def random_walk_results(traj_um, params: SimParams, D: float, seed: int) -> dict:
    """Chapter 02's numbers: step sizes, step variances and the MSD fit of an ensemble.

    Parameters
    ----------
    traj_um : array_like (n, H·W, 3)
        The ensemble, simulated at ``D`` with ``seed``.
    params : SimParams
        The scan.
    D : float
        Diffusion coefficient of the walks, µm²/s.
    seed : int
        Their seed (recorded only).

    Returns
    -------
    dict
        The content of ``02_random_walks.json``.
    """
    traj = _check_walks(traj_um, params)
    clocks = two_clocks(params)
    fit = msd_fit(traj, params)
    D_fit, t, msd = fit["D_fit_um2_per_s"], fit["t_s"], fit["msd_um2"]
    return {
        "seed": seed,
        "n_walks": int(traj.shape[0]),
        "D_um2_per_s": D,
        "fast_clock_s": clocks["fast_s"],
        "slow_clock_s": clocks["slow_s"],
        "step_sd_fast_nm": float(np.sqrt(2 * D * clocks["fast_s"]) * 1e3),
        "step_sd_slow_nm": float(np.sqrt(2 * D * clocks["slow_s"]) * 1e3),
        "msd_slope_um2_per_s": fit["slope_um2_per_s"],
        "msd_slope_expected_um2_per_s": 2 * D,
        "D_fit_um2_per_s": D_fit,
        "D_fit_over_D": (D_fit / D) if D > 0 else None,
        "step_var_over_2DDt": step_variance_ratios(traj, params, D),
        "msd_end_um2": {ax: float(msd[-1, c]) for c, ax in enumerate(_AXES)},
        "msd_end_expected_um2": float(2 * D * t[-1]),
    }


def slow_share_of_variance(traj_um, params: SimParams) -> tuple[float, float]:
    """Share of the final displacement's variance that the slow-clock steps make.

    Parameters
    ----------
    traj_um : array_like (n, H·W, 3)
        An ensemble of walks (``D > 0``), µm.
    params : SimParams
        The scan.

    Returns
    -------
    theory, measured : float
        ``Σ Δt_slow / Σ Δt``, and the ratio of the mean squared slow-step displacement to the
        mean squared final displacement of the walks.
    """
    traj = _check_walks(traj_um, params)
    clocks = two_clocks(params)
    dt = clocks["dt"]
    final = traj[:, -1] - traj[:, 0]
    jumps = np.diff(traj, axis=1)[:, clocks["slow"], :].sum(axis=1)
    return float(dt[clocks["slow"]].sum() / dt.sum()), float(np.mean(jumps**2) / np.mean(final**2))


def lateral_rms_px(traj_um, params: SimParams, D: float) -> tuple[float, float]:
    """Root mean square lateral displacement from the first to the last sample, in pixels.

    Parameters
    ----------
    traj_um : array_like (n, H·W, 3)
        Walks, µm.
    params : SimParams
        Pixel size and sample times.
    D : float
        The walks' diffusion coefficient (µm²/s), for the theory.

    Returns
    -------
    measured, theory : float
        The walks' RMS, and ``sqrt(2·2D·t_last) / a``.
    """
    traj = _check_walks(traj_um, params)
    lateral = traj[:, -1, :2] - traj[:, 0, :2]
    a = params.pixel_size_um
    t_last = sample_times_s(params)[-1]
    return (
        float(np.sqrt(np.mean(np.sum(lateral**2, axis=1)))) / a,
        float(np.sqrt(4 * D * t_last)) / a,
    )


def psf_summary(params: SimParams) -> dict:
    """Chapter 03's PSF numbers: peak signal, widths and the noise at the peak.

    Parameters
    ----------
    params : SimParams
        PSF widths, ``N_qd``, ``N_bkg`` and pixel size.

    Returns
    -------
    dict
        ``peak_signal_counts`` (Eq. 1 at the dot, minus background),
        ``peak_expected_counts`` (brightest pixel of a static dot at a pixel centre),
        ``fwhm_xy_um``, ``fwhm_xy_px``, ``fwhm_z_um``, ``background_noise_sd``
        (``sqrt(N_bkg)``) and ``snr_peak`` (peak signal over its Poisson sd).
    """
    a = params.pixel_size_um
    centre = ((params.width_px // 2) * a, (params.height_px // 2) * a, 0.0)
    fwhm = 2 * math.sqrt(2 * math.log(2))
    fwhm_xy_um = fwhm * params.sigma_xy_um
    peak = params.peak_signal
    return {
        "peak_signal_counts": peak,
        "peak_expected_counts": float(expected_counts_static(centre, params).max()),
        "fwhm_xy_um": fwhm_xy_um,
        "fwhm_xy_px": fwhm_xy_um / a,
        "fwhm_z_um": fwhm * params.sigma_z_um,
        "background_noise_sd": math.sqrt(params.n_bkg),
        "snr_peak": peak / math.sqrt(peak + params.n_bkg),
    }


def counts_vs_eq1(sim: Simulation) -> tuple[dict, float]:
    """The recorded counts against Eq. 1: means and variances over groups of pixels.

    Groups: all pixels, background pixels (signal below 1e-3 photons) and bright pixels
    (signal >= 5 photons). For Poisson counts the measured mean equals Eq. 1's and the
    variance of ``n - N`` equals the mean of ``N``.

    Parameters
    ----------
    sim : qdloc.sim.simulate.Simulation
        Images with photons (no PMT model).

    Returns
    -------
    check : dict
        ``{"all" | "background" | "bright": {"n_pixels", "mean_measured", "mean_eq1",
        "var_measured", "var_poisson"}}`` (``n_pixels = 0`` and None for an empty group).
    dispersion : float
        Mean of ``(n - N)² / N`` over all pixels (1 for Poisson counts).
    """
    if sim.images is None:
        raise ValueError("sim has no images (simulated with photons=False); expected photon counts")
    expected = expected_counts(sim.trajectories, sim.params)
    counts = sim.images.astype(np.float64)
    resid = counts - expected
    signal = expected - sim.params.n_bkg

    def stats(mask):
        if not mask.any():  # e.g. no background pixel on an image smaller than the PSF
            return dict.fromkeys(("mean_measured", "mean_eq1", "var_measured", "var_poisson"),
                                 None) | {"n_pixels": 0}
        return {
            "n_pixels": int(mask.sum()),
            "mean_measured": float(counts[mask].mean()),
            "mean_eq1": float(expected[mask].mean()),
            "var_measured": float(np.mean(resid[mask] ** 2)),
            "var_poisson": float(expected[mask].mean()),
        }

    check = {
        "all": stats(np.ones(counts.shape, dtype=bool)),
        "background": stats(signal < 1e-3),
        "bright": stats(signal >= 5.0),
    }
    return check, float(np.mean(resid**2 / expected))


def figure1_summary(sim: Simulation) -> dict:
    """The numbers behind the paper's Fig. 1: D, centroid and brightest count of each panel.

    Parameters
    ----------
    sim : qdloc.sim.simulate.Simulation
        The panels' images.

    Returns
    -------
    dict
        ``D_um2_per_s``, ``centroid_px`` (``[x, y]`` per image) and ``max_count`` (lists).
    """
    if sim.images is None:
        raise ValueError("sim has no images (simulated with photons=False); Fig. 1 needs them")
    return {
        "D_um2_per_s": sim.D.tolist(),
        "centroid_px": sim.centroids.tolist(),
        "max_count": np.asarray(sim.images.max(axis=(1, 2))).astype(int).tolist(),
    }


def motion_blur_effect(
    params: SimParams, D_values: Sequence[float] = (0.0, 1.75), n: int = 500, seed: int = 0
) -> pd.DataFrame:
    """How motion blur changes the brightest expected pixel and its distance to the label.

    Every D uses the same seed, so the same start positions and the same random steps.

    Parameters
    ----------
    params : SimParams
        The simulator.
    D_values : sequence of float
        Diffusion coefficients, µm²/s.
    n : int
        Images per D.
    seed : int
        Seed of the images.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``D_um2_per_s``: ``brightest_signal`` (mean over the images of the
        brightest expected pixel minus background, photons) and ``brightest_to_centroid_px``
        (mean distance from that pixel to the trajectory centroid).
    """
    rows = []
    for d in D_values:
        s = simulate(n, params, seed=seed, D=d, photons=False)
        e = expected_counts(s.trajectories, params)
        row, col = np.divmod(e.reshape(n, -1).argmax(axis=1), params.width_px)
        dist_px = np.hypot(col - s.centroids[:, 0], row - s.centroids[:, 1])
        rows.append(
            {
                "D_um2_per_s": float(d),
                "brightest_signal": float(e.max(axis=(1, 2)).mean() - params.n_bkg),
                "brightest_to_centroid_px": float(dist_px.mean()),
            }
        )
    return pd.DataFrame(rows).set_index("D_um2_per_s")


def _rounded(value, digits: int):
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return round(value, digits) if isinstance(value, float) else value


def results_text(results: dict, digits: int = 4) -> str:
    """A chapter's results as ``key: value`` lines, floats (also nested) rounded to ``digits``.

    Parameters
    ----------
    results : dict
        JSON-like numbers.
    digits : int
        Decimal places kept.

    Returns
    -------
    str
    """
    return "\n".join(f"{k}: {_rounded(v, digits)}" for k, v in results.items())
