"""Keypoint R-CNN on the CPU: training time per epoch and localisation throughput.

Both are reported with a ratio against the simulator's throughput measured in the same run
(``qdloc.sim.simulate``, images/s, one thread), so that numbers from different machines compare:

* training: one epoch of the ``cpu`` profile on the first ``--train-images`` training images
  (batch 6, validation excluded), extrapolated to seconds per 1000 images; the ratio says how
  many images the simulator makes in the time one image is trained on;
* localisation: :func:`qdloc.localise.frcnn.frcnn_locate` (top detection per image) on
  ``--locate-images`` images, in images/s, with the trained model ``data/models/frcnn_cpu/best.pt``
  when it exists (else an untrained model of the same profile: the cost hardly depends on the
  weights, one detection is decoded per image).

Threads: ``--threads`` (default 1). On a CPU shared with other jobs, two torch threads were
up to 8x *slower* than one in our measurements (OpenMP threads spin while waiting for a core);
the machine, its load and the thread count are printed with the numbers.

    .venv/bin/python benchmarks/bench_frcnn.py [--threads 1] [--paper]

``--paper`` also times one training step of the ``paper`` profile (ResNet-50-FPN, 8x upscale).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import qdloc

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ROOT / "data" / "models" / "frcnn_cpu" / "best.pt"


def simulator_rate(params: qdloc.SimParams, n: int = 5000, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        qdloc.simulate(n, params, seed=0, threads=1)
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-images", type=int, default=240)
    ap.add_argument("--locate-images", type=int, default=500)
    ap.add_argument("--paper", action="store_true")
    a = ap.parse_args()

    import torch

    from qdloc.localise.checkpoints import save_model_file
    from qdloc.localise.frcnn import (
        build_frcnn,
        frcnn_config,
        frcnn_locate,
        load_split,
        make_targets,
        normalise_counts,
    )

    torch.set_num_threads(a.threads)
    params = qdloc.SimParams()
    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    sim_rate = simulator_rate(params)
    print(f"{'simulator (qdloc.sim.simulate, 1 thread)':58s} {sim_rate:12,.0f} images/s")

    # -- training: one epoch on a small subset ------------------------------
    config = frcnn_config("cpu")
    split = load_split("train", None, a.train_images, params=params)
    x = normalise_counts(split.images)
    targets = make_targets(split.boxes_px, split.truth_xy, split.images.shape[1:], config.min_box_px)
    torch.manual_seed(0)
    model = build_frcnn(config).train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                          momentum=config.momentum, weight_decay=config.weight_decay)

    def step(idx):
        losses = model([x[i] for i in idx], [targets[i] for i in idx])
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()

    step(range(config.batch_size))  # warm-up (allocations, oneDNN kernels)
    t0 = time.perf_counter()
    for s in range(0, len(x), config.batch_size):
        step(range(s, min(s + config.batch_size, len(x))))
    dt = time.perf_counter() - t0
    per_1000 = dt / len(x) * 1000
    train_rate = len(x) / dt
    print(f"{'train, cpu profile (batch 6)':58s} {train_rate:12,.1f} images/s   "
          f"{per_1000:7.1f} s per 1000 images; full cpu-profile epoch ({config.train_subset} images): "
          f"{per_1000 * config.train_subset / 1000 / 60:.1f} min; simulator/train = {sim_rate / train_rate:,.0f}x")

    # -- localisation -------------------------------------------------------
    test = qdloc.simulate(a.locate_images, params, seed=11, D=1.0)
    with tempfile.TemporaryDirectory() as tmp:
        if TRAINED.is_file():
            path, which = TRAINED, "trained frcnn_cpu/best.pt"
        else:
            path, which = Path(tmp) / "untrained.pt", "untrained model"
            save_model_file(path, kind="frcnn", config=asdict(config), state_dict=model.state_dict(),
                            image_shape=test.images.shape[1:], sim_params=params.to_dict())
        frcnn_locate(test.images[:8], path, batch=8)  # warm-up
        rates = []
        for batch in (1, 64):
            t0 = time.perf_counter()
            pred = frcnn_locate(test.images, path, batch=batch)
            rates.append((batch, a.locate_images / (time.perf_counter() - t0), len(pred)))
    for batch, r, n_pred in rates:
        print(f"{f'frcnn_locate, batch {batch} ({which})':58s} {r:12,.1f} images/s   "
              f"simulator/locate = {sim_rate / r:,.0f}x ({n_pred} predictions)")

    if a.paper:
        pc = frcnn_config("paper")
        torch.manual_seed(0)
        big = build_frcnn(pc).train()
        opt = torch.optim.SGD([p for p in big.parameters() if p.requires_grad], lr=pc.lr, momentum=pc.momentum)
        idx = range(pc.batch_size)
        for _ in range(2):
            t0 = time.perf_counter()
            losses = big([x[i] for i in idx], [targets[i] for i in idx])
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()
            dt = time.perf_counter() - t0
        r = pc.batch_size / dt
        print(f"{'train, paper profile (1 step of 6, CPU)':58s} {r:12,.2f} images/s   "
              f"{1000 / r / 60:7.1f} min per 1000 images; simulator/train = {sim_rate / r:,.0f}x")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other jobs share this CPU: absolute times vary)")


if __name__ == "__main__":
    main()
