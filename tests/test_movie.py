"""Movies, the photomultiplier model and bidirectional scanning (chapter 07's simulator).

Statistical tests use fixed seeds; tolerances are stated as multiples of the
standard error of the quantity tested.
"""

from __future__ import annotations

import numpy as np
import pytest

from qdloc import SimParams, simulate, simulate_movie
from qdloc.sim.psf import eq1_signal, expected_counts, pmt_amplify, pmt_moments, signal_counts
from qdloc.sim.scanner import (
    frame_start_times_s,
    movie_sample_intervals_s,
    pixel_start_times_s,
    sample_columns,
    sample_intervals_s,
)

P = SimParams()


# --------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------
def test_movies_with_the_same_seed_are_identical():
    a = simulate_movie(3, 4, P, seed=5, D=1.0)
    b = simulate_movie(3, 4, P, seed=5, D=1.0)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.trajectories, b.trajectories)
    c = simulate_movie(3, 4, P, seed=6, D=1.0)
    assert not np.array_equal(a.images, c.images)


def test_shorter_movie_is_a_prefix_and_movies_are_independent_of_batch():
    long = simulate_movie(4, 5, P, seed=3, D=[0.5, 1.0, 2.0, 3.0], threads=2)
    short = simulate_movie(4, 3, P, seed=3, D=[0.5, 1.0, 2.0, 3.0], threads=1)
    np.testing.assert_array_equal(long.images[:, :3], short.images)
    np.testing.assert_array_equal(long.trajectories[:, :3], short.trajectories)
    part = simulate_movie(2, 5, P, seed=3, D=[1.0, 2.0], start=1)
    np.testing.assert_array_equal(long.images[1:3], part.images)
    np.testing.assert_array_equal(part.index, [1, 2])


def test_simulate_frames_keyword_gives_the_movie():
    a = simulate(2, P, seed=1, D=1.0, frames=3)
    b = simulate_movie(2, 3, P, seed=1, D=1.0)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.images.shape == (2, 3, P.height_px, P.width_px)
    assert a.centroids.shape == (2, 3, 2) and a.in_view.shape == (2, 3)
    assert a.frame_interval_s == pytest.approx(P.frame_time_s)


def test_single_frame_behaviour_unchanged_by_new_fields():
    # the defaults (unidirectional, no PMT, no pause) are the paper's simulator: same arrays
    a = simulate(300, P, seed=9, D=1.0)
    b = simulate(300, P.replace(frame_pause_s=0.5), seed=9, D=1.0)  # a movie-only field
    np.testing.assert_array_equal(a.images, b.images)
    assert a.images.dtype == np.uint16


# --------------------------------------------------------------------------
# Timing (exact)
# --------------------------------------------------------------------------
def test_movie_sample_times_are_exact():
    # binary fractions: every sum below is exact in float64
    p = SimParams(dwell_s=2.0**-19, retrace_s=2.0**-10, frame_pause_s=2.0**-5)
    T = 3
    dt = movie_sample_intervals_s(p, T)
    t = np.concatenate([[0.0], np.cumsum(dt)])
    expected = (frame_start_times_s(p, T)[:, None] + pixel_start_times_s(p).reshape(1, -1)).reshape(
        -1
    )
    assert np.array_equal(t, expected)
    assert p.frame_period_s == p.frame_time_s + p.frame_pause_s
    n_px = p.n_pixels
    assert np.array_equal(dt[: n_px - 1], sample_intervals_s(p))
    assert dt[n_px - 1] == p.dwell_s + p.retrace_s + p.frame_pause_s


def test_movie_sample_intervals_rejects_bad_frames():
    with pytest.raises(ValueError, match=r"n_frames=0 is not allowed"):
        movie_sample_intervals_s(P, 0)
    with pytest.raises(ValueError, match=r"n_frames=0 is not allowed"):
        simulate_movie(1, 0, P)


