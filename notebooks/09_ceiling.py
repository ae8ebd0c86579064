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
# # 09 · How good can it get: the posterior ceiling
#
# Chapter 06 scored three localisers on the paper's test sets and set them against the paper's
# FCNN; chapter 05 compared the compact network with the Cramér-Rao bound of a *still* dot, a
# floor that ignores the motion that makes these images hard. Neither says how good any
# localiser could possibly be. Here the images come from a model we know exactly
# ({py:mod}`qdloc.sim`), so the best possible answer is computable: the posterior of the label,
# the trajectory's centroid, given the photon counts. This chapter scores that posterior on the
# same test sets as Table 1, the **ceiling** of the table, and measures every method's distance
# to it. The localiser is {py:mod}`qdloc.localise.bayes`, the study
# {py:mod}`qdloc.study.ceiling` and the figures {py:mod}`qdloc.plots.ceiling`.
#
# **What you will learn**
#
# - how a raster-scanned image of a diffusing dot is a hidden Markov model, and how forward
#   filtering and backward sampling give exact draws of the centroid's posterior;
# - why one position per scan line is enough, and what that approximation was measured to cost;
# - how far TrackPy, our Keypoint R-CNN, the compact network and the paper's FCNN are from the
#   ceiling, cell by cell, with standard errors;
# - whether the paper's FCNN row is reachable at our calibrated $N_{qd}$, and what the ceiling
#   says about the brightness of the paper's (unstated) dot.
#
# This chapter reads `table1.json`, which chapter 06 writes: run chapter 06 first.

# %% tags=["parameters"]
seed = 0  # seed of the posterior draws and of the bootstrap resamples
results_dir = "../data/results"  # reads table1.json (chapter 06), writes 09_ceiling.json
n_per_set = None  # images per test set (None: the paper's sizes, 2570 / 2410 / 1870)
n_samples = 256  # posterior draws per image
n_boot = 200  # bootstrap resamples per cell
k_se = 2.0  # "beyond its standard error": more than k_se standard errors
nqd_grid = [3.0, 4.5, 6.0, 7.5, 10.0, 13.0]  # N_qd values of the ceiling's brightness scan
n_scan = 250  # fresh images per (N_qd, D) point of the scan
scan_seed = 90  # their seed (the same walks at every point; not a training or test seed)
cost_D = 1.75  # D of the line-level check, um^2/s (the fastest test set: the hardest case)
n_cost = 60  # images of the line-level check

# %% tags=["hide-input"]
import time
from pathlib import Path

import pandas as pd

from qdloc import PAPER
from qdloc.io import write_results
from qdloc.plots import ceiling as pc
from qdloc.plots.glue import glue_all
from qdloc.study import ceiling as ce, table1 as t1
from qdloc.study.calibration import read_table1

pd.set_option("display.width", 150)
scales = ce.scan_scales(PAPER, D=1.0)
glue_all(scales | {"n_boot": n_boot})
print(pd.Series(scales).round(3).to_string())

