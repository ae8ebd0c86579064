"""D from 2D tracks with localisation error and motion blur, tested as physics.

The tracks are simulated independently of the estimators' model: a fine-time
Brownian walk (``n_sub`` exact Gaussian steps per frame), the reported position
of a frame is the plain mean of its ``n_sub`` samples (a discrete shutter:
``n_sub = 1`` is an instantaneous exposure, R = 0; ``n_sub = 50`` samples
``Δt/50`` apart cover the whole frame, R = (1 - 1/50²)/6 = 0.1666), then
Gaussian static error of sd σ. Tolerances are stated in standard errors (SE)
of the mean over the simulated tracks, estimated from the same tracks.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qdloc import SimParams
from qdloc.sim.walk import sample_times_s
from qdloc.transport.diffusion import (
    ESTIMATE_COLUMNS,
    blur_coefficient,
    estimate_D,
    fit_mle,
    fit_msd,
    msd,
    msd_covariance,
    scanner_blur_coefficient,
)

D_TRUE = 1.0  # µm²/s, the paper's middle test set
DT = SimParams().frame_time_s  # 27.6 ms, the scanner's frame period
N_FRAMES = 50
N_TRACKS = 1000


def simulate_tracks(
    seed: int, n_tracks: int, n_frames: int, D: float, dt: float, sigma_um: float, n_sub: int
) -> tuple[np.ndarray, np.ndarray]:
    """Blurred, noisy 2D tracks (n_tracks, n_frames), µm: mean of n_sub samples + noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _axis in range(2):
        steps = rng.normal(0.0, math.sqrt(2 * D * dt / n_sub), size=(n_tracks, n_frames * n_sub))
        pos = np.cumsum(steps, axis=1).reshape(n_tracks, n_frames, n_sub).mean(axis=2)
        out.append(pos + rng.normal(0.0, sigma_um, size=pos.shape))
    return out[0], out[1]


def shutter_R(n_sub: int) -> float:
    return blur_coefficient(np.arange(n_sub) * DT / n_sub, DT)


# --------------------------------------------------------------------------
# the blur coefficient
# --------------------------------------------------------------------------
def test_blur_coefficient_limits():
    assert blur_coefficient([0.3], 1.0) == 0.0  # one sample: no blur
    assert blur_coefficient([0.2, 0.2, 0.2], 1.0) == 0.0  # all samples at one time
    # n samples Δt/n apart, uniform weights: exactly (1 - 1/n²)/6 -> 1/6
    for n in (2, 50, 2000):
        R = blur_coefficient(np.arange(n) * 0.01 / n, 0.01)
        assert R == pytest.approx((1 - n**-2) / 6, rel=1e-12)
    # dense uniform sampling of the whole interval, end points included
    assert blur_coefficient(np.linspace(0, 0.02, 4001), 0.02) == pytest.approx(1 / 6, abs=1e-4)
    # half the frame exposed: R scales with the exposed fraction (1/6 · 1/2)
    assert blur_coefficient(np.linspace(0, 0.5, 4001), 1.0) == pytest.approx(1 / 12, abs=1e-4)
    # the origin and the order of the times do not matter
    t = np.array([0.0, 0.1, 0.35, 0.5])
    w = np.array([1.0, 3.0, 2.0, 1.0])
    r = blur_coefficient(t, 0.7, w)
    assert blur_coefficient(t[::-1] + 5.0, 0.7, w[::-1]) == pytest.approx(r, rel=1e-12)


def test_blur_coefficient_equals_the_pair_formula():
    # Independent formula: ∫S(1-S)dt = ∫∫_{s<u} dS(s) dS(u) (u - s), so R = E|T - T'| / (2Δt)
    # for T, T' independent draws from the shutter's weights.
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 0.8, 40))
    w = rng.uniform(0, 1, 40)
    p = w / w.sum()
    pair = np.sum(p[:, None] * p[None, :] * np.abs(t[:, None] - t[None, :])) / (2 * 1.0)
    assert blur_coefficient(t, 1.0, w) == pytest.approx(pair, rel=1e-12)


def test_scanner_blur_coefficient():
    # the label is the mean position at the 600 dwell start times of one frame
    P = SimParams()
    t = sample_times_s(P)
    pair = np.mean(np.abs(t[:, None] - t[None, :])) / (2 * P.frame_time_s)
    R = scanner_blur_coefficient()
    assert R == pytest.approx(pair, rel=1e-12)
    assert R == pytest.approx(0.16639, abs=1e-5)  # 24 lines: close to 1/6, a bit below
    # frames with a pause between them: the same exposure, a longer interval, smaller R
    assert scanner_blur_coefficient(P, 2 * P.frame_time_s) == pytest.approx(R / 2, rel=1e-12)


