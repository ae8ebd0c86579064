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
# # 05 · Training
#
# The paper localises the dot with torchvision's Keypoint R-CNN, a detector built for photographs,
# pre-trained on MS COCO and trained for {glue:text}`paper_epochs:d` epochs on a GPU (§4.2, §4.3).
# This chapter trains that network's much smaller cousin, designed for these images: one dot,
# {glue:text}`height_px:d` x {glue:text}`width_px:d` pixels, a PSF {glue:text}`psf_px:.0f` pixels
# wide, motion blur mostly along the columns, a few photons on a background of {glue:text}`n_bkg:g`
# per pixel. It trains from scratch in {glue:text}`train_min:.0f` minutes on {glue:text}`threads:d`
# CPU cores (the time its training recorded), and its training curves, and those of the Keypoint
# R-CNN when it has been trained here, are read from the files the training wrote (`history.csv`,
# through {py:func}`qdloc.study.training_report.load_compact_run`).
#
# **What you will learn**
#
# - how the compact network ({py:mod}`qdloc.localise.compact`) turns an image into one position and
#   a predicted error: a heat map with sub-pixel offsets, read out by spatial expectation;
# - why it learns from fresh simulated images every epoch, and what its training curves and
#   time per epoch look like on this machine;
# - which symmetries of the scan can be used to average at test time (the mirror in x) and
#   which cannot (the 180° rotation, in this simulator);
# - how it scores on the paper's test sets next to the paper's network, and, where it falls
#   short, how far it is from the floor set by photon noise (the Cramér-Rao bound).

# %% tags=["parameters"]
seed = 0  # seed of a retraining
retrain = False  # True: train the compact network again (the shipped one's time: describe_history below)
retrain_epochs = None  # None: the cpu profile's 12 epochs; fewer for a quick look
models_dir = "../data/models"  # shipped model files: compact/, frcnn_cpu/
data_dir = "../data/paper"  # the paper's sets (chapter 04); simulated in memory where missing
results_dir = "../data/results"
n_views = 2000  # fresh images per D for the symmetry check
views_seed = 20  # their seed (not one of the paper's sets: 1, 2, 10, 11, 12)

# %% tags=["hide-input"]
import math
from pathlib import Path

import pandas as pd
import torch

from qdloc.eval.bounds import crlb_still_dot_nm
from qdloc.io import write_results
from qdloc.localise.train import train
from qdloc.plots import training as plots_training
from qdloc.plots.glue import glue_all
from qdloc.study import training_report as tr
from qdloc.study.calibration import paper_row
from qdloc.study.evaluation import evaluate_compact

torch.set_num_threads(2)
compact_dir = Path(models_dir) / ("compact_retrained" if retrain else "compact")
if retrain:
    kw = {} if retrain_epochs is None else {"epochs": int(retrain_epochs)}
    train("compact", "cpu", data_dir, compact_dir, seed=seed, progress=False, **kw)
run = tr.load_compact_run(compact_dir)
params, history, scan = run.params, run.history, run.scan
glue_all(tr.model_values(run))
print(tr.describe_model(run))  # and whether SimParams() has changed since it was trained

