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
# (`qdloc.eval.metrics`), runs the paper's intensity-based baseline, TrackPy
# (`qdloc.localise.trackpy`), on the three test sets, and uses the paper's TrackPy row to pin
# the values the paper leaves open (`qdloc.study.calibration`). The figures come from
# `qdloc.plots.evaluation`.
#
# **What you will learn**
#
# - how a localisation is counted as a true or false positive within a tolerance
#   $\varepsilon$, and how the precision-recall curve and its AUC follow;
# - what TrackPy does with an image, why it finds the *brightest* place rather than the
#   trajectory centroid, and how much a too-small feature diameter biases it;
# - how $N_{qd}$, the start distribution and TrackPy's settings were chosen so that TrackPy
#   reproduces the paper's Table 1 row within 0.05, and how sensitive that row is to each;
# - where the results file `table1.json` comes from, and how to read it;
# - how the two learned localisers (our Keypoint R-CNN, trained from scratch on the CPU, and
#   the compact heat-map network of chapter 05) score on the same test sets, cell by cell
#   against the paper's FCNN row, and what each method's estimate looks like (Fig. 3);
# - how the localisation error of each method grows with $D$, compared with the
#   Cramér-Rao bound of a still dot, and why the 70-nm cells are the hard ones;
# - which images each method gets badly wrong, and what those images have in common.

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
compact_model = "../data/models/compact/compact.pt"  # shipped compact weights (chapter 05)
frcnn_dir = "../data/models/frcnn_cpu"  # shipped Keypoint R-CNN weights and predictions
recompute_frcnn = False  # True: localise the test sets again with frcnn_locate (~70 s)
D_grid = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]  # D of the error-vs-D sweep, um^2/s
n_err = 200  # images per D in the error-vs-D sweep (all three methods)
err_seed = 20  # seed of the error-vs-D images (the same seed at every D)
fig3_frames = [0, 1, 2, 3]  # images of test_D1 shown as the paper's Fig. 3

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import trackpy

import qdloc
from qdloc import PAPER, simulate
from qdloc.plots import evaluation as pe
from qdloc.localise.trackpy import brightest_per_frame, trackpy_locate
from qdloc.study.calibration import CALIBRATED_TRACKPY, locate_test_sets, max_abs_difference, paper_row, pr_curves, read_table1, row_difference, row_from_features, sensitivity, simulate_test_set, sweep, write_table1
from qdloc.study.constants import PAPER_TEST_SETS, TOLERANCE
from qdloc.eval.metrics import (
    auc_table,
    average_precision,
    detection_metrics,
    f1_integral,
    match_predictions,
    precision_recall,
)
from qdloc.sim.psf import signal_counts

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
# `qdloc.eval.metrics.match_predictions` ranks all predictions of a set by descending score and
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
# Besides the AUC, `qdloc.eval.metrics` gives the vocabulary of single-molecule localisation
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
# `qdloc.localise.trackpy.trackpy_locate` runs `trackpy.locate` on every frame and returns
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
# and 1.75 µm²/s, the same images that `qdloc.data.dataset` writes to disk (chapter 04). The row
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

# %% [markdown]
# ## Table 1, all methods
#
# Two learned localisers go on the same three test sets, simulated here in memory
# (byte-identical to the files under `data/paper` that chapter 04 writes):
#
# - **Keypoint R-CNN (ours)**: the paper's network (its "FCNN"), built by
#   `qdloc.localise.frcnn` in the reduced `cpu` profile (ResNet-18 stages 1-3, 64-channel
#   FPN, 6,000 training images, 4 epochs) and **trained from scratch**: this machine has no
#   network, so no MS COCO weights, which the paper started from. The `paper` profile was
#   not run (no GPU; about 750 CPU-hours). Its numbers come from the shipped weights
#   `data/models/frcnn_cpu/frcnn_cpu.pt`, through the prediction files that
#   `qdloc.localise.frcnn.predict_test_sets` wrote from them (`recompute_frcnn = True`
#   localises the sets again with `frcnn_locate`, about 70 s).
# - **Compact (ours)**: the 22k-parameter heat-map network of chapter 05
#   (`qdloc.localise.compact`), from the shipped weights `data/models/compact/compact.pt`,
#   run here (a few thousand images per second), with its mirror test-time augmentation.
#
# A model's numbers belong to the images it was trained for: each model file stores the
# simulator parameters it was trained at, and `check_model_params` refuses a file whose
# parameters differ from this chapter's. Each prediction file must hold one row per image.

