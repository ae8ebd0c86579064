"""D from the pixels: the movie likelihood against references, recovery, refusals, the CLI.

References: a one-frame movie has the single-image model's evidence
(:mod:`qdloc.localise.bayes`); on tiny frames over several frames, importance sampling of the
pixel-level model (trajectories from the simulator's own walk, z included, every pixel, weighted
by the Poisson likelihood of Eq. 1) gives ``log p(counts | D)`` directly; the chain's z
approximations (few ``|z|`` nodes, z held for blocks of lines) against a finer chain.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import tifffile
import torch

from qdloc.data.movieset import write_movies
from qdloc.localise.bayes import posterior_centroid_samples
from qdloc.sim.params import SimParams
from qdloc.sim.psf import expected_counts
from qdloc.sim.simulate import simulate_movie
from qdloc.study.diffusion import bias_table
from qdloc.study.pixel_diffusion import (
    coverage_check,
    coverage_table,
    main,
    pixel_diffusion_study,
    pixel_rows,
    pixel_summary,
)
from qdloc.transport.pixels import (
    D_from_pixels,
    movie_log_likelihood,
    profile_interval,
    z_nodes,
    z_walk,
)

#: 3 x 4 frames with a PSF of 1.5 px and a bright dot (as in tests/test_bayes.py).
TINY = SimParams(height_px=3, width_px=4, start_margin_px=1.0, pixel_size_um=0.14, n_qd=20.0)


def test_one_frame_movie_is_the_image_model():
    # measured: |difference| <= 0.008 nats (the image model's grid cuts its tails at 3.5 sd)
    p = SimParams()
    mv = simulate_movie(4, 1, p, seed=1, D=1.0)
    for D in (0.5, 1.0, 2.0):
        _, ev = posterior_centroid_samples(mv.images[:, 0], p, D, n_samples=2, grid_px=0.5,
                                           dtype=torch.float64)
        ll = movie_log_likelihood(mv.images, [D], p, grid_px=0.5)[:, 0]
        assert np.abs(ev - ll).max() < 0.02 if D >= 1 else np.median(np.abs(ev - ll)) < 0.02


def test_z_nodes_walk_brightness_and_start():
    # exact: nodes equally spaced in Eq. 1's z factor, generator rows sum to 0, the finite-volume
    # walk on equal spacing has variance 2Dt away from the ends and is the fold at 0; the start
    # is in focus by default and the folded normal's cell masses otherwise
    p = SimParams()
    z = z_nodes(p, 8)
    b, Q, start = z_walk(p, z)
    assert z[0] == 0 and z[-1] == pytest.approx(4.5 * p.sigma_z_um) and len(z) == 8
    assert np.diff(b[:6]) == pytest.approx(np.full(5, (0.05 - 1) / 5))
    assert np.allclose(Q.sum(1), 0) and start.tolist() == np.eye(8)[0].tolist()
    for D, t in ((0.5, 0.0276), (3.0, 0.0276)):
        assert np.allclose(scipy.linalg.expm(Q * D * t).sum(1), 1)
    u = 0.1 * np.arange(60)
    _, Qu, _ = z_walk(p, u)
    P = scipy.linalg.expm(Qu * 2.0 * 0.01)
    assert P[30] @ (u - u[30]) ** 2 == pytest.approx(2 * 2.0 * 0.01, rel=1e-6)
    assert P[0] @ u**2 == pytest.approx(2 * 2.0 * 0.01, rel=1e-3)  # E z² of the folded walk
    _, _, s = z_walk(p.replace(start_z_sd_um=0.8), u)
    assert s.sum() == pytest.approx(1) and s @ u**2 == pytest.approx(0.64, rel=0.02)
    with pytest.raises(ValueError, match="n_z=3"):
        z_nodes(p, 3)
    with pytest.raises(ValueError, match="z_block=0"):
        movie_log_likelihood(np.zeros((1, 24, 25)), [1.0], z_block=0)


def test_z_blocks_and_few_nodes_agree_with_a_finer_chain():
    # default chain (8 |z| nodes, z held for 6 lines) against 16 nodes with a z step every line,
    # on 2 movies of 6 frames at D = 3; measured: log p within 0.16 nats, its changes from D = 3
    # to 1.5 and to 6 within 0.11 nats
    mv = simulate_movie(2, 6, SimParams(), seed=8, D=3.0)
    Ds = [1.5, 3.0, 6.0]
    ll = movie_log_likelihood(mv.images, Ds)
    fine = movie_log_likelihood(mv.images, Ds, n_z=16, z_block=1)
    assert np.abs(ll - fine).max() < 0.3, ll - fine
    assert np.abs(np.diff(ll, axis=1) - np.diff(fine, axis=1)).max() < 0.3, ll - fine


def reference_log_lik(movie, params, D, n, seed):
    """``log p(counts | D)`` by importance sampling from the walk, and the effective sample size."""
    sim = simulate_movie(n, len(movie), params, seed=seed, D=D, photons=False)
    traj = sim.trajectories.reshape(n * len(movie), params.n_pixels, 3)
    lam = expected_counts(traj, params).reshape(n, *movie.shape)
    ll = (movie[None].astype(float) * np.log(lam) - lam).sum(axis=(1, 2, 3))
    w = np.exp(ll - ll.max())
    return ll.max() + math.log(w.mean()), w.sum() ** 2 / (w**2).sum()


def test_multi_frame_likelihood_agrees_with_pixel_level_importance_sampling():
    # three 3 x 4 frames, pixel-level z walk in the reference; measured: log p within 0.19 nats
    # of the reference (whose own scatter between seeds is up to 0.09 nats, more where the
    # posterior sits in the walk's tails), and the change of log p from D = 0.5 to 2 within
    # 0.05 nats. (z moves 0.2 µm in these 10 ms: the chain without z did as well here.)
    P = TINY.replace(n_qd=8.0)
    mv = simulate_movie(2, 3, P, seed=3, D=1.0)
    ll = movie_log_likelihood(mv.images, [0.5, 2.0], P, grid_px=0.25)
    ref = np.empty_like(ll)
    for k in range(2):
        for j, D in enumerate((0.5, 2.0)):
            ref[k, j], ess = reference_log_lik(mv.images[k], P, D, 30_000, seed=50 + k)
            assert ess > 150, ess
    assert np.abs(ll - ref).max() < 0.25, ll - ref
    assert np.abs(np.diff(ll, axis=1) - np.diff(ref, axis=1)).max() < 0.1, ll - ref


@pytest.mark.parametrize(("D", "seed"), [(0.5, 21), (2.0, 22)])
def test_simulate_then_recover_pooled(D, seed):
    # 4 movies of 15 frames: the pooled 95 % interval is about -25 % / +35 %; measured estimates
    # -3.5 % (0.5) and +29 % (2), both intervals holding the truth (the bias on 40 movies of 30
    # frames is in the module docstring)
    mv = simulate_movie(4, 15, SimParams(), seed=seed, D=D)
    row = D_from_pixels(mv.images, pool=True, D_grid=D * np.geomspace(0.4, 2.5, 5), n_refine=0).iloc[0]
    assert row.ci_low < D < row.ci_high, row
    assert abs(row.D_um2_per_s / D - 1) < 0.35, row
    assert row.ci_high / row.ci_low < 2.0, row


def test_per_movie_rows_and_likelihood_peaks_near_truth():
    mv = simulate_movie(3, 10, SimParams(), seed=4, D=1.0)
    df = D_from_pixels(mv.images, D_grid=np.geomspace(0.2, 5, 5), n_refine=0)
    assert list(df.columns) == ["movie", "n_movies", "n_frames", "D_um2_per_s", "ci_low",
                                "ci_high", "log_lik_max"]
    assert len(df) == 3 and (df.n_frames == 10).all()
    assert ((df.ci_low < df.D_um2_per_s) & (df.D_um2_per_s < df.ci_high)).all()
    assert df.D_um2_per_s.between(0.3, 3).all(), df


def test_profile_interval_of_a_parabola():
    # log L = -(log D)^2 / (2 s^2): MLE 1, interval exp(+-1.96 s)
    s = 0.1
    D = np.geomspace(0.5, 2, 21)
    d, lo, hi = profile_interval(D, -np.log(D) ** 2 / (2 * s**2))
    assert d == pytest.approx(1, abs=1e-3)
    assert lo == pytest.approx(math.exp(-1.95996 * s), rel=2e-3)
    assert hi == pytest.approx(math.exp(1.95996 * s), rel=2e-3)
    assert profile_interval(D, np.log(D))[2] == math.inf  # still rising at the grid's top


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: movie_log_likelihood(np.zeros((2, 5, 5)), [1.0]), "expected (n, T, 24, 25)"),
        (lambda: movie_log_likelihood(-np.ones((1, 24, 25)), [1.0]), "negative or non-finite"),
        (lambda: movie_log_likelihood(np.zeros((1, 24, 25)), [0.0]), "D=0.0"),
        (lambda: movie_log_likelihood(np.zeros((1, 24, 25)), [1.0], grid_px=0.3), "grid_px=0.3"),
        (lambda: movie_log_likelihood(np.zeros((1, 24, 25)), [1.0], SimParams(pmt_excess_noise=1.5)),
         "pmt_excess_noise=1.5"),
        (lambda: profile_interval([1, 2, 3], [0, 1, 0]), "at least 4"),
        (lambda: D_from_pixels([np.zeros((24, 25))]), "expected (T, H, W)"),
    ],
)
def test_bad_input_is_refused_by_name(call, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        call()


@pytest.fixture(scope="module")
def movie_set(tmp_path_factory):
    return write_movies(tmp_path_factory.mktemp("px") / "set", 2, 4, seed=9, D=1.0)


def test_cli_from_pixels_per_movie_and_pooled(run_main, movie_set, tmp_path):
    files = [str(movie_set / f"movies/movie_{m:05d}.tif") for m in range(2)]
    rc, msg, _ = run_main("diffusion", "--from-pixels", *files, "-o", str(tmp_path / "d.csv"))
    assert rc == 0 and "frame interval 0.0276 s" in msg
    df = pd.read_csv(tmp_path / "d.csv")
    assert list(df.movie) == files and (df.n_frames == 4).all()
    assert ((df.ci_low < df.D_um2_per_s) & (df.D_um2_per_s < df.ci_high)).all()
    rc, _, _ = run_main("diffusion", "--from-pixels", *files, "--pool", "-o", str(tmp_path / "p.csv"))
    pooled = pd.read_csv(tmp_path / "p.csv")
    assert rc == 0 and len(pooled) == 1 and pooled.movie[0] == "pooled" and pooled.n_frames[0] == 8
    assert pooled.ci_low[0] < 1.0 < pooled.ci_high[0]


def test_cli_frame_interval_comes_from_the_movie(run_main, movie_set, tmp_path):
    images = tifffile.imread(movie_set / "movies/movie_00000.tif")
    p = SimParams()
    slow = tmp_path / "slow.tif"
    tifffile.imwrite(slow, images, imagej=True, metadata={"axes": "TYX", "finterval": 0.05})
    rc, msg, _ = run_main("diffusion", "--from-pixels", str(slow))
    assert rc == 0 and "frame interval 0.05 s" in msg
    fast = tmp_path / "fast.tif"
    tifffile.imwrite(fast, images, imagej=True, metadata={"axes": "TYX", "finterval": 0.01})
    rc, _, err = run_main("diffusion", "--from-pixels", str(fast), "-o", str(tmp_path / "x.csv"))
    assert rc == 2 and "shorter than the scanner's frame" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.csv").exists() and p.frame_time_s == pytest.approx(0.0276)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from-pixels", "missing.tif"], "no such file"),
        (["--from-pixels", "small.tif"], "the parameters say 24x25"),
        (["--from-pixels", "m0.tif", "--params", "nope.json"], "--params nope.json: no such file"),
        (["tracks.csv", "--from-pixels", "m0.tif"], "not both"),
        (["--pool"], "only with --from-pixels"),
        ([], "no input"),
    ],
)
def test_cli_bad_pixel_input_exits_2_with_one_line(run_main, movie_set, tmp_path, monkeypatch,
                                                   args, needle):
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite("small.tif", np.zeros((4, 5, 5), dtype=np.uint16), photometric="minisblack")
    (tmp_path / "m0.tif").write_bytes((movie_set / "movies/movie_00000.tif").read_bytes())
    rc, _, err = run_main("diffusion", *args, "-o", "d.csv")
    assert rc == 2 and needle in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d.csv").exists()


def test_study_summary_and_table_rows():
    per, pooled = pixel_diffusion_study([1.0], 2, 4, per_movie=True, D_grid=np.geomspace(0.1, 8, 6),
                                        n_refine=0)
    assert len(per) == 2 and per.D_true.eq(1.0).all() and per.covered.dtype == bool
    s = pixel_summary(per, pooled)
    assert s["n_intervals"] == 2 and s["n_D"] == 1 and s["movies_per_s"] > 0
    assert s["rel_bias"] == {1.0: pytest.approx(pooled.rel_bias[0])}
    rows = pixel_rows(pooled)
    assert rows.method.tolist() == ["pixels"] and rows.D_um2_per_s[0] == pooled.D_um2_per_s[0]
    assert 0 < rows.D_err_um2_per_s[0] < rows.ci_high[0] - rows.ci_low[0]
    table = bias_table(rows)
    assert table.rel_bias[0] == pytest.approx(pooled.rel_bias[0])
    assert pixel_summary(per.iloc[:0], pooled)["coverage"] is None


def test_coverage_check_writes_its_table_and_main_runs(tmp_path, capsys):
    out = coverage_check(tmp_path, (0.5, 1.0), 1, 2, independent=True, D_grid=np.geomspace(0.1, 8, 5),
                         n_refine=0, name="cov")
    per = pd.read_csv(tmp_path / "cov_movies.csv")
    saved = json.loads((tmp_path / "cov.json").read_text())
    assert per["index"].tolist() == [0, 1]  # a fresh movie per D
    assert saved["n_covered"] == out["n_covered"] == per.covered.sum()
    assert saved["n_movies"] == {"0.5": 1, "1.0": 1} and saved["settings"]["independent"] is True
    assert out["misses_below"] + out["misses_above"] + out["n_covered"] == 2
    assert main(["--results-dir", str(tmp_path), "--D", "1", "--n-movies", "1", "--n-frames", "1",
                 "--name", "m"]) == 0
    assert "per-movie coverage" in capsys.readouterr().out
    assert json.loads((tmp_path / "m.json").read_text())["n_intervals"] == 1
    with pytest.raises(ValueError, match="name="):
        coverage_check(tmp_path, (1.0,), 1, 1, name="a/b")
    # one line and status 2 for bad input
    assert main(["--results-dir", str(tmp_path), "--n-movies", "0", "--name", "z"]) == 2
    assert "n_movies" in capsys.readouterr().err
    # the files read back as one table: a row per D, totals over the files
    two = coverage_check(tmp_path, (2.0,), 1, 2, seed=71, D_grid=np.geomspace(0.1, 8, 5), n_refine=0,
                         name="c2")
    rows, tot = coverage_table([tmp_path / "c2.json", tmp_path / "cov.json"])
    assert rows.D_true.tolist() == [0.5, 1.0, 2.0] and rows.seed.tolist() == [70, 70, 71]
    assert coverage_table(str(tmp_path / "c*.json"))[0].equals(rows)  # a glob pattern
    with pytest.raises(ValueError, match="no file matches"):
        coverage_table(str(tmp_path / "none*.json"))
    assert tot["n_movies"] == 3 and tot["n_covered"] == out["n_covered"] + two["n_covered"]
    assert tot["n_covered"] + tot["misses_below"] + tot["misses_above"] == 3
    assert tot["coverage"] == pytest.approx(tot["n_covered"] / 3)
    assert tot["max_abs_rel_bias"] == pytest.approx(max(abs(b) for b in [*out["rel_bias"].values(),
                                                                         *two["rel_bias"].values()]))
    with pytest.raises(ValueError, match="same seed"):  # m.json repeats D = 1 with seed 70
        coverage_table([tmp_path / "cov.json", tmp_path / "m.json"])
