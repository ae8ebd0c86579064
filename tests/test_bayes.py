"""The exact-posterior localiser: a brute-force reference, calibration, recovery, refusals, CLI.

The reference is importance sampling of the *pixel-level* model: trajectories drawn from the
simulator's own walk (every pixel, with z), weighted by the Poisson likelihood of Eq. 1. On tiny
frames it has an effective sample size of several hundred, enough to see a shift of 0.15
posterior standard deviations; the line-level posterior must agree within that at the paper's
timing, and the reference must see the line-level approximation fail when lines last long.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

from qdloc.localise.bayes import (
    bayes_locate,
    make_grid,
    pixel_level_log_weights,
    posterior_centroid_samples,
    posterior_line_paths,
    summarise_samples,
    within_line_variance_px2,
)
from qdloc.localise.registry import METHODS, locate
from qdloc.sim.params import SimParams
from qdloc.sim.psf import expected_counts
from qdloc.sim.simulate import simulate

#: A 3 x 4 frame with a PSF of 1.5 px and a bright dot: the posterior is informative and the
#: pixel-level reference cheap. D = 4 µm²/s moves the dot 0.7 px per line.
TINY = SimParams(height_px=3, width_px=4, start_margin_px=1.0, pixel_size_um=0.14, n_qd=20.0)
TINY_D = 4.0


def reference_moments(image, params, D, n, seed):
    """Posterior mean, sd (px) and effective sample size of the centroid, by importance sampling."""
    sim = simulate(n, params, seed=seed, D=D, photons=False)
    lam = expected_counts(sim.trajectories, params)
    ll = (image[None].astype(float) * np.log(lam) - lam).sum(axis=(1, 2))
    w = np.exp(ll - ll.max())
    w /= w.sum()
    mu = w @ sim.centroids
    return mu, np.sqrt(w @ (sim.centroids - mu) ** 2), 1 / np.sum(w**2)


def shifts_against_reference(params, D, n_images=6):
    """Per image and axis: (bayes mean - reference mean) / reference sd, and the sd ratio."""
    obs = simulate(n_images, params, seed=5, D=D)
    s, _ = posterior_centroid_samples(
        obs.images, params, D, n_samples=4096, grid_px=0.25, dtype=torch.float64
    )
    shift, ratio = [], []
    for k in range(n_images):
        mu, sd, ess = reference_moments(obs.images[k], params, D, 100_000, seed=100 + k)
        assert ess > 300, f"image {k}: the reference's effective sample size {ess:.0f} is too small"
        shift.append((s[k].mean(0) - mu) / sd)
        ratio.append(s[k].std(0) / sd)
    return np.abs(np.array(shift)), np.array(ratio)


def test_agrees_with_pixel_level_brute_force_on_tiny_frames():
    # measured: shifts <= 0.08 sd, sd ratios 0.95-1.07 (reference noise: about 0.05 sd)
    shift, ratio = shifts_against_reference(TINY, TINY_D)
    assert shift.max() < 0.15, shift
    assert np.all((ratio > 0.88) & (ratio < 1.12)), ratio


def test_reference_sees_the_line_level_approximation_when_lines_are_slow():
    # 4 dwells of 100 µs: the dot moves within a line almost as much as between lines
    shift, _ = shifts_against_reference(TINY.replace(dwell_s=100e-6), TINY_D)
    assert shift.max() > 0.2, shift


def reweighting_stats(params, D, n=60, S=64):
    """Median ESS/S of the pixel-level weights and median shift of the mean (posterior sds)."""
    sim = simulate(n, params, seed=9301, D=D)
    paths = posterior_line_paths(sim.images, params, D, n_samples=S)
    log_w, cen = pixel_level_log_weights(sim.images, paths, params, D, np.random.default_rng(0))
    w = np.exp(log_w - log_w.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    shift = np.hypot(*(((w[..., None] * cen).sum(1) - cen.mean(1)) / cen.std(1)).T)
    return np.median(1 / (w**2).sum(1) / S), np.median(shift)


def test_line_level_state_costs_little_on_full_frames():
    # measured on 100 images at D = 1.75: ESS/S 0.89, shift 0.055 sd (Monte Carlo noise of the
    # shift with 64 draws: about 0.04); with 100 µs dwells (lines 25x longer): 0.15 and 0.34
    ess, shift = reweighting_stats(SimParams(), 1.75)
    assert ess > 0.75 and shift < 0.1, (ess, shift)
    ess, shift = reweighting_stats(SimParams(dwell_s=100e-6), 1.75)
    assert ess < 0.4 and shift > 0.2, (ess, shift)


def test_line_paths_are_the_centroid_draws():
    p = SimParams()
    sim = simulate(5, p, seed=4, D=1.0)
    paths = posterior_line_paths(sim.images, p, 1.0, n_samples=32)
    s, _ = posterior_centroid_samples(sim.images, p, 1.0, n_samples=32)
    assert paths.shape == (5, 32, 24, 2)
    # the centroid adds the within-line part, sd sqrt(v / H) px
    sd = math.sqrt(within_line_variance_px2(p, 1.0) / 24)
    assert np.abs(paths.mean(2) - s).max() < 6 * sd


def test_without_signal_the_posterior_is_the_simulators_prior():
    p = TINY.replace(n_qd=0.0, height_px=5, start_margin_px=1.5)
    s, _ = posterior_centroid_samples(np.zeros((1, 5, 4)), p, 2.0, n_samples=20000, grid_px=0.1)
    prior = simulate(100_000, p, seed=3, D=2.0, photons=False).centroids
    np.testing.assert_allclose(s[0].mean(0), prior.mean(0), atol=0.02)
    # sd to 2 %: the quantised start box adds h²/12 = 0.0008 px² of variance
    np.testing.assert_allclose(s[0].std(0), prior.std(0), rtol=0.02)


def test_within_line_variance_is_exact_for_three_dwells():
    p = TINY.replace(width_px=3)
    # samples at -dwell, 0, +dwell around the middle: mean = (w2 - w1) / 3, var = 2·2Ddt/9
    expected = 2 * 2 * 1.5 * p.dwell_s / 9 / p.pixel_size_um**2
    assert within_line_variance_px2(p, 1.5) == pytest.approx(expected, rel=1e-12)


def test_credible_discs_are_calibrated():
    # 2,000 images: the binomial standard error of a 90 % coverage is 0.67 %, so ±2 % is 3 SE
    p = SimParams()
    sim = simulate(2000, p, seed=424242, D=1.0)
    df = bayes_locate(sim.images, p, 1.0, n_samples=128)
    d = np.hypot(df.x - sim.centroids[:, 0], df.y - sim.centroids[:, 1])
    assert abs(np.mean(d <= df.r90_px) - 0.90) < 0.02
    # the score is the posterior probability of a hit within eps (1 px): calibrated too
    assert abs(df.score.mean() - np.mean(d <= 1.0)) < 0.03


# measured medians over 1,000 images: 0.60, 0.89, 1.25 px (200-image medians within ±0.1)
@pytest.mark.parametrize(("D", "max_median_px"), [(0.25, 0.75), (1.0, 1.05), (2.5, 1.5)])
def test_simulate_then_recover(D, max_median_px):
    p = SimParams()
    sim = simulate(200, p, seed=77, D=D)
    df = bayes_locate(sim.images, p, D, n_samples=128)
    d = np.hypot(df.x - sim.centroids[:, 0], df.y - sim.centroids[:, 1])
    assert list(df.columns[:4]) == ["frame", "x", "y", "score"]
    assert np.median(d) < max_median_px
    # the posterior sd predicts the error: mean squared error / mean posterior variance near 1
    # (measured on 200-image blocks: 0.78-1.19)
    ratio = np.mean(d**2) / np.mean(df.sd_x**2 + df.sd_y**2)
    assert 0.7 < ratio < 1.35


def test_results_do_not_depend_on_batch_and_float32_matches_float64():
    p = SimParams()
    sim = simulate(10, p, seed=1, D=1.0)
    a = bayes_locate(sim.images, p, 1.0, n_samples=64, batch=3)
    b = bayes_locate(sim.images, p, 1.0, n_samples=64, batch=64)
    # image k draws from (seed, k) whatever the batch; only float32 rounding of the filter,
    # which differs with the batch size, can move a draw across a cell boundary
    same = np.isclose(a.x, b.x) & np.isclose(a.y, b.y)
    assert same.mean() >= 0.8
    assert np.all(np.hypot(a.x - b.x, a.y - b.y) < 3 * np.hypot(a.sd_x, a.sd_y))
    s32, e32 = posterior_centroid_samples(sim.images, p, 1.0, n_samples=64)
    s64, e64 = posterior_centroid_samples(sim.images, p, 1.0, n_samples=64, dtype=torch.float64)
    np.testing.assert_allclose(e32, e64, rtol=1e-5)
    assert np.mean(np.abs(s32 - s64) < 1e-6) > 0.95  # the same draws but for rare ties


def test_z_grid_marginalises_an_out_of_focus_start():
    p = SimParams(start_z_sd_um=1.0)
    sim = simulate(100, p, seed=9, D=1.0)
    grid = make_grid(p, 1.0, n_z=5)
    assert len(grid.log_wz) == 5 and math.isclose(np.exp(grid.log_wz).sum(), 1.0)
    s, _ = posterior_centroid_samples(sim.images, p, 1.0, n_samples=128, grid=grid)
    d = np.hypot(*(s.mean(1) - sim.centroids).T)
    assert np.median(d) < 1.2


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"D": -1.0}, "D=-1.0"),
        ({"D": float("nan")}, "D=nan"),
        ({"grid_px": 0.0}, "grid_px=0.0"),
        ({"eps_px": -1.0}, "eps_px=-1.0"),
        ({"n_samples": 0}, "n_samples=0"),
        ({"batch": 1.5}, "batch=1.5"),
    ],
)
def test_bad_parameters_are_refused_by_name(kw, needle):
    images = simulate(2, SimParams(), seed=0).images
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        bayes_locate(images, **kw)


def test_empty_stack_and_bidirectional_scan():
    df = bayes_locate(np.zeros((0, 24, 25)))
    assert len(df) == 0 and list(df.columns[:4]) == ["frame", "x", "y", "score"]
    # the line-level likelihood of a bidirectional scan is the unidirectional one
    p = SimParams(bidirectional=True)
    sim = simulate(300, p, seed=8, D=1.0)
    df = bayes_locate(sim.images, p, 1.0, n_samples=64)
    d = np.hypot(df.x - sim.centroids[:, 0], df.y - sim.centroids[:, 1])
    assert np.median(d) < 1.1  # measured 0.94
    assert 0.85 < np.mean(d <= df.r90_px) < 0.95  # 90 % ± 3 binomial SE


def test_bad_images_and_models_are_refused():
    with pytest.raises(ValueError, match=r"shape \(2, 5, 5\)"):
        bayes_locate(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="negative"):
        bayes_locate(-np.ones((1, 24, 25)))
    with pytest.raises(ValueError, match="pmt_excess_noise=2.0"):
        make_grid(SimParams(pmt_excess_noise=2.0), 1.0)
    with pytest.raises(ValueError, match="D=100.0 with grid_px=0.5"):
        make_grid(SimParams(), 100.0)


def test_registry_runs_bayes():
    assert METHODS["bayes"] == ("qdloc.localise.bayes", "bayes_locate")
    sim = simulate(3, SimParams(), seed=2)
    df = locate(sim.images, "bayes", D=1.0, n_samples=32)
    assert len(df) == 3 and df.score.between(0, 1).all()


def test_cli_localize_bayes_round_trip(run_main, tmp_path):
    p = SimParams(n_qd=15.0)
    sim = simulate(20, p, seed=11, D=0.5)
    tifffile.imwrite(tmp_path / "s.tif", sim.images)
    p.to_json(tmp_path / "p.json")
    out = tmp_path / "l.csv"
    rc, msg, _ = run_main(
        "localize", str(tmp_path / "s.tif"), "--method", "bayes",
        "--params", str(tmp_path / "p.json"), "--D", "0.5", "-o", str(out),
    )
    assert rc == 0, msg
    df = pd.read_csv(out)
    assert list(df.columns[:4]) == ["frame", "x", "y", "score"]
    assert np.median(np.hypot(df.x - sim.centroids[:, 0], df.y - sim.centroids[:, 1])) < 0.8


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--method", "bayes", "--D", "-2"], "--D -2"),
        (["--method", "bayes", "--D", "nan"], "--D nan"),
        (["--method", "bayes", "--params", "missing.json"], "missing.json"),
        (["--method", "bayes", "--params", "bad.json"], "bad.json"),
        (["--method", "bayes", "--params", "unknown.json"], "unknown.json"),
        (["--method", "trackpy", "--D", "1"], "--D is used only by --method bayes"),
    ],
)
def test_cli_bad_bayes_options_exit_2_with_one_line(run_main, tmp_path, monkeypatch, extra, needle):
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite("s.tif", simulate(2, SimParams(), seed=0).images)
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "unknown.json").write_text('{"n_qd": 7.5, "speed": 3}')
    rc, _, err = run_main("localize", "s.tif", *extra, "-o", "l.csv")
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert needle in err
    assert not (tmp_path / "l.csv").exists()


def test_summarise_picks_the_heavier_mode():
    rng = np.random.default_rng(0)
    # 70 % of the draws near (0, 0), 30 % near (5, 0): the estimate sits in the heavy mode
    a = rng.normal(0, 0.3, (1, 700, 2))
    b = rng.normal(0, 0.3, (1, 300, 2)) + [5.0, 0.0]
    df = summarise_samples(np.concatenate([a, b], axis=1), eps_px=1.0)
    assert abs(df.x[0]) < 0.1 and abs(df.y[0]) < 0.1
    assert df.score[0] == pytest.approx(0.7 * (1 - math.exp(-1 / (2 * 0.09))), abs=0.03)