# %%
import json

import torch

from qdloc.study.calibration import (
    best_per_frame,
    check_model_params,
    compare_rows,
    localisation_errors_nm,
    read_predictions,
)
from qdloc.io import atomic_write_text
from qdloc.localise.compact import compact_locate
from qdloc.eval.bounds import crlb_still_dot_nm
from qdloc.localise.frcnn import frcnn_locate

torch.set_num_threads(1)
frcnn_model = Path(frcnn_dir) / "frcnn_cpu.pt"
compact_obj = check_model_params(compact_model, params, kind="compact")
frcnn_obj = check_model_params(frcnn_model, params, kind="frcnn")

test = {float(D): simulate_test_set(name, params, n_per_set)
        for name, (_, _, D) in PAPER_TEST_SETS.items()}
compact_pred, frcnn_pred = {}, {}
for name, (size, _, D) in PAPER_TEST_SETS.items():
    sim = test[float(D)]
    compact_pred[float(D)] = compact_locate(sim.images, compact_model, tta=True, threads=1)
    if recompute_frcnn:
        frcnn_pred[float(D)] = frcnn_locate(sim.images, frcnn_model, batch=64)
    else:
        full = read_predictions(Path(frcnn_dir) / f"pred_{name}.csv", size)
        frcnn_pred[float(D)] = full[full.frame < len(sim)].reset_index(drop=True)
    assert len(compact_pred[float(D)]) == len(sim)

TP_NAME, FR_NAME, CO_NAME = ("TrackPy (ours)", "Keypoint R-CNN (ours, cpu profile, from scratch)",
                             "Compact (ours)")
SHORT = {TP_NAME: "TrackPy", FR_NAME: "KRCNN", CO_NAME: "Compact"}  # for narrow tables
rows = {
    FR_NAME: row_from_features({D: (frcnn_pred[D], test[D].centroids) for D in test}),
    CO_NAME: row_from_features({D: (compact_pred[D], test[D].centroids) for D in test}),
}
meta_common = {"params": params.to_dict(), "n_per_set": n_used, "qdloc_version": qdloc.__version__,
               "test_sets": metadata["test_sets"]}
write_table1(Path(results_dir) / "table1.json", {FR_NAME: rows[FR_NAME]},
             {**meta_common, "weights": str(frcnn_model.name), "profile": "cpu",
              "initial_weights": "none (from scratch)", "score": "detection probability",
              "predictions": "recomputed" if recompute_frcnn else "shipped pred_test_*.csv"})
path = write_table1(Path(results_dir) / "table1.json", {CO_NAME: rows[CO_NAME]},
                    {**meta_common, "weights": Path(compact_model).name, "tta": True,
                     "score": "-sigma_px (predicted error)"})
print(f"wrote {path.name}: Keypoint R-CNN predictions "
      f"{'recomputed' if recompute_frcnn else 'from the shipped CSVs'}, compact run here")

# %% [markdown]
# The table, read back from `table1.json`: our three rows and the paper's two.

# %%
table1 = read_table1(path)
order = [TP_NAME, FR_NAME, CO_NAME]
all_rows = {**{m: table1["methods"][m] for m in order},
            **{f"{m} (paper)": table1["paper"][m] for m in ("TrackPy", "FCNN")}}
t1 = pd.DataFrame({m: r.stack() for m, r in all_rows.items()}).T
t1.columns = [f"D={D:g} {e:g}nm" for D, e in t1.columns]
with pd.option_context("display.width", 200, "display.max_columns", 20):
    print((t1.round(3) + 0.0).to_string())