# --------------------------------------------------------------------------
# Physics of the movie
# --------------------------------------------------------------------------
def test_steps_have_2DΔt_variance_on_all_three_clocks():
    D = 1.5
    p = P.replace(frame_pause_s=0.01)
    mv = simulate_movie(400, 3, p, seed=11, D=D, photons=False)
    traj = mv.trajectories.reshape(400, -1, 3)
    inc = np.diff(traj, axis=1)  # (400, T·n_px - 1, 3)
    dt = movie_sample_intervals_s(p, 3)
    z = inc / np.sqrt(2 * D * dt)[None, :, None]
    W, n_px = p.width_px, p.n_pixels
    fast = np.ones(len(dt), bool)
    fast[W - 1 :: W] = False
    gaps = np.array([n_px - 1, 2 * n_px - 1])
    slow = ~fast
    slow[gaps] = False
    for name, sel in (("fast", fast), ("slow", slow), ("frame gap", gaps)):
        v = z[:, sel].reshape(-1)
        se = np.sqrt(2.0 / v.size)  # standard error of a unit-variance estimate
        assert abs(v.var() - 1.0) < 4 * se, (name, v.var(), se)


def test_frame_k_has_the_single_frame_statistics():
    """Frame 3 of a movie vs single images: the walk within the frame and the photon noise."""
    D, n = 1.0, 2000
    mv = simulate_movie(n, 4, P, seed=21, D=D)
    single = simulate(n, P, seed=22, D=D)
    # (1) the walk within the frame, relative to its first sample: centroid offset variance
    rel_m = mv.centroids[:, 3] - mv.trajectories[:, 3, 0, :2] / P.pixel_size_um
    rel_s = single.centroids - single.trajectories[:, 0, :2] / P.pixel_size_um
    for ax in range(2):
        vm, vs = rel_m[:, ax].var(), rel_s[:, ax].var()
        se = np.sqrt(2.0 / n) * np.sqrt(vm**2 + vs**2)
        assert abs(vm - vs) < 4 * se, (ax, vm, vs)
    # (2) counts given the trajectory: Poisson around Eq. 1 (standardised residuals mean 0, var 1)
    lam = expected_counts(mv.trajectories[:, 3], P)
    r = ((mv.images[:, 3].astype(float) - lam) / np.sqrt(lam)).reshape(-1)
    se_mean, se_var = 1 / np.sqrt(r.size), np.sqrt(2.0 / r.size)
    assert abs(r.mean()) < 4 * se_mean
    assert (
        abs(r.var() - 1) < 6 * se_var
    )  # the Poisson kurtosis widens the variance's error a little


def test_frame_zero_matches_single_frame_simulator():
    n = 3000
    mv = simulate_movie(n, 1, P, seed=31, D=1.0)
    single = simulate(n, P, seed=32, D=1.0)
    for name, a, b in (
        ("centroid x", mv.centroids[:, 0, 0], single.centroids[:, 0]),
        ("centroid y", mv.centroids[:, 0, 1], single.centroids[:, 1]),
        (
            "image sum",
            mv.images[:, 0].sum(axis=(1, 2)).astype(float),
            single.images.sum(axis=(1, 2)).astype(float),
        ),
    ):
        se = np.sqrt(a.var() / n + b.var() / n)
        assert abs(a.mean() - b.mean()) < 4 * se, name
        se_v = np.sqrt(2.0 / n) * np.sqrt(a.var() ** 2 + b.var() ** 2)
        assert abs(a.var() - b.var()) < 4 * se_v, name


def test_dot_may_leave_the_field_of_view():
    mv = simulate_movie(20, 40, P, seed=4, D=3.0, photons=False)
    c = mv.centroids
    inside = (
        (c[..., 0] >= -0.5)
        & (c[..., 0] <= P.width_px - 0.5)
        & (c[..., 1] >= -0.5)
        & (c[..., 1] <= P.height_px - 0.5)
    )
    np.testing.assert_array_equal(mv.in_view, inside)
    first = mv.trajectories[:, 0, 0, :2] / P.pixel_size_um  # every walk starts inside the start box
    m = P.start_margin_px
    assert np.all((first >= m) & (first <= [P.width_px - 1 - m, P.height_px - 1 - m]))
    assert (~mv.in_view).any()  # and at D = 3 over 40 frames some dots leave


