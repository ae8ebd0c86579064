"""qdloc.study.sweep: grid and point names, resuming, atomic outputs, gathering, failures, bad input.

The tests that run papermill use a two-cell notebook written to tmp_path (a kernel start is
about 2 s each); the chapter itself is tested by nbval.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from qdloc import SimParams  # noqa: E402
from qdloc.cli import (
    build_parser,  # noqa: E402
    sweep as cs,  # noqa: E402
)
from qdloc.plots import sweep as ps  # noqa: E402
from qdloc.study import (
    sweep as sw,  # noqa: E402
    sweep_point as sp,  # noqa: E402
)

ROOT = Path(__file__).resolve().parents[1]

PARAMS = """\
x = 1.0  # the swept value
delay = 0.0  # seconds to sleep before writing
fail_at = -1.0  # raise when x equals this
fail_flag = ""  # or when this file exists and holds x
die_once = ""  # kill the kernel when this file does not exist yet (and create it)
log_file = ""  # every run appends its x here (to count runs)
results_dir = "."
"""
BODY = """\
if "leftover" in globals():  # a shared kernel must not carry a name from one point to the next
    raise RuntimeError(f"a name survived from the point x={leftover}")
leftover = x
import json, os, pathlib, time
if die_once and not pathlib.Path(die_once).exists():
    pathlib.Path(die_once).write_text("died")
    os._exit(1)
if log_file:
    with open(log_file, "a") as f:
        f.write(f"{x}\\n")
time.sleep(delay)
if x == fail_at or (fail_flag and pathlib.Path(fail_flag).exists()
                   and float(pathlib.Path(fail_flag).read_text()) == x):
    raise ValueError(f"boom at x={x}")
pathlib.Path(results_dir, "toy.json").write_text(json.dumps(
    {"x": x, "n_images": 10, "kernel_pid": os.getpid(), "cwd": os.getcwd(), "nested": {"left": "out"},
     "methods": {"A": {"auc_140": x / 10, "auc_70": x / 20}, "B": {"auc_140": x / 5, "auc_70": x / 10}}}))
