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
# # 07 · From localisations to transport
#
# The paper localises single frames. But the reason to localise quantum dots in a living brain
# is to measure how they move: the diffusion coefficient of the extracellular space, and how it
# changes. This chapter lets the scanner run on, frame after frame, follows the dot with each
# localiser, links the localisations into tracks with `trackpy.link`, and estimates $D$ from the
# tracks. It then adds the detector realism the paper left out: a photomultiplier's excess noise
# and a bidirectional scan. The code is in {py:mod}`qdloc.sim.simulate` (movies),
# {py:mod}`qdloc.transport.linking` (localise and link), {py:mod}`qdloc.transport.diffusion`
# (per-track estimators), {py:mod}`qdloc.transport.censored` (tracks in a small field and their
# likelihood), {py:mod}`qdloc.transport.pixels` (D straight from the photon counts), and the
# experiments of this chapter in {py:mod}`qdloc.study.diffusion`, {py:mod}`qdloc.study.pixel_diffusion`,
# {py:mod}`qdloc.study.detector` and {py:mod}`qdloc.study.tracking`.
#
# **What you will learn**
#
# - how a movie is simulated on the scanner's clocks, and why the dot leaves a
#   {glue:text}`height_px:d` × {glue:text}`width_px:d` px field within a few frames at the paper's
#   diffusion coefficients;
# - the two corrections every single-particle-tracking estimate of $D$ needs: static
#   localisation error and motion blur (Michalet 2010; Berglund 2010), and a third this field
#   of view adds: tracks end *because* the dot made a large step;
# - how much each localiser's errors cost in $D$, what the photon counts themselves say about $D$
#   with no localisation and no linking, and how a PMT's excess noise and a bidirectional scan
#   change localisation.

# %% tags=["parameters"]
seed = 70  # seed of the movies (the same at every D)
D_grid = [0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]  # true D of the movies, µm²/s
n_movies = 200  # movies per D (truth and the compact localiser)
n_movies_trackpy = 60  # movies per D localised with TrackPy
n_movies_frcnn = 20  # movies per D localised with Keypoint R-CNN (slow on a CPU)
n_movies_pixels = 4  # movies per D whose D is estimated straight from the pixels (seconds each)
pixel_D = [0.5, 2.0]  # the true D of those movies, um^2/s (a subset of D_grid)
coverage_checks = "../data/checks/pixel_coverage_D*_s*.json"  # python -m qdloc.study.pixel_diffusion's files
n_frames = 30  # frames per movie
edge_px = 1.0  # observation window: the image less this margin on each side
false_alarm = 0.05  # detection threshold: this fraction of empty frames gives a localisation
min_track = 10  # shortest track fitted on its own (positions)
example_D = 0.5  # D of the movie drawn with its tracks
example_movie = 3  # which movie of that D
pmt_F = [1.0, 1.25, 1.5, 2.0]  # PMT excess noise factors of the detector study
n_detector = 1000  # images per condition in the detector study
results_dir = "../data/results"
compact_model = "../data/models/compact/compact.pt"
compact_pmt_model = "../data/models/compact_pmt/compact.pt"  # trained with F = 1.5 (see its README)
frcnn_model = "../data/models/frcnn_cpu/frcnn_cpu.pt"

# %% tags=["hide-input"]
import time

import numpy as np
import pandas as pd

from qdloc import SimParams, simulate_movie
from qdloc.plots.glue import glue_all
from qdloc.plots.tracking import plot_D_estimates, plot_detector, plot_movie_tracks
from qdloc.sim.psf import pmt_moments
from qdloc.study import tracking as st
from qdloc.study.detector import describe_detector_effects, detector_effects, detector_study, detector_summary
from qdloc.study.diffusion import bias_table, diffusion_study
from qdloc.study.pixel_diffusion import (
    QUICK_D_GRID,
    coverage_table,
    pixel_diffusion_study,
    pixel_rows,
    pixel_summary,
)
from qdloc.transport.diffusion import scanner_blur_coefficient

params = SimParams()
R = scanner_blur_coefficient(params)
dt = params.frame_period_s
steps = st.frame_steps(params, [0.5, 1.0, 3.0])
print(f"frame interval {dt * 1e3:.2f} ms, motion-blur coefficient R = {R:.4f} "
      f"(uniform exposure: 1/6 = {1 / 6:.4f})")