# %%
ours_co = table1["methods"][CO_NAME]
cmp_fr = compare_rows(ours_co, table1["methods"][FR_NAME], "compact", "ours_krcnn")
cmp_fc = compare_rows(ours_co, table1["paper"]["FCNN"], "compact", "paper_fcnn")
shortfalls = []
for (D, e) in cmp_fr.index:
    a, b = cmp_fr.loc[(D, e)], cmp_fc.loc[(D, e)]
    line = (f"D = {D:<4g} eps = {e:3.0f} nm: compact {a['compact']:.3f} "
            f"{'>=' if a['at_least'] else '< '} our Keypoint R-CNN {a['ours_krcnn']:.3f}"
            + ("" if a["at_least"] else f" (short by {a['shortfall']:.3f})")
            + f"; {'>=' if b['at_least'] else '< '} paper's FCNN {b['paper_fcnn']:.2f}"
            + ("" if b["at_least"] else f" (short by {b['shortfall']:.3f})"))
    print(line)
    shortfalls.append({"D_um2_per_s": float(D), "eps_nm": float(e), "compact": float(a["compact"]),
                       "ours_krcnn": float(a["ours_krcnn"]), "paper_fcnn": float(b["paper_fcnn"]),
                       "ge_ours_krcnn": bool(a["at_least"]), "ge_paper_fcnn": bool(b["at_least"]),
                       "shortfall_vs_ours_krcnn": float(a["shortfall"]),
                       "shortfall_vs_paper_fcnn": float(b["shortfall"])})
n_ge_fr, n_ge_fc = int(cmp_fr.at_least.sum()), int(cmp_fc.at_least.sum())
print(f"compact >= our Keypoint R-CNN in {n_ge_fr}/9 cells, >= the paper's FCNN in {n_ge_fc}/9 cells")

# %% [markdown]
# Both learned localisers are far above TrackPy in every cell: they learn where the dot was
# *on average*, which an intensity-based method cannot. Our Keypoint R-CNN, from scratch and
# in the reduced profile, falls short of the paper's FCNN, most at 70 nm; the compact
# network, trained on fresh images every epoch, beats ours everywhere (see the lines above
# for the cells where it stays below the paper's FCNN, and the section below on why).
#
# ## Precision-recall curves of the three methods
#
# The precision envelopes at 140 nm; in brackets, the AUC.

# %%
# NBVAL_IGNORE_OUTPUT
preds = {TP_NAME: {D: features[D][0] for D in test}, FR_NAME: frcnn_pred, CO_NAME: compact_pred}
curves140 = {m: {D: precision_recall(p[D].frame, p[D].x, p[D].y, p[D].score, test[D].centroids,
                                     eps_nm=140.0) for D in test} for m, p in preds.items()}
pe.plot_pr_methods(curves140, {m: table1["methods"][m] for m in preds}, eps_nm=140.0)
plt.show()

# %% [markdown]
# TrackPy's curve falls early: its highest-mass features are often the bright pixels, not the
# centroid. The learned localisers keep a precision near 1 far into the ranking; the
# compact's score (its predicted error) puts its best localisations first, so its envelope
# stays high until almost all images are recalled.
#
# ## The paper's Fig. 3
#
# The first four images of the D = 1 test set (`fig3_frames`: no selection, so the figure
# shows typical cases): the trajectory during the scan (green line), its centroid, the label
# (green cross), and each method's top-scoring estimate.

# %%
# NBVAL_IGNORE_OUTPUT
d1s = test[1.0]
pe.plot_estimates(d1s.images, d1s.centroids, {m: p[1.0] for m, p in preds.items()}, params,
                  frames=fig3_frames, trajectories=d1s.trajectories)
plt.show()

# %%
err_d1 = {m: localisation_errors_nm(p[1.0], d1s.centroids) for m, p in preds.items()}
print(pd.DataFrame({SHORT[m]: e[fig3_frames] for m, e in err_d1.items()},
                   index=pd.Index(fig3_frames, name="image")).round(0).to_string())

