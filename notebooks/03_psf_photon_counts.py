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
# # 03 · PSF and photon counts
#
# With the beam's position (chapter 01) and the dot's position (chapter 02) known at every
# pixel, one step remains: how many photons does each pixel record? The paper answers with
# a Gaussian point spread function plus a fluorescent background (its Eq. 1, §4.6.3), and
# Poisson noise on top. This chapter follows {py:mod}`qdloc.sim.psf` and ends with the paper's
# Fig. 1; its checks are in {py:mod}`qdloc.study.simulator_checks`, its figures in
# {py:mod}`qdloc.plots.photons`.
#
# **What you will learn**
#
# - how the paper's Eq. 1 turns the distance between beam and dot into an expected count;
# - how large the PSF is compared with a pixel, laterally and in depth;
# - how the recorded counts scatter around Eq. 1 (Poisson: variance equals mean), checked
#   on simulated images;
# - how motion blur changes the images, in a reproduction of the paper's Fig. 1 and an
#   interactive explorer.

# %% tags=["parameters"]
seed = 0  # seed of the simulated images
D = 1.0  # diffusion coefficient of the images used for the noise check, µm²/s
n_images = 2000  # images used to check the Poisson statistics
example = 0  # image shown beside its expected counts
results_dir = "../data/results"

# %% tags=["hide-input"]
import numpy as np

from qdloc import PAPER, simulate
from qdloc.io import write_results
from qdloc.plots.glue import glue_all
from qdloc.plots.photons import explorer, plot_expected_vs_counts, plot_figure1, plot_psf_slices
from qdloc.sim.psf import expected_counts
from qdloc.study import simulator_checks as sc

# %%
params = PAPER
print(sc.describe_psf_params(params))

# %% [markdown]
# ## The paper's Eq. 1
#
# Near the focus, the square of the laser intensity (two photons are absorbed at once) is
# approximately a 3D Gaussian with standard deviations $\sigma_{xy}$ in the focal plane and
# $\sigma_z$ along the optical axis. With the dot at $(X, Y, Z)$ and the beam at
# $(x, y, z)$, the expected number of photons recorded in a pixel is
#
# $$
# N = \frac{N_{qd}}{2\pi\sigma_{xy}^2} \exp\left(-\frac{(X-x)^2 + (Y-y)^2}{2\sigma_{xy}^2}\right)
# \cdot \frac{1}{\sqrt{2\pi}\sigma_z} \exp\left(-\frac{(Z-z)^2}{2\sigma_z^2}\right) + N_{bkg}
# $$ (eq-ch03-eq1)
#
# with the paper's measured $\sigma_{xy} = 0.21$ µm, $\sigma_z = 1.36$ µm and
# $N_{bkg} = 8.4$. The paper does not give $N_{qd}$ ("adjusted to imitate the
# signal-to-noise ratio of the brain images"); `qdloc` uses a calibrated value
# (see the notation page). Because the Gaussian factors are normalised densities,
# $N_{qd}$ has units of photons·µm³ and the peak signal, with the dot at the beam, is
# $N_{qd} / \left((2\pi)^{3/2}\sigma_{xy}^2\sigma_z\right)$.
#
# In the simulator the beam is at $z = 0$ and at the pixel centre during the whole dwell,
# and the dot's position is the trajectory sample of that pixel
# ({py:func}`qdloc.sim.psf.expected_counts`). For a dot that does not move,
# {py:func}`qdloc.sim.psf.expected_counts_static` gives the whole image;
# {py:func}`qdloc.study.simulator_checks.psf_summary` collects the PSF's numbers.

# %%
psf = sc.psf_summary(params)
peak_signal = psf["peak_signal_counts"]
print(sc.describe_psf(psf, params))
glue_all({"fwhm_xy_px": psf["fwhm_xy_px"], "fwhm_z_over_xy": psf["fwhm_z_um"] / psf["fwhm_xy_um"]})

# %% [markdown]
# The PSF is {glue:text}`fwhm_xy_px:.1f` pixels wide (FWHM) in the image plane, and
# {glue:text}`fwhm_z_over_xy:.1f` times longer along the optical axis (the paper's Fig. 4c): a dot
# that diffuses a few hundred nm in depth during a frame stays in focus. The slices of Eq.
# {eq}`eq-ch03-eq1` below are computed by {py:mod}`qdloc.sim.psf` on fine grids; the red dots on the
# lateral profile are the pixels of one scan line through a static dot.

# %% tags=["nbval-ignore-output"]
fig, axes = plot_psf_slices(params)

# %% [markdown]
# ## Poisson noise
#
# A pixel does not record $N$ photons but a random count $n$ with a Poisson distribution of
# mean $N$:
#
# $$
# P(n \mid N) = \frac{N^n e^{-N}}{n!}, \qquad \langle n \rangle = N,
# \qquad \operatorname{Var}(n) = N .
# $$ (eq-ch03-poisson)
#
# With these parameters the noise is strong: the background alone fluctuates by
# $\sqrt{N_{bkg}}$ photons per pixel, a sizeable fraction of the peak signal.

# %%
print(sc.describe_noise(psf))

# %% [markdown]
# Below, the expected counts of one simulated image (Eq. {eq}`eq-ch03-eq1` along its
# trajectory) next to the Poisson draw that the simulator recorded, on one colour scale.

# %%
sim = simulate(n_images, params, seed=seed, D=D)
traj = sim.trajectories[example]
expected = expected_counts(traj[None], params)[0]  # (H, W)