print(f"per-axis step between frames (field {params.height_px} x {params.width_px} px):")
print(steps.round(1).to_string(index=False))
setup = st.setup_glue(params, R, steps, false_alarm)
assert abs(R - 1 / 6) < 0.005  # "almost the 1/6 of a camera exposed for the whole interval"
assert setup["step_D1_px"] > 3  # "over 3 px per axis per frame" at D = 1
glue_all(setup)

# %% [markdown]
# ## A movie
#
# {py:func}`qdloc.sim.simulate.simulate_movie` (`simulate_movie(n, T, params, D=...)`) records
# `T` frames back to back: the beam retraces to the top after the last line (`retrace_s`), waits
# `frame_pause_s` (0 here), and starts again, while the dot keeps diffusing on the same clocks.
# Frame 0 is exactly the single-frame simulator's image; later frames start where the dot is, so
# it may leave. The label of each frame is the centroid of the dot's positions while that frame
# was scanned.
#
# The motion-blur coefficient $R$ of Berglund (2010) measures how the "exposure" spreads over
# the frame interval: $R = \frac{1}{\Delta t}\int_0^{\Delta t} S(t)(1-S(t))\,dt$ with $S$ the
# fraction of the frame's samples taken by time $t$. The scanner samples the dot at every pixel,
# evenly over the frame, so $R$ = {glue:text}`R:.4f` is almost the
# {glue:text}`R_uniform:.4f` (1/6) of a camera exposed for the whole interval.

# %%
mv = simulate_movie(example_movie + 1, n_frames, params, seed=seed, D=example_D)
images, truth = mv.images[example_movie], mv.centroids[example_movie]
tracks, counts = st.example_tracks(
    images, {"trackpy": ("trackpy", None), "compact": ("compact", compact_model)}, false_alarm, params
)
print(f"in {n_frames} frames:\n{counts.to_string(index=False)}")
print(f"the true centroid is in view in {int(mv.in_view[example_movie].sum())} of {n_frames} frames")

# %% tags=["nbval-ignore-output"]
fig = plot_movie_tracks(images, truth, tracks, frames=(0, 1, 2, 3), frame_interval_s=dt)

# %% [markdown]
# White crosses: the true centroids; circles: each method's localisation. The last panel averages
# all frames and draws the true path and the linked tracks.
#
# ## Estimating D, and the three corrections
#
# Per axis, a track's positions are the blurred true positions plus a static error of standard
# deviation $\sigma$. Their increments are Gaussian with
# $\mathrm{Var}(\Delta) = 2D\Delta t(1-2R) + 2\sigma^2$ and
# $\mathrm{Cov}(\Delta_k, \Delta_{k+1}) = 2RD\Delta t - \sigma^2$, so that
# $\mathrm{MSD}(n) = 2D\Delta t\,(n - 2R) + 2\sigma^2$ (Michalet 2010; Berglund 2010).
# {py:mod}`qdloc.transport.diffusion` has both standard estimators for a single track: the MSD fit with a free
# intercept over the optimal number of lags (Michalet), and the exact maximum likelihood of
# $(D, \sigma^2)$ given $R$ (Berglund). Both are tested unbiased on long simulated tracks
# (`tests/test_diffusion.py`).
#
# In this field of view there is a third effect. At $D = 1$ µm²/s the dot moves
# {glue:text}`step_D1_px:.1f` px per axis per frame (printed at the top of the chapter), and the
# field is {glue:text}`height_px:d` px: tracks are short,
# and a track ends because the dot made a large step out of the field, a step that is never
# observed. Fitting only the observed steps underestimates $D$ (the column "uncensored" below).
# {py:func}`qdloc.transport.censored.censored_mle` multiplies
# Berglund's likelihood of each track by the probability that the dot was *not* found in the
# observation window in the next frame, computed from the exact Gaussian prediction of the next
# step given the track's own steps. Every estimate below uses:
#
# - the observation window: the image less `edge_px` on each side; a track ends at the first
#   frame without a localisation inside it (`trackpy.link`, memory 0);
# - a detection threshold per localiser: its score that {glue:text}`false_alarm_pct:.0f` % of
#   empty frames (background only) exceed;
# - the same movies (same seed) for every method at a given $D$; the truth's tracks are the true
#   centroids cut to the same window.

# %% tags=["nbval-ignore-output"]
t0 = time.perf_counter()
localisers = {"trackpy": ("trackpy", None), "compact": ("compact", compact_model),
              "frcnn": ("frcnn", frcnn_model)}
