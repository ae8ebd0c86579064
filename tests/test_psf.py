"""Eq. 1 and the Poisson counts, tested as physics."""

import math

import numpy as np
import pytest
from scipy import stats

from qdloc import SimParams, simulate
from qdloc.sim.psf import (
    eq1_signal,
    expected_counts,
    expected_counts_static,
    poisson_inverse,
    poisson_inverse_const,
    sample_counts,
    signal_counts,
)

P = SimParams(n_qd=20.0)


def test_eq1_at_the_beam_and_off_it():
    a = P.pixel_size_um
    img = expected_counts_static([5 * a, 7 * a, 0.0], P)
    peak = 20.0 / (2 * math.pi * 0.21**2) / (math.sqrt(2 * math.pi) * 1.36)
    assert img.shape == (24, 25)
    assert img[7, 5] == pytest.approx(peak + 8.4, rel=1e-12)
    # one pixel to the right, and 0.5 µm out of focus
    img2 = expected_counts_static([5 * a, 7 * a, 0.5], P)
    want = peak * math.exp(-(a**2) / (2 * 0.21**2)) * math.exp(-(0.5**2) / (2 * 1.36**2)) + 8.4
    assert img2[7, 6] == pytest.approx(want, rel=1e-12)
    # the public form of Eq. 1's signal term gives the same numbers
    assert eq1_signal(a, 0.0, 0.5, P) + 8.4 == pytest.approx(want, rel=1e-12)
    assert eq1_signal(0.0, 0.0, 0.0, P) == pytest.approx(peak, rel=1e-12)
    # far away: background only
    assert img[0, 24] == pytest.approx(8.4, abs=1e-6)


def test_eq1_sums_to_the_integrated_signal():
    # a dot in the middle of a large frame: sum over pixels ≈ N_qd·g_z(0)/a²
    p = SimParams(n_qd=20.0, height_px=64, width_px=64, n_bkg=0.0)
    a = p.pixel_size_um
    s = expected_counts_static([31.5 * a, 31.5 * a, 0.0], p).sum()
    assert s == pytest.approx(20.0 / (math.sqrt(2 * math.pi) * 1.36) / a**2, rel=1e-6)


def test_signal_counts_shape_check():
    with pytest.raises(ValueError, match=r"traj_um has shape \(2, 10, 3\); expected \(n, 600, 3\)"):
        signal_counts(np.zeros((2, 10, 3)), P)


@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.3, 2.5, 8.4, 17.0, 60.0, 400.0, 3000.0])
def test_poisson_inverse_matches_poisson(lam):
    rng = np.random.default_rng(123)
    n = 200_000
    u = rng.random(n)
    k = poisson_inverse(np.full(n, lam), u)
    kc = poisson_inverse_const(lam, u)
    # inversion is deterministic in u: both methods give the same variates
    np.testing.assert_array_equal(k, kc)
    if lam == 0:
        assert np.all(k == 0)
        return
    # mean and variance within 5 standard errors
    se_mean = math.sqrt(lam / n)
    se_var = lam * math.sqrt((2 + 1 / lam) / n)
    assert abs(k.mean() - lam) < 5 * se_mean
    assert abs(k.var() - lam) < 5 * se_var
    # and the whole distribution: chi-square over bins with expected count >= 20
    lo, hi = stats.poisson.ppf([1e-4, 1 - 1e-4], lam)
    edges = np.arange(lo, hi + 2) - 0.5
    obs, _ = np.histogram(k, bins=edges)
    p = np.diff(
        np.r_[stats.poisson.cdf(lo - 1, lam), stats.poisson.cdf(np.arange(lo, hi + 1), lam)]
    )
    keep = p * n >= 20
    if keep.sum() >= 2:
        chi2 = np.sum((obs[keep] - n * p[keep]) ** 2 / (n * p[keep]))
        assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-4


def test_poisson_inverse_is_a_monotone_map_of_u():
    u = np.linspace(0, 1, 10001, endpoint=False)
    k = poisson_inverse(np.full(u.shape, 8.4), u)
    assert np.all(np.diff(k) >= 0)
    # u = 0 gives 0; the fraction of u with k = 0 is exp(-8.4)
    assert k[0] == 0
    assert abs(np.mean(k == 0) - math.exp(-8.4)) < 1.5e-4


def test_recorded_counts_have_poisson_mean_and_variance_of_eq1():
    # End to end: standardised residuals (counts - Eq.1)/sqrt(Eq.1) over every pixel
    # of 1000 simulated images have mean 0 and variance 1.
    sim = simulate(1000, P, seed=3, D=1.0)
    lam = expected_counts(sim.trajectories, P)
    z = (sim.images - lam) / np.sqrt(lam)
    n = z.size  # 600,000 pixels
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 0.01
    # and near the dot (Eq.1 > 2·N_bkg), where the signal dominates
    hot = lam > 2 * P.n_bkg
    assert hot.sum() > 10_000
    assert abs(z[hot].mean()) < 5 / math.sqrt(hot.sum())
    assert abs(z[hot].var() - 1) < 0.03


def test_sample_counts_dtype():
    rng = np.random.default_rng(0)
    sig = np.full((2, 24, 25), 3.0)
    c = sample_counts(sig, P, rng.random(sig.shape), rng.random(sig.shape))
    assert c.dtype == np.uint16 and c.shape == (2, 24, 25)