"""


def toy_notebook(path: Path, params: str = PARAMS, end_cell: bool = True) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# toy"),
                nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(BODY)]
    if end_cell:  # would fail if a point ran it
        nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('the map part ran')",
                                                  metadata={"tags": ["sweep-end"]}))
    nbformat.write(nb, path)
    return path


@pytest.fixture
def toy(tmp_path):
    return toy_notebook(tmp_path / "toy.ipynb")


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m qdloc sweep ARGS`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "qdloc", "sweep", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout)


# --------------------------------------------------------------------------
# Without a kernel
# --------------------------------------------------------------------------
def test_expand_grid_order_and_point_ids():
    pts = sw.expand_grid({"D": [0.0, 1.5], "n_qd": [2.37, 7.5, 23.7]})
    assert len(pts) == 6
    assert pts[0] == {"D": 0.0, "n_qd": 2.37} and pts[1] == {"D": 0.0, "n_qd": 7.5}  # last name fastest
    ids = [sw.point_id(p) for p in pts]
    assert ids[0] == "D=0__n_qd=2.37" and ids[-1] == "D=1.5__n_qd=23.7"
    assert len(set(ids)) == 6
    assert sw.point_id({"x": 1 / 3}) == "x=0.3333333333333333"  # %g would lose it
    assert sw.point_id({"name": "a b/c"}) == "name=a-b-c"
    with pytest.raises(sw.SweepError, match="twice"):
        sw.expand_grid({"D": [1.0, 1.0]})
    with pytest.raises(sw.SweepError, match="non-empty"):
        sw.expand_grid({"D": []})
    with pytest.raises(sw.SweepError, match="empty"):
        sw.expand_grid({})


def test_default_preset_spans_the_issue_grid():
    p = sw.preset("default")
    grid = p["grid"]
    assert min(grid["D"]) == 0.0 and max(grid["D"]) == 3.0
    assert {0.75, 1.0, 1.75} <= set(grid["D"])  # the paper's test sets
    n = np.array(grid["n_qd"])
    cal = SimParams().n_qd
    assert cal in grid["n_qd"]
    assert n.max() / n.min() == pytest.approx(10.0, rel=0.01)  # a decade
    assert math.sqrt(n.max() * n.min()) == pytest.approx(cal, rel=0.01)  # around the calibrated value
    assert np.allclose(np.diff(np.log10(n)), 1 / 6, atol=0.002)  # log-spaced
    # the chapter has every parameter the preset sets, and a results_dir
    params = sw.notebook_parameters(p["notebook"])
    assert set(grid) | set(p["base_parameters"]) | {"results_dir"} <= set(params)
    assert params["n_images"] == p["base_parameters"]["n_images"]  # the chapter's own point is a sweep point
    assert params["seed"] == p["base_parameters"]["seed"]


def test_point_notebook_leaves_out_from_sweep_end(toy):
    nb = nbformat.read(toy, as_version=4)
    cut, n = sw.point_notebook(nb)
    assert n == 1 and len(cut.cells) == len(nb.cells)
    assert "the map part ran" not in cut.cells[-1].source and cut.cells[-1].cell_type == "markdown"
    assert sw.code_digest(cut) != sw.code_digest(nb)
    # prose does not change the digest, code does
    nb2 = nbformat.read(toy, as_version=4)
    nb2.cells[0].source = "# another title"
    assert sw.code_digest(sw.point_notebook(nb2)[0]) == sw.code_digest(cut)
    nb2.cells[2].source += "\n# edited"
    assert sw.code_digest(sw.point_notebook(nb2)[0]) != sw.code_digest(cut)


def test_bad_input_is_one_line_and_status_2(tmp_path, toy):
    cases = [
        (["--notebook", str(toy), "--grid", "y=1,2", "--out", str(tmp_path / "s")], "y not in the parameters"),
        (["--notebook", str(toy), "--grid", "x=1", "--param", "nope=3", "--out", str(tmp_path / "s")],
         "nope not in the parameters"),
        (["--notebook", str(toy), "--grid", "x", "--out", str(tmp_path / "s")], "expected NAME=VALUE"),
        (["--notebook", str(toy), "--grid", "x=1,1", "--out", str(tmp_path / "s")], "twice"),
        (["--notebook", str(tmp_path / "missing.ipynb"), "--grid", "x=1", "--out", str(tmp_path / "s")],
         "does not exist"),
        (["--notebook", str(toy), "--out", str(tmp_path / "s")], "--grid"),
        (["--notebook", str(toy), "--grid", "x=1", "--grid", "results_dir=a", "--out", str(tmp_path / "s")],
         "set by the sweep"),
        (["--notebook", str(toy), "--grid", "x=1", "--jobs", "0", "--out", str(tmp_path / "s")], "jobs"),
        (["--preset", "nope", "--out", str(tmp_path / "s")], "invalid choice"),
    ]
    for args, msg in cases:
        r = _cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert msg in r.stderr, (msg, r.stderr)
    no_results = toy_notebook(tmp_path / "nores.ipynb", params="x = 1.0\n")
    r = _cli("--notebook", str(no_results), "--grid", "x=1", "--out", str(tmp_path / "s"))
    assert r.returncode == 2 and "results_dir" in r.stderr
    assert not (tmp_path / "s" / "runs").exists()  # nothing ran


def _sweep_args(*args: str):
    """The parsed options of ``qdloc sweep ARGS``."""
    return build_parser().parse_args(["sweep", *args])


def test_command_line_overrides_the_preset_part_by_part():
    kw = cs.sweep_kwargs(_sweep_args("--preset", "default", "--grid", "D=0,1.5", "--param",
                                     "n_images=20", "--out", "x"))
    default = sw.preset("default")
    assert kw["notebook"] == default["notebook"]
    assert kw["grid"] == {"D": [0, 1.5], "n_qd": default["grid"]["n_qd"]}
    assert kw["base_parameters"] == {"n_images": 20, "seed": 30}
    # a preset's fixed parameter given as a grid is swept; values are Python or JSON literals
    kw = cs.sweep_kwargs(_sweep_args("--preset", "default", "--grid", "seed=1,2", "--param",
                                     "tag='a b'", "--param", "flag=true", "--out", "x"))
    assert kw["grid"]["seed"] == [1, 2] and "seed" not in kw["base_parameters"]
    assert kw["base_parameters"]["tag"] == "a b" and kw["base_parameters"]["flag"] is True
    with pytest.raises(sw.SweepError, match="--notebook"):
        cs.sweep_kwargs(_sweep_args("--grid", "x=1", "--out", "x"))
    with pytest.raises(sw.SweepError, match="no values"):
        cs.sweep_kwargs(_sweep_args("--notebook", "n.ipynb", "--grid", "x=,", "--out", "x"))


def test_bootstrap_auc_spread_matches_binomial():
    rng = np.random.default_rng(0)
    n = 400
    truth = rng.uniform(5, 15, (n, 2))
    hit = rng.random(n) < 0.6  # 60 % within tolerance, one prediction per image
    xy = truth + np.where(hit, 0.2, 5.0)[:, None]
    pred = pd.DataFrame({"frame": np.arange(n), "x": xy[:, 0], "y": xy[:, 1], "score": rng.random(n)})
    boot = sp.bootstrap_auc(pred, truth, 140.0, n_boot=300, seed=1)
    assert boot.shape == (300,)
    # recall 0.6 at random scores: AUC ~ 0.6 * 0.6; the spread is of order sqrt(p(1-p)/n)
    assert 0.01 < boot.std() < 0.06
    again = sp.bootstrap_auc(pred, truth, 140.0, n_boot=300, seed=1)
    assert np.array_equal(boot, again)


def _synthetic_table() -> pd.DataFrame:
    rows = []
    for D in (0.0, 0.75, 1.0, 1.75, 3.0):
        for n in (2.37, 7.5, 23.7):
            base = min(1.0, n / 10) * (1 - D / 4)
            for m, f in ((sp.TRACKPY, 0.4), (sp.COMPACT, 1.0)):
                rows.append({"point": f"D={D:g}__n_qd={n:g}", "D": D, "n_qd": n, "method": m,
                             "auc_140": base * f, "auc_140_se": 0.02, "n_images": 10, "seed": 0})
    return pd.DataFrame(rows)


def test_auc_grid_and_reach():
    t = _synthetic_table()
    g = sp.auc_grid(t, sp.COMPACT)
    assert list(g.index) == [2.37, 7.5, 23.7] and list(g.columns) == [0.0, 0.75, 1.0, 1.75, 3.0]
    d_max, n_min = sp.reach(g, 0.5)
    # compact at n_qd 7.5: 0.75 * (1 - D/4) >= 0.5 up to D = 1.33 -> grid D 1.0
    assert d_max[7.5] == 1.0 and d_max[23.7] == 1.75 and np.isnan(d_max[2.37])
    assert n_min[0.0] == 7.5 and n_min[3.0] == pytest.approx(np.nan, nan_ok=True)
    with pytest.raises(ValueError, match="no rows"):
        sp.auc_grid(t, "FCNN")


def test_plot_auc_maps_marks_the_operating_point():
    t = _synthetic_table()
    fig, axes = ps.plot_auc_maps(t, operating={"D": [0.75, 1.0, 1.75], "n_qd": 7.5},
                                 training={sp.COMPACT: ((0.75, 1.75), 7.5)})
    assert len(axes) == 3  # two methods and their difference
    for ax in axes[:2]:
        assert len(ax.texts) == 15  # every cell annotated
        im = ax.get_images()[0]
        assert im.get_clim() == (0.0, 1.0)  # one colour scale
    boxes = [p for p in axes[0].patches if isinstance(p, Rectangle)]
    assert len(boxes) == 1 and boxes[0].get_xy() == (0.5, 0.5) and boxes[0].get_width() == 3
    assert len([p for p in axes[1].patches if isinstance(p, Rectangle)]) == 2  # + the training box
    fig2, ax = ps.plot_auc_cut(t, 7.5, paper={"TrackPy (paper)": {1.0: 0.3}})
    assert len(ax.get_lines()) >= 1
    plt.close("all")


# --------------------------------------------------------------------------
# With papermill (a kernel per point)
# --------------------------------------------------------------------------
@pytest.mark.notebook
def test_sweep_runs_resumes_and_gathers(tmp_path, toy):
    out, log = tmp_path / "sweep", tmp_path / "runs.log"
    s1 = sw.run_sweep(toy, {"x": [1, 2]}, out, jobs=2, base_parameters={"log_file": str(log)}, log=None)
    assert s1.ok and sorted(s1.ran) == ["x=1", "x=2"] and s1.skipped == []
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["x=1.ipynb", "x=2.ipynb"]
    assert sorted(p.name for p in (out / "results").iterdir()) == ["x=1.json", "x=2.json"]
    assert not (out / ".work").exists()
    rec = nbformat.read(out / "runs" / "x=2.ipynb", as_version=4).metadata["qdloc_sweep"]
    assert rec["parameters"] == {"log_file": str(log), "x": 2.0}  # ints become the notebook's float
    assert rec["cells_left_out"] == 1

    table = pd.read_csv(out / "table.csv")
    assert list(table.columns[:4]) == ["point", "x", "method", "auc_70"]
    assert "nested" not in table and "n_images" in table
    assert len(table) == 4 and list(table.method) == ["A", "B", "A", "B"]
    assert table.loc[(table.x == 2) & (table.method == "B"), "auc_140"].item() == pytest.approx(0.4)
    assert sw.gather(out).equals(table)

    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("r*/*")}
    s2 = sw.run_sweep(toy, {"x": [1, 2]}, out, jobs=2, base_parameters={"log_file": str(log)}, log=None)
    assert s2.ran == [] and sorted(s2.skipped) == ["x=1", "x=2"]
    assert len(log.read_text().split()) == 2  # nothing ran again
    assert {p: p.stat().st_mtime_ns for p in out.glob("r*/*")} == mtimes

    # a new point runs alone; a changed fixed parameter reruns the old ones
    s3 = sw.run_sweep(toy, {"x": [1, 2, 3]}, out, jobs=2, base_parameters={"log_file": str(log)}, log=None)
    assert s3.ran == ["x=3"]
    s4 = sw.run_sweep(toy, {"x": [1]}, out, jobs=1,
                      base_parameters={"log_file": str(log), "delay": 0.01}, log=None)
    assert s4.ran == ["x=1"]
    assert len(log.read_text().split()) == 4
    assert len(pd.read_csv(out / "table.csv")) == 6  # the table holds every finished point


@pytest.mark.notebook
@pytest.mark.parametrize("per_point", [False, True])
def test_points_share_a_kernel_with_a_fresh_namespace(tmp_path, toy, per_point):
    out = tmp_path / "sweep"
    s = sw.run_sweep(toy, {"x": [1, 2, 3]}, out, jobs=1, log=None, kernel_per_point=per_point)
    assert s.ok, s.failed  # the notebook raises if a name of the point before survived
    table = pd.read_csv(out / "table.csv").drop_duplicates("point")
    assert len(set(table.kernel_pid)) == (3 if per_point else 1)
    assert set(table.cwd) == {str(toy.parent)}
    runs = [nbformat.read(out / "runs" / f"x={x}.ipynb", as_version=4) for x in (1, 2, 3)]
    counts = [[c.execution_count for c in nb.cells if c.cell_type == "code"] for nb in runs]
    assert counts[0] == counts[1] == counts[2] == [1, 2, 3]  # each starts again at 1
    assert not (out / ".work").exists()  # the runner's log is gone with it


@pytest.mark.notebook
def test_chapter_08_gives_the_same_results_in_a_shared_kernel(tmp_path):
    """Two points in one kernel, one after the other, against a kernel each: the same files."""
    nb, grid = ROOT / "notebooks" / "08_sweep.ipynb", {"D": [0.5, 1.5]}
    base = {"n_images": 6, "seed": 30, "n_qd": 3.48}
    runs = {per_point: sw.run_sweep(nb, grid, tmp_path / str(per_point), jobs=1, base_parameters=base,
                                    log=None, kernel_per_point=per_point) for per_point in (False, True)}
    assert all(s.ok for s in runs.values()), {k: s.failed for k, s in runs.items()}
    for pid in runs[True].ran:
        shared, fresh = ((tmp_path / str(k) / "results" / f"{pid}.json").read_text() for k in (False, True))
        assert shared == fresh, pid


@pytest.mark.notebook
def test_failed_point_is_reported_and_the_others_finish(tmp_path, toy):
    out, flag = tmp_path / "sweep", tmp_path / "fail"
    flag.write_text("2")
    r = _cli("--notebook", str(toy), "--grid", "x=1,2,3", "--param", f"fail_flag={flag}", "--out", str(out),
             "--jobs", "2", "--quiet")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "point x=2 failed: ValueError: boom at x=2.0" in r.stderr
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["x=1.ipynb", "x=2.failed.ipynb", "x=3.ipynb"]
    assert sorted(p.name for p in (out / "results").iterdir()) == ["x=1.json", "x=3.json"]
    assert sorted(pd.read_csv(out / "table.csv").x.unique()) == [1.0, 3.0]
    # fixed, the failed point runs alone and its failed notebook goes
    flag.unlink()
    r = _cli("--notebook", str(toy), "--grid", "x=1,2,3", "--param", f"fail_flag={flag}", "--out", str(out),
             "--jobs", "2")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "1 run, 2 already done" in r.stdout, r.stdout
    assert not (out / "runs" / "x=2.failed.ipynb").exists()


@pytest.mark.notebook
def test_a_kernel_that_dies_is_given_a_second_run(tmp_path, toy):
    out, flag, log = tmp_path / "sweep", tmp_path / "died", tmp_path / "runs.log"
    lines = []
    s = sw.run_sweep(toy, {"x": [1]}, out, base_parameters={"die_once": str(flag), "log_file": str(log)},
                     log=lines.append)
    assert flag.exists() and s.ok and s.ran == ["x=1"], lines
    assert any("trying again" in ln for ln in lines), lines
    assert len(log.read_text().split()) == 1  # the second run got through


@pytest.mark.notebook
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_point_leaves_no_partial_file(tmp_path, toy, sig):
    out = tmp_path / "sweep"
    log = tmp_path / "runs.log"
    proc = subprocess.Popen([sys.executable, "-m", "qdloc", "sweep", "--notebook", str(toy), "--grid", "x=1",
                             "--param", "delay=60", "--param", f"log_file={log}", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # pytest-xdist's workers ignore SIGINT, and a child inherits that:
                            # give the sweep the default disposition a user's shell gives it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not log.exists():  # the point's kernel is in its sleep
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    assert (out / ".work" / "x=1").exists()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list((out / "runs").iterdir()) == [] and list((out / "results").iterdir()) == []
    assert not (out / ".work").exists()
    # started again, it runs the point (and clears what a killed sweep may have left)
    (out / ".work" / "x=9").mkdir(parents=True)
    s = sw.run_sweep(toy, {"x": [1]}, out, log=None)
    assert not (out / ".work").exists()
    assert s.ran == ["x=1"] and (out / "results" / "x=1.json").exists()


def test_a_second_sweep_in_the_same_folder_is_refused(tmp_path, toy):
    out = tmp_path / "sweep"
    (out / ".work").mkdir(parents=True)
    (out / ".work" / "LOCK").write_text(str(os.getppid()))  # a live process
    with pytest.raises(sw.SweepError, match="another sweep"):
        sw.run_sweep(toy, {"x": [1]}, out, log=None)
    (out / ".work" / "LOCK").write_text("999999999")  # gone: taken over (no run needed to see it)
    lock = sw._lock(out)
    assert lock.read_text() == str(os.getpid())
    lock.unlink()


def test_results_file_must_be_one_json(tmp_path):
    out = tmp_path / "sweep"
    (out / ".work" / "p" / "results").mkdir(parents=True)
    (out / ".work" / "p" / "papermill.log").write_text("")
    for sub in ("runs", "results"):
        (out / sub).mkdir()
    err, transient = sw._finish(out, "p", {"x": 1}, {"x": 1}, 0, {}, 0.1)  # papermill exited 0
    assert "found 0" in err and not transient
    assert list((out / "runs").iterdir()) == [] and not (out / ".work" / "p").exists()
