"""``qdloc track`` and ``qdloc diffusion``: round trips, defaults, one-line errors (exit 2)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import tifffile

from qdloc import SimParams
from qdloc.cli import main
from qdloc.data.dataset import read_stack
from qdloc.sim.psf import expected_counts_static
from qdloc.transport.diffusion import ESTIMATE_COLUMNS, estimate_D, scanner_blur_coefficient
from qdloc.transport.linking import track_movie

BRIGHT = SimParams(n_qd=200.0)
T = 20
TRUE_X = 12.0 + 5.0 * np.cos(2 * np.pi * np.arange(T) / T)
TRUE_Y = 11.5 + 4.5 * np.sin(2 * np.pi * np.arange(T) / T)


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """``qdloc ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: --help, usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def movie_tif(tmp_path_factory):
    rng = np.random.default_rng(0)
    a = BRIGHT.pixel_size_um
    stack = np.stack(
        [rng.poisson(expected_counts_static((x * a, y * a, 0.0), BRIGHT))
         for x, y in zip(TRUE_X, TRUE_Y, strict=True)]
    ).astype(np.uint16)
    path = tmp_path_factory.mktemp("movie") / "movie.tif"
    tifffile.imwrite(path, stack)
    return path


@pytest.fixture(scope="module")
def tracks_csv(tmp_path_factory):
    """Tracks (px) of 8 particles, 60 frames, D = 1 µm²/s, scanner-like blur, σ = 30 nm."""
    p = SimParams()
    dt, n_sub, a = p.frame_time_s, 24, p.pixel_size_um
    rng = np.random.default_rng(1)
    rows = []
    for pid in range(8):
        pos = []
        for _axis in range(2):
            steps = rng.normal(0, math.sqrt(2 * 1.0 * dt / n_sub), size=60 * n_sub)
            pos.append(np.cumsum(steps).reshape(60, n_sub).mean(axis=1) + rng.normal(0, 0.03, 60))
        for k in range(60):
            rows.append((k, pos[0][k] / a, pos[1][k] / a, pid))
    path = tmp_path_factory.mktemp("tracks") / "tracks.csv"
    pd.DataFrame(rows, columns=["frame", "x", "y", "particle"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("cmd", ["track", "diffusion"])
def test_help_exits_0(capsys, cmd):
    rc, out, err = run_main(capsys, cmd, "--help")
    assert rc == 0 and out.startswith(f"usage: qdloc {cmd}") and err == ""


def test_diffusion_help_states_the_defaults(capsys):
    _, out, _ = run_main(capsys, "diffusion", "--help")
    text = " ".join(out.split())
    assert "default 0.0276" in text and "frame period" in text  # SimParams().frame_time_s
    assert "--scanner" in text and "(the default" in text


def test_track_writes_one_track_with_every_frame(capsys, tmp_path, movie_tif):
    out_csv = tmp_path / "tracks.csv"
    rc, out, err = run_main(capsys, "track", movie_tif, "--method", "trackpy", "-o", out_csv)
    assert rc == 0, err
    assert err == ""
    assert out.strip() == f"{T} localisations in {T} frames linked into 1 track(s) -> {out_csv}"
    df = pd.read_csv(out_csv)
    assert list(df.columns[:5]) == ["frame", "x", "y", "particle", "score"]
    assert list(df["frame"]) == list(range(T)) and df["particle"].nunique() == 1
    # the same as the library call (accuracy is tested in test_tracking)
    lib = track_movie(read_stack(movie_tif), "trackpy")
    np.testing.assert_allclose(df[["x", "y"]].to_numpy(), lib[["x", "y"]].to_numpy(), rtol=1e-12)
    # TrackPy's default 7-px diameter cuts the spot and pixel-locks: within 1 px here (0.85 max)
    err_px = np.hypot(df["x"] - TRUE_X[df["frame"]], df["y"] - TRUE_Y[df["frame"]])
    assert err_px.max() < 1.0, err_px.max()
    # a small search range splits it
    rc, out, _ = run_main(capsys, "track", movie_tif, "--search-range", "0.5", "-o", out_csv)
    assert rc == 0 and f"linked into {T} track(s)" in out


def test_diffusion_prints_and_writes_the_table(capsys, tmp_path, tracks_csv):
    rc, out, err = run_main(capsys, "diffusion", tracks_csv)
    assert rc == 0, err
    lines = out.strip().splitlines()
    R = scanner_blur_coefficient()
    assert lines[0].startswith("8 track(s) of 8 with >= 10 localisations; estimator mle")
    assert f"blur R = {R:.4f} (scanner)" in lines[0] and "frame interval 0.0276 s" in lines[0]
    assert lines[1].split() == list(ESTIMATE_COLUMNS) and len(lines) == 10
    d_csv = tmp_path / "d.csv"
    for est in ("mle", "msd"):
        rc, out, err = run_main(capsys, "diffusion", tracks_csv, "--estimator", est, "-o", d_csv)
        assert rc == 0, err
        assert out.strip().endswith(f"-> {d_csv}")
        got = pd.read_csv(d_csv)
        assert tuple(got.columns) == ESTIMATE_COLUMNS
        # the defaults: the scanner's frame period and R, 0.07 µm pixels
        expect = estimate_D(pd.read_csv(tracks_csv), SimParams().frame_time_s, R, 0.07, method=est)
        np.testing.assert_allclose(got["D_um2_per_s"], expect["D_um2_per_s"], rtol=1e-9)
        np.testing.assert_allclose(got["D_err_um2_per_s"], expect["D_err_um2_per_s"], rtol=1e-9)
        # 8 tracks of 60 frames at D = 1: the mean within 3 standard errors of the truth
        se = np.sqrt(np.sum(got["D_err_um2_per_s"] ** 2)) / len(got)
        assert abs(got["D_um2_per_s"].mean() - 1.0) < 3 * se
    # --blur overrides the scanner's R; --frame-interval-s and --pixel-size-um pass through
    rc, out, _ = run_main(capsys, "diffusion", tracks_csv, "--blur", "0", "--frame-interval-s",
                          "0.05", "--pixel-size-um", "0.1", "-o", d_csv)
    assert rc == 0 and "blur R = 0.0000 (--blur)" in out
    expect = estimate_D(pd.read_csv(tracks_csv), 0.05, 0.0, 0.1)
    np.testing.assert_allclose(pd.read_csv(d_csv)["D_um2_per_s"], expect["D_um2_per_s"], rtol=1e-9)


def test_track_then_diffusion_round_trip(capsys, tmp_path, movie_tif):
    t_csv = tmp_path / "t.csv"
    assert run_main(capsys, "track", movie_tif, "-o", t_csv)[0] == 0
    rc, out, err = run_main(capsys, "diffusion", t_csv, "--estimator", "msd")
    assert rc == 0, err
    assert out.startswith("1 track(s) of 1 with >= 10 localisations; estimator msd")


def _one_line_error(rc, out, err, *needles):
    assert rc == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--frame-interval-s", "-1"], ["--frame-interval-s -1", "expected a number > 0 s"]),
        (["--frame-interval-s", "nan"], ["--frame-interval-s nan"]),
        (["--frame-interval-s", "0.01"],
         ["--frame-interval-s 0.01", "shorter than the scanner's frame"]),
        (["--blur", "0.5"], ["--blur 0.5", "expected a number in [0, 0.25]"]),
        (["--pixel-size-um", "0"], ["--pixel-size-um 0", "expected a number > 0 µm"]),
        (["--min-length", "2"], ["--min-length 2"]),
        (["--blur", "0.1", "--scanner"], ["not allowed with argument"]),
        (["--estimator", "ols"], ["invalid choice: 'ols'"]),
    ],
)
def test_diffusion_bad_arguments(capsys, tmp_path, tracks_csv, args, needles):
    out_csv = tmp_path / "never.csv"
    _one_line_error(*run_main(capsys, "diffusion", tracks_csv, *args, "-o", out_csv), *needles)
    assert not out_csv.exists()


