"""Localisation throughput of the compact network, with ratios against references run in the same process.

References, measured here in the same run (the machine is shared, so absolute numbers move):
* the simulator (``qdloc.sim.simulate``), which makes the images;
* TrackPy's locator (``qdloc.localise.trackpy.trackpy_locate``), the paper's intensity-based baseline.

The compact model is timed with test-time averaging (the default, two views per image) and
without, at several batch sizes, with torch on 2 threads. Each rate is the best of a few
interleaved repeats. Uses the shipped weights when present (the speed does not depend on them).

The whole process: ``qdloc localize SET --method compact`` on a 20,000-image set, timed from
the start of the process to its end (Python's start, imports, reading the TIFF, the model, the
CSV, the interpreter's exit), in the user's environment, beside the in-process rate on the same
stack (with the command's OpenMP setting); and where the difference goes (the time to start
Python and import ``qdloc.cli.localize``, and the command's imports with torch).

    .venv/bin/python benchmarks/bench_compact.py [--model data/models/compact/compact.pt]
"""

from __future__ import annotations

import os

#: The environment as the user gave it: the whole-process timing runs ``qdloc localize`` in it.
USER_ENV = dict(os.environ)
if not {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"} & os.environ.keys():  # what qdloc localize chooses itself
    os.environ["GOMP_SPINCOUNT"] = "1000"  # OpenMP threads spin briefly, then sleep: see qdloc.cli.localize

import argparse  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

import qdloc  # noqa: E402
from qdloc.data.dataset import read_stack, write_dataset  # noqa: E402
from qdloc.localise.checkpoints import save_model_file  # noqa: E402
from qdloc.localise.compact import (  # noqa: E402
    DEFAULT_MODEL_PATH,
    CompactConfig,
    CompactNet,
    _machine,
    compact_locate,
    count_parameters,
    macs_per_image,
)

TARGET = 5000  # images/s, with the default test-time averaging
#: What ``qdloc localize --method compact`` imports, as it imports it, and its end, without the
#: interpreter's teardown (:mod:`qdloc.cli.localize`, :func:`qdloc.cli._common.end_program_now`).
COMMAND_IMPORTS = """
import os
from qdloc.cli._common import collector_paused
import qdloc.cli.localize
with collector_paused():
    import qdloc.localise.compact
os._exit(0)
"""


def best_rate(fn, n: int, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _process_seconds(args: list[str], repeat: int) -> tuple[float, float]:
    """Best wall time of ``python ARGS`` in a fresh process (it must succeed), and its CPU time."""
    best, cpu = math.inf, math.inf
    for _ in range(repeat):
        c0, t0 = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True, env=USER_ENV)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, _cpu(resource.RUSAGE_CHILDREN) - c0)
    return best, cpu


