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
# # 08 · How far does each method go
#
# The paper scores its localisers at one operating point: dots diffusing with
# D = {glue:text}`D1:g`, {glue:text}`D2:g` and {glue:text}`D3:g` µm²/s, at one brightness. Chapter 06 calibrated the
# simulator's unknowns there. This chapter asks what happens away from it: a dot that moves
# faster or slower (D from {glue:text}`D_grid_min:g` to {glue:text}`D_grid_max:g` µm²/s), and one that is dimmer
# or brighter ($N_{qd}$ from {glue:text}`n_qd_grid_min:g` to {glue:text}`n_qd_grid_max:g`, a decade around the
# calibrated {glue:text}`n_qd_cal:g`). It runs itself at every point of that grid with papermill
# (`qdloc.study.sweep`), keeps every run, gathers their results files into one table, and draws
# the AUC at 140 nm of TrackPy and of the compact localiser as maps over $(D, N_{qd})$. The
# figures come from `qdloc.plots.sweep`.
#
# **What you will learn**
#
# - how one operating point is scored: fresh images at $(D, N_{qd})$, TrackPy and the compact
#   network of chapter 05, the AUC of chapter 06, and a bootstrap standard error;
# - how a parameter sweep runs a chapter with papermill, point by point and two at a time,
#   resumes where it stopped, and gathers one table;
# - how far each method goes in $D$ and in $N_{qd}$ before its AUC at 140 nm falls below
#   {glue:text}`reach_auc:g`, and where the paper's operating point sits on the maps;
# - how the compact network, trained at one brightness and for D in [{glue:text}`trained_D_lo:g`,
#   {glue:text}`trained_D_hi:g`], fares outside the conditions it was trained for.

# %% tags=["parameters"]
D = 1.0  # diffusion coefficient of this run's operating point, um^2/s
n_qd = 7.5  # N_qd of this run's operating point (calibrated in chapter 06: 7.5)
n_images = 500  # fresh images at the operating point
seed = 30  # their seed (the same at every point of the sweep; not a training or test seed)
results_dir = "../data/results"
compact_model = "../data/models/compact/compact.pt"  # shipped compact weights (chapter 05)
sweep_dir = "../data/sweep"  # the sweep's folder: runs/, results/, table.csv
sweep_preset = "default"  # the sweep the maps show (qdloc.study.sweep.PRESETS); None: read sweep_dir as it is
sweep_jobs = 2  # points run at the same time, when the sweep has points left to run
reach_auc = 0.5  # "how far": the AUC at 140 nm a method must keep
fig_frames = [0, 1, 2, 3]  # images of this operating point shown with both estimates

# %% tags=["hide-input"]
import pandas as pd

from qdloc import PAPER
from qdloc.io import write_results
from qdloc.plots import sweep as ps
from qdloc.study import sweep as sw, sweep_maps as sm, sweep_point as sp
from qdloc.study.calibration import check_model_params
from qdloc.study.sweep_point import COMPACT, TRACKPY

pd.set_option("display.width", 120)
model = check_model_params(compact_model, PAPER, kind="compact")
trained_D = tuple(model["config"]["D_range_um2_per_s"])
print(f"this run: D = {D:g} um^2/s, N_qd = {n_qd:g}, {n_images} images, seed {seed}")
print(f"compact model: trained at N_qd = {model['sim_params']['n_qd']:g}, "
      f"D uniform in [{trained_D[0]:g}, {trained_D[1]:g}] um^2/s")

