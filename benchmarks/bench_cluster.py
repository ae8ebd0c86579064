"""Throughput on a local Dask cluster (qdloc.cluster): 2 workers against 1, measured in the same run.

Generation (``write_dataset(client=...)``: shards as tasks, joined by the client) and
localisation (``locate_stack(client=...)``: chunks of the stack as tasks, read through a memory
map) with a LocalCluster of 1 and of 2 single-threaded worker processes; the ratio 2 : 1 is the
figure to read (the machine is shared, so absolute rates move). The in-process rate is printed
beside them as the reference the threshold of qdloc.cluster is about. The clusters are started
before the timings (their start-up is printed on its own).

    .venv/bin/python benchmarks/bench_cluster.py [--n 20000] [--task-size 2048]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from qdloc.cluster import get_client  # noqa: E402
from qdloc.data.dataset import write_dataset  # noqa: E402
from qdloc.localise.registry import locate_stack  # noqa: E402


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="images generated and localised")
    ap.add_argument("--task-size", type=int, default=2048, help="images per task (a multiple of 128)")
    ap.add_argument("--method", default="compact", help="localiser (default compact)")
    a = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.1f}; n = {a.n}, {a.task_size} images per task")
    tmp = Path(tempfile.mkdtemp(prefix="bench_cluster-"))
    try:
        kw = {"seed": 1, "D": ("uniform", 0.75, 1.75), "progress": False}
        t = _timed(lambda: write_dataset(tmp / "ref", a.n, **kw))
        rates = {"generate, in-process": a.n / t}
        locate_stack(tmp / "ref", a.method)  # warm: imports and the model file
        rates[f"localise ({a.method}), in-process"] = a.n / _timed(lambda: locate_stack(tmp / "ref", a.method))
        for workers in (1, 2):
            t0 = time.perf_counter()
            with get_client(None, workers, 1) as client:
                client.run(lambda: __import__("qdloc.localise.registry"))
                print(f"LocalCluster of {workers} worker(s) started in {time.perf_counter() - t0:.1f} s")
                locate_stack(tmp / "ref", a.method, client=client, task_size=a.task_size, progress=False)  # warm
                out = tmp / f"w{workers}"
                t = _timed(lambda: write_dataset(out, a.n, client=client, task_size=a.task_size, **kw))  # noqa: B023
                for name in ("images.tif", "labels.csv", "trajectories.npy"):
                    assert (out / name).read_bytes() == (tmp / "ref" / name).read_bytes(), name
                rates[f"generate, {workers} worker(s)"] = a.n / t
                t = _timed(lambda: locate_stack(tmp / "ref", a.method, client=client,  # noqa: B023
                                                task_size=a.task_size, progress=False))
                rates[f"localise ({a.method}), {workers} worker(s)"] = a.n / t
                shutil.rmtree(out)
        for name, r in rates.items():
            print(f"{name:36s} {r:9,.0f} images/s")
        for what in ("generate", f"localise ({a.method})"):
            ratio = rates[f"{what}, 2 worker(s)"] / rates[f"{what}, 1 worker(s)"]
            print(f"{what}: 2 workers / 1 worker = {ratio:.2f}x (ideal 2.00 on an idle 2-core machine)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