def test_blur_coefficient_against_monte_carlo():
    # A 3-sample shutter at (0, 0.2, 0.9)·Δt with weights (1, 2, 1): S = 1/4, 3/4, so
    # R = 0.1875·0.2 + 0.1875·0.7 = 0.16875. Simulate exact walks through 3 frames and check
    # Var(Δ) = 2DΔt(1 - 2R) and Cov(Δ_k, Δ_k+1) = 2RDΔt within 4 standard errors.
    D, dt, n = 1.0, 1.0, 200_000
    times = np.array([0.0, 0.2, 0.9])
    w = np.array([1.0, 2.0, 1.0])
    R = blur_coefficient(times, dt, w)
    assert R == pytest.approx(0.16875, rel=1e-12)
    all_t = np.concatenate([times + k * dt for k in range(3)])
    rng = np.random.default_rng(42)
    steps = rng.normal(size=(n, len(all_t))) * np.sqrt(2 * D * np.diff(all_t, prepend=0.0))
    pos = np.cumsum(steps, axis=1).reshape(n, 3, 3)
    obs = pos @ (w / w.sum())  # (n, 3 frames)
    d0, d1 = obs[:, 1] - obs[:, 0], obs[:, 2] - obs[:, 1]
    var = np.mean(d0**2)
    cov = np.mean(d0 * d1)
    se_var = np.std(d0**2) / np.sqrt(n)
    se_cov = np.std(d0 * d1) / np.sqrt(n)
    assert abs(var - 2 * D * dt * (1 - 2 * R)) < 4 * se_var
    assert abs(cov - 2 * R * D * dt) < 4 * se_cov
    # the test has power: R with the weights ignored (uniform: 0.2) is rejected
    R_uniform = blur_coefficient(times, dt)
    assert R_uniform == pytest.approx(0.2, rel=1e-12)
    assert abs(cov - 2 * R_uniform * D * dt) > 10 * se_cov


# --------------------------------------------------------------------------
# the MSD and its covariance
# --------------------------------------------------------------------------
def test_msd_of_a_tiny_track_by_hand():
    # frames 0, 1, 2, 4 (3 missing): (0,0), (1,0), (3,0), (3,2)
    frames = [0, 1, 2, 4]
    x = [0.0, 1.0, 3.0, 3.0]
    y = [0.0, 0.0, 0.0, 2.0]
    m = msd(x, y, max_lag=5, frames=frames)
    np.testing.assert_array_equal(m.lags, [1, 2, 3, 4, 5])
    # lag 1: (0,1): 1, (1,2): 4; lag 2: (0,2): 9, (2,4): 4; lag 3: (1,4): 8; lag 4: (0,4): 13
    np.testing.assert_array_equal(m.n_pairs, [2, 2, 1, 1, 0])
    np.testing.assert_allclose(m.msd[:4], [2.5, 6.5, 8.0, 13.0], rtol=1e-15)
    assert np.isnan(m.msd[4])
    # the order of the rows does not matter
    m2 = msd(x[::-1], y[::-1], max_lag=5, frames=frames[::-1])
    np.testing.assert_array_equal(m2.msd[:4], m.msd[:4])
    # without frames: consecutive
    m3 = msd(x, y, max_lag=2)
    np.testing.assert_allclose(m3.msd, [(1 + 4 + 4) / 3, (9 + 8) / 2])


