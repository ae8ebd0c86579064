"""Dask execution (qdloc.cluster): simulate, localize and sweep on a real scheduler and two worker processes.

A module-scoped fixture starts ``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1``
from the project's environment on 127.0.0.1 (a free port), as a user would on a cluster, and
kills them at the end. Every test compares the cluster's output with a run in this process:
it must be the same, byte for byte, whatever ran where, and also after a worker is killed.
"""

from __future__ import annotations

import filecmp
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client

from qdloc.cluster import MIN_TASKS_FOR_CLUSTER, get_client, run_tasks, where
from qdloc.data.dataset import DATA_FILES, write_dataset
from qdloc.localise.registry import locate_stack, read_frames
from qdloc.study.sweep import read_table, run_sweep

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FILES = (*DATA_FILES, "params.json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """The address of a running ``dask scheduler`` with two single-threaded worker processes."""
    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    commands = {
        "scheduler": ["scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        "worker": ["worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
                   "--no-dashboard", "--local-directory", str(logs)],
    }
    procs = []
    try:
        for name, args in commands.items():
            with open(logs / f"{name}.log", "w") as log:
                procs.append(subprocess.Popen([str(BIN / "dask"), *args], stdout=log, stderr=subprocess.STDOUT,
                                              cwd=logs, start_new_session=True, env=env))
        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for p in reversed(procs):
            _stop(p)


@pytest.fixture(scope="module")
def client(scheduler):
    with Client(scheduler, timeout="30s") as c:
        yield c


def _same_set(a: Path, b: Path) -> None:
    assert sorted(p.name for p in a.iterdir()) == sorted(FILES)
    for name in FILES:
        assert filecmp.cmp(a / name, b / name, shallow=False), name


def test_where_the_tasks_run():
    assert where(None, None, MIN_TASKS_FOR_CLUSTER - 1) == "in-process"
    assert where(None, 3, 1) == "local-cluster"
    assert where("tcp://127.0.0.1:1", None, 1) == "scheduler"
    expected = "local-cluster" if len(os.sched_getaffinity(0)) > 1 else "in-process"
    assert where(None, None, MIN_TASKS_FOR_CLUSTER) == expected
    with pytest.raises(ValueError, match="workers=0"):
        where(None, 0, 1)
    with pytest.raises(ValueError, match="together"):
        where("tcp://127.0.0.1:1", 2, 1)
    with get_client(None, None, 1) as c:
        assert c is None
        assert run_tasks(c, divmod, [(7, 2), (9, 4)], progress=False) == [(3, 1), (2, 1)]


def test_simulate_on_the_cluster_is_byte_identical(tmp_path, scheduler):
    write_dataset(tmp_path / "here", 300, seed=3, D=1.0, progress=False)
    r = subprocess.run([sys.executable, "-m", "qdloc", "simulate", "--D", "1.0", "--n", "300", "--seed", "3",
                        "--scheduler", scheduler, "--task-size", "64", "--out", str(tmp_path / "there")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # no progress bar when stderr is not a terminal
    _same_set(tmp_path / "here", tmp_path / "there")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here", "there"]  # the shards are gone


def test_localize_on_the_cluster_is_identical(tmp_path, client):
    write_dataset(tmp_path / "set", 300, seed=4, D=("uniform", 0.75, 1.75), progress=False)
    for method, size in (("trackpy", 64), ("compact", 128)):  # 128: the compact batch
        here = locate_stack(tmp_path / "set", method)
        there = locate_stack(tmp_path / "set", method, client=client, task_size=size)
        assert len(here) >= 300 and here["frame"].max() == 299
        pd.testing.assert_frame_equal(here, there, check_exact=True)
    assert read_frames(tmp_path / "set", 5, 9).shape == (4, 24, 25)


def test_a_killed_worker_loses_nothing(tmp_path, client):
    n, size = 6000, 200  # 30 tasks of about 0.1 s each
    write_dataset(tmp_path / "here", n, seed=5, D=("uniform", 0.75, 1.75), progress=False)
    out, errors = tmp_path / "there", []

    def run() -> None:
        try:
            write_dataset(out, n, seed=5, D=("uniform", 0.75, 1.75), progress=False, client=client,
                          task_size=size)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    pids_before = client.run(os.getpid)
    t = threading.Thread(target=run)
    t.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:
            victim = pids_before[busy[0]]
        else:
            time.sleep(0.01)
    assert victim is not None and not out.exists()  # killed in the middle of the run
    os.kill(victim, signal.SIGKILL)
    t.join(timeout=120)
    assert not t.is_alive() and errors == []
    _same_set(tmp_path / "here", out)
    client.wait_for_workers(2, timeout=60)  # the nanny started a new worker process
    assert victim not in client.run(os.getpid).values()


@pytest.mark.notebook
def test_two_point_sweep_of_chapter_08(tmp_path, client):
    out = tmp_path / "sweep"
    s = run_sweep(ROOT / "notebooks" / "08_sweep.ipynb", {"D": [0.5, 1.5]}, out,
                  base_parameters={"n_images": 8, "seed": 30}, log=None, client=client)
    assert s.ok and sorted(s.ran) == ["D=0.5", "D=1.5"], s.failed
    table = read_table(out)
    assert sorted(table["D"].unique()) == [0.5, 1.5] and len(table) == 4  # two methods per point
    again = run_sweep(ROOT / "notebooks" / "08_sweep.ipynb", {"D": [0.5, 1.5]}, out,
                      base_parameters={"n_images": 8, "seed": 30}, log=None, client=client)
    assert again.ran == [] and sorted(again.skipped) == ["D=0.5", "D=1.5"]  # resumed: nothing ran
