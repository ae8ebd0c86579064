"""Seconds per point of chapter 08's sweep: points in one kernel per worker thread, against a kernel each.

The same points of the default preset (``qdloc.study.sweep.PRESETS["default"]``: chapter 08 at
500 images per point), one at a time (``jobs=1``), into two fresh folders:

* ``shared``: the default, one kernel for all the points (:mod:`qdloc.study.kernel_runner`;
  its start and the chapter's imports are paid once);
* ``per point``: ``kernel_per_point=True``, a papermill process and kernel for every point.

Both runs are interleaved ``--repeat`` times; the best of each is printed with the ratio, and the
results files of the two are compared (they must be equal). The machine's load average is
printed: absolute seconds move with it, the ratio much less.

    .venv/bin/python benchmarks/bench_sweep.py [--points 6] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from qdloc.study.sweep import preset, run_sweep


def _run(kw: dict, grid: dict, out: Path, per_point: bool) -> float:
    t0 = time.perf_counter()
    s = run_sweep(kw["notebook"], grid, out, jobs=1, base_parameters=kw["base_parameters"], log=None,
                  kernel_per_point=per_point)
    if not s.ok:
        raise SystemExit(f"bench_sweep: points failed: {s.failed}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=6, help="points of the default grid (default 6)")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved repeats (default 1)")
    a = ap.parse_args()
    kw = preset("default")
    n_qd = kw["grid"]["n_qd"]
    D = kw["grid"]["D"][: max(1, -(-a.points // len(n_qd)))]
    grid = {"D": D, "n_qd": n_qd[: a.points] if len(D) == 1 else n_qd}
    n = len(grid["D"]) * len(grid["n_qd"])
    best = {False: float("inf"), True: float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeat):
            for per_point in (False, True):
                out = Path(tmp) / f"{per_point}-{r}"
                best[per_point] = min(best[per_point], _run(kw, grid, out, per_point))
        same = all((Path(tmp) / "False-0" / "results" / p.name).read_bytes() == p.read_bytes()
                   for p in (Path(tmp) / "True-0" / "results").glob("*.json"))
    print(f"chapter 08, {n} points, one at a time (load average {os.getloadavg()[0]:.2f})")
    print(f"  one kernel for all points : {best[False]:6.1f} s  ({best[False] / n:5.2f} s per point)")
    print(f"  a kernel for every point  : {best[True]:6.1f} s  ({best[True] / n:5.2f} s per point)")
    print(f"  ratio (per point / shared): {best[True] / best[False]:.2f}x; results files equal: {same}")
    if not same:
        raise SystemExit("bench_sweep: the two runs wrote different results files")


if __name__ == "__main__":
    main()