# %% tags=["nbval-ignore-output"]
fig, axes = plot_expected_vs_counts(expected, sim.images[example], params, traj_um=traj)

# %% [markdown]
# ### Checking the counts against Eq. 1
#
# Over all pixels of the `n_images` simulated images, the counts should average to Eq. 1,
# and the residuals $n - N$ should have variance $\langle N \rangle$
# (Eq. {eq}`eq-ch03-poisson`). We also look separately at background pixels (signal below
# $10^{-3}$ photons), where $n$ should be Poisson($N_{bkg}$), and at bright pixels
# ($N \ge N_{bkg} + 5$); {py:func}`qdloc.study.simulator_checks.counts_vs_eq1` does the
# bookkeeping.

# %%
check, dispersion = sc.counts_vs_eq1(sim)
print(sc.describe_counts(check, dispersion))

# %% [markdown]
# ## The paper's Fig. 1
#
# Four simulated images with $D = 0$, 0.75, 1 and 1.75 µm²/s (images 0–3 of the seed's
# stream, so each has its own start position). As in the paper, the green circle marks the
# start of the trajectory and the cyan circle its end; the red cross is the label, the
# trajectory centroid. Panel (a), a dot that does not move, shows the PSF with noise.
# With increasing $D$ the bright pixels spread along the slow scan axis ($y$) and stop
# coinciding with the centroid.

# %%
fig1_D = [0.0, 0.75, 1.0, 1.75]
fig1 = simulate(len(fig1_D), params, seed=seed, D=fig1_D)

# %% tags=["nbval-ignore-output"]
fig, axes = plot_figure1(fig1)

# %%
fig1_numbers = sc.figure1_summary(fig1)
print(sc.figure1_table(fig1).round(2).to_string())

# %% [markdown]
# ## Explore
#
# The explorer below ({py:func}`qdloc.plots.photons.explorer`) simulates image 0 of a seed for
# the $D$ and $N_{qd}$ you choose and draws it with its trajectory. It needs a live kernel (run
# this notebook in Jupyter): in the static book the sliders are not connected to Python and
# nothing is drawn.

# %% tags=["nbval-ignore-output"]
explorer(params, D=D, seed=seed)

# %% [markdown]
# ## Results
#
# The chapter's numbers are written to `03_psf_photon_counts.json` in `results_dir`.

# %%
results = sc.psf_photon_results(params, psf, (check, dispersion), fig1_numbers, seed=seed, D=D, n_images=n_images)
write_results(results_dir, "03_psf_photon_counts.json", results)
print(sc.results_text(results, digits=4))
assert abs(check["all"]["mean_measured"] / check["all"]["mean_eq1"] - 1) < 0.01
assert abs(dispersion - 1) < 0.02

# %% [markdown]
# ## Exercises
#
# **1.** A dot that wanders out of the focal plane fades. At what depth $|Z|$ does the peak
# signal of a static dot drop to half its in-focus value? Derive it from
# Eq. {eq}`eq-ch03-eq1` and check it with `expected_counts_static`.

# %% [markdown]
# Solution ({py:func}`qdloc.study.simulator_checks.half_signal_depth`):

# %% tags=["hide-input"]
z_half, signal_there = sc.half_signal_depth(params)  # expected_counts_static at the centre pixel, depth z_half
print(f"|Z| = sigma_z sqrt(2 ln 2) = {z_half:.4f} um")
print(f"peak signal there: {signal_there:.4f} photons (in focus: {peak_signal:.4f})")
assert np.isclose(signal_there, peak_signal / 2, rtol=1e-9)

# %% [markdown]
# **2.** How many signal photons does a static, in-focus dot contribute to a whole image on
# average, and how does that compare with the background photons of the image? Compare the
# sum over pixels with the integral of Eq. {eq}`eq-ch03-eq1` divided by the pixel area,
# $N_{qd} / (a^2 \sqrt{2\pi}\,\sigma_z)$.

# %% [markdown]
# Solution ({py:func}`qdloc.study.simulator_checks.signal_budget`):

# %% tags=["hide-input"]
budget = sc.signal_budget(params)
print(f"signal photons per image: {budget['signal_total']:.2f} (integral / a^2: {budget['signal_integral']:.2f})")
print(f"background photons per image: {budget['background_total']:.1f}")
assert abs(budget["signal_total"] / budget["signal_integral"] - 1) < 0.01

# %% [markdown]
# **3.** Does motion blur dim the brightest pixel? Using the same seed (so the same start
# positions and the same random steps), compare at $D = 0$ and $D = 1.75$ µm²/s the mean
# brightest expected signal of an image, and the mean distance between its brightest
# expected pixel and the label (the trajectory centroid).

# %% [markdown]
# Solution ({py:func}`qdloc.study.simulator_checks.motion_blur_effect`):

# %% tags=["hide-input"]
blur = sc.motion_blur_effect(params, D_values=(0.0, 1.75), n=500, seed=seed)
print(blur.round(3).to_string())
assert blur.loc[1.75, "brightest_signal"] / blur.loc[0.0, "brightest_signal"] > 0.9
assert blur.loc[1.75, "brightest_to_centroid_px"] > 2 * blur.loc[0.0, "brightest_to_centroid_px"]

# %% [markdown]
# The dot is frozen while a line is scanned, so some pixel still catches nearly the full peak;
# what blur changes is *where* the bright pixels are, relative to the centroid.
