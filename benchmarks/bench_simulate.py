"""Simulator throughput: images per second, with ratios against references run in the same process.

References:
* a straightforward per-pixel Python loop (beam at each pixel, one Gaussian step, Eq. 1, one
  Poisson draw per pixel), measured on a few images;
* a plain per-image NumPy version (vectorised over pixels, one image at a time, numpy's own
  Poisson sampler).
The vectorised simulator is timed single-threaded and with its default threads, and while
streaming 1,000,000 images (peak resident memory reported).
"""

from __future__ import annotations

import math
import platform
import resource
import time

import numpy as np

import qdloc
from qdloc.sim.scanner import beam_positions_um, sample_intervals_s


def python_loop(n: int, p: qdloc.SimParams, rng: np.random.Generator) -> np.ndarray:
    H, W, a = p.height_px, p.width_px, p.pixel_size_um
    norm = p.n_qd / (2 * math.pi * p.sigma_xy_um**2 * math.sqrt(2 * math.pi) * p.sigma_z_um)
    out = np.empty((n, H, W), dtype=np.uint16)
    for k in range(n):
        x = (p.start_margin_px + rng.random() * (W - 1 - 2 * p.start_margin_px)) * a
        y = (p.start_margin_px + rng.random() * (H - 1 - 2 * p.start_margin_px)) * a
        z = 0.0
        for i in range(H):
            for j in range(W):
                if i or j:
                    dt = p.dwell_s + (p.retrace_s if j == 0 else 0.0)
                    s = math.sqrt(2 * p.D_um2_per_s * dt)
                    x += rng.normal() * s
                    y += rng.normal() * s
                    z += rng.normal() * s
                lam = norm * math.exp(-((x - j * a) ** 2 + (y - i * a) ** 2) / (2 * p.sigma_xy_um**2)
                                      - z * z / (2 * p.sigma_z_um**2)) + p.n_bkg
                out[k, i, j] = rng.poisson(lam)
    return out


def numpy_per_image(n: int, p: qdloc.SimParams, rng: np.random.Generator) -> np.ndarray:
    H, W = p.height_px, p.width_px
    beam = beam_positions_um(p).reshape(-1, 3)
    sd = np.sqrt(2 * p.D_um2_per_s * sample_intervals_s(p))
    norm = p.n_qd / (2 * math.pi * p.sigma_xy_um**2 * math.sqrt(2 * math.pi) * p.sigma_z_um)
    out = np.empty((n, H, W), dtype=np.uint16)
    for k in range(n):
        start = np.array([(p.start_margin_px + rng.random() * (W - 1 - 2 * p.start_margin_px)),
                          (p.start_margin_px + rng.random() * (H - 1 - 2 * p.start_margin_px)), 0.0])
        start[:2] *= p.pixel_size_um
        traj = np.vstack([start, start + np.cumsum(rng.normal(size=(H * W - 1, 3)) * sd[:, None], axis=0)])
        d = traj - beam
        lam = norm * np.exp(-(d[:, 0] ** 2 + d[:, 1] ** 2) / (2 * p.sigma_xy_um**2)
                            - d[:, 2] ** 2 / (2 * p.sigma_z_um**2)) + p.n_bkg
        out[k] = rng.poisson(lam).reshape(H, W)
    return out


def rate(fn, n: int, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    p = qdloc.SimParams()
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"{__import__('os').cpu_count()} CPUs, numpy {np.__version__}")
    loop = rate(lambda n: python_loop(n, p, np.random.default_rng(0)), 20, repeat=1)
    per_image = rate(lambda n: numpy_per_image(n, p, np.random.default_rng(0)), 2000, repeat=2)
    vec1 = rate(lambda n: qdloc.simulate(n, p, seed=0, threads=1), 20000)
    vec = rate(lambda n: qdloc.simulate(n, p, seed=0), 20000)
    print(f"{'method':42s} {'images/s':>12s} {'ratio to loop':>14s} {'ratio to per-image':>19s}")
    for name, r in [("per-pixel Python loop", loop), ("per-image NumPy", per_image),
                    ("qdloc.sim.simulate, 1 thread", vec1), ("qdloc.sim.simulate, default threads", vec)]:
        print(f"{name:42s} {r:12,.0f} {r / loop:14.0f}x {r / per_image:18.1f}x")
    # streaming 1,000,000 images: memory stays bounded by the chunk size
    n = 1_000_000
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    total = 0
    for chunk in qdloc.iter_simulate(n, p, seed=1, chunk=4096):
        total += int(chunk.images.sum(dtype=np.int64))
    dt = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"streamed {n:,} images in {dt:.1f} s ({n / dt:,.0f} images/s); "
          f"peak RSS {rss1 / 1024:.0f} MiB (before: {rss0 / 1024:.0f} MiB); "
          f"mean count {total / (n * p.n_pixels):.3f}")
    target = 20000
    print(f"target >= {target:,} images/s: {'met' if vec >= target else 'NOT met'} ({vec:,.0f})")


if __name__ == "__main__":
    main()