# %% [markdown]
# (Errors in nm, of the top-scoring estimate of each image shown.) TrackPy lands on the
# bright part of the path; both networks land near the centroid.
#
# ## Error against D
#
# How far is each method's top-scoring estimate from the centroid, as the dot moves faster?
# `n_err` images at each D of `D_grid`, all with the seed `err_seed` (the same starts and the
# same random steps, scaled by $\sqrt{D}$). The floor is the **Cramér-Rao bound of a still
# dot** (`crlb_still_dot_nm`, at the centre of the frame, in the focal plane, $N_{qd}$ and
# $N_{bkg}$ known): it gives a per-axis bound $\sigma$; the floor drawn is the 2D RMS,
# $\sqrt{\sigma_x^2 + \sigma_y^2} = \sqrt{2}\,\sigma$, the smallest possible root mean
# square of the distance. (The mean distance of an unbiased Gaussian estimator at the bound
# would be $\sqrt{\pi/2}\,\sigma$, its median $\sqrt{2\ln 2}\,\sigma$, both a little below.)

# %%
crlb = crlb_still_dot_nm(params)
crlb_2d = float(np.sqrt(2.0) * crlb["sigma_nm"])
rows_err = []
sweep_err = {}
for D in D_grid:
    s = simulate(n_err, params, seed=err_seed, D=D)
    p_D = {TP_NAME: trackpy_locate(s.images, tpp),
           FR_NAME: frcnn_locate(s.images, frcnn_model, batch=64),
           CO_NAME: compact_locate(s.images, compact_model, tta=True, threads=1)}
    for m, p in p_D.items():
        e = localisation_errors_nm(p, s.centroids)
        found = np.isfinite(e)
        sweep_err[(m, D)] = e
        rows_err.append({"method": m, "D_um2_per_s": D, "median_nm": float(np.median(e[found])),
                         "mean_nm": float(e[found].mean()),
                         "rmse_nm": float(np.sqrt(np.mean(e[found] ** 2))),
                         "found": float(found.mean())})
err_table = pd.DataFrame(rows_err)
print(f"CRLB of a still dot: {crlb['sigma_nm']:.1f} nm per axis, {crlb_2d:.1f} nm 2D RMS "
      f"({crlb['signal_photons']:.0f} signal photons)")
print(err_table.assign(method=err_table.method.map(SHORT))
      .pivot(index="D_um2_per_s", columns="method", values=["median_nm", "mean_nm"])
      .round(0).to_string())

# %%
# NBVAL_IGNORE_OUTPUT
pe.plot_error_vs_D(err_table, crlb_nm=crlb_2d)
plt.show()

# %% [markdown]
# At D = 0 every method is limited by photon noise: the networks come within a small factor
# of the bound, TrackPy (7-px window, pixel locking) further above it. With motion the
# networks' errors grow slowly: they learn to place the centroid of a blurred, broken path.
# TrackPy's error grows fast, because it follows the brightest part of the path.
#
# ## Where a cell falls short
#
# The 70-nm cells are the hard ones for every method, and they depend most on how bright
# the dot is. The training code trained the same compact network (6 epochs, fewer than the
# shipped 12) at increasing $N_{qd}$, each scored on test sets simulated at that $N_{qd}$
# (`data/models/compact/nqd_scan.csv`). Dashed: the paper's FCNN; dotted: our calibrated
# $N_{qd}$.

# %%
scan = pd.read_csv(Path(compact_model).parent / "nqd_scan.csv")
print(scan.pivot(index="n_qd", columns="D", values="auc_70nm").round(3).to_string())
fcnn_row = table1["paper"]["FCNN"]
need_nqd = {}
for D, g in scan.groupby("D"):
    above = g[g.auc_70nm >= fcnn_row.loc[float(D), 70.0]].n_qd
    need_nqd[float(D)] = float(above.min()) if len(above) else None
print("smallest N_qd of the scan at which the compact reaches the paper's FCNN at 70 nm:",
      need_nqd)

