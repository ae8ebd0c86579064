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
# # 06 · Evaluation
#
# The paper scores its localisers with one number per test set and tolerance: the area
# under the precision-recall curve (AUC, §4.8, Table 1). This chapter builds that score
# (`qdloc.metrics`), runs the paper's intensity-based baseline, TrackPy
# (`qdloc.baselines`), on the three test sets, and uses the paper's TrackPy row to pin
# the values the paper leaves open (`qdloc.calibration`). The figures come from
# `qdloc.plots_eval`.
#
# **What you will learn**
#
# - how a localisation is counted as a true or false positive within a tolerance
#   $\varepsilon$, and how the precision-recall curve and its AUC follow;
# - what TrackPy does with an image, why it finds the *brightest* place rather than the
#   trajectory centroid, and how much a too-small feature diameter biases it;
# - how $N_{qd}$, the start distribution and TrackPy's settings were chosen so that TrackPy
#   reproduces the paper's Table 1 row within 0.05, and how sensitive that row is to each;
# - where the results file `table1.json` comes from, and how to read it.

# %% tags=["parameters"]
seed = 0  # seed of the still-dot demonstration
n_per_set = None  # images per test set for Table 1 (None: the paper's full test sets)
n_sweep = 400  # images per test set in the calibration sweeps (the first n_sweep of each)
nqd_grid = [2.0, 4.0, 6.0, 7.5, 10.0, 15.0, 30.0, 60.0]  # N_qd values of the AUC-vs-N_qd sweep
z_grid = [0.0, 0.5, 1.0, 1.5]  # start z spreads, µm
margin_grid = [1.0, 2.0, 3.0, 4.0, 5.0]  # start margins, px
diameter_grid = [5, 7, 9, 11]  # TrackPy diameters, px
minmass_grid = [0.0, 30.0, 40.0, 50.0]  # TrackPy minmass values
results_dir = "../data/results"

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import trackpy

import qdloc
from qdloc import PAPER, simulate
from qdloc import plots_eval as pe
from qdloc.baselines import brightest_per_frame, trackpy_locate
from qdloc.calibration import (
    CALIBRATED_TRACKPY,
    PAPER_TEST_SETS,
    TOLERANCE,
    locate_test_sets,
    max_abs_difference,
    paper_row,
    pr_curves,
    read_table1,
    row_difference,
    row_from_features,
    sensitivity,
    simulate_test_set,
    sweep,
    write_table1,
)
from qdloc.metrics import (
    auc_table,
    average_precision,
    detection_metrics,
    f1_integral,
    match_predictions,
    precision_recall,
)
from qdloc.psf import signal_counts

params = PAPER  # the simulator's parameters, calibrated unknowns included
tpp = CALIBRATED_TRACKPY
pd.set_option("display.width", 120)
print(f"N_qd = {params.n_qd} (peak signal {params.peak_signal:.2f} photons, "
      f"N_bkg = {params.n_bkg}), start margin = {params.start_margin_px} px, "
      f"start z spread = {params.start_z_sd_um} um")
print(f"TrackPy {trackpy.__version__}: diameter = {tpp.diameter} px, minmass = {tpp.minmass}")

# %% [markdown]
# ## The metric
#
# Each test image holds exactly one quantum dot; its label is the centroid of the dot's
# trajectory during the scan, in pixels. A localiser returns rows `(frame, x, y, score)`:
# none, one or several per image. The paper (§4.8) replaces the usual intersection-over-
# union criterion by a distance: a prediction is a **true positive** (TP) when it lies
# within $\varepsilon$ (≤) of its image's label and that label is not yet matched; a
# **false positive** (FP) when it is too far or a duplicate; a label with no TP is a
# **false negative** (FN). The tolerances are 70, 140 and 210 nm, 1, 2 and 3 pixels.
#
# `qdloc.metrics.match_predictions` ranks all predictions of a set by descending score and
# walks down the ranking, matching greedily. Lowering a score threshold $t$ step by step
# admits more predictions and traces the **precision-recall curve**,
#
# $$ \text{precision}(t) = \frac{TP(t)}{TP(t) + FP(t)}, \qquad
#    \text{recall}(t) = \frac{TP(t)}{N}, $$
#
# with $N$ the number of images. The paper does not say how it integrates the curve; we
# use the **all-point interpolated average precision** of Pascal VOC (and COCO, without its
# 101-point sampling): $\text{AUC} = \sum_k (r_k - r_{k-1})\, \max_{j \ge k} p_j$. A
# localiser that never reaches recall 1 cannot score 1, and the score rewards a ranking
# that puts the good localisations first.
#
# A toy set of three images shows every step; the tolerance is 140 nm (2 px).