# %% [markdown]
# ## One operating point
#
# {py:func}`qdloc.study.sweep_point.evaluate_point` simulates `n_images` fresh images with the
# calibrated parameters of chapter 06, except $N_{qd}$, at one $D$. Image *k* depends only on
# the seed and *k*, so every point of the sweep sees the same starts, the same random steps
# (scaled by $\sqrt{D}$) and the same uniforms behind the photon noise: differences between
# points are the parameters', not the noise's. TrackPy runs with its calibrated settings, the
# compact network with the shipped weights and its mirror test-time augmentation; both are scored by
# {py:func}`qdloc.eval.metrics.auc_table`, the function behind Table 1.
#
# The compact network is not retrained at each point: it was trained once, at
# $N_{qd}$ = {glue:text}`trained_n_qd:g` and D between {glue:text}`trained_D_lo:g` and
# {glue:text}`trained_D_hi:g` µm²/s, and the sweep asks how it fares on images it
# was not trained for, as a user of the shipped weights would.
# ({py:func}`~qdloc.study.calibration.check_model_params` above
# made sure those weights belong to the calibrated simulator.)
#
# How precise is one AUC from a few hundred images? The images are resampled with
# replacement, 200 times ({py:func}`~qdloc.study.sweep_point.bootstrap_auc`); the spread of the
# resampled AUCs is its standard error.

# %%
point, sim, preds = sp.evaluate_point(D, n_qd, n_images, seed, compact_model)
print(sp.point_table(point).round(3).to_string())
print(f"wrote {write_results(results_dir, '08_sweep.json', point, sort_keys=True).name}")

# %% [markdown]
# Over the whole sweep the standard error is at most {glue:text}`se_max:.2f` (largest near an AUC of one
# half): two points of the maps below that differ by less than about twice that are not told
# apart by this sweep. The same
# images at every point make neighbouring points more alike than independent sets would, so
# trends along a row or column are clearer than any single value.
#
# The first images of this point, with each method's top-scoring estimate (green: the
# trajectory and its centroid, the label):

# %% tags=["nbval-ignore-output"]
fig = ps.plot_point_estimates(sim, preds, PAPER.replace(n_qd=n_qd), frames=fig_frames)

# %% [markdown] tags=["sweep-end"]
# ## The sweep
#
# The maps need this chapter's first part at every point of a grid. {py:mod}`qdloc.study.sweep`
# runs it with papermill, once per point, with the point's values injected into the parameters
# cell:
#
# ```bash
# make sweep     # = .venv/bin/qdloc sweep --preset default --out data/sweep --jobs 2
# .venv/bin/qdloc sweep --notebook notebooks/08_sweep.ipynb \
#     --grid D=0,1,2,3 --grid n_qd=3.48,7.5,16.2 --param n_images=200 --out /tmp/sweep
# ```
#
# Each point is a papermill run, two at a time on two cores, in `notebooks/` as working
# directory like every chapter. Each of the two worker threads keeps one kernel for the points
# it runs and wipes the kernel's namespace between them ({py:mod}`qdloc.study.kernel_runner`):
# the kernel's start and the chapter's imports, which cost more than a point's own work, are
# paid once per thread instead of once per point. `--kernel-per-point` gives every point a
# kernel of its own; the tests check that this chapter's results files are the same either
# way. A point's executed notebook goes to
# `runs/<point>.ipynb` (e.g. `runs/D=1.5__n_qd=7.5.ipynb`) and the results file it wrote to
# `results/<point>.json`, each only when the run has finished; the results files are gathered
# into `table.csv`, one row per point and method. A point whose files exist, and whose
# recorded parameters and code match, is not run again: an interrupted sweep resumes where
# it stopped, and a failed point is reported while the others go on.
#
# Why this chapter, and not a separate script? A point is exactly what this chapter's first
# part computes, so each kept run is a readable notebook of its own operating point (its
# numbers, its images), and a reader who reruns the chapter at another $(D, N_{qd})$ gets the
# same numbers as the sweep. The sweep leaves out the part that reads the table, from this
# section on: this cell is tagged `sweep-end`, and each point's notebook says so at its end.
#
# At its default parameters the chapter makes sure the sweep is complete: it runs the points
# that are missing (all of them in a fresh clone) and skips the others. With
# `sweep_preset = None` it only reads `table.csv` as it is
# ({py:func}`~qdloc.study.sweep_maps.ensure_sweep`).