# %% [markdown]
# ## The posterior of a raster scan
#
# The scan sees the dot one pixel at a time. Between two pixels the dot takes a Gaussian step
# of variance $2D\,\Delta t$ per axis, where $\Delta t$ runs on the scanner's two clocks: the
# pixel dwell within a line, the retrace between lines (chapter 01). Each pixel's count is
# Poisson around Eq. 1, the background plus the dot's PSF at its position (chapter 03). So
# with the dot's position as a **hidden state** and the counts as **observations**, an image
# is a hidden Markov model, and on a grid of positions its posterior is exact:
#
# - **State**: $s_i$, the dot's $(x, y)$ at the middle of line $i$, on a grid of half-pixel
#   cells that covers the start box and the walk; its prior at line 0 is the simulator's
#   start distribution moved by the walk.
# - **Steps**: from one line's middle to the next, exactly one line period passes, so
#   $s_{i+1} - s_i$ is Gaussian with variance $2D$ times the line period per axis: a
#   separable convolution on the grid.
# - **Observations**: line $i$'s $W$ counts are Poisson around Eq. 1 with the dot held at
#   $s_i$ during the line.
# - **z** only changes the brightness ($\sigma_z$ = {glue:text}`sigma_z:g` µm against a walk of
#   a fraction of a micrometre): it is marginalised over its start and its expected walk.
#
# Forward filtering (the likelihood of every cell, one line at a time) and backward sampling
# give exact draws of the line-level trajectory, hence of the label: the centroid is the
# mean of the line means, each the line's $s_i$ plus an exactly known within-line jitter
# ({py:func}`qdloc.localise.bayes.posterior_centroid_samples`).
#
# What is the best estimate? A prediction scores at tolerance $\varepsilon$ when it lies
# within $\varepsilon$ of the label, so the best single estimate is the point with the
# largest posterior mass within $\varepsilon$, and the best score to rank the images by is
# that mass, the probability of a hit ({py:func}`qdloc.localise.bayes.summarise_samples`).
# The estimate therefore depends on $\varepsilon$: one set of draws per image, one estimate
# per tolerance ({py:func}`qdloc.study.ceiling.ceiling_predictions`).
#
# **Why one position per line is enough.** Within a line, which lasts {glue:text}`line_us:g` µs,
# the dot moves about {glue:text}`line_move_nm:.0f` nm per axis at D = 1 µm²/s, against a PSF
# of $\sigma_{xy}$ = {glue:text}`psf_nm:.0f` nm; from one line to the next
# {glue:text}`period_ms:.2f` ms pass. The line-level model
# ignores the within-line motion in the likelihood. What that costs is measurable: complete
# each line-level draw into a full trajectory and reweigh it by the pixel-level likelihood
# over the line-level one ({py:func}`qdloc.study.ceiling.line_level_cost`). If the line-level
# posterior were wrong, the weights would be uneven (few effective draws) and would move the
# posterior mean.

# %%
cost = ce.line_level_cost(PAPER, cost_D, n=n_cost, seed=seed)
print(f"D = {cost_D} um^2/s, {n_cost} images: pixel-level weights keep {cost['ess_fraction']:.0%} "
      f"of the draws (median), move the posterior mean by {cost['shift_sd']:.2f} posterior sd")
assert cost["ess_fraction"] > 0.7, cost
assert cost["shift_sd"] < 0.15, cost

# %% [markdown]
# At the fastest test set the pixel-level weights keep {glue:text}`cost_ess:.0%` of the
# draws and move the posterior mean by {glue:text}`cost_shift:.2f` posterior standard
# deviations (with 64 draws per image, part of that shift is Monte Carlo noise): the line-level
# posterior is, for these images, the pixel-level one. `tests/test_bayes.py` adds the other
# side: with much slower lines (100-µs dwells) the same check sees the approximation fail.
#
# ## The ceiling of Table 1
#
# The paper's three test sets, simulated in memory exactly as chapter 06 does (same seeds,
# the full sizes unless `n_per_set` says otherwise), localised by the posterior with the
# calibrated parameters and each set's own $D$. Each cell's standard error comes from
# {glue:text}`n_boot` bootstrap resamples of the images ({py:func}`qdloc.study.ceiling.ceiling_cells`).

# %%
test = t1.simulate_test_sets(PAPER, n_per_set)
t0 = time.perf_counter()
cells = ce.ceiling_cells(test, PAPER, n_samples=n_samples, seed=seed, n_boot=n_boot)
elapsed = time.perf_counter() - t0
table1 = read_table1(Path(results_dir) / "table1.json")
print(pd.concat([t1.all_rows(table1), t1.rows_table({ce.CEILING_NAME: ce.cells_row(cells),
      "ceiling SE (bootstrap)": ce.cells_row(cells, "se")})]).round(3).to_string())
assert cells.auc.between(0, 1).all()
assert (cells.groupby("D_um2_per_s").auc.diff().dropna() > 0).all()  # rises with the tolerance
if n_per_set is None:  # falls with D at every tolerance (at 210 nm by little: small sets may not show it)
    assert (cells.groupby("eps_nm").auc.diff().dropna() < 0).all()

# %% tags=["nbval-ignore-output"]
n_images = int(cells.drop_duplicates("D_um2_per_s")["n"].sum())
print(f"{n_images} images in {elapsed:.0f} s: {n_images / elapsed:.0f} images/s "
      f"(posterior, {n_samples} draws, one thread, and {n_boot} bootstrap resamples per cell)")