pooled, per_track = diffusion_study(
    D_grid, localisers, n_movies=n_movies, n_frames=n_frames, params=params, seed=seed,
    edge_px=edge_px, false_alarm=false_alarm, min_track=min_track,
    movies_per_method={"trackpy": n_movies_trackpy, "frcnn": n_movies_frcnn},
)
print(f"diffusion study: {time.perf_counter() - t0:.0f} s")

# %% [markdown]
# ### D straight from the pixels
#
# Every estimate above goes through positions. But the images come from a model we know, so
# the photon counts themselves have a likelihood as a function of $D$:
# {py:func}`qdloc.transport.pixels.movie_log_likelihood` runs the line-level hidden Markov model
# of the exact-posterior localiser ({py:mod}`qdloc.localise.bayes`) across all the frames of a
# movie, on the scanner's clocks, with the dot free to leave the field and come back (outside it
# adds no photons) and with its depth $|z|$ a hidden state too (a few nodes, from the focal
# plane to far out of focus, held for a few lines at a time: z changes only the brightness, but
# a dot that stays near the focal plane is brighter than one that wanders off, and a model that
# knew only the average brightness would read the first as a slow dot and the second as a fast
# one). It sums the log normalisers of its forward pass. No localisation, no detection threshold,
# no linking, no window: the maximum over $D$ is the estimate and the profile likelihood (a drop
# of half the 95 % quantile of $\chi^2_1$) its 95 % interval
# ({py:func}`qdloc.transport.pixels.pixel_estimates`). Each movie costs seconds, so the book runs
# it on the first `n_movies_pixels` of the same movies at the values `pixel_D` only, pooled by
# summing their log likelihoods ({py:func}`qdloc.study.pixel_diffusion.pixel_diffusion_study`):
# the rows `pixels` in the table below. From the command line:
# `qdloc diffusion --from-pixels MOVIE.tif ... --pool`.

# %% tags=["nbval-ignore-output"]
t0 = time.perf_counter()
pix_movies, pix_pooled = pixel_diffusion_study(pixel_D, n_movies_pixels, n_frames, params, seed=seed,
                                               per_movie=False, D_grid=QUICK_D_GRID, n_refine=6)
pix = pixel_summary(pix_movies, pix_pooled)
print(f"D from the pixels: {time.perf_counter() - t0:.0f} s ({pix['movies_per_s']:.2f} movies/s)")

# %%
table = bias_table(pd.concat([pooled, pixel_rows(pix_pooled)], ignore_index=True), per_track)
with pd.option_context("display.width", 160, "display.max_columns", 20):
    print(table[list(st.SHOW_COLUMNS)].round(3).to_string(index=False))
print("D from the pixels, pooled, with 95 % profile-likelihood intervals:")
print(pix_pooled[["D_true", "n_movies", "D_um2_per_s", "ci_low", "ci_high", "rel_bias"]]
      .round(3).to_string(index=False))
glue_all({"pix_max_bias_pct": 100 * pix["max_abs_rel_bias"], "pix_n_movies": n_movies_pixels,
          "pix_covered": pix["pooled_covered"], "pix_n_D": pix["n_D"]})
assert pix["pooled_covered"] == pix["n_D"]  # every pooled interval holds the true D

# %% [markdown]
# `D_um2_per_s` is the censored maximum-likelihood estimate over all tracks at that $D$ (with its
# standard error), `rel_bias` its relative error, `rel_bias_uncensored` the same likelihood
# without the censoring term, `sigma_nm` the fitted static error. The spread of single tracks,
# `rel_iqr_per_track`, is the interquartile range of the per-track censored estimates of tracks
# with at least `min_track` positions, relative to $D$. For `pixels`, `D_err_um2_per_s` is the
# standard error that a normal interval on the log scale as wide as the 95 % interval would have,
# times the estimate.
#
# From the pixels, {glue:text}`pix_n_movies:d` movies at each of the {glue:text}`pix_n_D:d`
# values of $D$ give pooled estimates off by at most {glue:text}`pix_max_bias_pct:.1f` %, and the
# 95 % interval holds the truth at {glue:text}`pix_covered:d` of them (checked in the cell). Few
# movies make a wide interval, and the movies share their random numbers across $D$, so the same
# few walks err alike at every $D$.
#
# How good the estimator is needs more movies than a book build can afford, and movies that do
# not share their random numbers: a walk that fools the estimator at one $D$ fools it at every
# $D$ here, so misses counted on this chapter's movies are not independent trials.
# {py:func}`qdloc.study.pixel_diffusion.coverage_check` runs the check on fresh movies of
# `n_frames` frames, 40 per file, each file on a seed of its own, and writes what it found; the
# files it wrote are shipped in `data/checks/`:
#
# ```bash
# .venv/bin/python -m qdloc.study.pixel_diffusion --D 0.5 --seed 74 --independent \
#     --name pixel_coverage_D0.5_s74 --results-dir data/checks
# ```
#
# and likewise with seeds 76 and 78 at $D$ = 0.5 µm²/s, 75 and 77 at 2 µm²/s
# ({glue:text}`cov_hours:.1f` hours of one core in all). The cell below reads those files
# ({py:func}`qdloc.study.pixel_diffusion.coverage_table`).

