"""`qdloc train` and `qdloc localize` with learned models, through the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def qdloc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qdloc", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_train_then_localize_with_the_trained_model(tmp_path):
    r = qdloc("train", "--model", "compact", "--profile", "test", "--data", str(tmp_path / "none"),
              "--out", str(tmp_path / "m"), "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m" / "history.csv").is_file() and (tmp_path / "m" / "last.pt").is_file()
    model = Path(r.stdout.strip().rsplit("model file: ", 1)[1])
    assert model.is_file()
    r = qdloc("simulate", "--n", "40", "--D", "1.0", "--seed", "3", "--out", str(tmp_path / "s"),
              "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = qdloc("localize", str(tmp_path / "s" / "images.tif"), "--method", "compact", "--model", str(model),
              "-o", str(tmp_path / "l.csv"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path / "l.csv")
    assert list(df.columns[:4]) == ["frame", "x", "y", "score"] and len(df) == 40


def test_shipped_compact_model_is_the_default(tmp_path):
    r = qdloc("simulate", "--n", "30", "--D", "1.0", "--seed", "4", "--out", str(tmp_path / "s"),
              "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = qdloc("localize", str(tmp_path / "s"), "--method", "compact", "-o", str(tmp_path / "l.csv"),
              cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = qdloc("evaluate", "--pred", str(tmp_path / "l.csv"), "--truth", str(tmp_path / "s"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    auc210 = float(next(line for line in r.stdout.splitlines() if line.split()[:1] == ["210"]).split()[1])
    assert auc210 > 0.8  # the shipped model: 0.99 on the full D = 1 test set


def test_train_bad_arguments_exit_2_with_one_line(tmp_path):
    cases = [
        ("train", "--model", "compact", "--out", str(tmp_path / "m"), "--weights", str(tmp_path / "w.pt")),
        ("train", "--model", "frcnn", "--out", str(tmp_path / "m"), "--weights", str(tmp_path / "nope.pt")),
        ("train", "--model", "frcnn", "--profile", "test", "--out", str(tmp_path / "m")),
        ("train", "--model", "compact", "--out", str(tmp_path / "m"), "--epochs", "0"),
        ("train", "--model", "compact", "--out", str(tmp_path / "m"), "--threads", "2"),
        ("train", "--model", "compact", "--out", str(tmp_path / "m"), "--predict"),
        ("train", "--model", "frcnn", "--out", str(tmp_path / "m"), "--threads", "0"),
        ("train", "--model", "frcnn", "--out", str(tmp_path / "m"), "--subset", "-3"),
        ("localize", str(tmp_path / "x.tif"), "--method", "trackpy", "--model", "m.pt", "-o", "l.csv"),
    ]
    (tmp_path / "w.pt").write_bytes(b"x")
    for args in cases:
        r = qdloc(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "m").exists()
    assert not (tmp_path / "l.csv").exists()