@pytest.mark.parametrize("gap", [False, True])
def test_msd_covariance_matches_monte_carlo(gap):
    # The exact covariance of the MSD values (what fit_msd's P and D_err rest on) against the
    # sample covariance of 20,000 simulated 12-frame tracks with blur and noise (optionally with
    # frames 5 and 8 missing). Relative standard error of a sample (co)variance here: ~2 %;
    # tolerance 8 % of sqrt(C_aa C_bb).
    n_tracks, n_frames, n_sub, sigma = 20_000, 12, 20, 0.1
    X, Y = simulate_tracks(3, n_tracks, n_frames, D_TRUE, DT, sigma, n_sub)
    frames = np.arange(n_frames)
    if gap:
        frames = np.setdiff1d(frames, [5, 8])
    X, Y = X[:, frames], Y[:, frames]
    max_lag = 4
    # vectorised MSD of all tracks; spot-check against msd()
    Xd = np.full((n_tracks, n_frames), np.nan)
    Yd = np.full((n_tracks, n_frames), np.nan)
    Xd[:, frames], Yd[:, frames] = X, Y
    vals = np.stack(
        [np.nanmean((Xd[:, k:] - Xd[:, :-k]) ** 2 + (Yd[:, k:] - Yd[:, :-k]) ** 2, axis=1)
         for k in range(1, max_lag + 1)],
        axis=1,
    )
    np.testing.assert_allclose(msd(X[0], Y[0], max_lag, frames=frames).msd, vals[0], rtol=1e-12)
    R = shutter_R(n_sub)
    C = msd_covariance(n_frames, D_TRUE * DT, sigma**2, R, max_lag, frames=frames)
    emp = np.cov(vals.T)
    scale = np.sqrt(np.outer(np.diag(C), np.diag(C)))
    assert np.all(np.abs(emp - C) < 0.08 * scale), (emp / C)
    # and the means follow MSD(n) = 4DΔt(n - 2R) + 4σ² within 4 SE
    lags = np.arange(1, max_lag + 1)
    expect = 4 * D_TRUE * DT * (lags - 2 * R) + 4 * sigma**2
    assert np.all(np.abs(vals.mean(axis=0) - expect) < 4 * np.sqrt(np.diag(C) / n_tracks))


# --------------------------------------------------------------------------
# unbiased estimators, honest uncertainties
# --------------------------------------------------------------------------
@cache
def _fits(n_sub: int, x_reduced: float, method: str):
    sigma = math.sqrt(x_reduced * D_TRUE * DT)
    seed = 1000 + 10 * n_sub + int(10 * x_reduced)
    X, Y = simulate_tracks(seed, N_TRACKS, N_FRAMES, D_TRUE, DT, sigma, n_sub)
    fit = {"mle": fit_mle, "msd": fit_msd}[method]
    R = shutter_R(n_sub)
    res = [fit(X[i], Y[i], DT, R) for i in range(N_TRACKS)]
    D = np.array([r.D_um2_per_s for r in res])
    D_err = np.array([r.D_err_um2_per_s for r in res])
    s2 = np.array([r.sigma2_um2 for r in res])
    return sigma**2, D, D_err, s2


CASES = [(n_sub, x, m) for n_sub in (1, 50) for x in (0.0, 0.5, 2.0) for m in ("mle", "msd")]


@pytest.mark.parametrize(("n_sub", "x_reduced", "method"), CASES)
def test_estimators_are_unbiased(n_sub, x_reduced, method):
    # 1000 tracks of 50 frames, x = σ²/(DΔt) in {0, 0.5, 2}, R in {0, 0.1666}: the mean of D
    # within 3 SE and within 5 % of the truth; the mean of σ² within 3 SE (+ 1e-6 µm² slack).
    s2_true, D, _, s2 = _fits(n_sub, x_reduced, method)
    se = D.std(ddof=1) / np.sqrt(len(D))
    assert abs(D.mean() - D_TRUE) < 3 * se, (D.mean(), se)
    assert abs(D.mean() / D_TRUE - 1) < 0.05, D.mean()
    se_s2 = s2.std(ddof=1) / np.sqrt(len(s2))
    assert abs(s2.mean() - s2_true) < 3 * se_s2 + 1e-6, (s2.mean(), s2_true, se_s2)


@pytest.mark.parametrize(("n_sub", "x_reduced", "method"), CASES)
def test_reported_D_err_matches_the_spread(n_sub, x_reduced, method):
    # The rms of the per-track D_err within 20 % of the standard deviation of D across tracks
    # (the SE of a standard deviation from 1000 tracks is ~2-3 %).
    _, D, D_err, _ = _fits(n_sub, x_reduced, method)
    ratio = np.sqrt(np.mean(D_err**2)) / D.std(ddof=1)
    assert 0.8 < ratio < 1.2, ratio


def test_mle_beats_or_matches_msd_at_high_localisation_error():
    # Michalet & Berglund (2012): the MLE reaches the Cramér-Rao bound; the optimal-P MSD fit
    # is close to it. At x = 2 the spread of the MLE is not larger (2 % slack, ~ the SE).
    _, D_mle, _, _ = _fits(50, 2.0, "mle")
    _, D_msd, _, _ = _fits(50, 2.0, "msd")
    assert D_mle.std() < 1.02 * D_msd.std(), (D_mle.std(), D_msd.std())


