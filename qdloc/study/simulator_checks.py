"""Chapters 01-03's checks of the simulator: scanner timing, random-walk statistics, photon counts.

Each function turns what :mod:`qdloc.sim` produces into the numbers a chapter prints and writes to
its results file (``01_scanner_timing.json``, ``02_random_walks.json``,
``03_psf_photon_counts.json``): the checks of the scan's two clocks
(:func:`scanner_timing`), the step variances and the MSD fit of an ensemble of walks
(:func:`step_variance_ratios`, :func:`msd_fit`, :func:`random_walk_results`), and the photon
counts against the paper's Eq. 1 (:func:`psf_summary`, :func:`counts_vs_eq1`,
:func:`figure1_summary`, :func:`motion_blur_effect`, :func:`psf_photon_results`). The
``describe_*`` functions write these numbers as the lines the chapters print. Randomness enters
only through the simulations passed in, or a seed.
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
    "describe_scan",
    "describe_timing",
    "describe_clocks",
    "describe_beam_state",
    "describe_walks",
    "describe_step_sizes",
    "describe_step_variances",
    "describe_msd_fit",
    "describe_psf_params",
    "describe_psf",
    "describe_noise",
    "describe_counts",
    "figure1_table",
    "psf_photon_results",
    "half_signal_depth",
    "signal_budget",
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


# --------------------------------------------------------------------------
# The lines the chapters print
# --------------------------------------------------------------------------
def describe_scan(params: SimParams) -> str:
    """Two lines on the raster: image size, pixel size, dwell and retrace (chapter 01).

    Parameters
    ----------
    params : SimParams
        The scan.

    Returns
    -------
    str
    """
    return (f"image: {params.height_px} lines x {params.width_px} pixels of {params.pixel_size_um * 1e3:g} nm\n"
            f"dwell tau_d = {params.dwell_s * 1e6:g} us, retrace tau_r = {params.retrace_s * 1e3:g} ms")


def describe_timing(timing: dict, params: SimParams) -> str:
    """Chapter 01's timing lines: line period, frame time, two pixel start times, duty cycle.

    Parameters
    ----------
    timing : dict
        :func:`scanner_timing`'s result for ``params``.
    params : SimParams
        The scan (for the last pixel's indices).

    Returns
    -------
    str
        Times in ms with four decimals, the duty cycle in per cent with two.
    """
    return "\n".join([
        f"line period  T_line  = {timing['line_period_s'] * 1e3:.4f} ms",
        f"frame time   T_frame = {timing['frame_time_s'] * 1e3:.4f} ms",
        f"first pixel of the second line (i = 1) starts at t = {timing['line2_first_pixel_start_s'] * 1e3:.4f} ms",
        f"last pixel (i, j) = ({params.height_px - 1}, {params.width_px - 1}) "
        f"starts at t = {timing['last_pixel_start_s'] * 1e3:.4f} ms",
        f"time spent recording: {timing['recording_time_s'] * 1e3:.4f} ms, "
        f"i.e. {100 * timing['duty_cycle']:.2f} % of the frame",
    ])


def describe_clocks(timing: dict) -> str:
    """The scan's two clocks, how many intervals each has, and the intervals' check (chapter 01).

    Parameters
    ----------
    timing : dict
        :func:`scanner_timing`'s result.

    Returns
    -------
    str
    """
    return "\n".join([
        f"fast clock: {timing['fast_clock_s'] * 1e6:.4f} us, {timing['n_fast_intervals']} intervals",
        f"slow clock: {timing['slow_clock_s'] * 1e3:.4f} ms, {timing['n_slow_intervals']} intervals",
        "intervals = differences of the start times (within 1e-15 s): "
        f"{timing['checks']['intervals_are_start_time_differences']}",
    ])


def describe_beam_state(state: dict, t_s: float) -> str:
    """Where the beam is at ``t_s``: line, time into it, retracing or not, pixels recording.

    Parameters
    ----------
    state : dict
        :func:`qdloc.sim.scanner.beam_state_at`'s result at ``t_s``.
    t_s : float
        The time it was asked for, s (printed in ms).

    Returns
    -------
    str
    """
    return (f"t = {t_s * 1e3:g} ms: line {state['line']}, {state['into_line_s'] * 1e3:.3f} ms after its start; "
            f"retracing: {state['retracing']}\npixels being recorded at that moment: {state['n_recording']}")


def describe_walks(params: SimParams, D: float, n_walks: int, seed: int) -> str:
    """Chapter 02's ensemble: D, walks, samples, seed, and the steps on each clock.

    Parameters
    ----------
    params : SimParams
        The scan.
    D : float
        Diffusion coefficient, µm²/s.
    n_walks : int
        Walks in the ensemble.
    seed : int
        Their seed.

    Returns
    -------
    str
    """
    c = two_clocks(params)
    return (f"D = {D} um^2/s, {n_walks} walks of {params.n_pixels} samples, seed {seed}\n"
            f"fast clock {c['fast_s'] * 1e6:.1f} us ({int(c['fast'].sum())} steps), "
            f"slow clock {c['slow_s'] * 1e3:.3f} ms ({int(c['slow'].sum())} steps)")


def describe_step_sizes(params: SimParams, D: float) -> str:
    """Standard deviation of a step on each clock, ``sqrt(2·D·Δt)`` in nm, next to the pixel size.

    Parameters
    ----------
    params : SimParams
        The scan.
    D : float
        Diffusion coefficient, µm²/s.

    Returns
    -------
    str
    """
    c = two_clocks(params)
    return "\n".join([
        f"step sd within a line (fast clock):   {np.sqrt(2 * D * c['fast_s']) * 1e3:.3f} nm",
        f"step sd between lines (slow clock):   {np.sqrt(2 * D * c['slow_s']) * 1e3:.3f} nm",
        f"pixel size:                           {params.pixel_size_um * 1e3:.0f} nm",
    ])


def describe_step_variances(traj_um, params: SimParams, D: float) -> str:
    """:func:`step_variance_ratios` (3 decimals), and the sampling sd ``sqrt(2/n)`` of each clock.

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
    str
    """
    traj = _check_walks(traj_um, params)
    c = two_clocks(params)
    n_fast, n_slow = int(c["fast"].sum()) * traj.shape[0], int(c["slow"].sum()) * traj.shape[0]
    return "\n".join([
        "var / (2 D dt), per clock and axis:",
        results_text(step_variance_ratios(traj, params, D), digits=3),
        f"sampling sd: fast ~ {np.sqrt(2 / n_fast):.3f} ({n_fast} steps), "
        f"slow ~ {np.sqrt(2 / n_slow):.3f} ({n_slow} steps)",
    ])


def describe_msd_fit(fit: dict, D: float, n_walks: int) -> str:
    """:func:`msd_fit`'s slopes and ``D_fit`` against ``2·D``, and the expected relative sd.

    Parameters
    ----------
    fit : dict
        :func:`msd_fit`'s result.
    D : float
        The walks' diffusion coefficient, µm²/s.
    n_walks : int
        Walks in the ensemble (the sd is about ``sqrt(2 / (3 n_walks))``).

    Returns
    -------
    str
    """
    D_fit = fit["D_fit_um2_per_s"]
    return "\n".join([
        results_text({"MSD slope per axis (um^2/s)": fit["slope_um2_per_s"]}, digits=4),
        f"expected 2D = {2 * D:.4f}",
        f"D_fit = {D_fit:.4f} um^2/s (D = {D}); D_fit / D = {D_fit / D if D > 0 else float('nan'):.4f}",
        f"expected relative sd of D_fit for {n_walks} walks: about {np.sqrt(2 / (3 * n_walks)):.4f}",
    ])


def describe_psf_params(params: SimParams) -> str:
    """The PSF's widths, the pixel size, ``N_qd`` and ``N_bkg`` (chapter 03).

    Parameters
    ----------
    params : SimParams

    Returns
    -------
    str
    """
    return (f"sigma_xy = {params.sigma_xy_um} um, sigma_z = {params.sigma_z_um} um, "
            f"pixel a = {params.pixel_size_um} um\nN_qd = {params.n_qd}, N_bkg = {params.n_bkg}")


def describe_psf(psf: dict, params: SimParams) -> str:
    """:func:`psf_summary`'s peak signal, brightest pixel (checked against ``N_bkg`` + peak), FWHMs.

    Parameters
    ----------
    psf : dict
        :func:`psf_summary`'s result for ``params``.
    params : SimParams

    Returns
    -------
    str
    """
    peak = psf["peak_signal_counts"]
    same = np.isclose(psf["peak_expected_counts"], params.n_bkg + peak, rtol=1e-12)
    return "\n".join([
        f"peak signal (Eq. 1 at the dot, minus background): {peak:.4f} photons",
        f"brightest pixel of a static dot at a pixel centre: {psf['peak_expected_counts']:.4f} "
        f"photons (= N_bkg + peak: {same})",
        f"lateral FWHM {psf['fwhm_xy_um']:.4f} um = {psf['fwhm_xy_px']:.2f} px; "
        f"axial FWHM {psf['fwhm_z_um']:.4f} um",
    ])


def describe_noise(psf: dict) -> str:
    """The background's noise sd and the signal-to-noise ratio at the peak (:func:`psf_summary`).

    Parameters
    ----------
    psf : dict
        :func:`psf_summary`'s result.

    Returns
    -------
    str
    """
    return (f"background noise sd sqrt(N_bkg) = {psf['background_noise_sd']:.4f} photons\n"
            f"peak signal / noise at the peak = {psf['snr_peak']:.4f}")


def describe_counts(check: dict, dispersion: float) -> str:
    """:func:`counts_vs_eq1`'s table (4 decimals) and its dispersion index.

    Parameters
    ----------
    check : dict
        Its groups' statistics.
    dispersion : float
        Its mean of ``(n - N)² / N``.

    Returns
    -------
    str
    """
    return (pd.DataFrame.from_dict(check, orient="index").round(4).to_string()
            + f"\nmean of (n - N)^2 / N over all pixels: {dispersion:.4f} (Poisson: 1)")


def figure1_table(sim: Simulation, panels: str = "abcd") -> pd.DataFrame:
    """The panels of the paper's Fig. 1: D, centroid and brightest count, one row per panel.

    Parameters
    ----------
    sim : qdloc.sim.simulate.Simulation
        The panels' images, one per panel.
    panels : str
        The panels' letters.

    Returns
    -------
    pandas.DataFrame
        Index ``(a)``, ``(b)``, ...; columns ``D (um^2/s)``, ``centroid x (px)``,
        ``centroid y (px)`` and ``brightest pixel``.
    """
    if len(panels) != len(sim.D):
        raise ValueError(f"panels={panels!r} has {len(panels)} letters: expected one per image ({len(sim.D)})")
    s = figure1_summary(sim)
    return pd.DataFrame(
        {"D (um^2/s)": sim.D, "centroid x (px)": sim.centroids[:, 0],
         "centroid y (px)": sim.centroids[:, 1], "brightest pixel": s["max_count"]},
        index=[f"({p})" for p in panels],
    )


def psf_photon_results(params: SimParams, psf: dict, counts: tuple[dict, float], figure1: dict,
                       seed: int, D: float, n_images: int) -> dict:
    """Chapter 03's numbers, ready for ``03_psf_photon_counts.json``.

    Parameters
    ----------
    params : SimParams
        The simulator.
    psf : dict
        :func:`psf_summary`'s result.
    counts : (dict, float)
        :func:`counts_vs_eq1`'s result.
    figure1 : dict
        :func:`figure1_summary`'s result.
    seed : int
        Seed of the images (recorded only).
    D : float
        Their diffusion coefficient, µm²/s (recorded only).
    n_images : int
        How many were checked (recorded only).

    Returns
    -------
    dict
        ``seed``, ``D_um2_per_s``, ``n_images``, ``n_qd``, ``n_bkg``, the keys of ``psf``,
        ``counts_vs_eq1``, ``dispersion_index`` and ``figure1``.
    """
    check, dispersion = counts
    return {"seed": seed, "D_um2_per_s": D, "n_images": n_images, "n_qd": params.n_qd,
            "n_bkg": params.n_bkg, **psf, "counts_vs_eq1": check, "dispersion_index": dispersion,
            "figure1": figure1}


def _image_centre_um(params: SimParams, z_um: float = 0.0) -> tuple[float, float, float]:
    a = params.pixel_size_um
    return ((params.width_px // 2) * a, (params.height_px // 2) * a, z_um)


def half_signal_depth(params: SimParams) -> tuple[float, float]:
    """The depth where a static dot's peak signal halves, and the signal Eq. 1 gives there.

    Parameters
    ----------
    params : SimParams
        PSF widths, ``N_qd``, ``N_bkg``.

    Returns
    -------
    z_half_um, signal : float
        ``σ_z·sqrt(2 ln 2)``, and the brightest expected count minus ``N_bkg`` of a dot at the
        centre pixel and that depth (half of :func:`psf_summary`'s ``peak_signal_counts``).
    """
    z_half = params.sigma_z_um * math.sqrt(2 * math.log(2))
    at_z_half = expected_counts_static(_image_centre_um(params, z_half), params)
    return z_half, float(at_z_half.max() - params.n_bkg)


def signal_budget(params: SimParams) -> dict:
    """Signal and background photons in one image of a static, in-focus dot at the centre pixel.

    Parameters
    ----------
    params : SimParams
        The simulator.

    Returns
    -------
    dict
        ``signal_total`` (sum over the pixels of Eq. 1 minus ``N_bkg``), ``signal_integral``
        (``N_qd / (a² sqrt(2π) σ_z)``, the integral of Eq. 1's signal over the pixel area) and
        ``background_total`` (``N_bkg·H·W``).
    """
    a = params.pixel_size_um
    return {
        "signal_total": float((expected_counts_static(_image_centre_um(params), params) - params.n_bkg).sum()),
        "signal_integral": params.n_qd / (a**2 * math.sqrt(2 * math.pi) * params.sigma_z_um),
        "background_total": params.n_bkg * params.n_pixels,
    }
