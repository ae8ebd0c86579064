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
# # 02 · Random walks on two clocks
#
# While the beam scans, the quantum dot diffuses in the brain's extracellular space. The
# paper models this as a Brownian random walk in 3D (§4.6.2), sampled once per pixel so
# that the dot's position is known whenever the beam records a photon. Because the scan
# runs on two clocks (chapter 01), so does the walk. This chapter follows `qdloc.sim.walk`.
#
# **What you will learn**
#
# - how a random walk is built from Gaussian steps of variance $2D\Delta t$ per axis;
# - why the steps within a line are tiny and the steps between lines are large;
# - how to check a simulator against the law $\mathrm{MSD}(t) = 2Dt$, and fit $D$ back from
#   an ensemble of walks.

# %% tags=["parameters"]
seed = 0  # seed of the simulated walks
D = 1.0  # diffusion coefficient, µm²/s
n_walks = 5000  # walks in the ensemble used for the MSD and the step statistics
example = 0  # which walk of the ensemble to plot
zoom_line = 5  # the zoom shows this line and the next
results_dir = "../data/results"

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from qdloc import PAPER, simulate
from qdloc.plots import simulator as plots
from qdloc.io import atomic_write_text
from qdloc.sim.scanner import sample_intervals_s
from qdloc.sim.walk import msd_from_start, sample_times_s

params = PAPER
dt = sample_intervals_s(params)
fast_s, slow_s = params.dwell_s, params.dwell_s + params.retrace_s
fast = np.isclose(dt, fast_s)
slow = np.isclose(dt, slow_s)
print(f"D = {D} um^2/s, {n_walks} walks of {params.n_pixels} samples, seed {seed}")
print(
    f"fast clock {fast_s * 1e6:.1f} us ({fast.sum()} steps), "
    f"slow clock {slow_s * 1e3:.3f} ms ({slow.sum()} steps)"
)

# %% [markdown]
# ## Brownian steps
#
# Each coordinate of the dot performs an independent random walk. Between consecutive
# samples $k$ and $k+1$, separated by $\Delta t_k$ (Eq. {eq}`eq-ch01-two-clocks` of chapter 01),
# the dot takes a Gaussian step
#
# $$
# \mathbf r_{k+1} = \mathbf r_k + \sqrt{2D\,\Delta t_k}\;\boldsymbol\xi_k ,
# \qquad \boldsymbol\xi_k \sim \mathcal N(\mathbf 0, \mathbf I_3),
# $$ (eq-ch02-step)
#
# which is the paper's "cumulatively adding normally-distributed random numbers
# $\mathcal N(0, \sigma^2)$ with $\sigma^2 = 2D\delta t$", with $\delta t$ taking the two values
# of the scanner's clocks. The standard deviations of the two kinds of steps are very
# different:

# %%
sd_fast_nm = np.sqrt(2 * D * fast_s) * 1e3
sd_slow_nm = np.sqrt(2 * D * slow_s) * 1e3
print(f"step sd within a line (fast clock):   {sd_fast_nm:.3f} nm")
print(f"step sd between lines (slow clock):   {sd_slow_nm:.3f} nm")
print(f"pixel size:                           {params.pixel_size_um * 1e3:.0f} nm")

# %% [markdown]
# Within a line the dot is practically frozen while the beam crosses it; from one line to
# the next it jumps by a sizeable fraction of a pixel. An image of a diffusing dot is
# therefore sharp along $x$ and smeared along $y$.
#
# `qdloc.sim.simulate` draws the walks ({eq}`eq-ch02-step` is `qdloc.sim.walk.random_walk_um`);
# here we only need the trajectories, so we skip the photons.

# %%
sim = simulate(n_walks, params, seed=seed, D=D, photons=False)
traj = sim.trajectories  # (n_walks, H*W, 3) in µm
print(f"trajectories: shape {traj.shape}")

