# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Scanner timing
#
# A two-photon microscope does not take a snapshot: it records one pixel at a time while
# the laser beam sweeps the sample line by line. To simulate what a moving quantum dot
# looks like we first need to know *where the beam is, and when*. This chapter follows
# the paper's §4.6.1 and the module `qdloc.sim.scanner`.
#
# **What you will learn**
#
# - how the raster scan visits the $H \times W$ pixels, and when each pixel's dwell starts;
# - why the scan runs on two clocks: a fast one (the dwell, 2 µs) and a slow one
#   (the line change, one dwell plus the 1.1 ms retrace);
# - how little of the frame time is spent recording photons;
# - how to draw the beam path, a timing diagram and an animation of the scan with `qdloc.plots.simulator`.

# %% tags=["parameters"]
seed = 0  # seed of the simulated image shown in the animation
D = 1.0  # diffusion coefficient of the dot in the animation, µm²/s
lines_per_frame = 1  # scan lines per animation frame
zoom_line = 0  # the timing diagram zooms on the change from this line to the next
results_dir = "../data/results"

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML

from qdloc import PAPER, simulate
from qdloc.plots import simulator as plots
from qdloc.io import atomic_write_text
from qdloc.sim.scanner import beam_path_um, beam_positions_um, pixel_start_times_s, sample_intervals_s

params = PAPER
print(
    f"image: {params.height_px} lines x {params.width_px} pixels "
    f"of {params.pixel_size_um * 1e3:g} nm"
)
print(f"dwell tau_d = {params.dwell_s * 1e6:g} us, retrace tau_r = {params.retrace_s * 1e3:g} ms")

# %% [markdown]
# ## The raster scan
#
# The paper's microscope scans a unidirectional raster (§4.1, §4.6.1): the beam crosses
# a line of $W = 25$ pixels at constant speed, dwelling $\tau_d = 2$ µs on each pixel,
# then returns to the start of the next line in $\tau_r = 1.1$ ms, during which no
# photons are recorded. (The paper writes "a constant speed of 2 µm per pixel"; the
# parameters in its §4.1 make clear that 2 µs per pixel is meant.) Pixel $(i, j)$, row
# $i$ and column $j$, is recorded with the beam at $x = ja$, $y = ia$, $z = 0$, and its
# dwell starts at
#
# $$
# t_{ij} = i\,(W\tau_d + \tau_r) + j\,\tau_d .
# $$ (eq-ch01-pixel-time)
#
# Two periods follow from it: the **line period** $T_\text{line} = W\tau_d + \tau_r$ and
# the **frame time** $T_\text{frame} = H\,T_\text{line}$. `qdloc.sim.scanner.pixel_start_times_s`
# evaluates {eq}`eq-ch01-pixel-time` for every pixel.

# %%
t = pixel_start_times_s(params)
line_period_s = params.line_period_s
frame_time_s = params.frame_time_s
recording_s = params.n_pixels * params.dwell_s
duty_cycle = recording_s / frame_time_s
print(f"line period  T_line  = {line_period_s * 1e3:.4f} ms")
print(f"frame time   T_frame = {frame_time_s * 1e3:.4f} ms")
print(f"first pixel of the second line (i = 1) starts at t = {t[1, 0] * 1e3:.4f} ms")
print(
    f"last pixel (i, j) = ({params.height_px - 1}, {params.width_px - 1}) "
    f"starts at t = {t[-1, -1] * 1e3:.4f} ms"
)
print(
    f"time spent recording: {recording_s * 1e3:.4f} ms, i.e. {100 * duty_cycle:.2f} % of the frame"
)

# %% [markdown]
# Only a few percent of the frame is spent recording: the beam spends almost all its time
# retracing. That is what makes the images of a diffusing dot so peculiar — within a line
# the dot hardly moves, but between two lines it has 1.1 ms to wander (chapter 02).
#
# The figure shows the path of the beam over the pixel grid, in the style of the paper's
# Fig. 4b: each line is swept at constant speed (solid), the retrace (dashed) brings the
# beam back to the start of the next line.

# %%
# NBVAL_IGNORE_OUTPUT
ax = plots.plot_beam_path(params)
plt.show()

# %% [markdown]
# ## Two clocks
#
# The simulator samples the dot's position once per pixel, at the start of its dwell
# (sample $k = iW + j$). Consecutive samples are therefore separated by
#
# $$
# \Delta t_k = t_{k+1} - t_k =
# \begin{cases}
# \tau_d & \text{within a line (the fast clock)},\\
# \tau_d + \tau_r & \text{from the last pixel of a line to the first of the next (the slow clock)}.
# \end{cases}
# $$ (eq-ch01-two-clocks)
#
# `qdloc.sim.scanner.sample_intervals_s` builds these intervals directly; they must agree with
# the differences of {eq}`eq-ch01-pixel-time`.