def test_ignoring_blur_biases_sigma_low_and_constrained_mle_D_low():
    # Truth: R = 0.1666 (exposure over the whole frame), σ = 50 nm. Fitting with R = 0:
    # * both estimators: D unchanged (the MSD slope and the lag-1 combination Var + 2 Cov =
    #   2DΔt do not depend on R), σ² too low by exactly 2RDΔt = 0.0092 µm² (it comes out < 0);
    # * the MLE restricted to σ² >= 0 cannot absorb that and underestimates D (to 2/3 D as
    #   σ -> 0; 0.75 D at σ = 50 nm).
    n, sigma, n_sub = 600, 0.05, 50
    R = shutter_R(n_sub)
    X, Y = simulate_tracks(7, n, N_FRAMES, D_TRUE, DT, sigma, n_sub)
    shift = 2 * R * D_TRUE * DT
    for fit in (fit_mle, fit_msd):
        good = [fit(X[i], Y[i], DT, R) for i in range(n)]
        naive = [fit(X[i], Y[i], DT, 0.0) for i in range(n)]
        s2_good = np.array([r.sigma2_um2 for r in good])
        s2_naive = np.array([r.sigma2_um2 for r in naive])
        se = s2_naive.std(ddof=1) / np.sqrt(n)
        assert abs(s2_good.mean() - sigma**2) < 3 * s2_good.std(ddof=1) / np.sqrt(n)
        assert s2_naive.mean() < sigma**2 - 10 * se  # the sign: too low, by many SE
        assert abs(s2_naive.mean() - (sigma**2 - shift)) < 3 * se  # by the predicted amount
    con_good = np.array([fit_mle(X[i], Y[i], DT, R, nonnegative_sigma2=True).D_um2_per_s
                         for i in range(n)])
    con_naive = np.array([fit_mle(X[i], Y[i], DT, 0.0, nonnegative_sigma2=True).D_um2_per_s
                          for i in range(n)])
    se = con_naive.std(ddof=1) / np.sqrt(n)
    assert con_naive.mean() < 0.85 * D_TRUE and con_naive.mean() < con_good.mean() - 10 * se
    assert abs(con_good.mean() / D_TRUE - 1) < 0.05


def test_mle_is_the_maximum_of_the_dense_gaussian_likelihood():
    # The DST-I diagonalisation against scipy's dense multivariate normal with the
    # tridiagonal Toeplitz covariance: equal log-likelihoods, and no neighbour is higher.
    X, Y = simulate_tracks(11, 1, 30, D_TRUE, DT, 0.08, 50)
    R = shutter_R(50)
    r = fit_mle(X[0], Y[0], DT, R)
    M = 29

    def loglik(D, s2):
        a = 2 * D * DT * (1 - 2 * R) + 2 * s2
        b = 2 * R * D * DT - s2
        C = np.diag(np.full(M, a)) + np.diag(np.full(M - 1, b), 1) + np.diag(np.full(M - 1, b), -1)
        mvn = stats.multivariate_normal(np.zeros(M), C)
        return mvn.logpdf(np.diff(X[0])) + mvn.logpdf(np.diff(Y[0]))

    best = loglik(r.D_um2_per_s, r.sigma2_um2)
    assert r.D_um2_per_s > 0 and r.sigma2_um2 > 0  # an interior maximum for this track
    for dD in (-0.02, 0.0, 0.02):
        for ds in (-2e-4, 0.0, 2e-4):
            if dD or ds:
                assert loglik(r.D_um2_per_s * (1 + dD), r.sigma2_um2 + ds) < best