# --------------------------------------------------------------------------
# Photomultiplier excess noise
# --------------------------------------------------------------------------
@pytest.mark.parametrize("F", [1.2, 1.5, 2.0])
def test_pmt_mean_and_excess_noise_factor_match_their_formula(F):
    lam, n = 9.0, 400_000
    rng = np.random.default_rng(7)
    out = pmt_amplify(rng.poisson(lam, n), F, np.random.default_rng(8)).astype(np.float64)
    mean, var = pmt_moments(lam, F)
    se_mean = np.sqrt(var / n)
    assert abs(out.mean() - mean) < 4 * se_mean
    # the variance's standard error from the sample's fourth central moment
    m4 = np.mean((out - out.mean()) ** 4)
    se_var = np.sqrt((m4 - out.var() ** 2) / n)
    assert abs(out.var() - var) < 4 * se_var
    assert abs(out.var() / out.mean() - F) < 0.02 * F  # excess noise factor, 2%


def test_pmt_off_is_the_identity_and_bad_factor_is_rejected():
    c = np.arange(10)
    np.testing.assert_array_equal(pmt_amplify(c, 1.0, np.random.default_rng(0)), c)
    with pytest.raises(ValueError, match=r"excess_noise=0.5 is not allowed"):
        pmt_amplify(c, 0.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"pmt_excess_noise=0.9 is not allowed"):
        SimParams(pmt_excess_noise=0.9)


def test_pmt_images_keep_the_photon_counts_and_chunking():
    p = P.replace(pmt_excess_noise=1.5)
    a = simulate(600, p, seed=2, D=1.0)
    assert a.images.dtype == np.float32
    # the same photons as without the PMT: same mean image, and zero stays zero
    plain = simulate(600, P, seed=2, D=1.0)
    assert np.all(a.images[plain.images == 0] == 0)
    rel = abs(a.images.mean() - plain.images.mean()) / plain.images.mean()
    assert rel < 0.01
    # chunking contract holds for the gains too
    b = np.concatenate(
        [
            simulate(100, p, seed=2, D=1.0, start=0).images,
            simulate(500, p, seed=2, D=1.0, start=100).images,
        ]
    )
    np.testing.assert_array_equal(a.images, b)
    # residual variance over Eq. 1 is F·λ
    lam = expected_counts(a.trajectories, P)
    r = ((a.images - lam) / np.sqrt(1.5 * lam)).reshape(-1)
    assert abs(r.var() - 1) < 0.02


# --------------------------------------------------------------------------
# Bidirectional scanning
# --------------------------------------------------------------------------
def test_bidirectional_pixel_times_are_exact():
    p = SimParams(dwell_s=2.0**-19, retrace_s=2.0**-10, bidirectional=True)
    t = pixel_start_times_s(p)
    W = p.width_px
    for i in (0, 1, 2, 3):
        s = np.arange(W) if i % 2 == 0 else np.arange(W)[::-1]
        assert np.array_equal(t[i], i * p.line_period_s + s * p.dwell_s)
    assert np.array_equal(sample_columns(p)[1], np.arange(W)[::-1])


def test_bidirectional_signal_follows_the_scan_order():
    p = P.replace(bidirectional=True)
    rng = np.random.default_rng(3)
    traj = np.cumsum(rng.normal(0, 0.02, (1, p.n_pixels, 3)), axis=1) + [0.8, 0.8, 0.0]
    got = signal_counts(traj, p)[0]
    cols = sample_columns(p)
    a = p.pixel_size_um
    want = np.empty((p.height_px, p.width_px))
    for i in range(p.height_px):
        for s in range(p.width_px):
            x, y, z = traj[0, i * p.width_px + s]
            j = cols[i, s]
            want[i, j] = eq1_signal(np.array(x - j * a), np.array(y - i * a), np.array(z), p)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # a dot at rest gives the same image either way
    still = np.broadcast_to([[0.7, 0.9, 0.1]], (1, p.n_pixels, 3))
    np.testing.assert_allclose(signal_counts(still, p), signal_counts(still, P), rtol=1e-12)


