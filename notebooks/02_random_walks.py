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
# runs on two clocks (chapter 01), so does the walk. This chapter follows
# {py:mod}`qdloc.sim.walk`; its checks are in {py:mod}`qdloc.study.simulator_checks`.
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

# %% tags=["hide-input"]
import numpy as np

from qdloc import PAPER, simulate
from qdloc.io import write_results
from qdloc.plots.walks import plot_msd, plot_trajectory_clocks
from qdloc.study import simulator_checks as sc

# %%
params = PAPER
print(sc.describe_walks(params, D, n_walks, seed))  # the clocks: qdloc.study.simulator_checks.two_clocks

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
print(sc.describe_step_sizes(params, D))  # sqrt(2 D dt) on each clock

# %% [markdown]
# Within a line the dot is practically frozen while the beam crosses it; from one line to
# the next it jumps by a sizeable fraction of a pixel. An image of a diffusing dot is
# therefore sharp along $x$ and smeared along $y$.
#
# {py:func}`qdloc.sim.simulate.simulate` draws the walks ({eq}`eq-ch02-step` is
# {py:func}`qdloc.sim.walk.random_walk_um`); here we only need the trajectories, so we skip the
# photons.

# %%
sim = simulate(n_walks, params, seed=seed, D=D, photons=False)
traj = sim.trajectories  # (n_walks, H*W, 3) in µm
print(f"trajectories: shape {traj.shape}")

# %% [markdown]
# One walk on both clocks: on the left its displacement from the start against time —
# samples arrive in bursts of 25 (one line, 50 µs) separated by 1.1 ms retraces; on the
# right a zoom on two lines against the sample index, where the fast-clock steps are
# barely visible next to the slow-clock jump at the line change.

# %% tags=["nbval-ignore-output"]
fig, axes = plot_trajectory_clocks(traj[example], params, D=D, line=zoom_line)

# %% [markdown]
# ## Step statistics on each clock
#
# The steps of the simulated walks should have variance $2D\Delta t$ on each clock and each
# axis. We divide the measured variances by that prediction
# ({py:func}`qdloc.study.simulator_checks.step_variance_ratios`); the ratios should be 1 within
# the sampling error, which is about $\sqrt{2/n}$ for $n$ steps (smaller for the many
# fast steps than for the few slow ones).

# %%
print(sc.describe_step_variances(traj, params, D))

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
# and likewise for $y$ and $z$. {py:func}`qdloc.sim.walk.msd_from_start` computes the ensemble
# MSD at every sample time. On log-log axes all three axes should fall on the line $2Dt$, from
# the first fast step (2 µs) to the end of the frame.

# %% tags=["nbval-ignore-output"]
ax = plot_msd(traj, params, D=D)

# %% [markdown]
# To fit $D$ we fit a line through the origin, $\mathrm{MSD}_a(t) = s_a t$, to each axis
# $a$ by least squares, $s_a = \sum_k t_k\,\mathrm{MSD}_a(t_k) / \sum_k t_k^2$, and
# combine the three axes: $D_\text{fit} = (s_x + s_y + s_z)/6$
# ({py:func}`qdloc.study.simulator_checks.msd_fit`). The late samples dominate
# the fit, and they are strongly correlated along a walk, so the precision is set by the
# number of walks (about $\sqrt{2/(3 n_\text{walks})}$ in relative terms).

# %%
fit = sc.msd_fit(traj, params)
D_fit = fit["D_fit_um2_per_s"]
print(sc.describe_msd_fit(fit, D, n_walks))

# %% [markdown]
# ## Results
#
# The chapter's numbers ({py:func}`qdloc.study.simulator_checks.random_walk_results`) are
# written to `02_random_walks.json` in `results_dir`.

# %%
results = sc.random_walk_results(traj, params, D, seed)
write_results(results_dir, "02_random_walks.json", results)
print(sc.results_text(results, digits=6))

# %% [markdown]
# ## Exercises
#
# **1.** What fraction of the variance of the dot's final displacement (at the last sample)
# comes from the slow-clock steps? Compute it from the scanner's intervals, then measure it
# on the simulated walks.

# %% [markdown]
# Solution ({py:func}`qdloc.study.simulator_checks.slow_share_of_variance`):

# %% tags=["hide-input"]
walks = traj if D > 0 else simulate(n_walks, params, seed=seed, D=1.0, photons=False).trajectories
slow_share_theory, slow_share_measured = sc.slow_share_of_variance(walks, params)
print(f"slow-clock share of the final variance: theory {slow_share_theory:.4f}, measured {slow_share_measured:.4f}")
assert abs(slow_share_measured - slow_share_theory) < 0.03

# %% [markdown]
# At D = 0 nothing moves: the solution then uses walks at 1 µm²/s, since the share does not
# depend on D.

# %% [markdown]
# **2.** The simulator's random numbers do not depend on $D$ (see {py:mod}`qdloc.sim.simulate`).
# What does that imply for $D_\text{fit}/D$ if you rerun this chapter with the same seed at
# another $D$? Check it at $2D$.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
D2 = 2 * D if D > 0 else 1.0
traj2 = simulate(n_walks, params, seed=seed, D=D2, photons=False).trajectories
ratio = sc.msd_fit(traj2, params)["D_fit_um2_per_s"] / D2
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
# Solution ({py:func}`qdloc.study.simulator_checks.lateral_rms_px`):

# %% tags=["hide-input"]
D3 = 1.75
traj3 = simulate(n_walks, params, seed=seed + 1, D=D3, photons=False).trajectories
rms_px, rms_theory_px = sc.lateral_rms_px(traj3, params, D3)
print(f"RMS lateral displacement over a frame at D = {D3}: {rms_px:.2f} px (theory {rms_theory_px:.2f} px)")
assert abs(rms_px / rms_theory_px - 1) < 0.05
del traj3
