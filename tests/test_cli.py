"""The qdloc command line: help, one-line errors with exit status 2, atomic output, round trips."""

from __future__ import annotations

import filecmp
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

from qdloc.cli import main
from qdloc.data.dataset import load_dataset
from qdloc.localise.registry import METHODS, shipped_model

FILES = ("images.tif", "labels.csv", "trajectories.npy", "params.json")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m qdloc ARGS`` in a fresh process (what a user runs)."""
    return subprocess.run(
        [sys.executable, "-m", "qdloc", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "set"
    assert (
        main(
            [
                "simulate",
                "--n",
                "200",
                "--seed",
                "7",
                "--D",
                "1.0",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    return out


# --------------------------------------------------------------------------
# help and errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", [[], ["simulate"], ["concat"], ["localize"], ["evaluate"]])
def test_help_exits_0(run_main, cmd):
    rc, out, err = run_main(*cmd, "--help")
    assert rc == 0
    assert out.startswith("usage: qdloc")
    assert err == ""


def test_python_m_qdloc_runs_the_cli():
    r = run("--help")
    assert r.returncode == 0
    assert "simulate" in r.stdout
    assert "localize" in r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "COMMAND"),
        (["frobnicate"], "invalid choice"),
        (["simulate", "--n", "10"], "--out"),
        (["simulate", "--n", "ten", "--out", "X"], "invalid int"),
        (["simulate", "--n", "0", "--out", "X"], "n=0"),
        (["simulate", "--n", "10", "--D", "-1", "--out", "X"], "D=-1.0"),
        (["simulate", "--n", "10", "--D-range", "2", "1", "--out", "X"], "low <= high"),
        (
            ["simulate", "--n", "10", "--D", "1", "--D-range", "1", "2", "--out", "X"],
            "not allowed with",
        ),
        (["simulate", "--n", "10", "--shard", "3/3", "--out", "X"], "0 <= i < N"),
        (["simulate", "--n", "10", "--n-qd", "-5", "--out", "X"], "n_qd=-5"),
        (["simulate", "--n", "10", "--set", "nqd=3", "--out", "X"], "not a SimParams field"),
        (["simulate", "--n", "10", "--params", "missing.json", "--out", "X"], "missing.json"),
        (["simulate", "--preset", "paper", "--n", "10", "--out", "X"], "--preset paper"),
        (["simulate", "--out", "X"], "--n is required"),
        (["localize", "missing.tif", "-o", "locs.csv"], "missing.tif"),
        (["localize", "stack.tif", "--method", "magic", "-o", "locs.csv"], "invalid choice"),
        (["evaluate", "--pred", "missing.csv", "--truth", "X"], "missing.csv"),
        (["concat", "A", "B", "--out", "X"], "A"),
        (["simulate", "--n", "10", "--workers", "0", "--out", "X"], "--workers 0"),
        (["simulate", "--n", "10", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1", "--out", "X"],
         "cannot be combined with --scheduler"),
        (["simulate", "--n", "10", "--shard", "0/2", "--workers", "2", "--out", "X"], "--shard"),
        (["simulate", "--n", "10", "--task-size", "0", "--out", "X"], "--task-size 0"),
        (["localize", "missing.tif", "--workers", "2", "-o", "locs.csv"], "missing.tif"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(
    run_main, tmp_path, monkeypatch, args, needle
):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_main(*args)
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("qdloc"), err
    assert needle in err, err
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_errors_have_no_traceback_in_a_real_process(tmp_path, small_set):
    bad = tmp_path / "bad.tif"
    bad.write_text("not a tiff")
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    for f in FILES:
        data = (small_set / f).read_bytes()
        (truncated / f).write_bytes(data[: len(data) // 2] if f == "images.tif" else data)
    pd.DataFrame({"frame": [0], "x": [1.0], "y": [1.0], "score": [1.0]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    before = sorted(os.listdir(tmp_path))
    for args, needle in (
        (["localize", str(bad), "-o", str(tmp_path / "l.csv")], "bad.tif"),
        (["evaluate", "--pred", str(bad), "--truth", str(tmp_path)], "bad.tif"),
        # a damaged set: tifffile's own log messages must not reach stderr
        (
            [
                "evaluate",
                "--pred",
                str(tmp_path / "p.csv"),
                "--truth",
                str(truncated),
                "--json",
                str(tmp_path / "s.json"),
            ],
            "images.tif",
        ),
    ):
        r = run(*args)
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr
        assert needle in r.stderr
    assert sorted(os.listdir(tmp_path)) == before


# --------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------
def test_simulate_writes_a_set_and_does_not_overwrite_it(run_main, small_set):
    ds = load_dataset(small_set)
    assert len(ds) == 200
    assert ds.seed == 7
    assert np.all(ds.D == 1.0)
    before = {f: (small_set / f).read_bytes() for f in FILES}
    rc, _, err = run_main("simulate", "--n", "50", "--out", str(small_set), "--no-progress")
    assert rc == 2
    assert "--force" in err
    assert {f: (small_set / f).read_bytes() for f in FILES} == before


def test_force_and_params_json_reproduce_a_set(run_main, tmp_path, small_set):
    # a set's params.json given back as --params, with the same n/seed/D, gives the same bytes
    again = tmp_path / "again"
    rc, _, _ = run_main(
        "simulate",
        "--n",
        "200",
        "--seed",
        "7",
        "--D",
        "1.0",
        "--params",
        str(small_set / "params.json"),
        "--out",
        str(again),
        "--no-progress",
    )
    assert rc == 0
    assert all(filecmp.cmp(small_set / f, again / f, shallow=False) for f in FILES)
    rc, _, _ = run_main(
        "simulate",
        "--n",
        "20",
        "--n-qd",
        "30",
        "--set",
        "start_z_sd_um=0.5",
        "--out",
        str(again),
        "--force",
        "--no-progress",
    )
    ds = load_dataset(again)
    assert rc == 0
    assert len(ds) == 20
    assert ds.params.n_qd == 30
    assert ds.params.start_z_sd_um == 0.5


def test_shards_and_concat_on_the_command_line(run_main, tmp_path):
    common = ["--n", "600", "--seed", "4", "--D-range", "0.75", "1.75", "--no-progress"]
    assert run_main("simulate", *common, "--out", str(tmp_path / "whole"))[0] == 0
    for i in range(3):
        assert (
            run_main(
                "simulate", *common, "--shard", f"{i}/3", "--out", str(tmp_path / f"s{i}")
            )[0]
            == 0
        )
    rc, _, _ = run_main(
        "concat",
        *(str(tmp_path / f"s{i}") for i in range(3)),
        "--out",
        str(tmp_path / "joined"),
        "--no-progress",
    )
    assert rc == 0
    assert all(
        filecmp.cmp(tmp_path / "whole" / f, tmp_path / "joined" / f, shallow=False) for f in FILES
    )


def test_killed_simulate_leaves_no_set_and_a_later_run_succeeds(tmp_path):
    out = tmp_path / "big"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qdloc",
            "simulate",
            "--n",
            "100000",
            "--seed",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        started = False
        while time.monotonic() < deadline and proc.poll() is None:
            tiffs = list(tmp_path.glob(".big.tmp-*/images.tif"))
            if tiffs and tiffs[0].stat().st_size > 2_000_000:  # well into the run
                started = True
                break
            time.sleep(0.05)
        assert started, "the writer never got going"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert [p.name.startswith(".big.tmp-") for p in tmp_path.iterdir()] == [
        True
    ]  # only the dead temp
    with pytest.raises(ValueError, match="no such folder"):
        load_dataset(out)
    r = run("simulate", "--n", "30", "--seed", "1", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert len(load_dataset(out)) == 30
    assert [p.name for p in tmp_path.iterdir()] == ["big"]  # the stale temp was removed


# --------------------------------------------------------------------------
# localize / evaluate
# --------------------------------------------------------------------------
def test_evaluate_perfect_predictions(run_main, tmp_path, small_set):
    lab = pd.read_csv(small_set / "labels.csv")
    pred = pd.DataFrame({"frame": np.arange(len(lab)), "x": lab.x_px, "y": lab.y_px, "score": 1.0})
    pred.to_csv(tmp_path / "perfect.csv", index=False)
    rc, out, _ = run_main(
        "evaluate",
        "--pred",
        str(tmp_path / "perfect.csv"),
        "--truth",
        str(small_set),
        "--json",
        str(tmp_path / "scores.json"),
    )
    assert rc == 0
    assert "AUC" in out
    assert "F1 integral" in out
    res = json.loads((tmp_path / "scores.json").read_text())
    assert res["auc"] == {"70": 1.0, "140": 1.0, "210": 1.0}
    assert res["metrics"]["70"]["jaccard"] == 1.0
    assert res["metrics"]["70"]["rmse_lat_nm"] == 0.0
    assert res["n_images"] == 200
    assert res["f1_integral"] > 0.99
    pred.drop(columns="score").to_csv(tmp_path / "noscore.csv", index=False)
    rc, _, err = run_main(
        "evaluate", "--pred", str(tmp_path / "noscore.csv"), "--truth", str(small_set)
    )
    assert rc == 2
    assert "score" in err
    assert len(err.splitlines()) == 1


def test_localize_refuses_rgb(run_main, tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    rc, _, err = run_main(
        "localize", str(tmp_path / "rgb.tif"), "-o", str(tmp_path / "l.csv")
    )
    assert rc == 2
    assert "RGB" in err
    assert not (tmp_path / "l.csv").exists()


def test_localize_refuses_a_truncated_stack_naming_both_page_counts(tmp_path, small_set):
    cut = tmp_path / "cut.tif"
    cut.write_bytes((small_set / "images.tif").read_bytes()[:6000])  # 1 of 200 frames left
    r = run("localize", str(cut), "-o", str(tmp_path / "l.csv"))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert str(cut) in r.stderr and "truncated" in r.stderr
    assert "1 complete page(s)" in r.stderr and "declares 200" in r.stderr
    assert not (tmp_path / "l.csv").exists()


def test_localize_refuses_non_finite_pixels_naming_the_first_bad_frame(run_main, tmp_path):
    stack = np.full((5, 24, 25), 3.0, np.float32)
    stack[3:] = np.nan  # the all-NaN stack's case, two frames of it
    tifffile.imwrite(tmp_path / "nan.tif", stack, imagej=True, metadata={"axes": "TYX"})
    rc, _, err = run_main(
        "localize", str(tmp_path / "nan.tif"), "-o", str(tmp_path / "l.csv")
    )
    assert rc == 2
    assert len(err.splitlines()) == 1
    assert "nan.tif: frame 3 " in err and "2 of 5 frame(s)" in err
    assert not (tmp_path / "l.csv").exists()


class _Touch:
    """A pickle that, if loaded without weights_only, creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _foreign_model_files(folder: Path) -> dict[str, Path]:
    """Random bytes, a cut real model file, a plain pickle, and a torch file of something else."""
    rng = np.random.default_rng(3)
    real = shipped_model("compact").read_bytes()
    files = {
        "random": rng.integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "truncated": real[: len(real) // 2],
        "pickle": pickle.dumps({"weights": [1.0, 2.0], "format": "other"}),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.pt"
        paths[name].write_bytes(data)
    paths["foreign"] = folder / "foreign.pt"
    torch.save({"conv.weight": torch.zeros(2, 2)}, paths["foreign"])  # a bare state_dict
    paths["malicious"] = folder / "malicious.pt"  # unpickling it would create a file
    paths["malicious"].write_bytes(pickle.dumps(_Touch(folder / "pwned")))
    return paths


def test_localize_refuses_foreign_and_corrupt_model_files_without_torchs_advice(
    tmp_path, small_set
):
    for name, bad in _foreign_model_files(tmp_path).items():
        out = tmp_path / f"{name}.csv"
        r = run("localize", str(small_set / "images.tif"), "--method", "compact",
                "--model", str(bad), "-o", str(out))
        assert r.returncode == 2, (name, r.stderr)
        assert len(r.stderr.splitlines()) == 1, (name, r.stderr)
        assert str(bad) in r.stderr and "not a qdloc model file" in r.stderr, (name, r.stderr)
        assert "weights_only" not in r.stderr, (name, r.stderr)
        assert not out.exists()
    assert not (tmp_path / "pwned").exists()


def test_localize_compact_in_a_process_writes_what_compact_locate_returns(tmp_path, small_set):
    """The command line's shortcuts (collector paused, no collection at exit) change no number."""
    from qdloc.cli._common import write_csv
    from qdloc.localise.compact import compact_locate

    out, ref = tmp_path / "cli.csv", tmp_path / "ref.csv"
    r = run("localize", str(small_set / "images.tif"), "--method", "compact", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"200 localisations in 200 frames -> {out}"
    write_csv(ref, compact_locate(load_dataset(small_set).images, shipped_model("compact")))
    assert out.read_bytes() == ref.read_bytes()


def test_collector_paused_restores_the_collector_as_it_was():
    import gc

    from qdloc.cli._common import collector_paused

    def fails_inside() -> None:
        with collector_paused():
            assert not gc.isenabled()
            raise KeyError("inside")

    assert gc.isenabled()
    with pytest.raises(KeyError, match="inside"):
        fails_inside()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_skip_exit_collection_freezes_the_objects_at_exit_once():
    # the first handler registered runs last: it sees what skip_exit_collection's handler did
    code = ("import atexit, gc\n"
            "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, flush=True))\n"
            "from qdloc.cli._common import skip_exit_collection\n"
            "n = atexit._ncallbacks(); skip_exit_collection(); skip_exit_collection()\n"
            "print('before', gc.get_freeze_count(), atexit._ncallbacks() - n, flush=True)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    before, frozen = r.stdout.splitlines()
    assert before == "before 0 1"  # nothing frozen while the program runs; one handler for two calls
    assert frozen == "frozen True"


def test_end_program_now_ends_only_the_qdloc_program_with_its_output_flushed():
    from qdloc.cli._common import end_program_now

    assert end_program_now(3) is None  # pytest is not the qdloc program: it goes on
    code = ("import sys\nsys.argv[0] = 'qdloc'\nfrom qdloc.cli._common import end_program_now\n"
            "print('written', end='')\nend_program_now(3)\nprint('not reached')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (3, "written", "")


def test_methods_table_names_importable_functions():
    assert "trackpy" in METHODS
    for module, func in METHODS.values():
        assert module.startswith("qdloc.")
        assert func.isidentifier()


def test_localize_then_evaluate_round_trip(run_main, tmp_path, small_set):
    locs = tmp_path / "locs.csv"
    rc, out, _ = run_main(
        "localize", str(small_set / "images.tif"), "--method", "trackpy", "-o", str(locs)
    )
    assert rc == 0
    df = pd.read_csv(locs)
    assert list(df.columns[:4]) == ["frame", "x", "y", "score"]
    assert "mass" in df.columns
    assert df.frame.between(0, 199).all()
    assert df.x.between(-0.5, 24.5).all()
    assert df.y.between(-0.5, 23.5).all()
    rc, out, _ = run_main(
        "evaluate",
        "--pred",
        str(locs),
        "--truth",
        str(small_set),
        "--json",
        str(tmp_path / "s.json"),
    )
    assert rc == 0
    auc = json.loads((tmp_path / "s.json").read_text())["auc"]
    assert 0 <= auc["70"] <= auc["140"] <= auc["210"] <= 1
    assert auc["210"] > 0.2  # TrackPy finds most dots within 3 px (paper: 0.61 at D = 1)