def test_bidirectional_changes_the_image_of_a_moving_dot_only():
    a = simulate(50, P, seed=1, D=1.0)
    b = simulate(50, P.replace(bidirectional=True), seed=1, D=1.0)
    np.testing.assert_array_equal(a.trajectories, b.trajectories)  # the walk is in time order
    assert not np.array_equal(a.images, b.images)


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------
def test_new_fields_validate_and_round_trip():
    with pytest.raises(
        ValueError, match=r"bidirectional='yes' is not allowed: expected True or False"
    ):
        SimParams(bidirectional="yes")
    with pytest.raises(ValueError, match=r"frame_pause_s=-1.0 is not allowed"):
        SimParams(frame_pause_s=-1.0)
    p = SimParams(bidirectional=True, pmt_excess_noise=1.3, frame_pause_s=0.01)
    assert SimParams.from_json(p.to_json()) == p
    old = {
        k: v
        for k, v in P.to_dict().items()
        if k not in ("bidirectional", "pmt_excess_noise", "frame_pause_s")
    }
    assert SimParams.normalize_dict(old) == P.to_dict()


# --------------------------------------------------------------------------
# Movie sets on disk
# --------------------------------------------------------------------------
def test_movie_set_round_trip_and_rerun_is_byte_identical(tmp_path):
    import tifffile

    from qdloc.data.movieset import load_movies, write_movies

    p = P.replace(frame_pause_s=0.005)
    out = write_movies(tmp_path / "mv", 3, 4, p, seed=8, D=1.25)
    ms = load_movies(out)
    ref = simulate_movie(3, 4, p, seed=8, D=1.25)
    np.testing.assert_array_equal(ms.images, ref.images)
    np.testing.assert_array_equal(ms.trajectories, ref.trajectories)
    np.testing.assert_allclose(
        ms.labels[["x_px", "y_px"]].to_numpy(), ref.centroids.reshape(-1, 2), rtol=1e-9
    )
    assert ms.frame_interval_s == pytest.approx(p.frame_period_s)
    assert list(ms.truth(1)["frame"]) == [0, 1, 2, 3]
    with tifffile.TiffFile(out / "movies" / "movie_00001.tif") as tif:
        assert tif.series[0].axes == "TYX" and tif.series[0].shape == (4, 24, 25)
        assert tif.imagej_metadata["finterval"] == pytest.approx(p.frame_period_s)
    again = write_movies(tmp_path / "mv2", 3, 4, p, seed=8, D=1.25)
    for f in sorted(x.relative_to(out) for x in out.rglob("*") if x.is_file()):
        if f.name != "params.json":
            assert (out / f).read_bytes() == (again / f).read_bytes(), f
    with pytest.raises(FileExistsError, match="already exists"):
        write_movies(out, 3, 4, p, seed=8)
    write_movies(out, 2, 2, p, seed=8, force=True)
    assert len(load_movies(out)) == 2


def test_interrupted_movie_write_leaves_nothing(tmp_path, monkeypatch):
    import qdloc.data.movieset as ms

    calls = []

    def boom(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return tifffile_imwrite(*a, **k)

    import tifffile

    tifffile_imwrite = tifffile.imwrite
    monkeypatch.setattr(ms.tifffile, "imwrite", boom)
    with pytest.raises(KeyboardInterrupt):
        ms.write_movies(tmp_path / "mv", 3, 2, P, seed=1)
    assert list(tmp_path.iterdir()) == []


def test_damaged_movie_set_is_reported_by_file(tmp_path):
    from qdloc.data.dataset import DatasetError
    from qdloc.data.movieset import load_movies, write_movies

    out = write_movies(tmp_path / "mv", 2, 3, P, seed=1)
    f = out / "movies" / "movie_00001.tif"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"movie_00001.tif: .* bytes, params.json records"):
        load_movies(out)
    with pytest.raises(DatasetError, match=r"not a qdloc movie set"):
        load_movies(tmp_path)


def test_pmt_single_frame_set_round_trips_as_float32(tmp_path):
    from qdloc.data.dataset import load_dataset, write_dataset

    p = P.replace(pmt_excess_noise=1.5)
    out = write_dataset(tmp_path / "pmt", 40, p, seed=3, D=1.0, progress=False)
    ds = load_dataset(out)
    assert ds.images.dtype == np.float32
    np.testing.assert_array_equal(ds.images, simulate(40, p, seed=3, D=1.0).images)