# %% tags=["nbval-ignore-output"]
if sweep_preset is not None:
    print(sm.ensure_sweep(sweep_preset, sweep_dir, sweep_jobs))

# %%
from qdloc.plots.glue import glue_all  # here, not above: the code above is the sweep's (its digest)

table = sw.read_table(sweep_dir)
grids = sm.method_grids(table, "auc_140")
v = sm.prose_values(table, PAPER.n_qd, reach_auc)
glue_all(v | {"n_qd_cal": PAPER.n_qd, "trained_n_qd": model["sim_params"]["n_qd"], "reach_auc": reach_auc,
              "trained_D_lo": trained_D[0], "trained_D_hi": trained_D[1]})
assert abs(table.loc[table["auc_140_se"].idxmax(), "auc_140"] - 0.5) < 0.2  # largest SE near one half
print(sm.describe_table(table))
print(f"\n{TRACKPY}, AUC at 140 nm (rows N_qd, columns D):\n{grids[TRACKPY].round(2)}")
print(f"\n{COMPACT}, AUC at 140 nm (rows N_qd, columns D):\n{grids[COMPACT].round(2)}")

# %% [markdown]
# ## The maps
#
# AUC at 140 nm, the paper's middle tolerance, over the grid. Red box: the paper's operating
# point, D from {glue:text}`D1:g` to {glue:text}`D3:g` µm²/s at the calibrated $N_{qd}$, with a dot on each test set's
# D; dashed white box: what the compact network was trained on. Right: the compact's AUC
# minus TrackPy's.

# %% tags=["nbval-ignore-output"]
operating = {"D": list(sm.PAPER_TEST_D), "n_qd": PAPER.n_qd}
fig = ps.plot_auc_maps(table, "auc_140", operating=operating, training={COMPACT: (trained_D, PAPER.n_qd)})

# %% [markdown]
# Both maps fall from the top left (a bright, slow dot) to the bottom right (a dim, fast
# one), but TrackPy's falls much sooner, in both directions. Along $D$: TrackPy reports where
# the spot is brightest, which is the centroid only while the dot has not moved, so its AUC
# drops from D = 0 on; the compact network, which learned where the dot was on average,
# loses slowly with $D$ and degrades gracefully beyond the D = {glue:text}`trained_D_hi:g` µm²/s it was trained
# up to.
# Along $N_{qd}$: both lose the dot in the noise in the dimmest rows, where no localiser can
# place a dot it cannot see, but TrackPy needs a brighter dot than the compact for the same
# score even when the dot is still.
#
# Where is the compact's lead largest?

# %%
lead = sm.lead_summary(grids, PAPER.n_qd, operating["D"])
print(sm.describe_lead(lead, PAPER.n_qd))
assert 0 < lead["D"] < v["D_grid_max"]
assert v["n_qd_grid_min"] < lead["n_qd"] < v["n_qd_grid_max"]
assert max(v["lead_still_bright"], v["lead_dim_fast"]) < min(lead["at_operating"].values()) / 4

# %% [markdown]
# The lead is largest at moderate D and brightness, and small where both succeed or both fail.

# %% [markdown]
# The lead is largest in a band through the paper's operating point, moderate D and
# brightness: the regime both the paper's network and ours were built for. It shrinks where
# the dot is still and bright (TrackPy's best case, where both come near 1: a lead of
# {glue:text}`lead_still_bright:.2f`) and where it is dim and fast (where both fail: {glue:text}`lead_dim_fast:.2f`).
#
# ## How far each method goes
#
# {py:func}`qdloc.study.sweep_point.reach` reads the maps: for each $N_{qd}$ the largest D up
# to which a method keeps an AUC of at least `reach_auc` at 140 nm (NaN: not even at the
# smallest D), and for each D the smallest $N_{qd}$ from which it does (NaN: not even at the
# brightest); {py:func}`~qdloc.study.sweep_maps.reach_tables` puts the two methods side by side.