# %%
toy_truth = np.array([[5.0, 5.0], [10.0, 10.0], [15.0, 8.0]])
toy = pd.DataFrame({
    "frame": [0, 0, 1, 2],
    "x": [5.5, 9.0, 12.5, 15.0],
    "y": [5.0, 5.0, 10.0, 8.2],
    "score": [0.9, 0.3, 0.8, 0.6],
})
m = match_predictions(toy.frame, toy.x, toy.y, toy.score, toy_truth, eps_nm=140.0)
curve = precision_recall(toy.frame, toy.x, toy.y, toy.score, toy_truth, eps_nm=140.0)
ranked = toy.iloc[m.order].assign(dist_nm=m.dist_nm.round(1), TP=m.is_tp,
                                  recall=curve.recall.round(3), precision=curve.precision.round(3))
print(ranked.to_string(index=False))
print(f"AUC = {average_precision(curve.recall, curve.precision):.3f}  (= 1/3 * 1 + 1/3 * 2/3)")

# %% [markdown]
# The second-ranked prediction is 175 nm from its label, beyond 140 nm: an FP, and no other
# prediction of image 1 can make up for it, so recall stops at 2/3. The last one is a
# duplicate on image 0, an FP even though it is a reasonable guess.
#
# Besides the AUC, `qdloc.metrics` gives the vocabulary of single-molecule localisation
# challenges (DECODE, the SMLM challenge), with the same one-to-one matching and every
# prediction counted: the **Jaccard index** $TP/(TP+FP+FN)$, precision, recall, **F1**, the
# lateral **RMSE** of the matched pairs, and the **F1 integral**, the mean F1 over
# tolerances from 0 to 210 nm, which summarises how fast a localiser's F1 rises with
# $\varepsilon$ without choosing one tolerance.

# %%
print({k: (round(v, 3) if isinstance(v, float) else v)
       for k, v in detection_metrics(toy, toy_truth, eps_nm=140.0).items()})
print(f"F1 integral 0-210 nm: {f1_integral(toy, toy_truth):.3f}")

# %% [markdown]
# ## TrackPy, the intensity-based baseline
#
# TrackPy implements the Crocker-Grier algorithm: it band-passes the image (a Gaussian blur
# of `noise_size` px minus a boxcar background of `smoothing_size` = `diameter` px), takes
# the local maxima that are at least `separation` apart and brighter than the 64th
# percentile, refines each by the centre of mass of the pixels within `diameter`/2, and
# reports the integrated brightness of the band-passed feature, its **mass**.
# `qdloc.baselines.trackpy_locate` runs `trackpy.locate` on every frame and returns
# TrackPy's columns plus `score = mass`, so the brightest features lead the ranking.
#
# The paper gives no settings (it cites TrackPy 0.5); we keep TrackPy's defaults, a
# diameter of 7 px (the PSF has $\sigma_{xy}$ = 0.21 µm = 3 px, so 7 px is its FWHM) and no
# mass threshold (`minmass = 0`, TrackPy's default). The section on the calibration below
# explains those choices.
#
# A diameter of 7 px is on the small side for a spot of $\sigma$ = 3 px: the centre-of-mass
# window cuts the spot and pulls the estimate towards the pixel it started from
# ("pixel locking"). Simulate, then recover: bright dots that do not move (D = 0), at
# random positions, located with 7 and 11 px.