# %%
# NBVAL_IGNORE_OUTPUT
pe.plot_auc_vs_nqd(scan, eps_nm=70.0, chosen=params.n_qd)
plt.show()

# %% [markdown]
# At the calibrated $N_{qd}$ the 70-nm cells are limited by photons: a little more signal
# and the same network passes the paper's FCNN there. The paper set $N_{qd}$ only in words
# ("adjusted to imitate the signal-to-noise ratio of the brain images"); we pinned it
# through TrackPy's row, which sits on its own steep part, so a modest error in that
# calibration moves the 70-nm cells of the networks a lot.
#
# How far is the compact from the best any unbiased estimator could do on a still dot?
# Its RMSE over the CRLB's 2D RMS:

# %%
co_err = err_table[err_table.method == CO_NAME].set_index("D_um2_per_s")
ratio = (co_err["rmse_nm"] / crlb_2d).rename("compact RMSE / CRLB (2D RMS)")
print(ratio.round(2).to_string())

# %% [markdown]
# About 1.4 times the bound at D = 0 and growing with D: a moving dot carries less
# information about its centroid than a still one (the bound of a still dot is only a
# floor), so the ratio at D = 1 says less about the network than the one at D = 0.
#
# ## The cases where each method fails
#
# For each method, the three images of the D = 1 test set with the largest error (an image
# with no estimate counts as the worst).

# %%
# NBVAL_IGNORE_OUTPUT
worst = {m: np.argsort(np.nan_to_num(e, nan=np.inf))[::-1][:3] for m, e in err_d1.items()}
fig = plt.figure(figsize=(8, 8.4), layout="constrained")
for sub, (m, ks) in zip(fig.subfigures(3, 1), worst.items(), strict=True):
    pe.plot_estimates(d1s.images, d1s.centroids, {m: preds[m][1.0]}, params, frames=ks,
                      trajectories=d1s.trajectories,
                      titles=[f"image {k}: " + (f"{err_d1[m][k]:.0f} nm" if np.isfinite(err_d1[m][k])
                                                else "no estimate") for k in ks], fig=sub)
    sub.suptitle(m, fontsize="medium")
plt.show()

# %% [markdown]
# What do the failures (error above 210 nm, or no estimate) have in common? Two candidate
# causes: the centroid near the edge (within 2 px of the border: part of the spot and of
# the path lie outside the frame), and a dot far out of focus (mean $|z|$ over the scan
# above $\sigma_z/2$). A third: a path that wanders far (radius of gyration in the top
# tenth of the set), so that no part of the image sits on the centroid.

# %%
H, W = params.height_px, params.width_px
cx, cy = d1s.centroids[:, 0], d1s.centroids[:, 1]
near_edge = np.minimum.reduce([cx, cy, W - 1 - cx, H - 1 - cy]) < 2.0
z_um = d1s.trajectories[:, :, 2]
out_focus = np.abs(z_um).mean(axis=1) > params.sigma_z_um / 2
xy_um = d1s.trajectories[:, :, :2]
rg_nm = 1e3 * np.sqrt(((xy_um - xy_um.mean(axis=1, keepdims=True)) ** 2).sum(-1).mean(-1))
wide = rg_nm > np.quantile(rg_nm, 0.9)
print(f"largest |z| in the set: {np.abs(z_um).max():.2f} um (sigma_z = {params.sigma_z_um} um); "
      f"radius of gyration: median {np.median(rg_nm):.0f} nm, top tenth above "
      f"{np.quantile(rg_nm, 0.9):.0f} nm")
fail_stats = {}
for m, e in err_d1.items():
    fail = ~(e <= 210.0)
    share = {k: float(v[fail].mean()) if fail.any() else 0.0
             for k, v in (("near_edge", near_edge), ("out_of_focus", out_focus), ("wide_path", wide))}
    fail_stats[m] = {"n_fail": int(fail.sum()), "fail_fraction": float(fail.mean()),
                     **{f"{k}_in_fail": v for k, v in share.items()}}
    print(f"{m}: {fail.sum()} failures of {len(e)} ({fail.mean():.1%}); of them "
          f"{share['near_edge']:.0%} near the edge (all images: {near_edge.mean():.0%}), "
          f"{share['out_of_focus']:.0%} out of focus ({out_focus.mean():.0%}), "
          f"{share['wide_path']:.0%} with a wide path ({wide.mean():.0%}); "
          f"near the edge {share['near_edge'] / max(near_edge.mean(), 1e-12):.1f}x, wide path "
          f"{share['wide_path'] / max(wide.mean(), 1e-12):.1f}x as often as in all images")

