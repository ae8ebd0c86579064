"""The random walk, tested as physics: step variances on both clocks, MSD = 2·D·t.

Tolerances: with N independent Gaussian steps the sample variance has a relative
standard error sqrt(2/N). Each tolerance below is stated and is >= 4 of those.
"""

import numpy as np
import pytest

from qdloc import SimParams, simulate
from qdloc.sim.scanner import sample_intervals_s
from qdloc.sim.walk import centroid_px, msd_from_start, sample_times_s

P = SimParams()
N_WALKS = 5000


@pytest.fixture(scope="module", params=[0.75, 1.75])
def walks(request):
    D = request.param
    sim = simulate(N_WALKS, P, seed=11, D=D, photons=False)
    return D, sim.trajectories


def test_step_variance_on_both_clocks_within_2_percent(walks):
    D, traj = walks
    steps = np.diff(traj, axis=1)  # (n, H·W-1, 3)
    dt = sample_intervals_s(P)
    fast = dt == P.dwell_s
    slow = ~fast
    assert fast.sum() == 24 * 24 and slow.sum() == 23
    for clock, dt_c in ((fast, P.dwell_s), (slow, P.dwell_s + P.retrace_s)):
        var = np.mean(steps[:, clock, :] ** 2, axis=(0, 1))  # per axis, mean known to be 0
        n = steps[:, clock, 0].size
        rel = var / (2 * D * dt_c) - 1
        # relative standard error sqrt(2/n): 0.06% (fast), 0.42% (slow)
        assert 4 * np.sqrt(2 / n) < 0.02 + 1e-12
        assert np.all(np.abs(rel) < 0.02), (clock.sum(), rel)
    # steps have zero mean and the axes are independent
    slow_steps = steps[:, slow, :].reshape(-1, 3) / np.sqrt(2 * D * (P.dwell_s + P.retrace_s))
    c = np.corrcoef(slow_steps.T)
    assert np.all(np.abs(c[np.triu_indices(3, 1)]) < 4 / np.sqrt(len(slow_steps)))
    assert np.all(np.abs(slow_steps.mean(axis=0)) < 4 / np.sqrt(len(slow_steps)))


def test_msd_is_2Dt(walks):
    D, traj = walks
    msd = msd_from_start(traj)  # (H·W, 3)
    t = sample_times_s(P)
    # at the end of the frame, per axis: relative standard error sqrt(2/N) = 2.0%; allow 10%
    np.testing.assert_allclose(msd[-1], 2 * D * t[-1], rtol=0.10)
    # least-squares slope through the origin over all samples, axes pooled: within 6%
    slope = np.sum(msd.mean(axis=1) * t) / np.sum(t * t)
    assert abs(slope / (2 * D) - 1) < 0.06, slope


def test_msd_slope_follows_D():
    # the same seed at two D: the MSD scales exactly with D (same normals, scaled)
    a = simulate(200, P, seed=5, D=0.5, photons=False).trajectories
    b = simulate(200, P, seed=5, D=2.0, photons=False).trajectories
    ma, mb = msd_from_start(a), msd_from_start(b)
    np.testing.assert_allclose(mb[1:], 4 * ma[1:], rtol=1e-5)


def test_start_distribution():
    p = SimParams(start_margin_px=3.0, start_z_sd_um=0.5)
    sim = simulate(4000, p, seed=2, D=0.0, photons=False)
    start = sim.trajectories[:, 0]
    x_px, y_px = start[:, 0] / p.pixel_size_um, start[:, 1] / p.pixel_size_um
    assert x_px.min() >= 3.0 and x_px.max() <= 25 - 1 - 3.0
    assert y_px.min() >= 3.0 and y_px.max() <= 24 - 1 - 3.0
    # uniform on [3, 21]: mean 12, sd 18/sqrt(12)
    assert abs(x_px.mean() - 12.0) < 4 * (18 / np.sqrt(12)) / np.sqrt(4000)
    assert abs(np.std(start[:, 2]) / 0.5 - 1) < 4 * np.sqrt(1 / (2 * 4000))
    # D = 0: the dot does not move and the centroid is the start
    assert np.all(sim.trajectories == sim.trajectories[:, :1])
    np.testing.assert_allclose(sim.centroids, np.c_[x_px, y_px], rtol=1e-12)


def test_centroid_is_mean_of_samples_in_pixels():
    traj = np.zeros((1, P.n_pixels, 3))
    traj[0, :, 0] = np.linspace(0.0, 0.7, P.n_pixels)  # x from 0 to 10 px
    traj[0, :, 1] = 0.14
    np.testing.assert_allclose(centroid_px(traj, P), [[5.0, 2.0]], rtol=1e-12)