# %%
d_max, n_min = sm.reach_tables(grids, reach_auc)
print(sm.describe_reach(d_max, n_min, table, reach_auc))
assert v["tp_reach_D"] == 0  # TrackPy: a still dot only
assert v["co_reach_D"] == v["D_grid_max"]
assert v["tp_best_at_Dref"] < reach_auc
assert max(v["co_nqd_frac_D2"], v["co_nqd_frac_D3"]) < 1
assert n_min.loc[0.0, TRACKPY] > n_min.loc[0.0, COMPACT]  # TrackPy needs more light, even still

# %% [markdown]
# At the calibrated brightness TrackPy keeps an AUC of {glue:text}`reach_auc:g` only up to D =
# {glue:text}`tp_reach_D:g`, a still dot, and at the paper's D = {glue:text}`D2:g` it does not reach
# it even with a dot {glue:text}`bright_ratio:.1f` times brighter, the top of the grid (its best
# there: {glue:text}`tp_best_at_Dref:.2f`). The compact network keeps {glue:text}`reach_auc:g` over
# the whole D range of the grid at the calibrated brightness, up to D = {glue:text}`co_reach_D:g`
# µm²/s, and up to D = {glue:text}`D2:g` it needs only {glue:text}`co_nqd_frac_D2:.0%` of the
# calibrated $N_{qd}$ ({glue:text}`co_nqd_frac_D3:.0%` at D = {glue:text}`D3:g`): at the paper's
# operating point it has room to spare in speed and in signal.
#
# ## At the paper's brightness
#
# The calibrated row of the maps, with ±1 standard error, and the paper's Table 1 at
# 140 nm (open circles: TrackPy and the paper's FCNN, on the full test sets; chapter 06
# calibrates the simulator's unknowns against the paper's TrackPy row).

# %%
at_op = sm.operating_point(table, PAPER.n_qd, operating["D"])
print(f"AUC at 140 nm at the paper's operating point (N_qd = {PAPER.n_qd:g}):")
print(sm.paper_comparison(at_op).round(3).to_string())
assert min(v["co_minus_fcnn_D1"], v["co_minus_fcnn_D2"], v["co_minus_fcnn_D3"]) > 0
assert max(abs(v["tp_minus_paper_se_D2"]), abs(v["tp_minus_paper_se_D3"])) < 1 < -v["tp_minus_paper_se_D1"]
assert v["tp_drop_D12"] < v["paper_tp_drop_D12"] / 2

# %% tags=["nbval-ignore-output"]
fig = ps.plot_auc_cut(table, PAPER.n_qd, paper=sm.paper_cells(140.0))

# %% [markdown]
# These are other images than the test sets ({glue:text}`images_per_point:g` per point, one seed),
# so they scatter around chapter 06's Table 1 by about a standard error. The compact's cells lie
# above the paper's FCNN, by {glue:text}`co_minus_fcnn_D1:.2f`, {glue:text}`co_minus_fcnn_D2:.2f`
# and {glue:text}`co_minus_fcnn_D3:.2f` at D = {glue:text}`D1:g`, {glue:text}`D2:g` and
# {glue:text}`D3:g`. Against the paper's TrackPy row, the sweep is
# {glue:text}`tp_minus_paper_se_D2:.1f` and {glue:text}`tp_minus_paper_se_D3:.1f` standard errors
# away at D = {glue:text}`D2:g` and {glue:text}`D3:g`, within one; at D = {glue:text}`D1:g` it is
# {glue:text}`tp_minus_paper_se_D1:.1f`. The paper's TrackPy row falls by
# {glue:text}`paper_tp_drop_D12:.2f` from D = {glue:text}`D1:g` to {glue:text}`D2:g`, the sweep's by
# only {glue:text}`tp_drop_D12:.2f`: the calibrated simulator does not follow that drop (chapter
# 06); the rest is this image set's scatter, shared by the whole D row since every point has the
# same random draws. Along the row the compact network's AUC changes slowly with D; TrackPy's falls
# steeply from D = 0 on.
#
# The sweep's run at this chapter's own operating point is the chapter's first part, run by
# papermill in another process: the same numbers, to the last digit.