# %%
dt = sample_intervals_s(params)
fast_s, slow_s = float(dt.min()), float(dt.max())
n_fast = int(np.sum(np.isclose(dt, fast_s)))
n_slow = int(np.sum(np.isclose(dt, slow_s)))
diff_err_s = float(np.max(np.abs(np.diff(t.reshape(-1)) - dt)))
print(f"fast clock: {fast_s * 1e6:.4f} us, {n_fast} intervals")
print(f"slow clock: {slow_s * 1e3:.4f} ms, {n_slow} intervals")
print(f"largest |diff(t) - intervals| = {diff_err_s:.1e} s")
assert n_fast + n_slow == params.n_pixels - 1
assert diff_err_s < 1e-15

# %% [markdown]
# The timing diagram shows the beam's $x$ and $y$ against time: a short ramp in $x$ while
# a line is recorded (red), then the long retrace (grey) during which $y$ moves on by one
# pixel. The lower panels zoom on a line change with a broken time axis. The simulator
# places the beam at the pixel centre for the whole dwell (thick steps) — the continuous
# sweep (thin line) passes through the same point in the middle of the dwell.

# %%
# NBVAL_IGNORE_OUTPUT
fig, axes = plots.plot_timing(params, n_lines=3, line=zoom_line)
plt.show()

# %% [markdown]
# ## The scan, animated
#
# The animation below follows one simulated image (seed and $D$ from the parameters cell):
# the image fills in line by line as it is recorded, while the dot (cyan) moves along its
# trajectory (yellow) from its start (green circle). Most of the dot's motion happens
# between lines, while the beam retraces. The animation is embedded as HTML, so it plays
# in the static book too.

# %%
# NBVAL_IGNORE_OUTPUT
sim = simulate(1, params, seed=seed, D=D)
anim = plots.scan_animation(sim, lines_per_frame=lines_per_frame)
HTML(anim.to_jshtml())

# %% [markdown]
# ## Results
#
# The chapter's numbers are written to `01_scanner_timing.json` in `results_dir`.

# %%
beam = beam_positions_um(params)
_, _, _, recording = beam_path_um(params)
results = {
    "line_period_s": line_period_s,
    "frame_time_s": frame_time_s,
    "recording_time_s": recording_s,
    "duty_cycle": duty_cycle,
    "fast_clock_s": fast_s,
    "slow_clock_s": slow_s,
    "n_fast_intervals": n_fast,
    "n_slow_intervals": n_slow,
    "line2_first_pixel_start_s": float(t[1, 0]),
    "last_pixel_start_s": float(t[-1, -1]),
    "checks": {
        "line2_starts_at_1.15_ms": bool(np.isclose(t[1, 0], 1.15e-3, rtol=1e-12, atol=0)),
        "frame_time_is_27.6_ms": bool(np.isclose(frame_time_s, 27.6e-3, rtol=1e-12, atol=0)),
        "intervals_are_start_time_differences": bool(diff_err_s < 1e-15),
        "beam_at_pixel_centres": bool(
            np.allclose(beam[..., 0], np.arange(params.width_px) * params.pixel_size_um)
            and np.allclose(beam[..., 1].T, np.arange(params.height_px) * params.pixel_size_um)
        ),
        "one_retrace_per_line_change": int(np.sum(np.diff(recording.astype(int)) == -1))
        == params.height_px - 1,
    },
}
path = Path(results_dir) / "01_scanner_timing.json"
path.parent.mkdir(parents=True, exist_ok=True)
atomic_write_text(path, json.dumps(results, indent=2) + "\n")
for key, value in results.items():
    print(f"{key}: {round(value, 9) if isinstance(value, float) else value}")
assert all(results["checks"].values()), results["checks"]

# %% [markdown]
# ## Exercises
#
# **1.** Microscopes often record 512 × 512 images. With the same dwell and retrace, how long
# does one such frame take, and what fraction of it is spent recording?

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
big = params.replace(height_px=512, width_px=512)
big_frame_s = big.frame_time_s
big_duty = big.n_pixels * big.dwell_s / big_frame_s
print(f"512 x 512 frame: {big_frame_s:.6f} s, recording {100 * big_duty:.2f} % of it")
assert np.isclose(big_frame_s, 512 * (512 * 2e-6 + 1.1e-3))

# %% [markdown]
# **2.** Where is the beam at $t = 10$ ms after the start of the frame: is it recording a
# pixel, or retracing? Between which lines?

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
t_query = 10e-3
recording_now = (t <= t_query) & (t_query < t + params.dwell_s)  # pixels whose dwell covers t_query
line_now = int(t_query // params.line_period_s)
into_line_s = t_query - line_now * params.line_period_s
is_retracing = into_line_s >= params.width_px * params.dwell_s
print(
    f"t = 10 ms: line {line_now}, {into_line_s * 1e3:.3f} ms after its start; "
    f"retracing: {is_retracing}"
)
print(f"pixels being recorded at that moment: {int(recording_now.sum())}")
assert is_retracing
assert line_now == 8

# %% [markdown]
# **3.** The random walk of chapter 02 has a variance proportional to the time between
# samples. What fraction of the total time between the first and the last sample of a frame
# is made of slow-clock intervals?

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
slow_fraction = float(dt[np.isclose(dt, slow_s)].sum() / dt.sum())
print(f"slow-clock share of the time from first to last sample: {100 * slow_fraction:.2f} %")
assert np.isclose(dt.sum(), t[-1, -1])
assert slow_fraction > 0.95