# %% [markdown]
# One walk on both clocks: on the left its displacement from the start against time —
# samples arrive in bursts of 25 (one line, 50 µs) separated by 1.1 ms retraces; on the
# right a zoom on two lines against the sample index, where the fast-clock steps are
# barely visible next to the slow-clock jump at the line change.

# %%
# NBVAL_IGNORE_OUTPUT
fig, axes = plots.plot_trajectory_clocks(traj[example], params, D=D, line=zoom_line)
plt.show()

# %% [markdown]
# ## Step statistics on each clock
#
# The steps of the simulated walks should have variance $2D\Delta t$ on each clock and each
# axis. We divide the measured variances by that prediction; the ratios should be 1 within
# the sampling error, which is about $\sqrt{2/n}$ for $n$ steps (smaller for the many
# fast steps than for the few slow ones).

# %%
steps = np.diff(traj, axis=1)  # (n_walks, H*W - 1, 3)
step_var_ratio = {}
for clock, mask, dt_clock in (("fast", fast, fast_s), ("slow", slow, slow_s)):
    var = steps[:, mask, :].reshape(-1, 3).var(axis=0)
    step_var_ratio[clock] = {
        ax: (float(var[c] / (2 * D * dt_clock)) if D > 0 else None) for c, ax in enumerate("xyz")
    }
    n_steps = int(mask.sum()) * n_walks
    shown = {
        ax: (round(v, 3) if v is not None else None) for ax, v in step_var_ratio[clock].items()
    }
    print(
        f"{clock} clock: var / (2 D dt) = {shown}  "
        f"(n = {n_steps} steps per axis, sd ~ {np.sqrt(2 / n_steps):.3f})"
    )
del steps

# %% [markdown]
# ## Mean squared displacement
#
# Summing the independent steps, the displacement from the start after a time $t$ is
# Gaussian with variance $2Dt$ per axis, whatever the mix of clocks that led there:
#
# $$
# \mathrm{MSD}_x(t) = \left\langle \left(x(t) - x(0)\right)^2 \right\rangle = 2Dt ,
# $$ (eq-ch02-msd)
#
# and likewise for $y$ and $z$. `qdloc.sim.walk.msd_from_start` computes the ensemble MSD at
# every sample time. On log-log axes all three axes should fall on the line $2Dt$, from
# the first fast step (2 µs) to the end of the frame.

# %%
# NBVAL_IGNORE_OUTPUT
ax = plots.plot_msd(traj, params, D=D)
plt.show()

# %% [markdown]
# To fit $D$ we fit a line through the origin, $\mathrm{MSD}_a(t) = s_a t$, to each axis
# $a$ by least squares, $s_a = \sum_k t_k\,\mathrm{MSD}_a(t_k) / \sum_k t_k^2$, and
# combine the three axes: $D_\text{fit} = (s_x + s_y + s_z)/6$. The late samples dominate
# the fit, and they are strongly correlated along a walk, so the precision is set by the
# number of walks (about $\sqrt{2/(3 n_\text{walks})}$ in relative terms).

# %%
t = sample_times_s(params)
msd = msd_from_start(traj)  # (H*W, 3) µm²
slopes = (t @ msd) / (t @ t)  # per axis, µm²/s
D_fit = float(slopes.mean() / 2)
msd_slope = {ax: float(slopes[c]) for c, ax in enumerate("xyz")}
print(
    "MSD slope per axis (um^2/s):",
    {ax: round(v, 4) for ax, v in msd_slope.items()},
    f" expected 2D = {2 * D:.4f}",
)
print(
    f"D_fit = {D_fit:.4f} um^2/s (D = {D}); D_fit / D = {D_fit / D if D > 0 else float('nan'):.4f}"
)
print(f"expected relative sd of D_fit for {n_walks} walks: about {np.sqrt(2 / (3 * n_walks)):.4f}")

# %% [markdown]
# ## Results
#
# The chapter's numbers are written to `02_random_walks.json` in `results_dir`.

