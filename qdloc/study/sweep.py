"""Run a chapter over a grid of parameters with papermill, keep every run, gather one table.

::

    qdloc sweep --preset default --out data/sweep --jobs 2
    qdloc sweep --notebook notebooks/08_sweep.ipynb --grid D=0,1,2 \\
        --grid n_qd=2.37,7.5,23.7 --param n_images=200 --out /tmp/sweep

(``python -m qdloc sweep ...`` is the same command; its options are in :mod:`qdloc.cli.sweep`.)

Each point of the grid (every combination of the values given) is one papermill run of the
chapter, with the point's values (and ``base_parameters``) injected into its ``parameters``
cell, in the chapter's own folder as working directory (chapters use paths such as
``../data/results``, relative to ``notebooks/``). Each point is a Dask task
(:func:`run_point_task`): ``jobs`` at a time from worker threads of this process, or on the
workers of a Dask cluster (``client``, ``qdloc sweep --scheduler``). A thread runs its points
one after another in one kernel that stays up, its namespace wiped between points
(:mod:`qdloc.study.kernel_runner`; chapter 08's points then take a few seconds instead of
paying a kernel's start and the chapter's imports every time); ``kernel_per_point``
(``--kernel-per-point``) gives every point a papermill process and kernel of its own. The
sweep folder ``out_dir`` holds

``runs/<point>.ipynb``
    the executed notebook of each finished point, with ``metadata["qdloc_sweep"]``: the point,
    the parameters injected, and a digest of the code that ran;
``runs/<point>.failed.ipynb``
    the notebook of a point that failed, kept to be read (removed once the point succeeds);
``results/<point>.json``
    the one results file (``*.json``) the chapter wrote into its ``results_dir``, which the
    sweep points at a fresh folder for every run;
``table.csv``
    :func:`gather`: one row per point and method;
``.work/``
    runs in progress. Nothing is written under ``runs/`` or ``results/`` before a run has
    finished: an interrupted sweep leaves no half-written file there.

**Resuming.** A point whose notebook and results file exist, and whose recorded parameters and
code digest equal those it would run with now, is skipped; so a sweep that stopped (or failed
at some points) runs only what is missing when started again. The digest covers the code cells
that run at a point: editing the chapter's code reruns the sweep, editing its prose does not.
Changes to the ``qdloc`` package are not detected: use ``force`` (``--force``) after those.

**The part a point runs.** A chapter can end what a point runs with a cell tagged
``sweep-end``: that cell and all after it (typically the part that reads the gathered table)
are left out of each point's run, and a note says so in the kept notebook.

**Failures.** A point whose run fails is reported (the point and the last line papermill
printed, the notebook's exception); the other points still run, and the sweep ends with a
non-zero status (``qdloc sweep``) or ``summary.failed`` (:func:`run_sweep`). A failure
that is not the notebook's own exception (a kernel that died or did not start) gets one more
run first.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from qdloc.cluster import get_client, run_tasks
from qdloc.io import atomic_write_bytes, atomic_write_text
from qdloc.study.kernel_runner import KernelRunner

__all__ = [
    "PRESETS",
    "SweepError",
    "SweepSummary",
    "preset",
    "expand_grid",
    "point_id",
    "notebook_parameters",
    "point_notebook",
    "code_digest",
    "run_sweep",
    "run_point_task",
    "gather",
    "read_table",
]

ROOT = Path(__file__).resolve().parents[2]
END_TAG = "sweep-end"
META_KEY = "qdloc_sweep"
#: Runs of a point whose failure is not the notebook's own exception (a kernel that died or
#: did not start, which a busy machine can cause): the first and one more.
ATTEMPTS = 2
#: The parameter every swept notebook must have: where it writes its results file.
RESULTS_PARAM = "results_dir"

#: Named sweeps. ``notebook`` is relative to the project folder. The default one is chapter 08's:
#: D from 0 to 3 µm²/s (with the paper's test-set values 0.75, 1 and 1.75) times N_qd on a log
#: grid over a decade around the calibrated 7.5 (7.5 · 10^(k/6), k = -3 .. 3, to 3 digits),
#: 500 images per point, the same seed at every point.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "notebook": "notebooks/08_sweep.ipynb",
        "grid": {
            "D": [0.0, 0.5, 0.75, 1.0, 1.5, 1.75, 2.0, 2.5, 3.0],
            "n_qd": [2.37, 3.48, 5.11, 7.5, 11.0, 16.2, 23.7],
        },
        "base_parameters": {"n_images": 500, "seed": 30},
    },
}


class SweepError(ValueError):
    """Bad input to a sweep (reported as one line, exit status 2)."""


@dataclass
class SweepSummary:
    """What :func:`run_sweep` did."""

    out_dir: Path
    points: list[str]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # point -> error line
    seconds: dict[str, float] = field(default_factory=dict)  # point -> run time
    wall_s: float = 0.0
    table: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        s = (f"{len(self.points)} points: {len(self.ran)} run, {len(self.skipped)} already done, "
             f"{len(self.failed)} failed, in {self.wall_s:.1f} s")
        if self.table is not None:
            s += f"; table: {self.table}"
        return s


# --------------------------------------------------------------------------
# Grid, points, parameters
# --------------------------------------------------------------------------
def preset(name: str) -> dict[str, Any]:
    """The keyword arguments ``notebook``, ``grid``, ``base_parameters`` of a named sweep."""
    if name not in PRESETS:
        raise SweepError(f"unknown preset {name!r}: expected one of {sorted(PRESETS)}")
    p = copy.deepcopy(PRESETS[name])
    p["notebook"] = ROOT / p["notebook"]
    return p


def _same_type_as(value: Any, default: Any, name: str) -> Any:
    """``value`` as the type of the notebook's default where that is lossless (int -> float)."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise SweepError(f"{name}={value!r} is not allowed: expected a finite number")
    return value


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first name varying slowest.

    >>> expand_grid({"D": [0, 1], "n_qd": [7.5]})
    [{'D': 0, 'n_qd': 7.5}, {'D': 1, 'n_qd': 7.5}]
    """
    if not grid:
        raise SweepError("the grid is empty: give at least one parameter and its values")
    for name, values in grid.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise SweepError(f"grid parameter {name!r} is not a Python name")
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or len(values) == 0:
            raise SweepError(f"grid parameter {name}: expected a non-empty list of values, "
                             f"got {values!r}")
        keys = [json.dumps(v, sort_keys=True, default=str) for v in values]
        if len(set(keys)) != len(keys):
            raise SweepError(f"grid parameter {name} has a value twice: {list(values)!r}")
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        short = f"{v:g}"
        return short if float(short) == v else repr(v)
    return str(v)


def point_id(point: Mapping[str, Any]) -> str:
    """A file name for a point: ``D=1.5__n_qd=7.5``.

    Characters outside ``[A-Za-z0-9._=-]`` become ``-``.
    """
    text = "__".join(f"{k}={_fmt(v)}" for k, v in point.items())
    return re.sub(r"[^A-Za-z0-9._=-]", "-", text)


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise SweepError(f"notebook {str(path)!r} does not exist") from None
    except (OSError, ValueError, nbformat.reader.NotJSONError) as exc:
        raise SweepError(f"notebook {str(path)!r} cannot be read: {exc}") from None


def notebook_parameters(notebook: str | Path) -> dict[str, Any]:
    """The parameters of a notebook's ``parameters`` cell as papermill sees them, with defaults.

    A default that is not a literal (an expression) is returned as its source text.
    """
    import papermill  # imported here: the rest of the module works without starting it

    path = Path(notebook)
    _read_notebook(path)  # a clear error for a missing or broken file
    try:
        found = papermill.inspect_notebook(str(path))
    except Exception as exc:  # papermill raises plain ValueError etc. for unusable notebooks
        raise SweepError(
            f"notebook {str(path)!r}: papermill cannot read its parameters: {exc}") from None
    if not found:
        raise SweepError(f"notebook {str(path)!r} has no cell tagged 'parameters'")
    out = {}
    for name, info in found.items():
        try:
            out[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            out[name] = info["default"]
    return out


def point_notebook(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """The notebook a point runs: cells from the first one tagged ``sweep-end`` on are left out.

    Returns the notebook (a copy) and the number of cells left out; a markdown note replaces them.
    """
    nb = copy.deepcopy(nb)
    cut = next((i for i, c in enumerate(nb.cells)
                if END_TAG in c.get("metadata", {}).get("tags", [])), None)
    if cut is None:
        return nb, 0
    left_out = len(nb.cells) - cut
    nb.cells = nb.cells[:cut] + [nbformat.v4.new_markdown_cell(
        f"*This notebook is one point of a parameter sweep (`qdloc.study.sweep`): the remaining "
        f"{left_out} cells of the chapter, which read the sweep's gathered table, were left out.*")]
    return nb, left_out


def code_digest(nb: nbformat.NotebookNode) -> str:
    """SHA-256 of the sources of the notebook's code cells (not of their outputs, nor prose)."""
    h = hashlib.sha256()
    for c in nb.cells:
        if c.cell_type == "code":
            h.update(c.source.encode("utf-8"))
            h.update(b"\0")
    return h.hexdigest()