# %% [markdown]
# ## The network
#
# Five steps, each chosen for these images (details in the docstring of
# `qdloc.localise.compact`):
#
# 1. **Normalise** the counts as $(c - N_{bkg}) / \sqrt{N_{bkg}}$: background pixels have
#    mean 0 and variance 1.
# 2. **Space-to-depth**: the image, padded to {glue:text}`padded_height_px:d` x {glue:text}`padded_width_px:d` with one
#    background column, becomes four channels on a {glue:text}`grid_h:d` x {glue:text}`grid_w:d` grid of 2 x 2
#    cells. With a PSF of σ = {glue:text}`psf_px:.0f` px nothing is lost,
#    and every later layer costs a quarter. Two **coordinate channels** (the cell's column
#    and row) tell the network *when* the beam passed each cell, since the scan goes row by
#    row: how much of the trajectory went unobserved depends on it.
# 3. A stem convolution and four residual blocks $h \leftarrow h + \mathrm{ReLU}(\mathrm{BN}
#    (\mathrm{conv}_{3\times 3}(h)))$, dilated {glue:text}`dilations:s`: a receptive field of about
#    {glue:text}`receptive_px:d` px,
#    the whole frame.
# 4. A 1 x 1 **head** with five maps: a logit $l$, offsets $(o_x, o_y)$ in px and
#    log-variances $(v_x, v_y)$ for every cell.
# 5. **Read-out by spatial expectation**: $p = \mathrm{softmax}(l)$ over the {glue:text}`n_cells:d` cells, the
#    position $\hat x = \sum p\,(c_x + o_x)$, $\hat y = \sum p\,(c_y + o_y)$ and
#    $\log \hat\sigma^2_{x,y} = \sum p\, v_{x,y}$. Exactly one estimate per image (one dot per
#    image), with a predicted error whose negative is the **score** that ranks the estimates
#    along the precision-recall curve.

# %%
print(tr.describe_network(run))  # layers, parameters, multiply-accumulates, file size

# %% [markdown]
# ## Training on fresh images
#
# The simulator makes thousands of images per second, more than the network can learn from on a CPU,
# so every epoch draws new ones (images $[e\,n, (e+1)\,n)$ of the simulator's stream `1_000_000 +
# seed`, far from the seeds of the paper's sets): the network never sees an image twice and cannot
# overfit. D is drawn per image uniformly in [{glue:text}`train_D_lo:g`, {glue:text}`train_D_hi:g`]
# µm²/s, wider than the test sets' {glue:text}`D1:g` .. {glue:text}`D3:g`, so that the test values
# lie inside the training range rather than at its edges. The loss is the β-NLL of a Gaussian (β =
# {glue:text}`beta:g`) on the predicted position and variance. The model kept is the epoch with the
# smallest mean error on the validation split (the paper preset's `val`, {glue:text}`val_images:,d`
# images): here epoch {glue:text}`best_epoch:d` of {glue:text}`epochs:d`.

# %%
print(tr.describe_history(run))

# %% tags=["nbval-ignore-output"]
fig = plots_training.plot_training_curves(history, selected_epoch=int(run.meta["best_epoch"]),
                                    title="compact network")

# %% [markdown]
# The validation error falls quickly and then slowly; the learning rate follows a one-cycle
# schedule, warm-up then cosine decay, so the last epochs refine. Training and validation
# images come from the same simulator, and no training image is reused, so there is no
# overfitting to watch for: the gap between the two is set by the D range (training also
# sees D < {glue:text}`D1:g` and D > {glue:text}`D3:g`).

# %% [markdown]
# ## Which symmetries can test-time averaging use?
#
# Averaging the estimates of transformed copies of an image helps only if each copy is another
# sample of the *same* simulator, with the transformed centroid as its label. Mirroring the columns
# reverses time *within* each line: a line lasts {glue:text}`line_us:.0f` µs, in which the dot moves
# about {glue:text}`line_move_nm:.0f` nm at D = 1 µm²/s, against {glue:text}`psf_nm:.0f` nm for the
# PSF, so the mirror is a symmetry to that accuracy. The 180° rotation reverses the whole scan in
# time. Brownian steps are time-reversible, but this simulator starts every walk in a box
# (`start_margin_px` from the edges) and in focus, and lets it end anywhere: the rotated images show
# walks that *end* in the box, another population. The network, trained on the real one, tells them
# apart.
# {py:func}`qdloc.study.training_report.view_errors` localises every view of fresh images
# and maps the estimates back.

# %%
views_table, outside = tr.view_errors(run.model_path, params, n=n_views, seed=views_seed)
print(tr.describe_views(views_table, outside))
vs = tr.view_summary(views_table)
glue_all(vs)
assert max(vs["still_max_pct"], vs["mirror_max_pct"]) < 2  # a still dot: every view; the mirror: any D
assert vs["reverse_min_pct"] > 2  # reversing the lines costs, and more at larger D:
assert vs["reverse_fast_min_pct"] > vs["reverse_slow_max_pct"]