def whole_process(model: Path, n: int, repeat: int) -> None:
    """``qdloc localize --method compact`` as a whole process against the same call in this process.

    Wall times and CPU times (user + system, all threads): on a shared machine the CPU times
    say where the work goes even when the wall times are stretched by other jobs.
    """
    with tempfile.TemporaryDirectory() as d:
        stack = write_dataset(Path(d) / "set", n, seed=7, D=1.0, progress=False)
        csv_out = Path(d) / "locs.csv"
        cmd = ["-m", "qdloc", "localize", str(stack), "--method", "compact", "--model", str(model),
               "-o", str(csv_out)]
        images = read_stack(stack)
        compact_locate(images, model)  # warm
        in_process = whole = in_cpu = whole_cpu = math.inf
        for _ in range(repeat):  # interleaved
            c0, t0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
            compact_locate(images, model)
            in_process = min(in_process, time.perf_counter() - t0)
            in_cpu = min(in_cpu, _cpu(resource.RUSAGE_SELF) - c0)
            w, c = _process_seconds(cmd, 1)
            whole, whole_cpu = min(whole, w), min(whole_cpu, c)
        start, start_cpu = _process_seconds(["-c", "import qdloc.cli.localize"], repeat)
        imports, imports_cpu = _process_seconds(["-c", COMMAND_IMPORTS], repeat)
    print(f"qdloc localize --method compact, {n:,} images: whole process {n / whole:,.0f} images/s "
          f"({whole:.2f} s, {whole_cpu:.2f} CPU-s) vs in-process {n / in_process:,.0f} images/s "
          f"({in_process:.2f} s, {in_cpu:.2f} CPU-s); target >= {TARGET:,} whole process: "
          f"{'met' if n / whole >= TARGET else 'NOT met'}")
    print(f"  where the difference goes: python + the command's imports {imports:.2f} s ({imports_cpu:.2f} CPU-s), "
          f"of which python + import qdloc.cli.localize {start:.2f} s "
          f"({start_cpu:.2f} CPU-s) and torch the rest; reading, model, CSV, first-call warm-up "
          f"{whole_cpu - in_cpu - imports_cpu:.2f} CPU-s; whole process / in-process rate {in_process / whole:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=DEFAULT_MODEL_PATH)
    ap.add_argument("--n", type=int, default=16384, help="images per timing")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--whole-n", type=int, default=20000, help="images of the whole-process timing")
    ap.add_argument("--only-whole", action="store_true", help="only the whole-process timing")
    a = ap.parse_args()

    torch.set_num_threads(2)
    p = qdloc.SimParams()
    model = Path(a.model)
    tmp = None
    if not model.exists():
        tmp = tempfile.TemporaryDirectory()
        cfg = CompactConfig()
        net = CompactNet(cfg, (p.height_px, p.width_px))
        model = save_model_file(Path(tmp.name) / "untrained.pt", "compact", cfg.to_dict(), net.state_dict(),
                                (p.height_px, p.width_px), p.to_dict())
        print(f"{a.model} not found: timing an untrained network of the default configuration")
    obj = torch.load(model, map_location="cpu", weights_only=True)
    net = CompactNet(CompactConfig.from_dict(obj["config"]), tuple(obj["image_shape"]))
    print(f"machine: {_machine()}; "
          f"torch {torch.__version__} on {torch.get_num_threads()} threads; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"model: {model} ({count_parameters(net):,} parameters, {macs_per_image(net) / 1e6:.2f} M MACs per view)")

    whole_process(model, a.whole_n, a.repeat)
    if a.only_whole:
        if tmp is not None:
            tmp.cleanup()
        return
    images = qdloc.simulate(a.n, p, seed=5).images
    tp_images = images[:200]
    rates: dict[str, float] = {}
    runs = {
        "simulator (qdloc.sim.simulate)": (lambda: qdloc.simulate(a.n, p, seed=6), a.n),
        "compact, tta, batch 64": (lambda: compact_locate(images, model, tta=True, batch=64), a.n),
        "compact, tta, batch 128 (default)": (lambda: compact_locate(images, model, tta=True), a.n),
        "compact, tta, batch 256": (lambda: compact_locate(images, model, tta=True, batch=256), a.n),
        "compact, tta, batch 1024": (lambda: compact_locate(images, model, tta=True, batch=1024), a.n),
        "compact, no tta, batch 128": (lambda: compact_locate(images, model, tta=False), a.n),
    }
    try:
        from qdloc.localise.trackpy import trackpy_locate

        trackpy_locate(tp_images[:5])
        runs["trackpy (qdloc.localise.trackpy)"] = (lambda: trackpy_locate(tp_images), len(tp_images))
    except ImportError as exc:  # pragma: no cover - trackpy is a dependency
        print(f"trackpy not available: {exc}")
    for name, (fn, _) in runs.items():  # warm-up
        if not name.startswith("trackpy"):
            fn()
    for _ in range(a.repeat):  # interleaved, so that a busy moment hits every method alike
        for name, (fn, n) in runs.items():
            rates[name] = max(rates.get(name, 0.0), best_rate(fn, n, 1))

    sim = rates["simulator (qdloc.sim.simulate)"]
    tp = rates.get("trackpy (qdloc.localise.trackpy)", math.nan)
    print(f"{'method':36s} {'images/s':>10s} {'vs simulator':>13s} {'vs trackpy':>11s}")
    for name, r in rates.items():
        print(f"{name:36s} {r:10,.0f} {r / sim:12.2f}x {r / tp:10.1f}x")
    default = rates["compact, tta, batch 128 (default)"]
    print(f"target >= {TARGET:,} images/s with test-time averaging: "
          f"{'met' if default >= TARGET else 'NOT met'} ({default:,.0f} images/s)")
    # training time per epoch: one short epoch of the shipped (cpu) configuration, extrapolated
    import csv

    from qdloc.localise.compact import PROFILES, train_compact

    n_short = 4096
    full = PROFILES["cpu"].images_per_epoch
    with tempfile.TemporaryDirectory() as d:
        train_compact(None, d, profile="cpu", epochs=1, images_per_epoch=n_short, progress=False)
        row = next(csv.DictReader(open(Path(d) / "history.csv")))
    t_short = float(row["epoch_time_s"])
    print(f"training, cpu profile: {n_short / t_short:,.0f} images/s -> {t_short * full / n_short:.0f} s per "
          f"epoch of {full:,} fresh images (x{PROFILES['cpu'].epochs} epochs); simulator/train = "
          f"{sim / (n_short / t_short):.1f}x")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