# %%
still = simulate(200, params.replace(n_qd=2000.0, start_margin_px=6.0), seed=seed, D=0.0)
for d in (7, 11):
    f = trackpy_locate(still.images, tpp.replace(diameter=d))
    top = brightest_per_frame(f)
    err_px = np.hypot(top.x.to_numpy() - still.centroids[top.frame, 0],
                      top.y.to_numpy() - still.centroids[top.frame, 1])
    print(f"diameter {d:2d} px: {len(top)}/200 dots found, error mean {err_px.mean():.2f} px, "
          f"max {err_px.max():.2f} px ({err_px.max() * params.pixel_size_um * 1e3:.0f} nm)")

# %% [markdown]
# With 7 px a still, bright dot is misplaced by up to about half a pixel, a large part of
# the 70-nm tolerance; with 11 px the bias is gone. On the test images, though, the dot is
# faint and moves, and those errors dominate. Here is TrackPy on the first four images of
# the D = 1 test set: the green cross is the label, the large magenta cross TrackPy's
# highest-mass feature. Like the paper's Fig. 3, TrackPy finds the bright pixels, where the
# dot was when the beam passed, not the centroid of its whole path.

# %%
# NBVAL_IGNORE_OUTPUT
demo = simulate_test_set("test_D1", params, n=4)
demo_f = trackpy_locate(demo.images, tpp)
pe.plot_features(demo.images, demo_f, demo.centroids, params, trajectories=demo.trajectories)
plt.show()

# %% [markdown]
# ## Calibration against the paper's TrackPy row
#
# The paper leaves four things open that change TrackPy's score: $N_{qd}$ in Eq. 1
# ("adjusted to imitate the signal-to-noise ratio of the brain images", §4.6.3); where a
# trajectory starts in $x, y$; where it starts in depth $z$; and TrackPy's settings. Its
# TrackPy row of Table 1 is our handle: we chose them so that TrackPy, on our three test
# sets, scores the paper's row within 0.05 in every cell, preferring the plainest choices.
#
# The physics sets the direction of each. A brighter dot (larger $N_{qd}$) stands out of
# the background ($N_{bkg}$ = 8.4 photons per pixel), so TrackPy's brightest feature is
# more often the dot: the AUC rises with $N_{qd}$ and saturates where motion blur, not
# noise, limits it. A larger $D$ moves the dot farther from the centroid of its path while
# the beam passes it, so the AUC falls with $D$. Each image has one label: TrackPy's other
# features in the image are false positives, but they have lower mass and enter the curve
# late; an image where TrackPy finds nothing is a false negative.
#
# **AUC against $N_{qd}$.** The other unknowns stay at their chosen values; each point uses
# the first `n_sweep` images of each test set (the same images for every value). Dashed
# lines: the paper's row.

# %%
auc_nqd = sweep("n_qd", nqd_grid, params, tpp, n_per_set=n_sweep)
print(auc_nqd.pivot_table(index="value", columns=["D_um2_per_s", "eps_nm"], values="auc")
      .round(2).to_string())

# %%
# NBVAL_IGNORE_OUTPUT
pe.plot_auc_vs_param(auc_nqd, "n_qd", chosen=params.n_qd, logx=True)
plt.show()

# %% [markdown]
# TrackPy's AUC at 210 nm climbs from near 0 (a dot lost in the noise) to a plateau set by
# motion blur (about 0.9 at D = 0.75). The paper's row sits on the steep part: $N_{qd}$
# near 7.5, a peak signal of about 8 photons, just below the background of 8.4 photons per
# pixel: the dot stands out only because it covers many pixels. Above the chosen value
# TrackPy would beat the paper at 210 nm; at 70 nm it never comes near 1 even for very
# bright dots, because the brightest pixels are not the centroid.
#
# **Sensitivity to the other unknowns**, at 210 nm, each varied alone around the chosen
# values: the start depth spread (a dot out of focus is dimmer), the start margin (a dot
# that starts near the edge leaves the frame or TrackPy's 3-px edge zone), TrackPy's
# diameter and its mass threshold.