# %%
results = {
    "seed": seed,
    "n_walks": n_walks,
    "D_um2_per_s": D,
    "fast_clock_s": fast_s,
    "slow_clock_s": slow_s,
    "step_sd_fast_nm": float(sd_fast_nm),
    "step_sd_slow_nm": float(sd_slow_nm),
    "msd_slope_um2_per_s": msd_slope,
    "msd_slope_expected_um2_per_s": 2 * D,
    "D_fit_um2_per_s": D_fit,
    "D_fit_over_D": (D_fit / D) if D > 0 else None,
    "step_var_over_2DDt": step_var_ratio,
    "msd_end_um2": {ax: float(msd[-1, c]) for c, ax in enumerate("xyz")},
    "msd_end_expected_um2": float(2 * D * t[-1]),
}
path = Path(results_dir) / "02_random_walks.json"
path.parent.mkdir(parents=True, exist_ok=True)
atomic_write_text(path, json.dumps(results, indent=2) + "\n")


def rounded(v, nd=4):
    if isinstance(v, dict):
        return {k: rounded(x, nd) for k, x in v.items()}
    return round(v, nd) if isinstance(v, float) else v


for key, value in results.items():
    print(f"{key}: {rounded(value, 6)}")

# %% [markdown]
# ## Exercises
#
# **1.** What fraction of the variance of the dot's final displacement (at the last sample)
# comes from the slow-clock steps? Compute it from the scanner's intervals, then measure it
# on the simulated walks.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
slow_share_theory = float(dt[slow].sum() / dt.sum())
# (at D = 0 nothing moves: use walks at 1 µm²/s instead; the share does not depend on D)
walks = traj if D > 0 else simulate(n_walks, params, seed=seed, D=1.0, photons=False).trajectories
final = walks[:, -1] - walks[:, 0]  # (n_walks, 3)
jumps = np.diff(walks, axis=1)[:, slow, :].sum(axis=1)  # displacement due to slow steps only
slow_share_measured = float(np.mean(jumps**2) / np.mean(final**2))
print(
    f"slow-clock share of the final variance: theory {slow_share_theory:.4f}, "
    f"measured {slow_share_measured:.4f}"
)
assert abs(slow_share_measured - slow_share_theory) < 0.03

# %% [markdown]
# **2.** The simulator's random numbers do not depend on $D$ (see `qdloc.sim.simulate`). What does
# that imply for $D_\text{fit}/D$ if you rerun this chapter with the same seed at another
# $D$? Check it at $2D$.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
D2 = 2 * D if D > 0 else 1.0
traj2 = simulate(n_walks, params, seed=seed, D=D2, photons=False).trajectories
D_fit2 = float(((t @ msd_from_start(traj2)) / (t @ t)).mean() / 2)
ratio = D_fit2 / D2
print(f"D_fit / D at D = {D2:g}: {ratio:.6f}")
if D > 0:
    # every trajectory is the same start plus sqrt(D) times the same steps: the ratio is identical
    print(f"same ratio as at D = {D:g}: {np.isclose(ratio, D_fit / D, rtol=1e-9)}")
    assert np.isclose(ratio, D_fit / D, rtol=1e-9)
del traj2

# %% [markdown]
# **3.** The paper's largest diffusion coefficient is 1.75 µm²/s. How far, in pixels,
# does the dot typically move *in the image plane* during one frame (root mean square of the
# lateral displacement between the first and the last sample)? Compare with
# $\sqrt{2 \cdot 2D t}/a$.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
D3 = 1.75
traj3 = simulate(n_walks, params, seed=seed + 1, D=D3, photons=False).trajectories
lateral = traj3[:, -1, :2] - traj3[:, 0, :2]
rms_px = float(np.sqrt(np.mean(np.sum(lateral**2, axis=1)))) / params.pixel_size_um
rms_theory_px = float(np.sqrt(4 * D3 * t[-1])) / params.pixel_size_um
print(
    f"RMS lateral displacement over a frame at D = {D3}: {rms_px:.2f} px "
    f"(theory {rms_theory_px:.2f} px)"
)
assert abs(rms_px / rms_theory_px - 1) < 0.05
del traj3