# --------------------------------------------------------------------------
# estimate_D on a track table
# --------------------------------------------------------------------------
def test_estimate_D_on_a_trackpy_table():
    X, Y = simulate_tracks(5, 3, 40, D_TRUE, DT, 0.03, 50)
    a = 0.07
    R = shutter_R(50)
    rows = []
    for p in range(3):
        for k in range(40):
            if p == 2 and k in (10, 11):  # a gap in particle 2
                continue
            rows.append((k, X[p, k] / a, Y[p, k] / a, p + 10))
    df = pd.DataFrame(rows, columns=["frame", "x", "y", "particle"])
    df = df.sample(frac=1.0, random_state=0)  # any row order
    short = pd.DataFrame({"frame": [0, 1, 2], "x": [1.0, 2.0, 3.0], "y": [0.0, 0.0, 1.0],
                          "particle": [99] * 3})
    df = pd.concat([df, short])
    for method, fit in (("mle", fit_mle), ("msd", fit_msd)):
        out = estimate_D(df, DT, R, pixel_size_um=a, method=method)
        assert tuple(out.columns) == ESTIMATE_COLUMNS
        assert list(out["particle"]) == [10, 11, 12]  # 99 is shorter than min_length = 10
        assert list(out["n_frames"]) == [40, 40, 38]
        assert list(out["method"]) == [method] * 3
        for p in range(3):
            keep = np.ones(40, bool)
            if p == 2:
                keep[[10, 11]] = False
            r = fit(X[p, keep], Y[p, keep], DT, R, frames=np.flatnonzero(keep))
            row = out.iloc[p]
            # px -> µm rounding moves the MLE's optimum by ~1e-8 (Brent's tolerance)
            assert row["D_um2_per_s"] == pytest.approx(r.D_um2_per_s, rel=1e-6)
            assert row["D_err_um2_per_s"] == pytest.approx(r.D_err_um2_per_s, rel=1e-6)
            assert row["sigma_nm"] == pytest.approx(1000 * r.sigma_um, rel=1e-6, abs=1e-6)
        # mle uses the longest gap-free run of particle 12 (frames 12..39); msd all 38
        assert out["n_used"].iloc[2] == (28 if method == "mle" else 38)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: blur_coefficient([0, 1e-3], -1), r"frame_interval_s=-1 is not allowed"),
        (lambda: blur_coefficient([0, 0.2], 0.1), r"span .* longer than frame_interval_s=0.1"),
        (lambda: blur_coefficient([], 0.1), r"sample_times_s is empty"),
        (lambda: blur_coefficient([0, 0.01], 0.1, [1, -1]), r"weights\[1\]=-1.0 is not allowed"),
        (lambda: blur_coefficient([0, 0.01], 0.1, [0, 0]), r"weights sum to 0"),
        (lambda: msd([0, 1], [0, 1], 0), r"max_lag=0 is not allowed"),
        (lambda: msd([0, 1], [0, 1, 2], 1), r"x has 2 positions and y has 3"),
        (lambda: msd([0, 1], [0, 1], 1, frames=[3, 3]), r"frame 3 appears twice"),
        (lambda: msd([0, 1], [0, 1], 1, frames=[0, 1.5]), r"frames\[1\]=1.5 is not allowed"),
        (lambda: msd([0, np.nan], [0, 1], 1), r"x\[1\]=nan is not allowed"),
        (lambda: fit_mle(np.zeros(10), np.zeros(10), 0.0), r"frame_interval_s=0.0 is not allowed"),
        (lambda: fit_mle(np.zeros(10), np.zeros(10), 0.03, 0.3), r"blur_R=0.3 is not allowed"),
        (lambda: fit_mle([0, 1], [0, 1], 0.03), r"longest gap-free run has 2 positions"),
        (lambda: fit_msd([0, 1], [0, 1], 0.03), r"the track has 2 positions"),
        (lambda: fit_msd(np.zeros(10), np.zeros(10), 0.03, n_points=1),
         r"n_points=1 is not allowed"),
        (lambda: estimate_D(pd.DataFrame({"frame": [0], "x": [0], "y": [0]}), 0.03, 0.1),
         r"no column\(s\) \['particle'\]"),
        (lambda: estimate_D(pd.DataFrame(columns=["frame", "x", "y", "particle"]), 0.03, 0.1,
                            method="ols"), r"method='ols' is not allowed"),
        (lambda: estimate_D(pd.DataFrame(columns=["frame", "x", "y", "particle"]), 0.03, 0.1,
                            min_length=2), r"min_length=2 is not allowed"),
        (lambda: estimate_D(pd.DataFrame(columns=["frame", "x", "y", "particle"]), 0.03, 0.1,
                            pixel_size_um=-0.07), r"pixel_size_um=-0.07 is not allowed"),
        (lambda: estimate_D(pd.DataFrame({"frame": [0, 0, 1], "x": [0.0, 1, 2], "y": [0.0, 1, 2],
                                          "particle": [4, 4, 4]}), 0.03, 0.1, min_length=3),
         r"particle 4: frame 0 appears twice"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()
