"""TrackPy localisation throughput, against the simulator's in the same run.

    python benchmarks/bench_trackpy.py [--n 2000] [--repeats 3] [--D 1.0]

Simulates ``n`` images (default parameters, one ``D``), locates the dots in
them with the calibrated TrackPy settings (chapter 06), and prints both
throughputs in images/s (best of ``repeats``) and their ratio. The ratio is
the portable number: it says how many images the simulator makes in the
time TrackPy localises one; absolute rates depend on the machine, printed
alongside.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import trackpy

import qdloc
from qdloc import SimParams, simulate
from qdloc.localise.trackpy import trackpy_locate
from qdloc.study.calibration import CALIBRATED_TRACKPY


def _best_rate(fn, n: int, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="images (default 2000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default 3)")
    ap.add_argument("--D", type=float, default=1.0, help="D, µm²/s (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.n < 1 or args.repeats < 1:
        ap.error("--n and --repeats must be >= 1")

    params = SimParams()
    images = simulate(args.n, params, seed=args.seed, D=args.D).images  # warm-up, and the input
    sim_rate = _best_rate(
        lambda: simulate(args.n, params, seed=args.seed, D=args.D), args.n, args.repeats
    )
    tp_rate = _best_rate(lambda: trackpy_locate(images, CALIBRATED_TRACKPY), args.n, args.repeats)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"trackpy {trackpy.__version__} (engine {CALIBRATED_TRACKPY.engine}), "
        f"qdloc {qdloc.__version__}"
    )
    print(f"images: {args.n} x {params.height_px}x{params.width_px}, D = {args.D} µm²/s")
    print(f"simulator:             {sim_rate:10.0f} images/s")
    print(f"TrackPy localisation:  {tp_rate:10.0f} images/s")
    print(f"ratio TrackPy / simulator: {tp_rate / sim_rate:.3f} "
          f"(the simulator makes {sim_rate / tp_rate:.1f} images while TrackPy localises one)")


if __name__ == "__main__":
    main()