def _canonical(d: Mapping[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, default=str)


def _check_names(names: Sequence[str], available: Mapping[str, Any], notebook: Path,
                 what: str) -> None:
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SweepError(f"{what} {', '.join(unknown)} not in the parameters cell of "
                         f"{notebook.name} (its parameters: {', '.join(available)})")


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------
def _run_paths(out_dir: Path, pid: str) -> dict[str, Path]:
    return {"nb": out_dir / "runs" / f"{pid}.ipynb",
            "failed": out_dir / "runs" / f"{pid}.failed.ipynb",
            "json": out_dir / "results" / f"{pid}.json", "work": out_dir / ".work" / pid}


def _record(nb_path: Path) -> dict | None:
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except (OSError, ValueError):
        return None
    return nb.metadata.get(META_KEY)


def _is_done(out_dir: Path, pid: str, parameters: Mapping[str, Any], digest: str) -> bool:
    p = _run_paths(out_dir, pid)
    if not (p["nb"].exists() and p["json"].exists()):
        return False
    rec = _record(p["nb"])
    return (rec is not None and rec.get("digest") == digest
            and _canonical(rec.get("parameters", {})) == _canonical(parameters))


def _error_line(log_text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", log_text)  # colour codes of IPython tracebacks
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "papermill failed without a message"


#: papermill processes started by tasks running in this process, stopped on an interrupt.
_PROCS: set[subprocess.Popen] = set()
_PROCS_LOCK = threading.Lock()
#: Set on an interrupt: tasks of this process that end then keep nothing.
_STOPPING = threading.Event()


def _papermill(pid: str, parameters: dict, input_nb: Path, cwd: Path, out_dir: Path,
               kernel: str, shared: bool = False) -> int:
    """Run a point in ``.work/<pid>`` (fresh); return its exit status (0: done).

    ``shared``: in this thread's kernel runner (:mod:`qdloc.study.kernel_runner`), else in a
    papermill process of its own.
    """
    p = _run_paths(out_dir, pid)
    # a point that runs again: its old files are stale (other parameters or code)
    for key in ("nb", "json"):
        p[key].unlink(missing_ok=True)
    shutil.rmtree(p["work"], ignore_errors=True)
    (p["work"] / "results").mkdir(parents=True)
    injected = {**parameters, RESULTS_PARAM: str((p["work"] / "results").resolve())}
    if shared:
        return _run_shared(injected, input_nb, cwd, out_dir, kernel, p["work"])
    cmd = [sys.executable, "-m", "papermill", "--cwd", str(cwd), "-k", kernel, "--no-progress-bar",
           "--no-log-output", "-y", json.dumps(injected), str(input_nb),
           str(p["work"] / "out.ipynb")]
    with open(p["work"] / "papermill.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # signals reach it through us only
        with _PROCS_LOCK:
            _PROCS.add(proc)
        try:
            return proc.wait()
        finally:
            with _PROCS_LOCK:
                _PROCS.discard(proc)


#: Kernel runners of this process's threads (thread id -> runner), closed by :func:`_close_runners`.
_RUNNERS: dict[int, KernelRunner] = {}


def _run_shared(injected: dict, input_nb: Path, cwd: Path, out_dir: Path, kernel: str,
                work: Path) -> int:
    """A point in this thread's kernel runner (started, or replaced, as needed)."""
    tid = threading.get_ident()
    with _PROCS_LOCK:
        runner = _RUNNERS.get(tid)
    if runner is not None and not (runner.alive() and runner.kernel == kernel
                                   and runner.cwd == str(cwd)):
        runner.close()
        runner = None
    if runner is None:
        runner = KernelRunner(kernel, cwd, out_dir / ".work" / f"kernel-{os.getpid()}-{tid}.log")
        with _PROCS_LOCK:
            _RUNNERS[tid] = runner
    (work / "papermill.log").touch()
    with _PROCS_LOCK:
        _PROCS.add(runner.proc)
    try:
        code = runner.run(input_nb, work / "out.ipynb", injected, work / "papermill.log")
    finally:
        with _PROCS_LOCK:
            _PROCS.discard(runner.proc)
    return 1 if code == -1 else code


def _close_runners() -> int:
    """End this process's kernel runners (the sweep's end); return how many there were."""
    with _PROCS_LOCK:
        runners = list(_RUNNERS.values())
        _RUNNERS.clear()
    for runner in runners:
        runner.close()
    return len(runners)


def _finish(out_dir: Path, pid: str, point: dict, parameters: dict, returncode: int, meta: dict,
            seconds: float) -> tuple[str | None, bool]:
    """Move a finished run's files into place.

    Returns ``(error line or None, whether the error may be transient)``: a failure that is
    not the notebook's own exception (a kernel that died or did not start) may be.
    """
    p = _run_paths(out_dir, pid)
    out_nb = p["work"] / "out.ipynb"
    error, transient = None, False
    if returncode != 0:
        text = (p["work"] / "papermill.log").read_text(errors="replace")
        error = _error_line(text)
        transient = "PapermillExecutionError" not in text
    else:
        written = sorted((p["work"] / "results").glob("*.json"))
        if len(written) != 1:
            error = (f"expected the notebook to write one results file (*.json) into "
                     f"{RESULTS_PARAM}, found {len(written)}")
        else:
            data = written[0].read_bytes()
            try:
                json.loads(data)
            except ValueError as exc:
                error = f"{written[0].name} is not valid JSON: {exc}"
    if error is not None:
        if out_nb.exists():
            os.replace(out_nb, p["failed"])
        shutil.rmtree(p["work"], ignore_errors=True)
        return error, transient
    nb = nbformat.read(out_nb, as_version=4)
    nb.metadata[META_KEY] = {**meta, "point_id": pid, "point": point, "parameters": parameters,
                             "results_file": written[0].name, "seconds": round(seconds, 3)}
    (p["nb"].parent).mkdir(parents=True, exist_ok=True)
    # the results file first, the notebook (the record resume reads) last
    atomic_write_bytes(p["json"], data)
    atomic_write_text(p["nb"], nbformat.writes(nb))
    p["failed"].unlink(missing_ok=True)
    shutil.rmtree(p["work"], ignore_errors=True)
    return None, False


def run_point_task(pid: str, point: dict, parameters: dict, input_nb: str, cwd: str, out_dir: str,
                   kernel: str, meta: dict, shared: bool = False) -> tuple[str | None, list[str], float]:
    """One point of a sweep, as a Dask task: papermill runs it, its files are moved into place.

    A failure that is not the notebook's own exception (a kernel that died or did not start)
    gets one more run (:data:`ATTEMPTS` in all). A worker that dies takes its point's papermill
    run with it, and the scheduler runs the task again on another worker.

    Parameters
    ----------
    pid, point, parameters
        The point's file name, its grid values, and every parameter injected.
    input_nb, cwd, out_dir, kernel
        The notebook a point runs, its working folder, the sweep folder, the Jupyter kernel.
    meta : dict
        The sweep's record (notebook, code digest, cells left out) for the kept notebook.
    shared : bool
        Run it in the kernel runner of the thread the task runs in (one kernel for the points
        that thread runs, its namespace wiped between them: :mod:`qdloc.study.kernel_runner`);
        False: a papermill process and kernel of its own.

    Returns
    -------
    (str or None, list of str, float)
        The error line (None: done), notes for the log, and the seconds it took.
    """
    out, notes, t0 = Path(out_dir), [], time.monotonic()
    for attempt in range(1, ATTEMPTS + 1):
        started = time.monotonic()
        code = _papermill(pid, parameters, Path(input_nb), Path(cwd), out, kernel, shared)
        if _STOPPING.is_set():  # interrupted: keep nothing of this run
            shutil.rmtree(_run_paths(out, pid)["work"], ignore_errors=True)
            return "interrupted", notes, time.monotonic() - t0
        err, transient = _finish(out, pid, point, parameters, code, meta, time.monotonic() - started)
        if err is None or not transient or attempt == ATTEMPTS:
            return err, notes, time.monotonic() - t0
        notes.append(f"{pid}: {err}; not the notebook's own error: trying again")
    raise AssertionError("unreachable")  # pragma: no cover


def _stop(grace_s: float = 10.0) -> None:
    """Interrupt this process's papermill runs (their kernels exit with them), then kill what is left."""
    _STOPPING.set()
    with _PROCS_LOCK:
        procs = list(_PROCS)
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_sweep(
    notebook: str | Path,
    grid: Mapping[str, Sequence[Any]],
    out_dir: str | Path,
    jobs: int = 2,
    base_parameters: Mapping[str, Any] | None = None,
    *,
    force: bool = False,
    kernel: str = "python3",
    log: Callable[[str], Any] | None = print,
    client: Any = None,
    progress: bool = False,
    kernel_per_point: bool = False,
) -> SweepSummary:
    """Run ``notebook`` at every point of ``grid`` with papermill, then :func:`gather`.

    Parameters
    ----------
    notebook : path
        The chapter (``.ipynb``, with a cell tagged ``parameters`` that has ``results_dir``).
        It runs in its own folder.
    grid : mapping of str to list
        Parameter name -> values; every combination is a point.
    out_dir : path
        The sweep folder (see the module docstring).
    jobs : int
        Points run at the same time, as tasks of a Dask cluster of ``jobs`` worker threads in
        this process. Not used with ``client``.
    base_parameters : mapping, optional
        Parameters injected at every point (besides the grid's).
    force : bool
        Run every point again, even those already done.
    kernel : str
        Jupyter kernel name.
    log : callable, optional
        Called with one line per event (default ``print``; None: quiet).
    client : distributed.Client, optional
        Run the points as tasks on this Dask cluster (:mod:`qdloc.cluster`); its workers must
        see the notebook's folder and ``out_dir``. An interrupt cancels the points not started;
        those running on other machines' workers finish and are kept.
    kernel_per_point : bool
        Run every point in a papermill process and kernel of its own. By default each worker
        thread keeps one kernel for the points it runs, its namespace wiped between them
        (:mod:`qdloc.study.kernel_runner`): the imports and the kernel's start are paid once per
        thread instead of once per point.
    progress : bool
        One progress bar over the points (only on a terminal).

    Returns
    -------
    SweepSummary
        Points run, skipped and failed (with papermill's last line), and the table's path.

    Raises
    ------
    SweepError
        For a bad grid or notebook: unknown parameter, empty list, missing file...
        Nothing is run then.
    """
    say = log or (lambda s: None)
    t0 = time.monotonic()
    notebook = Path(notebook).resolve()
    out_dir = Path(out_dir).resolve()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SweepError(f"jobs={jobs!r} is not allowed: expected an integer >= 1")
    points, ids, base = _points(notebook, grid, dict(base_parameters or {}))
    runnable, left_out = point_notebook(_read_notebook(notebook))
    digest = code_digest(runnable)
    meta = {"notebook": _display_path(notebook), "digest": digest, "cells_left_out": left_out}
    lock = _claim_folder(out_dir)
    input_nb = out_dir / ".work" / f"{notebook.stem}.point.ipynb"
    try:
        atomic_write_text(input_nb, nbformat.writes(runnable))
        summary = _run_points(notebook, input_nb, out_dir, ids, points, base, digest, meta,
                              (client, jobs, progress, not kernel_per_point), force, kernel,
                              say)
        gather(out_dir)
    finally:
        input_nb.unlink(missing_ok=True)
        lock.unlink(missing_ok=True)
        try:
            (out_dir / ".work").rmdir()
        except OSError:
            pass
    summary.table = out_dir / "table.csv"
    summary.wall_s = time.monotonic() - t0
    say(str(summary))
    for pid, err in summary.failed.items():
        say(f"failed: {pid}: {err} (notebook: {_run_paths(out_dir, pid)['failed']})")
    return summary


def _points(notebook: Path, grid: Mapping[str, Sequence[Any]], base: dict[str, Any]
            ) -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    """The grid's points, their file names, and the fixed parameters, checked against the notebook.

    Values take the type of the notebook's default where that is lossless (int -> float).
    """
    available = notebook_parameters(notebook)
    if RESULTS_PARAM not in available:
        raise SweepError(f"notebook {notebook.name} has no parameter {RESULTS_PARAM}: a swept "
                         "chapter must write its results file there")
    points = expand_grid(grid)
    _check_names(list(grid), available, notebook, "grid parameter")
    _check_names(list(base), available, notebook, "parameter")
    if RESULTS_PARAM in grid or RESULTS_PARAM in base:
        raise SweepError(f"{RESULTS_PARAM} is set by the sweep (a fresh folder for every run)")
    both = sorted(set(grid) & set(base))
    if both:
        raise SweepError(f"{', '.join(both)} given both in the grid and as a fixed parameter")
    base = {k: _same_type_as(v, available[k], k) for k, v in base.items()}
    points = [{k: _same_type_as(v, available[k], k) for k, v in pt.items()} for pt in points]
    ids = [point_id(pt) for pt in points]
    if len(set(ids)) != len(ids):
        raise SweepError("two points of the grid get the same file name; use values that differ "
                         "in their first 6 significant digits")
    return points, ids, base


def _claim_folder(out_dir: Path) -> Path:
    """Make the sweep folder, claim it (:func:`_lock`) and clear what a killed sweep left.

    Returns the lock file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("runs", "results", ".work"):
        (out_dir / sub).mkdir(exist_ok=True)
    lock = _lock(out_dir)
    for stale in (out_dir / ".work").iterdir():  # left by a sweep that was killed
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        elif stale != lock:
            stale.unlink(missing_ok=True)
    return lock


def _lock(out_dir: Path) -> Path:
    """Claim the sweep folder (``.work/LOCK`` holds our process id).

    Refused (:class:`SweepError`) while another live sweep holds it.
    """
    lock = out_dir / ".work" / "LOCK"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                other = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                other = 0
            if other > 0 and _alive(other):
                raise SweepError(f"another sweep (process {other}) is running in {out_dir}; "
                                 f"wait for it, or remove {lock} if it is gone") from None
            lock.unlink(missing_ok=True)  # left by a sweep that was killed
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return lock
    raise SweepError(f"cannot claim {lock}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_points(notebook: Path, input_nb: Path, out_dir: Path, ids: list[str], points: list[dict],
                base: dict, digest: str, meta: dict, where: tuple[Any, int, bool], force: bool, kernel: str,
                say: Callable[[str], Any]) -> SweepSummary:
    """Skip the finished points, run the others as Dask tasks; stop all on an interrupt.

    ``where`` is ``(client, jobs, progress, shared)``: the client, or None for a cluster of
    ``jobs`` threads in this process (each task waits on a papermill process: its thread's
    kernel runner if ``shared``, else one of its own).
    """
    client, jobs, progress, shared = where
    summary = SweepSummary(out_dir=out_dir, points=ids)
    todo = []
    for pid, pt in zip(ids, points, strict=True):
        params = {**base, **pt}
        if not force and _is_done(out_dir, pid, params, digest):
            summary.skipped.append(pid)
        else:
            todo.append((pid, pt, params))
    at_once = "on the cluster's workers" if client is not None else f"{jobs} at a time"
    say(f"sweep of {notebook.name}: {len(points)} points, {len(summary.skipped)} already done, "
        f"{len(todo)} to run, {at_once} -> {out_dir}")
    if not todo:
        return summary
    args = [(pid, pt, params, str(input_nb), str(notebook.parent), str(out_dir), kernel, meta,
             shared)
            for pid, pt, params in todo]

    def done(i: int, result: tuple[str | None, list[str], float]) -> None:
        err, notes, secs = result
        for note in notes:
            say(note)
        pid = todo[i][0]
        summary.seconds[pid] = secs
        if err is None:
            summary.ran.append(pid)
        else:
            summary.failed[pid] = err
        what = f"done in {secs:.1f} s" if err is None else f"FAILED: {err}"
        say(f"[{len(summary.ran) + len(summary.failed)}/{len(todo)}] {pid}: {what}")

    _STOPPING.clear()
    with contextlib.ExitStack() as stack:
        own = client is None
        if own:
            client = stack.enter_context(get_client(None, jobs, len(todo), processes=False))
        try:
            run_tasks(client, run_point_task, args, desc=notebook.stem, unit="point",
                      progress=progress, on_result=done)
        except BaseException:
            _stop()  # before the cluster closes: its threads wait on these processes
            for pid, _, _ in todo:
                if pid not in summary.seconds:
                    shutil.rmtree(_run_paths(out_dir, pid)["work"], ignore_errors=True)
            raise
        finally:
            if own:
                _close_runners()
            else:  # the workers' runners (a worker that is gone took its own with it)
                with contextlib.suppress(Exception):
                    client.run(_close_runners)
    return summary


def _display_path(p: Path) -> str:
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return str(p)


# --------------------------------------------------------------------------
# Gathering
# --------------------------------------------------------------------------
def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _natural(name: str) -> list:
    """Sort key that orders numbers in names by value: auc_70 < auc_140 < auc_140_se < auc_210."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t]


def gather(out_dir: str | Path) -> pd.DataFrame:
    """Gather the results files of a sweep folder's finished points into ``out_dir/table.csv``.

    One row per point and method when a results file has a ``methods`` mapping
    (``{"methods": {name: {metric: value}}, ...}``), else one row per point. Columns: ``point``,
    the point's grid parameters, ``method``, then the method's and the file's other scalar
    top-level entries (nested ones are left out) in natural order (``auc_70`` before
    ``auc_140``). Rows are sorted by the grid parameters.
    The table is written atomically.
    """
    out_dir = Path(out_dir)
    rows, grid_names = [], []
    for nb_path in sorted((out_dir / "runs").glob("*.ipynb")):
        if nb_path.name.endswith(".failed.ipynb"):
            continue
        rec = _record(nb_path)
        json_path = out_dir / "results" / f"{nb_path.stem}.json"
        if rec is None or not json_path.exists():
            continue
        res = json.loads(json_path.read_text())
        point = rec.get("point", {})
        for k in point:
            if k not in grid_names:
                grid_names.append(k)
        common = {k: v for k, v in res.items() if k != "methods" and _scalar(v) and k not in point}
        methods = res.get("methods")
        if isinstance(methods, Mapping) and methods:
            for m, vals in methods.items():
                own = ({k: v for k, v in vals.items() if _scalar(v)}
                       if isinstance(vals, Mapping) else {})
                rows.append({"point": rec.get("point_id", nb_path.stem), **point, "method": m,
                             **own, **{k: v for k, v in common.items() if k not in own}})
        else:
            rows.append({"point": rec.get("point_id", nb_path.stem), **point, **common})
    table = pd.DataFrame(rows)
    if len(table):
        lead = ["point", *grid_names, *(["method"] if "method" in table else [])]
        rest = sorted((c for c in table.columns if c not in lead), key=_natural)
        table = table[lead + rest]
        keys = [k for k in grid_names if k in table] + (["method"] if "method" in table else [])
        table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    atomic_write_text(out_dir / "table.csv", table.to_csv(index=False))
    return table


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a gathered table (``table.csv``, or the sweep folder that holds it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "table.csv"
    return pd.read_csv(path)