# %% tags=["nbval-ignore-output"]
fig = plots_training.plot_views(views_table)

# %% [markdown]
# For a dot that does not move (D = 0) every view is as good as the plain image (within
# {glue:text}`still_max_pct:.1f` %): the start box is then also the end box, and the rotation is exact. For
# a moving dot the mirror in x is still as good (within {glue:text}`mirror_max_pct:.1f` % at every D), while
# flipping the rows or rotating (both reverse the order of the lines) costs
# {glue:text}`reverse_min_pct:.0f` to {glue:text}`reverse_max_pct:.0f` %, more at larger D. So
# {py:func}`qdloc.localise.compact.compact_locate` (`tta=True`, the default) averages each
# image with its mirror in x (twice the compute); the rotation would make the average worse.

# %% [markdown]
# ## On the paper's test sets
#
# The three test sets of §4.1 ({glue:text}`test_n1:,d` images at D = {glue:text}`D1:g`,
# {glue:text}`test_n2:,d` at D = {glue:text}`D2:g` and {glue:text}`test_n3:,d` at D =
# {glue:text}`D3:g` µm²/s), at the model's simulator parameters, scored with the paper's AUC of the
# precision-recall curve (chapter 06; {py:func}`qdloc.study.evaluation.evaluate_compact`), next to
# the paper's Keypoint R-CNN ("FCNN" in its Table 1).

# %%
evaluation = evaluate_compact(run.model_path, data_dir)
paper = paper_row("FCNN")
ours, table, short = tr.paper_comparison(evaluation, paper)
print(tr.describe_comparison(table, short, evaluation))
assert not short or set(pd.DataFrame(short)["eps_nm"]) == {70.0}  # only cells at 70 nm fall short

# %% [markdown]
# ## Where it falls short: signal, and the floor
#
# Two questions tell a weak network from a hard problem. First, does the same network, trained
# the same way, do better when the dot is brighter? The scan below (`nqd_scan.csv`, made by
# {py:func}`qdloc.study.evaluation.scan_n_qd` with a shorter schedule, the command is in the model
# folder's README) trains it from scratch at several $N_{qd}$. Second, how far is it from the
# floor? For a dot that does not move, the Cramér-Rao bound (Mortensen et al. 2010) follows
# from the Fisher information of the pixelated Poisson model,
# $I_{ab} = \sum_{ij} \partial_a\lambda_{ij}\,\partial_b\lambda_{ij} / \lambda_{ij}$,
# computed exactly by {py:func}`qdloc.eval.bounds.crlb_still_dot_nm`. A moving dot can only be
# harder to localise; the distance between the network's error and the bound is the price of the
# motion (the parts of the trajectory recorded while the beam was elsewhere) plus whatever the
# network misses.

# %%
crlb = crlb_still_dot_nm(params)
print(tr.describe_floor(crlb, evaluation, scan, n_bkg=params.n_bkg))  # and the N_qd scan's table

# %% tags=["nbval-ignore-output"]
if scan is not None:
    fig = plots_training.plot_nqd_scan(scan, paper, default_n_qd=params.n_qd)

# %%
floor = tr.floor_report(scan, paper, ours, crlb, params.n_qd, still_nm=views_table.loc["identity", "D=0"])
print(floor["text"])
glue_all(floor["glue"])
if scan is not None:
    assert floor["monotone"]  # the brighter, the better every cell
    assert floor["crlb_fall"] > 1.5 * floor["error_fall"]  # the bound falls much faster than the error
    assert floor["scan_agree"] < 0.03  # the scan's short schedule agrees with the shipped model
assert floor["still_ratio"] < 2  # a still dot: close to the bound