# %%
sens = sensitivity(
    {"start_z_sd_um": z_grid, "start_margin_px": margin_grid,
     "diameter": diameter_grid, "minmass": minmass_grid},
    params, tpp, n_per_set=n_sweep,
)
chosen = {"start_z_sd_um": params.start_z_sd_um, "start_margin_px": params.start_margin_px,
          "diameter": tpp.diameter, "minmass": tpp.minmass}
table = sens[sens.eps_nm == 210.0].pivot_table(index=["param", "value"], columns="D_um2_per_s",
                                                values="auc", sort=False)
print("AUC at 210 nm")
print(table.round(2).to_string())

# %%
# NBVAL_IGNORE_OUTPUT
pe.plot_sensitivity(sens, chosen)
plt.show()

# %% [markdown]
# What the sweeps say:
#
# - **Start depth.** A spread in $z$ dims a part of the dots and lowers every cell; it acts
#   like a smaller $N_{qd}$ and could be traded against it. We start every walk in the
#   focal plane ($z$ = 0), the plainest choice, and let $N_{qd}$ carry the brightness.
# - **Start margin.** TrackPy ignores maxima within its edge zone (3 px for a 7-px
#   diameter), and a dot that starts near the edge may leave the frame: the score rises
#   with the margin up to about 4 px, then levels off. Margin and $N_{qd}$ trade against
#   each other (a wider margin with a dimmer dot fits almost as well). We use 3 px, one
#   $\sigma_{xy}$ and TrackPy's own edge zone, so that every walk starts where TrackPy can
#   see it.
# - **Diameter.** 5 px, smaller than the spot, fails. 9 px scores a little higher at
#   D ≤ 1 and would need a dimmer dot, with a weaker dependence on $D$ than the paper's;
#   11 px scores lower, as its edge zone grows to 5 px. 7 px, the PSF's FWHM, it is.
# - **minmass.** A threshold only truncates the precision-recall curve, so it can never
#   raise the AUC; the paper's row needs none, and TrackPy's default (0) is kept.
#
# No setting of these unknowns makes the drop from D = 0.75 to D = 1 as large as the
# paper's (0.12 at 140 and at 210 nm). To see the drop of our simulator without the
# scatter between two test sets, simulate the same images at both D (the same seed, so
# the same starts, the same random steps and the same uniforms behind the photon noise):

# %%
seed_d1 = PAPER_TEST_SETS["test_D1"][1]
same = {D: simulate(2 * n_sweep, params, seed=seed_d1, D=D) for D in (0.75, 1.0)}
same_row = {D: auc_table(trackpy_locate(s.images, tpp), s.centroids) for D, s in same.items()}
paper_tp = paper_row()
for e in (140.0, 210.0):
    print(f"eps = {e:3.0f} nm: drop from D = 0.75 to 1, same images: "
          f"{same_row[0.75][e] - same_row[1.0][e]:.3f}; paper: "
          f"{paper_tp.loc[0.75, e] - paper_tp.loc[1.0, e]:.2f}")

# %% [markdown]
# Our drop is well short of the paper's, in every setting we tried, and between the two
# test sets (different seeds) it comes out smaller still. The calibration therefore splits
# the difference: the D = 0.75 cells come out a little below the paper, the D = 1 cells a
# little above.
#
# Which values the paper pins, and which this calibration pins:

# %%
sets = PAPER_TEST_SETS.values()
pinned = pd.DataFrame(
    [
        ("image size", f"{params.height_px} x {params.width_px} px", "paper §4.1"),
        ("pixel size", f"{params.pixel_size_um} um", "paper §4.1"),
        ("pixel dwell / line retrace",
         f"{params.dwell_s * 1e6:g} us / {params.retrace_s * 1e3:g} ms", "paper §4.1, §4.6.1"),
        ("PSF sigma_xy / sigma_z", f"{params.sigma_xy_um} / {params.sigma_z_um} um",
         "paper §4.6.3"),
        ("N_bkg", f"{params.n_bkg}", "paper §4.6.3"),
        ("D of the test sets", ", ".join(f"{D:g}" for _, _, D in sets) + " um^2/s", "paper §2"),
        ("test set sizes", ", ".join(str(n) for n, _, _ in sets), "paper §4.1"),
        ("test set seeds", ", ".join(str(s) for _, s, _ in sets), "this project"),
        ("N_qd", f"{params.n_qd}", "this calibration"),
        ("start x, y", f"uniform, margin {params.start_margin_px} px", "this calibration"),
        ("start z", f"Normal(0, {params.start_z_sd_um} um)" if params.start_z_sd_um > 0
         else "0 (the focal plane)", "this calibration"),
        ("TrackPy diameter", f"{tpp.diameter} px", "this calibration (PSF)"),
        ("TrackPy minmass", f"{tpp.minmass}", "this calibration (TrackPy default)"),
        ("other TrackPy settings", f"TrackPy {trackpy.__version__} defaults", "choice"),
        ("score ranking the PR curve", "TrackPy mass", "choice"),
    ],
    columns=["quantity", "value", "pinned by"],
)
print(pinned.to_string(index=False))

# %% [markdown]
# ## Table 1: TrackPy on the three test sets
#
# Now the full test sets (`n_per_set = None`): 2,570, 2,410 and 1,870 images at D = 0.75, 1
# and 1.75 µm²/s, the same images that `qdloc.dataset` writes to disk (chapter 04). The row
# goes to `table1.json` in `results_dir`, together with the paper's rows and what produced
# it; the table below is read back from that file.

# %%
features = locate_test_sets(params, tpp, n_per_set)
row = row_from_features(features)
n_used = {name: int(len(features[float(D)][1])) for name, (_, _, D) in PAPER_TEST_SETS.items()}
metadata = {
    "params": params.to_dict(),
    "trackpy_params": tpp.to_dict(),
    "n_per_set": n_used,
    "test_sets": {k: {"n": n, "seed": s, "D_um2_per_s": D}
                  for k, (n, s, D) in PAPER_TEST_SETS.items()},
    "score": "mass",
    "trackpy_version": trackpy.__version__,
    "qdloc_version": qdloc.__version__,
}
path = write_table1(Path(results_dir) / "table1.json", {"TrackPy (ours)": row}, metadata)
print(f"wrote {path.name}; images per set: {n_used}")

# %%
table1 = read_table1(path)
ours = table1["methods"]["TrackPy (ours)"]
theirs = table1["paper"]["TrackPy"]
diff = row_difference(ours, theirs)
comparison = pd.DataFrame(
    {"TrackPy (ours)": ours.stack(), "TrackPy (paper)": theirs.stack(), "difference": diff.stack()}
).T
comparison.columns = [f"D={D:g} {e:g}nm" for D, e in comparison.columns]
print((comparison.round(3) + 0.0).to_string())
worst = max_abs_difference(ours, theirs)
print(f"largest |difference| = {worst:.3f} (tolerance {TOLERANCE})")
if n_per_set is None:
    assert worst <= TOLERANCE, "TrackPy's row is not within the tolerance of the paper's"

# %% [markdown]
# Every cell is within 0.05 of the paper's TrackPy row. The worst cells are the 210-nm
# (and 140-nm) ones at D = 0.75 and D = 1, pulling in opposite directions as explained
# above. For the second half of this chapter, the paper's FCNN row is in the same file
# (`table1["paper"]["FCNN"]`).
#
# The detection metrics of the same localisations at 210 nm, every feature counted:

# %%
det = pd.DataFrame({
    D: {**{k: v for k, v in detection_metrics(f, c, eps_nm=210.0).items()
           if k in ("jaccard", "precision", "recall", "f1", "rmse_lat_nm")},
        "f1_integral": f1_integral(f, c), "features_per_image": len(f) / len(c)}
    for D, (f, c) in features.items()
}).T
det.index.name = "D_um2_per_s"
print(det.round(3).to_string())