# %%
diff = sm.point_difference(table, point)  # None: not a point of the sweep
assert diff is None or diff <= 1e-12, diff
print(f"D = {D:g}, N_qd = {n_qd:g} (n = {n_images}, seed {seed}): "
      + ("not a point of the sweep" if diff is None else "the sweep's point equals this run's"))

# %% [markdown]
# ## Results
#
# The first part wrote this operating point to `08_sweep.json`; the maps' summary joins it
# there (the sweep's points have only the first).

# %%
point["maps"] = sm.maps_summary(table, sweep_dir, reach_auc, d_max, n_min, at_op)
out = write_results(results_dir, "08_sweep.json", point, sort_keys=True)
print(f"wrote {out.name}: {point['maps']['points']} points; AUC at 140 nm at the operating point:")
print(pd.DataFrame(point["maps"]["operating_point_auc_140"]).to_string())

# %% [markdown]
# ## Exercises
#
# **1.** At the calibrated $N_{qd}$, TrackPy scores some AUC at 140 nm for a still dot
# (D = 0). Up to which D does the compact network score at least that much? And how much
# brighter must the dot be for TrackPy to reach the compact's AUC at the paper's D = 1?

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
m = sm.still_dot_match(grids, PAPER.n_qd, D=1.0)
print(sm.describe_still_dot_match(m, table["D"].max(), D=1.0))
assert 2.0 <= m["compact_reach_D"] < table["D"].max()
assert m["trackpy_n_qd_needed"] is None

# %% [markdown]
# TrackPy's best case, a still dot, is matched by the compact up to D = 2 (twice the paper's
# D = 1), but not up to the grid's edge; and no brightness within the grid's decade brings
# TrackPy at D = 1 to the compact's score.

# %% [markdown]
# **2.** Is the compact's advantage at the paper's operating point larger than the noise of
# the sweep? Compute, at the paper's three test D and the calibrated $N_{qd}$, the difference of
# the two AUCs at 140 nm in units of its standard error (the two methods' errors combined as
# if independent). How many images per point would bring TrackPy's standard error at D = 1
# down to a hundredth (it falls as $1/\sqrt{n}$)?

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
z = sm.lead_in_se(at_op)
print(z.round(3).to_string())
se_tp = at_op.loc[1.0, ("auc_140_se", TRACKPY)]
n_needed = sm.images_for_se(n_images, se_tp, 0.01)
print(f"TrackPy's SE at D = 1 with {n_images} images: {se_tp:.4f}; "
      f"for 0.01: about {n_needed} images")
assert (z["z"] > 10).all()
assert n_needed > n_images

# %% [markdown]
# The advantage is many standard errors wide: not noise.

# %% [markdown]
# **3.** The grid stops at D = {glue:text}`D_grid_max:g` µm²/s. Evaluate one point beyond it, D = 4 at the calibrated
# $N_{qd}$, with `sp.evaluate_point` (the same seed, 300 images to be quick), and check that
# the trend of the calibrated row goes on.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
far, _, _ = sp.evaluate_point(4.0, PAPER.n_qd, 300, seed, compact_model)
far_table = sm.beyond_grid(far, grids, PAPER.n_qd, D_edge=3.0)
print("AUC at 140 nm: at D = 3 (sweep) and at D = 4 (this point, with its SE)")
print(far_table.round(3).to_string())
assert far_table.loc[COMPACT, "beyond"] < far_table.loc[COMPACT, "sweep at the edge"]
assert far_table.loc[COMPACT, "beyond"] > far_table.loc[TRACKPY, "beyond"]

# %% [markdown]
# A faster dot is harder for both; the compact network still leads.
