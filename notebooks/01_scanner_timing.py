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
# the paper's §4.6.1 and the module {py:mod}`qdloc.sim.scanner`.
#
# **What you will learn**
#
# - how the raster scan visits the $H \times W$ pixels, and when each pixel's dwell starts;
# - why the scan runs on two clocks: a fast one (the dwell, 2 µs) and a slow one
#   (the line change, one dwell plus the 1.1 ms retrace);
# - how little of the frame time is spent recording photons;
# - how to draw the beam path, a timing diagram and an animation of the scan with
#   {py:mod}`qdloc.plots.scanner`.

# %% tags=["parameters"]
seed = 0  # seed of the simulated image shown in the animation
D = 1.0  # diffusion coefficient of the dot in the animation, µm²/s
lines_per_frame = 1  # scan lines per animation frame
zoom_line = 0  # the timing diagram zooms on the change from this line to the next
results_dir = "../data/results"

# %% tags=["hide-input"]
import numpy as np
from IPython.display import HTML

from qdloc import PAPER, simulate
from qdloc.io import write_results
from qdloc.plots.glue import glue_all
from qdloc.plots.scanner import plot_beam_path, plot_timing, scan_animation
from qdloc.sim.scanner import beam_state_at, pixel_start_times_s, sample_intervals_s
from qdloc.study import simulator_checks as sc

# %%
params = PAPER
print(sc.describe_scan(params))

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
# the **frame time** $T_\text{frame} = H\,T_\text{line}$.
# {py:func}`qdloc.sim.scanner.pixel_start_times_s` evaluates {eq}`eq-ch01-pixel-time` for every
# pixel; {py:func}`qdloc.study.simulator_checks.scanner_timing` collects the chapter's numbers
# and checks.

# %%
t = pixel_start_times_s(params)
timing = sc.scanner_timing(params)
print(sc.describe_timing(timing, params))
glue_all({"duty_pct": 100 * timing["duty_cycle"], "retrace_ms": 1e3 * params.retrace_s})

# %% [markdown]
# Only {glue:text}`duty_pct:.1f` % of the frame is spent recording: the beam spends almost all its time
# retracing. That is what makes the images of a diffusing dot so peculiar — within a line
# the dot hardly moves, but between two lines it has {glue:text}`retrace_ms:g` ms to wander (chapter 02).
#
# The figure shows the path of the beam over the pixel grid, in the style of the paper's
# Fig. 4b: each line is swept at constant speed (solid), the retrace (dashed) brings the
# beam back to the start of the next line.

# %% tags=["nbval-ignore-output"]
ax = plot_beam_path(params)

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
# {py:func}`qdloc.sim.scanner.sample_intervals_s` builds these intervals directly; they must
# agree with the differences of {eq}`eq-ch01-pixel-time`.

# %%
dt = sample_intervals_s(params)
print(sc.describe_clocks(timing))
assert timing["n_fast_intervals"] + timing["n_slow_intervals"] == params.n_pixels - 1
assert timing["checks"]["intervals_are_start_time_differences"]

# %% [markdown]
# The timing diagram shows the beam's $x$ and $y$ against time: a short ramp in $x$ while
# a line is recorded (red), then the long retrace (grey) during which $y$ moves on by one
# pixel. The lower panels zoom on a line change with a broken time axis. The simulator
# places the beam at the pixel centre for the whole dwell (thick steps) — the continuous
# sweep (thin line) passes through the same point in the middle of the dwell.

# %% tags=["nbval-ignore-output"]
fig, axes = plot_timing(params, n_lines=3, line=zoom_line)

# %% [markdown]
# ## The scan, animated
#
# The animation below follows one simulated image (seed and $D$ from the parameters cell):
# the image fills in line by line as it is recorded, while the dot (cyan) moves along its
# trajectory (yellow) from its start (green circle). Most of the dot's motion happens
# between lines, while the beam retraces. The animation is embedded as HTML, so it plays
# in the static book too.

# %% tags=["nbval-ignore-output"]
sim = simulate(1, params, seed=seed, D=D)
anim = scan_animation(sim, lines_per_frame=lines_per_frame)
HTML(anim.to_jshtml())

# %% [markdown]
# ## Results
#
# The chapter's numbers are written to `01_scanner_timing.json` in `results_dir`.

# %%
write_results(results_dir, "01_scanner_timing.json", timing)
print(sc.results_text(timing, digits=9))
assert all(timing["checks"].values()), timing["checks"]

# %% [markdown]
# ## Exercises
#
# **1.** Microscopes often record 512 × 512 images. With the same dwell and retrace, how long
# does one such frame take, and what fraction of it is spent recording?

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
big = sc.scanner_timing(params.replace(height_px=512, width_px=512))
print(f"512 x 512 frame: {big['frame_time_s']:.6f} s, recording {100 * big['duty_cycle']:.2f} % of it")
assert np.isclose(big["frame_time_s"], 512 * (512 * 2e-6 + 1.1e-3))

# %% [markdown]
# **2.** Where is the beam at $t = 10$ ms after the start of the frame: is it recording a
# pixel, or retracing? Between which lines?

# %% [markdown]
# Solution ({py:func}`qdloc.sim.scanner.beam_state_at` applies {eq}`eq-ch01-pixel-time`):

# %% tags=["hide-input"]
state = beam_state_at(params, 10e-3)
print(sc.describe_beam_state(state, 10e-3))
assert state["retracing"]
assert state["line"] == 8

# %% [markdown]
# **3.** The random walk of chapter 02 has a variance proportional to the time between
# samples. What fraction of the total time between the first and the last sample of a frame
# is made of slow-clock intervals?

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
slow_fraction = float(dt[np.isclose(dt, timing["slow_clock_s"])].sum() / dt.sum())
print(f"slow-clock share of the time from first to last sample: {100 * slow_fraction:.2f} %")
assert np.isclose(dt.sum(), t[-1, -1])
assert slow_fraction > 0.95