# %% [markdown]
# The brighter the dot, the better every cell, and only a little more light than the calibrated
# value ({glue:text}`first_ratio:.2f` times) puts all nine above the paper's row: the cells that
# fall short do so because the calibrated images hold too few photons for 70 nm, not because the
# network or its training stops short (the short schedule of the scan and the shipped model agree
# within {glue:text}`scan_agree:.2f` in AUC at the calibrated $N_{qd}$). For a dot that does not
# move the network comes close to the bound ({glue:text}`still_ratio:.1f` times it); for a moving
# one the bound falls much faster with $N_{qd}$ than the network's error does
# ({glue:text}`crlb_fall:.1f` against {glue:text}`error_fall:.1f` times from $N_{qd}$ =
# {glue:text}`scan_lo:g` to {glue:text}`scan_hi:g`), which is then set mostly by the motion: the
# stretches of the trajectory recorded while the beam was on other lines, which no estimator can
# see.

# %% [markdown]
# ## The paper's network: Keypoint R-CNN
#
# {py:mod}`qdloc.localise.frcnn` trains torchvision's Keypoint R-CNN as the paper did (profile
# `paper`) or reduced to fit a CPU (profile `cpu`); its files go to `frcnn_cpu/`.

# %%
frcnn = tr.read_history(Path(models_dir) / "frcnn_cpu")
print(tr.describe_frcnn_history(frcnn))  # epochs, recorded times, the selected epoch

# %% tags=["nbval-ignore-output"]
if frcnn is not None:
    fig = plots_training.plot_training_curves(frcnn, tr.frcnn_history_summary(frcnn)["selected_epoch"],
                                        title="Keypoint R-CNN (cpu profile)")

# %% tags=["nbval-ignore-output"]
runs = {"compact": history} if frcnn is None else {"compact": history, "Keypoint R-CNN": frcnn}
fig = plots_training.plot_epoch_times(runs)

# %% [markdown]
# ## Results
#
# The chapter's numbers go to `05_training.json` in `results_dir`.

# %%
results = tr.training_results(f"{compact_dir.name}/{run.model_path.name}", run, views_table, ours,
                              paper, short, evaluation, crlb, None if frcnn is None else len(frcnn))
print("written:", write_results(results_dir, "05_training.json", results).name)

# %% [markdown]
# ## Exercises
#
# **1.** The bound $\sigma \propto 1/\sqrt{N}$ holds without background. How much does the
# still-dot bound shrink when the dot is four times brighter than the model's $N_{qd}$, and
# why is it more than a factor of two?

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
r4 = crlb_still_dot_nm(params.replace(n_qd=4 * params.n_qd))["sigma_nm"] / crlb["sigma_nm"]
print(f"bound at 4 x N_qd / bound at N_qd = {r4:.3f}")
assert r4 < 0.5

# %% [markdown]
# With background, a faint dot's photons in the PSF's tails are lost in the background's noise; a
# brighter dot lifts more pixels above it, so the information grows faster than N.

# %% [markdown]
# **2.** How far does the dot move during one line ({glue:text}`line_dwells:d` dwell times) and during one
# retrace at D = {glue:text}`D3:g` µm²/s, per axis, compared with the PSF's σ? This is why the mirror in x is a
# near-symmetry and motion blur runs along the columns.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
line_nm = math.sqrt(2 * 1.75 * (params.width_px - 1) * params.dwell_s) * 1000
retrace_nm = math.sqrt(2 * 1.75 * params.retrace_s) * 1000
print(f"during a line: {line_nm:.1f} nm; during a retrace: {retrace_nm:.1f} nm; "
      f"PSF sigma: {params.sigma_xy_um * 1000:.0f} nm")
assert line_nm < 0.1 * params.sigma_xy_um * 1000 < retrace_nm

# %% [markdown]
# **3.** How many epochs did the network need to come within 2 % of its final validation
# error, and what fraction of all training time was that?

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
final_err, first, frac = tr.epochs_to_within(history, rel=0.02)
print(f"within 2 % of the final {final_err:.1f} nm after epoch {first} of {len(history)} "
      f"({100 * frac:.0f} % of the training time)")
assert 1 <= first <= len(history)