# %%
cov_rows, cov = coverage_table(coverage_checks)
print(cov_rows[["D_true", "seed", "n_movies", "covered", "D_um2_per_s", "ci_low", "ci_high", "rel_bias"]]
      .round(3).to_string(index=False))
glue_all({"cov_k": cov["n_covered"], "cov_n": cov["n_movies"], "cov_pct": 100 * cov["coverage"],
          "cov_se_pct": 100 * cov["coverage_se"], "cov_bias_pct": 100 * cov["max_abs_rel_bias"],
          "cov_files": len(cov_rows), "cov_hours": cov["hours"], "cov_below": cov["misses_below"],
          "cov_above": cov["misses_above"]})
assert cov_rows["seed"].is_unique  # no two files share movies
assert cov["max_abs_rel_bias"] < 0.05  # "within 5 %"
assert 0.92 <= cov["coverage"] < 0.95  # "inside 95 ± 3 %, below 95 %"
assert min(cov_rows["rel_bias"]) > 0  # "every one of them is above the truth"
assert cov["misses_above"] > cov["misses_below"]  # "lean towards estimates that are too large"

# %% [markdown]
# Over the {glue:text}`cov_files:d` files, each pooled estimate from 40 movies is within
# {glue:text}`cov_bias_pct:.1f` % of the truth, and the per-movie 95 % intervals hold the truth
# in {glue:text}`cov_k:d` of {glue:text}`cov_n:d` movies: {glue:text}`cov_pct:.1f` ±
# {glue:text}`cov_se_pct:.1f` % (binomial standard error), inside 95 ± 3 % but below 95 % by
# about one standard error. Of the intervals that miss, {glue:text}`cov_below:d` lie below the
# truth and {glue:text}`cov_above:d` above it: the misses lean towards estimates that are too
# large, as the pooled estimates do (every one of them is above the truth).

# %% tags=["nbval-ignore-output"]
fig = plot_D_estimates(table.assign(D_mean=table["D_um2_per_s"], D_sd=table["D_err_um2_per_s"]))

# %% [markdown]
# Left: the pooled estimate with its standard error against the true $D$; right: the relative bias,
# with ±10 % shaded and the range 0.5 to 2 µm²/s marked.
#
# How to read it. The censoring term removes most of the bias of the uncensored likelihood (compare
# the two bias columns), but not all of it: even the truth's tracks come out up to
# {glue:text}`truth_worst_low_pct:.1f` % low at large $D$. What the likelihood still leaves out
# is that the first position of a track is itself selected (a frame whose centroid fell inside
# the window), which, through the blur correlation of consecutive steps, favours small first
# steps. The localisers add their own errors on top: the compact network's static error grows
# with $D$ (the image is smeared: from {glue:text}`compact_sigma_lo_nm:.0f` to
# {glue:text}`compact_sigma_hi_nm:.0f` nm), TrackPy's many far-off localisations break the
# Gaussian error model altogether (a fitted static error of {glue:text}`trackpy_sigma_min_nm:.0f`
# nm or more), and Keypoint R-CNN, run on fewer movies because it is slow on a CPU, has wider
# error bars than the compact network at every $D$. The lines below state how far each method
# stays from the truth over 0.5 to 2 µm²/s; the cell checks each of these statements.

# %%
track_methods = ["truth", "compact", "frcnn", "trackpy"]
claims, claim_numbers = st.bias_claims(table[table["method"].isin(track_methods)])
assert all(claims.values()), claims
glue_all(claim_numbers)
worst = st.max_abs_rel_bias(table, [*track_methods, "pixels"], 0.5, 2.0)
print("largest |relative bias| over D = 0.5 .. 2 (%):")
print((100 * pd.Series(worst)).round(1).to_string())
print("compact's |bias| smaller than TrackPy's at every D:",
      st.beats_at_every_D(table, "compact", "trackpy"))