def test_diffusion_bad_files(capsys, tmp_path):
    missing = tmp_path / "nope.csv"
    _one_line_error(*run_main(capsys, "diffusion", missing), f"{missing}: no such file")
    bad = tmp_path / "bad.csv"
    bad.write_text("frame,x,y,score\n0,1,2,3\n")
    _one_line_error(*run_main(capsys, "diffusion", bad), "missing column(s) ['particle']")
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"frame": [0, 0] + list(range(1, 11)), "x": 1.0, "y": 2.0, "particle": 3}).to_csv(
        dup, index=False
    )
    _one_line_error(*run_main(capsys, "diffusion", dup), "particle 3: frame 0 appears twice")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _one_line_error(*run_main(capsys, "diffusion", empty), "cannot be read as CSV")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--search-range", "0"], ["--search-range 0", "expected a number > 0 px"]),
        (["--memory", "-1"], ["--memory -1"]),
        (["--max-per-frame", "-2"], ["--max-per-frame -2"]),
        (["--model", "x.pt"], ["--model x.pt is not used by --method trackpy"]),
        (["--method", "compact", "--model", "nonexistent.pt"], ["nonexistent.pt"]),
    ],
)
def test_track_bad_arguments(capsys, tmp_path, movie_tif, args, needles):
    out_csv = tmp_path / "never.csv"
    _one_line_error(*run_main(capsys, "track", movie_tif, *args, "-o", out_csv), *needles)
    assert not out_csv.exists()


def test_track_missing_stack(capsys, tmp_path):
    missing = tmp_path / "none.tif"
    _one_line_error(*run_main(capsys, "track", missing, "-o", tmp_path / "t.csv"), f"{missing}")
    assert not (tmp_path / "t.csv").exists()


def test_simulate_frames_writes_a_movie_set(tmp_path, capsys):
    from qdloc.cli import main
    from qdloc.data.movieset import load_movies

    out = tmp_path / "mv"
    rc = main(["simulate", "--n", "2", "--frames", "4", "--D", "1.5", "--seed", "3", "--out", str(out),
               "--frame-pause-s", "0.01", "--pmt-excess-noise", "1.5", "--bidirectional"])
    assert rc == 0
    ms = load_movies(out)
    assert ms.images.shape == (2, 4, 24, 25) and ms.images.dtype.name == "float32"
    assert ms.params.bidirectional and ms.params.pmt_excess_noise == 1.5
    assert ms.frame_interval_s == ms.params.frame_time_s + 0.01
    assert "wrote 2 movies of 4 frames" in capsys.readouterr().out


def test_simulate_frames_bad_values_exit_2_with_one_line(tmp_path, capsys):
    from qdloc.cli import main

    for argv, text in (
        (["--frames", "0"], "--frames 0: expected an integer >= 1"),
        (["--frame-pause-s", "0.1"], "--frame-pause-s applies to movies only"),
        (["--frames", "2", "--pmt-excess-noise", "0.5"], "pmt_excess_noise=0.5 is not allowed"),
    ):
        assert main(["simulate", "--n", "2", "--out", str(tmp_path / "x"), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and text in err, err