# %% [markdown]
# The ceiling rises with the tolerance and falls with $D$, like every row. At 70 nm even the
# exact posterior places the estimate within the tolerance in only
# {glue:text}`ceil_70_D1:.2f` of the D = 1 images (AUC): the counts do not pin down where a
# dot that moved about {glue:text}`frame_move_nm:.0f` nm per axis during the scan was *on
# average*. At 210 nm it is at least
# {glue:text}`ceil_210_min:.2f` in every set.
#
# The bootstrap error is larger than the binomial error of a fraction of hits,
# $\sqrt{a(1-a)/n}$, by up to a factor {glue:text}`se_ratio_max:.2f` (the AUC also depends
# on the ranking). The errors of our rows are chapter 06's bootstrap errors where
# `table1.json` stores them ({glue:text}`n_rows_boot` of our 3 rows here), else binomial ones
# ({py:func}`qdloc.study.ceiling.binomial_se`), a little small.
#
# ## How far each method is from the ceiling
#
# Ceiling minus each row, cell by cell (positive: below the ceiling), and the same in units
# of the difference's standard error ({py:func}`qdloc.study.ceiling.distance_table`; the
# paper's FCNN was scored on its own sets of the same sizes, and its two decimals add a
# rounding error). A row **exceeds** the ceiling when it is above it by more than `k_se`
# standard errors.

# %%
dist = ce.distance_table(table1, cells, k_se=k_se)
print("ceiling minus row:\n" + ce.distance_wide(dist).round(3).to_string())
print("\nrow minus ceiling, in standard errors:\n" + ce.distance_wide(dist, "z").round(1).to_string())
reach = ce.reachability(dist, k_se=k_se)
scan = ce.ceiling_vs_nqd(nqd_grid, list(test), n_scan, scan_seed, PAPER, n_samples=n_samples)
meet = ce.nqd_meeting(scan, table1["paper"]["FCNN"], k_se=k_se)
v = ce.prose_values(cells, dist, reach, meet)
glue_all(v | {"cost_ess": cost["ess_fraction"], "cost_shift": cost["shift_sd"], "k_se": k_se,
              "nqd_cal": PAPER.n_qd, "co_over_max": max(0.0, -v["dist_min_co"])})
assert v["se_ratio_max"] > 1
if n_per_set is None:  # the same images as the rows of table1.json (chapter 06: the full sets)
    assert v["n_exceed"] == 0  # no row above the ceiling beyond its errors
    assert v["dist_min_tp"] > 0.2
    assert v["z_max_kr"] < -k_se
    assert v["absz_max_co"] < k_se  # the compact network: at the ceiling, within the errors

# %% [markdown]
# TrackPy is far below the ceiling everywhere, by {glue:text}`dist_min_tp:.2f` to
# {glue:text}`dist_max_tp:.2f`: its brightest-spot estimate throws away what the posterior
# uses, the whole path's worth of counts. Our Keypoint R-CNN, trained from scratch in the
# reduced profile, is {glue:text}`dist_min_kr:.2f` to {glue:text}`dist_max_kr:.2f` below,
# and more than `k_se` = {glue:text}`k_se:g` standard errors below in every
# cell. The **compact network is at the ceiling**: within {glue:text}`dist_max_co:.3f` of it
# in every cell and within {glue:text}`absz_max_co:.1f` standard errors; where it is above it
# (by at most {glue:text}`co_over_max:.3f`), that is noise, for the ceiling is exact only up
# to its draws (a Monte Carlo mass ranks the images a little worse than the exact one) and
# both are scored on the same images. No row exceeds the ceiling beyond its errors
# ({glue:text}`n_exceed` cells). What the compact network misses at 70 nm, nobody can get from
# these images.
#
# ## Is the paper's FCNN row reachable at $N_{qd}$ = 7.5?

# %%
print(reach.round(3).to_string())
print(f"paper's FCNN reachable within {k_se:g} SE in {v['fcnn_n_reach']}/{v['n_cells']} cells; "
      f"ceiling >= FCNN in {v['fcnn_n_ge']}/{v['n_cells']}")
if n_per_set is None:  # the verdict below, at the paper's sizes
    assert v["fcnn_n_reach"] == v["n_cells"]
    assert v["fcnn_n_ge"] < v["n_cells"]
    assert set(reach.index[~reach.ceiling_ge].get_level_values("eps_nm")) == {70.0}
    assert (reach.xs(140.0, level="eps_nm").z < -k_se).all()

