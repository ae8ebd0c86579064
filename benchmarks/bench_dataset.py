"""Dataset write throughput, as a ratio against in-memory simulation measured in the same run.

Reference: ``qdloc.sim.simulate`` of the same images into memory (no files). Measured:
``qdloc.data.dataset.write_dataset`` of those images to a temporary folder on the same disk as
the working directory's ``data/`` (images.tif, labels.csv, trajectories.npy, params.json with
checksums, atomic rename), and ``load_dataset`` with checksum verification. The two are run
alternately, best of ``--repeat``, so that a busy machine slows both alike.

Usage: ``python benchmarks/bench_dataset.py [--n 20000] [--repeat 3] [--dir DIR]``
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import qdloc
from qdloc.data.dataset import load_dataset, write_dataset

D = ("uniform", 0.75, 1.75)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="images per run (default 20000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each, best kept (default 3)")
    ap.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temporary folder)"
    )
    args = ap.parse_args()
    p = qdloc.SimParams()
    n = args.n
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, numpy {np.__version__}, qdloc {qdloc.__version__}"
    )
    base = Path(tempfile.mkdtemp(prefix="qdloc-bench-", dir=args.dir))
    try:
        t_sim = t_write = t_load = float("inf")
        size = 0
        for r in range(args.repeat):
            t0 = time.perf_counter()
            d = qdloc.data.dataset.draw_D(D, n, seed=r)
            sim = qdloc.simulate(n, p, seed=r, D=d)
            t_sim = min(t_sim, time.perf_counter() - t0)
            del sim
            out = base / f"set{r}"
            t0 = time.perf_counter()
            write_dataset(out, n, p, seed=r, D=D, progress=False)
            t_write = min(t_write, time.perf_counter() - t0)
            size = sum(f.stat().st_size for f in out.iterdir())
            t0 = time.perf_counter()
            load_dataset(out, verify=True)
            t_load = min(t_load, time.perf_counter() - t0)
            shutil.rmtree(out)
        sim_rate, write_rate, load_rate = n / t_sim, n / t_write, n / t_load
        print(
            f"{n:,} images of {p.height_px}x{p.width_px}, D uniform in [0.75, 1.75] µm²/s, "
            f"{size / 1e6:,.0f} MB per set on disk ({size / n / 1e3:.1f} kB/image), "
            f"best of {args.repeat}"
        )
        print(f"{'what':44s} {'images/s':>10s} {'MB/s':>8s} {'ratio to simulate':>18s}")
        print(f"{'simulate() into memory (reference)':44s} {sim_rate:10,.0f} {'':>8s} {1.0:18.2f}")
        print(
            f"{'write_dataset() to disk':44s} {write_rate:10,.0f} {size / t_write / 1e6:8,.0f} "
            f"{write_rate / sim_rate:18.2f}"
        )
        print(
            f"{'load_dataset(verify=True)':44s} {load_rate:10,.0f} {size / t_load / 1e6:8,.0f} "
            f"{load_rate / sim_rate:18.2f}"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