# %% [markdown]
# ## Detector realism: photomultiplier and scan direction
#
# The paper assumed pure Poisson counts. A photomultiplier multiplies each photoelectron by a
# random gain; we model the gain as Gamma-distributed with mean 1 and variance $F-1$, so the
# pixel value has mean $\lambda$ and variance $F\lambda$ ({py:func}`qdloc.sim.psf.pmt_amplify`, tested
# against that formula). $F$ is the excess noise factor: about 1.2 to 1.3 for a dynode chain,
# up to 2 for a broad single-photoelectron spectrum. A bidirectional scan runs the odd lines
# right to left, which changes when each pixel sees the dot (`SimParams(bidirectional=True)`).
# Both are off by default, so Table 1 is unchanged.
#
# The same images (same seed, same photons) are recorded with each detector setting and
# localised by TrackPy, the shipped compact model (trained on Poisson counts), and the same
# network trained with $F = 1.5$ (`data/models/compact_pmt`; its README says how).

# %% tags=["nbval-ignore-output"]
t0 = time.perf_counter()
detector = detector_study(
    {"TrackPy": ("trackpy", None), "Compact": ("compact", compact_model),
     "Compact trained with F=1.5": ("compact", compact_pmt_model)},
    excess_noise=pmt_F, bidirectional=(False, True), n_images=n_detector, params=params,
)
print(f"detector study: {time.perf_counter() - t0:.0f} s")

# %%
with pd.option_context("display.width", 200, "display.max_columns", 20):
    print(detector_summary(detector).round(3).to_string())

# %% tags=["nbval-ignore-output"]
fig = plot_detector(detector)

# %%
F_demo = 1.5
eff = detector_effects(detector, F_demo)
print(describe_detector_effects(eff, F_demo))

# %% [markdown]
# ## Results file
#
# The chapter's numbers go to `07_tracking.json` in `results_dir`, and the per-track estimates to
# `07_tracking_tracks.csv`.

# %%
n_per_method = {"truth": n_movies, "compact": n_movies, "trackpy": n_movies_trackpy, "frcnn": n_movies_frcnn,
                "pixels": n_movies_pixels}
results = st.tracking_results(table, detector, params, edge_px, n_per_method, n_frames, seed,
                              pixels=pix)
json_path, csv_path = st.write_tracking_results(results_dir, results, per_track)
print(f"wrote {json_path.name} and {csv_path.name} ({len(per_track)} per-track estimates)")

# %% [markdown]
# ## Exercises
#
# **1.** The motion-blur coefficient of the scanner is close to 1/6. Compute it for a frame
# that is followed by a pause as long as the frame itself (`frame_pause_s`), from the scanner's
# sample times, and compare with the uniform-exposure formula $R = t_E / (6\,\Delta t)$.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
paused = params.replace(frame_pause_s=params.frame_time_s)
R_paused = scanner_blur_coefficient(paused)
R_formula = params.frame_time_s / (6 * paused.frame_period_s)
print(f"R with a pause of one frame: {R_paused:.4f}; t_E/(6 dt) = {R_formula:.4f}")
assert abs(R_paused - R_formula) < 0.005

# %% [markdown]
# **2.** Why does a larger observation margin (`edge_px`) not remove the bias of the uncensored
# estimate? Count how many frames a dot at $D = 2$ µm²/s stays inside the window on average,
# for margins of 1 and 4 px.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
mv2 = simulate_movie(300, n_frames, params, seed=seed, D=2.0, photons=False)
stay = st.frames_before_exit(mv2.centroids, params, [1.0, 4.0])
print(stay.round(1).to_string())
assert stay[4.0] < 5
assert stay[4.0] < stay[1.0]

# %% [markdown]
# A narrower window makes tracks shorter: more of them end on an unobserved large step.

# %% [markdown]
# **3.** With a PMT of excess noise factor $F$, how much brighter must the dot be to give the
# same signal-to-noise ratio as pure Poisson counts? Check your answer with
# {py:func}`qdloc.sim.psf.pmt_moments`.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
F, lam = 1.5, 20.0
mean, var = pmt_moments(lam, F)
snr_pmt = mean / np.sqrt(var)
mean1, var1 = pmt_moments(lam / F, 1.0)  # F times fewer photons, no excess noise
print(f"SNR with F = {F}: {float(snr_pmt):.3f}; "
      f"pure Poisson with {lam / F:.1f} photons: {float(mean1 / np.sqrt(var1)):.3f}")
assert np.isclose(snr_pmt, mean1 / np.sqrt(var1))

# %% [markdown]
# The PMT costs a factor F in photons: the dot must be F times brighter.