# %% [markdown]
# The walks start in the focal plane and move a fraction of a micrometre in depth during a
# scan, far less than $\sigma_z$: no image here is out of focus, so depth explains no
# failure (it would, with a start spread in $z$; see the sensitivity sweep above). The
# networks' few failures are several times more often near the edge than the images
# are, and more often on wide paths; TrackPy fails on a quarter of the images, everywhere,
# because its error is mostly the distance from the bright part of the path to the centroid.
#
# ## Results
#
# Everything numeric of the second half goes to `06_evaluation.json` next to `table1.json`.

# %%
results = {
    "table1_file": "table1.json",
    "methods": order,
    "shortfalls": shortfalls,
    "compact_ge_ours_krcnn_cells": n_ge_fr,
    "compact_ge_paper_fcnn_cells": n_ge_fc,
    "error_vs_D": {"n_per_D": n_err, "seed": err_seed,
                   "rows": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                            for r in rows_err]},
    "crlb_still_dot_nm": {"per_axis": round(crlb["sigma_nm"], 3), "rms_2d": round(crlb_2d, 3),
                          "where": "frame centre, z = 0, N_qd and N_bkg known"},
    "compact_rmse_over_crlb": {f"{D:g}": round(float(v), 3) for D, v in ratio.items()},
    "nqd_needed_for_paper_fcnn_70nm": {f"{D:g}": v for D, v in need_nqd.items()},
    "failures_D1": {m: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}
                    for m, d in fail_stats.items()},
    "fig3_frames": list(fig3_frames),
}
out = atomic_write_text(Path(results_dir) / "06_evaluation.json",
                        json.dumps(results, indent=2, sort_keys=True) + "\n")
back = json.loads(out.read_text())
print(f"wrote {out.name}")
back_err = pd.DataFrame(back["error_vs_D"]["rows"]).assign(method=lambda d: d.method.map(SHORT))
print(back_err.pivot(index="D_um2_per_s", columns="method", values=["median_nm", "mean_nm", "rmse_nm"])
      .round(1).to_string())
print(f"compact cells >= our Keypoint R-CNN: {back['compact_ge_ours_krcnn_cells']}/9, "
      f">= paper's FCNN: {back['compact_ge_paper_fcnn_cells']}/9")

# %% [markdown]
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

# %% [markdown]
# **4.** The compact network reports, with each estimate, its own predicted error
# (`sigma_px`, per axis; the score is its negative). Does it know when it is wrong? Split
# the D = 1 test set into the half with the highest score and the half with the lowest, and
# compare the two halves' mean localisation error and fraction within 70 nm.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
co1 = compact_pred[1.0].sort_values("frame")
e_co = err_d1[CO_NAME]
top_half = co1["score"].to_numpy() > np.median(co1["score"])
halves = pd.DataFrame({
    "mean error (nm)": [e_co[top_half].mean(), e_co[~top_half].mean()],
    "within 70 nm": [(e_co[top_half] <= 70.0).mean(), (e_co[~top_half] <= 70.0).mean()],
    "predicted 2D error (nm)": [np.sqrt(2) * 70.0 * co1.sigma_px[top_half].mean(),
                                np.sqrt(2) * 70.0 * co1.sigma_px[~top_half].mean()],
}, index=["top-scoring half", "bottom half"])
print(halves.round(3).to_string())
# The score ranks reliability: the images the network is sure of are localised better,
# which is what lifts its precision-recall envelope.
assert e_co[top_half].mean() < e_co[~top_half].mean()
