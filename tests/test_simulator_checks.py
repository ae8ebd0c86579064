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
