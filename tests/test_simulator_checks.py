"""qdloc.study.simulator_checks: the numbers of chapters 01-03, exact where they can be."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from qdloc import PAPER, SimParams, simulate
from qdloc.sim.psf import expected_counts
from qdloc.sim.walk import sample_times_s
from qdloc.study import simulator_checks as sc

SMALL = SimParams(height_px=6, width_px=8, start_margin_px=1.0)


def _two_sided_walks(params: SimParams, D: float) -> np.ndarray:
    """Two walks at ±sqrt(2·D·t) on every axis: their ensemble MSD is exactly 2·D·t."""
    r = np.sqrt(2 * D * sample_times_s(params))[:, None] * np.ones(3)
    return np.stack([1.0 + r, 1.0 - r])


def test_two_clocks_counts_the_fast_and_slow_intervals():
    c = sc.two_clocks(SMALL)
    assert c["fast_s"] == SMALL.dwell_s
    assert c["slow_s"] == SMALL.dwell_s + SMALL.retrace_s
    assert c["fast"].sum() == SMALL.height_px * (SMALL.width_px - 1)
    assert c["slow"].sum() == SMALL.height_px - 1
    assert not np.any(c["fast"] & c["slow"])


def test_scanner_timing_of_the_paper():
    r = sc.scanner_timing(PAPER)
    assert r["line_period_s"] == pytest.approx(1.15e-3, rel=1e-12)
    assert r["frame_time_s"] == pytest.approx(27.6e-3, rel=1e-12)
    assert r["duty_cycle"] == pytest.approx(600 * 2e-6 / 27.6e-3, rel=1e-12)
    assert (r["n_fast_intervals"], r["n_slow_intervals"]) == (576, 23)
    assert r["last_pixel_start_s"] == pytest.approx(23 * 1.15e-3 + 24 * 2e-6, rel=1e-12)
    assert all(r["checks"].values()), r["checks"]


def test_scanner_timing_checks_fail_off_the_paper_values():
    r = sc.scanner_timing(SMALL)
    assert (r["n_fast_intervals"], r["n_slow_intervals"]) == (6 * 7, 5)
    # 8 pixels per line: the second line starts at 8 dwells + retrace, not at 1.15 ms
    assert r["checks"]["line2_starts_at_1.15_ms"] is False
    assert r["checks"]["frame_time_is_27.6_ms"] is False
    assert r["checks"]["intervals_are_start_time_differences"] is True
    with pytest.raises(ValueError, match=r"height_px=1 is not allowed"):
        sc.scanner_timing(SMALL.replace(height_px=1, start_margin_px=0.0))


def test_step_variance_ratios_are_one_within_sampling_error():
    D = 1.5
    traj = simulate(3000, SMALL, seed=11, D=D, photons=False).trajectories
    ratios = sc.step_variance_ratios(traj, SMALL, D)
    n_fast = 3000 * SMALL.height_px * (SMALL.width_px - 1)
    n_slow = 3000 * (SMALL.height_px - 1)
    for clock, n in (("fast", n_fast), ("slow", n_slow)):
        for ax in "xyz":  # 4 standard errors of a sample variance
            assert abs(ratios[clock][ax] - 1) < 4 * math.sqrt(2 / n), (clock, ax, ratios)
    # at twice the assumed D the ratios halve
    halved = sc.step_variance_ratios(traj, SMALL, 2 * D)
    assert halved["slow"]["x"] == pytest.approx(ratios["slow"]["x"] / 2, rel=1e-12)
    assert sc.step_variance_ratios(traj, SMALL, 0.0)["fast"] == {"x": None, "y": None, "z": None}


def test_msd_fit_recovers_D_exactly_from_an_exact_ensemble():
    D = 0.8
    fit = sc.msd_fit(_two_sided_walks(SMALL, D), SMALL)
    np.testing.assert_allclose(fit["msd_um2"][:, 0], 2 * D * sample_times_s(SMALL), rtol=1e-12)
    assert fit["slope_um2_per_s"] == pytest.approx({"x": 2 * D, "y": 2 * D, "z": 2 * D})
    assert fit["D_fit_um2_per_s"] == pytest.approx(D, rel=1e-12)
    with pytest.raises(ValueError, match=r"traj_um has shape \(600, 3\); expected \(n, 48, 3\)"):
        sc.msd_fit(np.zeros((600, 3)), SMALL)


def test_random_walk_results_are_consistent():
    D = 0.8
    r = sc.random_walk_results(_two_sided_walks(SMALL, D), SMALL, D, seed=3)
    t_last = sample_times_s(SMALL)[-1]
    assert (r["seed"], r["n_walks"], r["D_um2_per_s"]) == (3, 2, D)
    assert r["D_fit_over_D"] == pytest.approx(1.0, rel=1e-12)
    assert r["msd_end_expected_um2"] == pytest.approx(2 * D * t_last, rel=1e-12)
    assert r["msd_end_um2"]["y"] == pytest.approx(2 * D * t_last, rel=1e-12)
    assert r["step_sd_slow_nm"] == pytest.approx(math.sqrt(2 * D * 1.102e-3) * 1e3, rel=1e-12)
    assert r["msd_slope_expected_um2_per_s"] == 2 * D


def test_slow_share_of_variance_theory_and_walks():
    traj = simulate(2000, PAPER, seed=5, D=1.0, photons=False).trajectories
    theory, measured = sc.slow_share_of_variance(traj, PAPER)
    slow, fast = 23 * 1.102e-3, 576 * 2e-6
    assert theory == pytest.approx(slow / (slow + fast), rel=1e-12)
    assert abs(measured - theory) < 0.03


def test_lateral_rms_px_of_a_known_displacement():
    traj = np.zeros((4, SMALL.n_pixels, 3))
    traj[:, -1, :2] = np.array([3.0, 4.0]) * SMALL.pixel_size_um  # 5 px in the plane, every walk
    traj[:, -1, 2] = 10.0  # depth does not count
    measured, theory = sc.lateral_rms_px(traj, SMALL, D=1.0)
    assert measured == pytest.approx(5.0, rel=1e-12)
    t_last = sample_times_s(SMALL)[-1]
    assert theory == pytest.approx(math.sqrt(4 * t_last) / SMALL.pixel_size_um, rel=1e-12)


def test_psf_summary_of_the_paper():
    s = sc.psf_summary(PAPER)
    assert s["peak_expected_counts"] == pytest.approx(PAPER.n_bkg + s["peak_signal_counts"])
    assert s["fwhm_xy_um"] == pytest.approx(2.3548 * 0.21, rel=1e-4)
    assert s["fwhm_xy_px"] == pytest.approx(s["fwhm_xy_um"] / 0.07, rel=1e-12)
    assert s["fwhm_z_um"] / s["fwhm_xy_um"] == pytest.approx(1.36 / 0.21, rel=1e-12)
    assert s["snr_peak"] == pytest.approx(
        s["peak_signal_counts"] / math.sqrt(s["peak_signal_counts"] + 8.4), rel=1e-12
    )


def test_counts_vs_eq1_accepts_poisson_and_rejects_noiseless_counts():
    p = PAPER
    sim = simulate(100, p, seed=2, D=1.0)
    check, dispersion = sc.counts_vs_eq1(sim)
    assert check["all"]["n_pixels"] == 100 * p.n_pixels
    assert min(check["background"]["n_pixels"], check["bright"]["n_pixels"]) > 1000
    assert abs(check["all"]["mean_measured"] / check["all"]["mean_eq1"] - 1) < 0.01
    # about 24000 background pixels: relative sd of their variance about 0.01
    assert abs(check["background"]["var_measured"] / p.n_bkg - 1) < 0.05
    assert abs(dispersion - 1) < 0.03  # 60000 pixels: sd of the index about 0.006
    # counts without noise: the means agree, the dispersion index collapses
    exact = np.rint(expected_counts(sim.trajectories, p)).astype(np.uint16)
    _, flat = sc.counts_vs_eq1(dataclasses.replace(sim, images=exact))
    assert flat < 0.2
    # an image smaller than the PSF has no background pixel
    tiny, _ = sc.counts_vs_eq1(simulate(5, SMALL, seed=2))
    assert tiny["background"] == {"mean_measured": None, "mean_eq1": None, "var_measured": None,
                                  "var_poisson": None, "n_pixels": 0}
    no_photons = simulate(2, SMALL, seed=2, photons=False)
    with pytest.raises(ValueError, match="photons=False"):
        sc.counts_vs_eq1(no_photons)


def test_figure1_summary_lists_each_panel():
    sim = simulate(4, PAPER, seed=0, D=[0.0, 0.75, 1.0, 1.75])
    s = sc.figure1_summary(sim)
    assert s["D_um2_per_s"] == [0.0, 0.75, 1.0, 1.75]
    assert s["max_count"] == [int(im.max()) for im in sim.images]
    assert all(type(m) is int for m in s["max_count"])
    np.testing.assert_array_equal(s["centroid_px"], sim.centroids)


def test_motion_blur_moves_the_brightest_pixel_away_from_the_label():
    blur = sc.motion_blur_effect(PAPER, D_values=(0.0, 1.75), n=150, seed=1)
    assert list(blur.index) == [0.0, 1.75]
    static, moving = blur.loc[0.0], blur.loc[1.75]
    assert static["brightest_to_centroid_px"] < 0.6  # the static dot's brightest pixel is its own
    assert moving["brightest_to_centroid_px"] > 2 * static["brightest_to_centroid_px"]
    assert moving["brightest_signal"] / static["brightest_signal"] > 0.9


def test_results_text_rounds_nested_floats():
    text = sc.results_text({"a": 1.23456, "b": {"c": 2.0000001, "d": None}, "e": [0.5555, 3]}, 2)
    assert text == "a: 1.23\nb: {'c': 2.0, 'd': None}\ne: [0.56, 3]"


# --------------------------------------------------------------------------
# The lines the chapters print: the computed numbers, formatted as printed
# --------------------------------------------------------------------------
def test_describe_scan_timing_and_clocks_print_the_paper_numbers():
    assert sc.describe_scan(PAPER) == ("image: 24 lines x 25 pixels of 70 nm\n"
                                       "dwell tau_d = 2 us, retrace tau_r = 1.1 ms")
    timing = sc.scanner_timing(PAPER)
    text = sc.describe_timing(timing, PAPER).splitlines()
    assert text[0] == "line period  T_line  = 1.1500 ms"
    assert text[1] == "frame time   T_frame = 27.6000 ms"
    assert text[2].endswith("(i = 1) starts at t = 1.1500 ms")
    assert text[3] == "last pixel (i, j) = (23, 24) starts at t = 26.4980 ms"
    assert text[4] == "time spent recording: 1.2000 ms, i.e. 4.35 % of the frame"
    assert sc.describe_clocks(timing).splitlines() == [
        "fast clock: 2.0000 us, 576 intervals", "slow clock: 1.1020 ms, 23 intervals",
        "intervals = differences of the start times (within 1e-15 s): True"]
    small = sc.describe_timing(sc.scanner_timing(SMALL), SMALL)
    assert "last pixel (i, j) = (5, 7)" in small  # the indices follow the raster


def test_describe_beam_state_quotes_the_state():
    text = sc.describe_beam_state({"line": 8, "into_line_s": 0.8e-3, "retracing": True, "n_recording": 0}, 10e-3)
    assert text == ("t = 10 ms: line 8, 0.800 ms after its start; retracing: True\n"
                    "pixels being recorded at that moment: 0")


def test_describe_walks_steps_and_variances():
    assert sc.describe_walks(PAPER, 1.0, 5000, 0) == (
        "D = 1.0 um^2/s, 5000 walks of 600 samples, seed 0\n"
        "fast clock 2.0 us (576 steps), slow clock 1.102 ms (23 steps)")
    sizes = sc.describe_step_sizes(PAPER, 1.0).splitlines()
    assert sizes[0].endswith(f"{math.sqrt(2 * 2e-6) * 1e3:.3f} nm")  # 2.000 nm
    assert sizes[1].endswith(f"{math.sqrt(2 * 1.102e-3) * 1e3:.3f} nm")  # 46.947 nm
    assert sizes[2].endswith(" 70 nm")
    traj = simulate(200, SMALL, seed=4, D=1.0, photons=False).trajectories
    text = sc.describe_step_variances(traj, SMALL, 1.0)
    assert text.startswith("var / (2 D dt), per clock and axis:\n")
    assert sc.results_text(sc.step_variance_ratios(traj, SMALL, 1.0), digits=3) in text
    assert text.endswith(f"fast ~ {math.sqrt(2 / 8400):.3f} (8400 steps), "
                         f"slow ~ {math.sqrt(2 / 1000):.3f} (1000 steps)")


def test_describe_msd_fit_quotes_D_fit():
    fit = sc.msd_fit(_two_sided_walks(SMALL, 0.8), SMALL)
    text = sc.describe_msd_fit(fit, 0.8, 2).splitlines()
    assert text[0] == "MSD slope per axis (um^2/s): {'x': 1.6, 'y': 1.6, 'z': 1.6}"
    assert text[1] == "expected 2D = 1.6000"
    assert text[2] == "D_fit = 0.8000 um^2/s (D = 0.8); D_fit / D = 1.0000"
    assert text[3] == f"expected relative sd of D_fit for 2 walks: about {math.sqrt(1 / 3):.4f}"
    assert "D_fit / D = nan" in sc.describe_msd_fit(fit, 0.0, 2)


def test_describe_psf_noise_and_counts():
    assert sc.describe_psf_params(PAPER).startswith("sigma_xy = 0.21 um, sigma_z = 1.36 um, pixel a = 0.07 um\n")
    psf = sc.psf_summary(PAPER)
    text = sc.describe_psf(psf, PAPER)
    assert f"minus background): {psf['peak_signal_counts']:.4f} photons" in text
    assert "(= N_bkg + peak: True)" in text
    assert f"lateral FWHM {psf['fwhm_xy_um']:.4f} um = {psf['fwhm_xy_px']:.2f} px; axial FWHM 3.20" in text
    # a brightest pixel that is not N_bkg + peak says so
    assert "(= N_bkg + peak: False)" in sc.describe_psf(psf | {"peak_expected_counts": 1.0}, PAPER)
    assert sc.describe_noise(psf) == (f"background noise sd sqrt(N_bkg) = {math.sqrt(8.4):.4f} photons\n"
                                      f"peak signal / noise at the peak = {psf['snr_peak']:.4f}")
    check, dispersion = sc.counts_vs_eq1(simulate(20, PAPER, seed=2, D=1.0))
    counts = sc.describe_counts(check, dispersion).splitlines()
    assert counts[0].split() == ["n_pixels", "mean_measured", "mean_eq1", "var_measured", "var_poisson"]
    assert counts[1].split()[:2] == ["all", "12000"]
    assert counts[-1] == f"mean of (n - N)^2 / N over all pixels: {dispersion:.4f} (Poisson: 1)"


def test_figure1_table_and_results():
    sim = simulate(4, PAPER, seed=0, D=[0.0, 0.75, 1.0, 1.75])
    table = sc.figure1_table(sim)
    assert list(table.index) == ["(a)", "(b)", "(c)", "(d)"]
    assert table["brightest pixel"].tolist() == [int(im.max()) for im in sim.images]
    np.testing.assert_array_equal(table[["centroid x (px)", "centroid y (px)"]], sim.centroids)
    with pytest.raises(ValueError, match="panels='abc' has 3 letters: expected one per image \\(4\\)"):
        sc.figure1_table(sim, panels="abc")
    psf = sc.psf_summary(PAPER)
    r = sc.psf_photon_results(PAPER, psf, ({"all": {}}, 1.01), {"max_count": [1]}, seed=3, D=0.5, n_images=7)
    assert list(r)[:5] == ["seed", "D_um2_per_s", "n_images", "n_qd", "n_bkg"]
    assert (r["seed"], r["D_um2_per_s"], r["n_images"], r["n_bkg"]) == (3, 0.5, 7, 8.4)
    assert r["dispersion_index"] == 1.01 and r["figure1"] == {"max_count": [1]}
    assert r["snr_peak"] == psf["snr_peak"]


def test_half_signal_depth_and_signal_budget():
    z_half, signal = sc.half_signal_depth(PAPER)
    assert z_half == pytest.approx(1.36 * math.sqrt(2 * math.log(2)), rel=1e-12)
    assert signal == pytest.approx(PAPER.peak_signal / 2, rel=1e-9)  # Eq. 1's z factor halves
    b = sc.signal_budget(PAPER)
    assert b["background_total"] == pytest.approx(8.4 * 600)
    assert b["signal_integral"] == pytest.approx(PAPER.n_qd / (0.07**2 * math.sqrt(2 * math.pi) * 1.36))
    assert abs(b["signal_total"] / b["signal_integral"] - 1) < 0.01  # the PSF fits in the image