# %% [markdown]
# TrackPy returns about 2.6 features per image, so its precision over all features is low
# and so are the Jaccard index and F1; the AUC is kinder, because the extra features are
# faint and come late in the ranking. The RMSE of the matched pairs, about 120 nm, is
# close to the motion-blur scale.
#
# ## Precision-recall curves
#
# Thin lines: the curves; thick steps: their precision envelopes, whose area is the AUC.

# %%
# NBVAL_IGNORE_OUTPUT
pe.plot_pr_curves(pr_curves(features), ours)
plt.show()

# %% [markdown]
# The curves start at high precision: the brightest features are in-focus dots seen
# clearly, most of them within 210 nm of their label. Precision then falls as fainter
# features enter, and recall saturates below 1: those labels had no TrackPy feature close
# enough at any score.
#
# ## Exercises
#
# **1.** TrackPy returns several features per image, but only one can be right. How much
# do the extra features cost? Keep only the highest-mass feature of each image (what
# `topn=1` does) and recompute the row on the full sets.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
top1 = {D: (brightest_per_frame(f), c) for D, (f, c) in features.items()}
row_top1 = row_from_features(top1)
print("topn = 1 minus all features:")
print(((row_top1 - ours).round(3) + 0.0).to_string())
# The extra features are fainter than the dot's and enter the curve after its recall has
# saturated: they cost next to nothing.
assert np.abs((row_top1 - ours).to_numpy()).max() < 0.01

# %% [markdown]
# **2.** How well could *any* localiser do that reports where the dot was when the beam
# saw it best? Take, for each image of the D = 1 test set, the dot's true position during
# the dwell on the pixel with the largest expected signal (an oracle, free of noise), score
# it by that signal, and compute its AUCs. Compare with TrackPy and with the paper's FCNN.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
d1 = simulate_test_set("test_D1", params, n=n_per_set)
sig = signal_counts(d1.trajectories, params).reshape(len(d1), -1)
best = sig.argmax(axis=1)
seen_px = d1.trajectories[np.arange(len(d1)), best, :2] / params.pixel_size_um
oracle = pd.DataFrame({"frame": np.arange(len(d1)), "x": seen_px[:, 0], "y": seen_px[:, 1],
                       "score": sig.max(axis=1)})
oracle_auc = auc_table(oracle, d1.centroids)
fcnn = paper_row("FCNN")
for e, v in oracle_auc.items():
    print(f"eps = {e:3.0f} nm: seen-position oracle {v:.3f}, TrackPy {ours.loc[1.0, e]:.3f}, "
          f"paper's FCNN {fcnn.loc[1.0, e]:.2f}")
# Even a perfect "where was it seen" localiser is far from the centroid at 70 nm: the
# label is where the dot was on average, which a network can learn and an intensity-based
# method cannot.
assert oracle_auc[210.0] > ours.loc[1.0, 210.0]
assert oracle_auc[70.0] < fcnn.loc[1.0, 70.0]

# %% [markdown]
# **3.** A threshold on the mass trades false positives for false negatives. Which
# `minmass` maximises TrackPy's F1 at 210 nm on the D = 1 test set, and what are the F1 and
# the Jaccard index there? Try thresholds from 0 to 80 in steps of 5.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
f_d1, c_d1 = features[1.0]
scan = pd.DataFrame({mm: detection_metrics(f_d1, c_d1, eps_nm=210.0, min_score=mm)
                     for mm in np.arange(0.0, 81.0, 5.0)}).T
best_mm = float(scan["f1"].astype(float).idxmax())
cols = ["f1", "jaccard", "precision", "recall"]
print(scan.loc[[0.0, best_mm], cols].astype(float).round(3).to_string())
# The best threshold drops most of the faint noise features: F1 and Jaccard rise well above
# their values without threshold (while the AUC could only fall, see above).
assert best_mm > 0
assert scan.loc[best_mm, "f1"] > scan.loc[0.0, "f1"] + 0.1