# %% [markdown]
# The ceiling is at least the paper's FCNN in {glue:text}`fcnn_n_ge` of the
# {glue:text}`n_cells` cells; in the others, all at 70 nm, the FCNN is above the ceiling by
# up to {glue:text}`fcnn_over_max:.3f` ({glue:text}`fcnn_over_z:.1f` standard errors). So the
# row is reachable at $N_{qd}$ = {glue:text}`nqd_cal:g` within the errors in
# {glue:text}`fcnn_n_reach` of {glue:text}`n_cells` cells, but only just: at 70 nm the paper's
# FCNN would have to match the exact posterior of our images, which no trained network
# does better than. At 140 nm it sits well below the ceiling, by more than `k_se` standard
# errors (up to {glue:text}`dist_max_fcnn:.3f`), where our compact network is at it.
#
# ## The brightness at which the ceiling meets the paper's FCNN
#
# The paper never states its $N_{qd}$ (chapter 06 pinned ours through TrackPy's row). No
# localiser beats the posterior, so at the paper's own $N_{qd}$ the ceiling is at least the
# FCNN in every cell. The ceiling on fresh sets over a grid of $N_{qd}$ (`n_scan` images per
# point, the same walks at every point, {py:func}`qdloc.study.ceiling.ceiling_vs_nqd`),
# interpolated in $\log N_{qd}$ where it meets each FCNN cell
# ({py:func}`qdloc.study.ceiling.nqd_meeting`, with a range from the curves $\pm$ `k_se`
# binomial errors), turns that into a bound on the paper's brightness.

# %%
print(scan.pivot_table(index="n_qd", columns=["D_um2_per_s", "eps_nm"], values="auc").round(3).to_string())
print("\nwhere the ceiling meets the paper's FCNN:\n" + meet.round(2).to_string())
assert v["nqd_low_max"] <= PAPER.n_qd  # the calibrated N_qd is not ruled out
if n_scan >= 250:  # the default scan (smaller ones are noisier)
    assert min(v["meet_70_D0p75"], v["meet_70_D1"]) > PAPER.n_qd  # a little above ours
    assert max(v["meet_70_D0p75"], v["meet_70_D1"]) == v["meet_max"]

# %% tags=["nbval-ignore-output"]
fig = pc.plot_ceiling_vs_nqd(scan, table1["paper"]["FCNN"], chosen=PAPER.n_qd, meeting=meet)

# %% [markdown]
# The figure: the ceiling against $N_{qd}$ with bars of one binomial error, the paper's FCNN
# dashed in the same colour, and a star where they meet.
#
# The ceiling meets the FCNN's cells between $N_{qd}$ ≈ {glue:text}`meet_min:.1f` and
# {glue:text}`meet_max:.1f`. The brightest dot is asked for by the 70-nm cells of the two
# slower test sets ($N_{qd}$ ≈ {glue:text}`meet_70_D0p75:.1f` and {glue:text}`meet_70_D1:.1f`, a little
# above our calibrated {glue:text}`nqd_cal:g`; of the fastest, {glue:text}`meet_70_D1p75:.1f`).
# Taking the error ranges into account, the paper's $N_{qd}$ is at least about
# {glue:text}`nqd_low_max:.1f` (if its images were otherwise like ours): the calibrated
# {glue:text}`nqd_cal:g` is consistent with the FCNN row, with the FCNN at the very limit of
# what its images allow at 70 nm. A slightly brighter dot than ours, or a network exactly as
# good as the posterior, explains the row; a network better than the posterior does not: no
# localiser beats it on average on the images it models.
#
# ## Every row against the ceiling
#
# Top: AUC against the tolerance, one panel per test set, the ceiling the thick dark line.
# Bottom: each row minus the ceiling, with bars of `k_se` standard errors of the difference;
# a row whose bar lies wholly above zero would beat the ceiling.

# %% tags=["nbval-ignore-output"]
fig = pc.plot_distances(dist, k_se=k_se)

# %% [markdown]
# ## Results
#
# The ceiling row, the distances, the verdict and the scan go to `09_ceiling.json`
# (`table1.json` stays chapter 06's). The claims of the prose are checked at the default
# parameters; with `n_per_set` set, the ceiling is scored on the first images of each set
# while `table1.json` holds chapter 06's rows, so the comparisons are only indicative.

# %%
res = ce.ceiling_results(cells, dist, reach, scan, meet, seed=seed, n_samples=n_samples,
                         n_boot=n_boot, k_se=k_se, n_scan=n_scan, scan_seed=scan_seed,
                         nqd_grid=nqd_grid, line_level_cost=cost)
print(f"wrote {write_results(results_dir, '09_ceiling.json', res).name}")
