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
# # 04 · Dataset generation
#
# Chapters 01–03 built the simulator: the scanner's two clocks, the random walk, Eq. 1 and
# Poisson noise. This chapter turns it into the data of the paper (§4.1): a training set, a
# validation split and three test sets, written to disk in a form that a network can train
# on, that a microscopist can open in Fiji, and that says how it was made. It follows
# {py:mod}`qdloc.data.dataset`; the tables and checks come from {py:mod}`qdloc.study.datasets`
# and the figures from {py:mod}`qdloc.plots.dataset`.
#
# **What you will learn**
#
# - which sets the paper uses, and how the diffusion coefficient of each image is drawn so
#   that image $k$ depends only on the seed and $k$;
# - what a set looks like on disk: a TIFF stack with a calibrated pixel size, a CSV of labels,
#   the trajectories, and a `params.json` that records the provenance and the checksums;
# - why the sets are written atomically, and how a large set is split into shards on several
#   machines and joined again, byte for byte;
# - how to check a set when you load it, and what the errors tell you.

# %% tags=["parameters"]
seed = 0  # seed of the small demonstration set (the paper's sets have their own seeds)
n_demo = 600  # images in the demonstration set (sharding, atomic writes)
out_dir = "../data/paper"  # folder of the paper's five sets
make_paper_sets = True  # False: skip the paper's sets and show the demonstration set (fast runs)
results_dir = "../data/results"

# %% tags=["hide-input"]
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from qdloc import BLOCK, SimParams
from qdloc.data import dataset as dd
from qdloc.data.dataset import DatasetError, concatenate_shards, draw_D, load_dataset
from qdloc.data.presets import PAPER_PRESET
from qdloc.io import write_results
from qdloc.plots.dataset import plot_D_histogram, plot_montage
from qdloc.plots.glue import glue_all
from qdloc.study import datasets as sd

params = SimParams()
demo_root = Path(tempfile.mkdtemp(prefix="qdloc-ch04-"))  # removed at the end of the chapter
print(f"images of {params.height_px} x {params.width_px} px of {params.pixel_size_um} um; "
      f"random blocks of {BLOCK} images")

# %% [markdown]
# ## The paper's sets
#
# The paper trains on {glue:text}`n_train:,d` images and tests on three sets of {glue:text}`n_test1:,d`,
# {glue:text}`n_test2:,d` and {glue:text}`n_test3:,d` images, one per diffusion coefficient ({glue:text}`D_test1:g`,
# {glue:text}`D_test2:g` and {glue:text}`D_test3:g` µm²/s); the training images have "a set of diffusion
# coefficients between 0.75 and 1.75 µm²/s". It picks the best of 20 epochs on a validation set
# whose size it does not give: we use a separate 10 % split ({glue:text}`n_val:,d` images) with the
# training distribution. Each set has its own seed, so no image is
# shared between sets.

# %%
print(sd.describe_preset(PAPER_PRESET))
glue_all(sd.preset_values(PAPER_PRESET, params))

# %% [markdown]
# **One D per image, reproducibly.** In the training and validation sets every image gets
# its own $D$, uniform in [{glue:text}`D_lo:g`, {glue:text}`D_hi:g`] µm²/s. The simulator already guarantees that image
# $k$ depends only on the seed and $k$ (and on its own $D$): its random numbers come in
# blocks of `BLOCK` images with a generator per block. The diffusion coefficients follow
# the same rule with their own stream, spawned with a different key:
#
# $$
# D_k = 0.75 + u_k, \qquad
# u_k = \text{uniform number } (k \bmod B) \text{ of }
#   \texttt{PCG64(SeedSequence(seed, spawn\_key=(0xD15F, } b\texttt{)))},
# \quad b = \lfloor k / B \rfloor .
# $$
#
# So any slice of a set can be made without the rest: image 1,000 alone gets the same $D$
# as image 1,000 of the full set.

# %%
D_all = draw_D(PAPER_PRESET["train"].D, 2000, seed=1)
D_slice = draw_D(PAPER_PRESET["train"].D, 10, seed=1, start=1000)
print("D of images 1000..1002:", np.round(D_slice[:3], 6))
print("same as in the full draw:", bool(np.array_equal(D_slice, D_all[1000:1010])))

# %% [markdown]
# ## Making the sets
#
# {py:func}`~qdloc.data.dataset.write_paper_sets` writes the five sets into `out_dir`, one
# folder each. A set that already exists, loads, verifies and was made with the same
# parameters is kept; one made with other parameters (for instance before a change of
# $N_{qd}$) is replaced. The {glue:text}`n_total:,d` images take seconds (this run's time is printed
# below).

# %%
t0 = time.perf_counter()
if make_paper_sets:
    paths = dd.write_paper_sets(out_dir, params, skip_existing=True, force=True, progress=False)
    print(f"{len(paths)} sets ready in {out_dir}")
demo = dd.write_dataset(demo_root / "demo", n_demo, params, seed=seed, D=("uniform", 0.75, 1.75), progress=False)
print(f"demonstration set of {n_demo} images ready")
elapsed_s = time.perf_counter() - t0

# %% tags=["nbval-ignore-output"]
print(f"time to write (or check and keep) them: {elapsed_s:.1f} s")

# %%
if make_paper_sets:
    test = load_dataset(Path(out_dir) / "test_D1")
    train = load_dataset(Path(out_dir) / "train")
else:  # a quick run: the demonstration set stands in for both
    test = train = load_dataset(demo)
print(sd.describe_loaded(test, train))

# %% [markdown]
# ## On disk: what a microscopist gets
#
# A set is a folder of four files:
#
# | file | what it holds |
# |---|---|
# | `images.tif` | photon counts: one 16-bit page per image, an ImageJ stack with its pixel size |
# | `labels.csv` | one row per image: label (trajectory centroid), D, start, end, detection box |
# | `trajectories.npy` | the dot's position (x, y, z) in µm at every pixel, shape (n, H·W, 3) |
# | `params.json` | how the set was made: every simulator parameter, seed, D, version, checksums |

# %%
print(sd.files_table(test.path).round(2).to_string(index=False))

# %% [markdown]
# **The TIFF in Fiji.** `images.tif` is an uncompressed ImageJ hyperstack with its frames
# along T. Fiji (*File › Open*) shows it as a stack of `n` frames whose scale is already
# set: the pixel size is stored in the resolution tags and the unit in the ImageJ
# description. Any TIFF reader gets the pages:

# %%
print(sd.describe_tiff(sd.tiff_summary(test.path / "images.tif")))

# %% [markdown]
# **The labels.** `labels.csv` has one row per image, in page order. Positions are in pixels
# with the simulator's convention (x = column, y = row, pixel centres at integers, so the image
# covers $[-0.5, W-0.5] \times [-0.5, H-0.5]$):
#
# - `frame`: the image index $k$ (the page index of the TIFF);
# - `x_px, y_px` and `x_nm, y_nm`: the label of the paper, the centroid of the trajectory;
# - `D_um2_per_s`: the image's diffusion coefficient;
# - `start_*`, `end_*`: the first and last trajectory samples (x, y in px, z in µm);
# - `bbox_x0, bbox_y0, bbox_x1, bbox_y1`: a detection box for box-based detectors such as the
#   paper's Keypoint R-CNN, which the paper does not specify. We take the bounding box of the
#   trajectory padded by $2\sigma_{xy}/a$ (= {glue:text}`bbox_pad_px:g` px) on every side, the reach of the PSF, clipped
#   to the image.

# %%
print(test.labels.head(4).round(3).to_string(index=False))

# %% [markdown]
# **Provenance.** `params.json` holds every field of `SimParams`, the seed, the number of
# images, the D specification, the shard (if any), the `qdloc` version and the size and
# SHA-256 of the three data files. It has no date and no path in it: writing the same set
# twice gives the same bytes in all four files, which is what lets anyone check that their
# copy is the set we describe.

# %%
print("keys:", ", ".join(sorted(test.meta)))
print(sd.provenance(test.meta))

# %%
print("sha256 (first 16 digits):")
print(sd.checksum_table({test.path.name: test}, chars=16).T.to_string())

# %% [markdown]
# ## Looking at the data
#
# Test images at D = 1 µm²/s with their labels: the centroid of the trajectory (red cross),
# the trajectory (yellow) and the detection box (dashed cyan). The brightest pixels are
# where the beam met the dot; the label is where the dot was *on average*, which motion blur
# can put away from them.

# %% tags=["nbval-ignore-output"]
fig = plot_montage(test, indices=range(12), ncols=6, title=f"{test.path.name}: images 0-11")

# %% [markdown]
# The training set's diffusion coefficients fill [{glue:text}`D_lo:g`, {glue:text}`D_hi:g`] µm²/s evenly:

# %% tags=["nbval-ignore-output"]
ax = plot_D_histogram(train.D, 0.75, 1.75, title=f"{train.path.name}: D per image")

# %%
u = sd.uniform_check(train.D, 0.75, 1.75)
print(sd.describe_uniform(u, 0.75, 1.75))
assert u["ks_p"] > 0.01  # evenly: no evidence against the uniform distribution

# %% [markdown]
# ## Atomic writes
#
# A set is built in a hidden folder next to its destination, `.NAME.tmp-PID-HOST-XXXX`, and
# renamed into place only when all four files are complete and `params.json` holds their
# checksums. A run that fails or is interrupted (Ctrl-C) removes its temporary folder; one
# that is killed outright leaves it behind, never under the set's name, and the next run on
# the same machine removes it. So a folder called `train` is always a complete set, and a
# half-written one cannot be mistaken for it. An existing set is replaced only on request
# (`force=True`, `--force`), and never a folder that is not a set.

# %%
try:
    dd.write_dataset(demo, 10, params, seed=seed, progress=False)
except FileExistsError as exc:
    print("refused:", str(exc).replace(str(demo_root), "..."))
print("files in the demonstration folder:", sorted(os.listdir(demo_root)))

# %% [markdown]
# When something is wrong with a set on disk, {py:func}`~qdloc.data.dataset.load_dataset` says
# which file and what. Here a copy of the demonstration set loses the second half of its TIFF:

# %%
broken = sd.truncated_copy(demo, demo_root / "broken", "images.tif", fraction=0.5)
try:
    load_dataset(broken)
except DatasetError as exc:
    print(str(exc).replace(str(demo_root), "..."))
shutil.rmtree(broken)

# %% [markdown]
# ## Sharding
#
# A large set (a million images, say) can be made by several machines that share the work.
# `shard=(i, N)` (command line: `--shard i/N`) writes the $i$-th of $N$ contiguous blocks of
# the set, keeping the global image indices in the `frame` column. Since image $k$ depends only
# on the seed and $k$, {py:func}`~qdloc.data.dataset.concatenate_shards` (`qdloc concat`) joins
# the shards into exactly the set written in one go: the same bytes in all four files,
# `params.json` included. ({py:func}`~qdloc.study.datasets.write_shards` writes the shards.)

# %%
shards = sd.write_shards(demo_root, n_demo, params, seed, D=("uniform", 0.75, 1.75), n_shards=3)
print(sd.shard_table(shards).to_string(index=False))
joined = concatenate_shards(shards, demo_root / "joined", progress=False)
print("joined shards == set written in one go:", sd.same_bytes(demo, joined))

# %% [markdown]
# ## The command line
#
# The same functions are the `qdloc` command (also `python -m qdloc`):
#
# ```bash
# qdloc simulate --preset paper --out data/paper            # the five sets of this chapter
# qdloc simulate --D 1.0 --n 2410 --seed 7 --out data/mine   # one set
# qdloc simulate --D-range 0.75 1.75 --n 1000000 --seed 1 --shard 0/4 --out big.0  # 1 of 4
# qdloc concat big.0 big.1 big.2 big.3 --out big            # join them
# qdloc localize my_recording.tif --method trackpy -o locs.csv   # your own TIFF stack
# qdloc evaluate --pred locs.csv --truth data/paper/test_D1 --json scores.json
# ```
#
# Every command has `--help`. A bad argument or an unreadable file stops it with one line on
# stderr (exit status 2) and writes nothing.

# %% [markdown]
# ## Results
#
# Set sizes, checksums and D statistics go to `04_dataset_generation.json` in `results_dir`.

# %%
sets = sd.load_sets(out_dir, PAPER_PRESET) if make_paper_sets else {"demo": load_dataset(demo)}
results = sd.dataset_results(params, sets)
print("wrote", write_results(results_dir, "04_dataset_generation.json", results).name)
print(sd.results_table(results).round(3).to_string())

# %%
print(sd.checksum_table(sets, chars=12).to_string())  # checked by nbval: the same bytes on every run

# %% [markdown]
# ## Exercises
#
# **1.** Take image 123 of the test set. Simulate it on its own with `simulate(1, ...,
# start=123)` and the set's seed and D, and check that you get the same image and label as
# the set.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
k = 123 % len(test)
same_image, same_label = sd.resimulate_image(test, k)  # simulate(1, ..., start=frames[k])
print(f"image {k}: same pixels {same_image}, same label {same_label}")
assert same_image
assert same_label

# %% [markdown]
# **2.** The label is the centroid of the trajectory. Recompute the labels of the whole test
# set from `trajectories.npy` and find the largest difference from `labels.csv`, in nm.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
err_nm = sd.label_error_nm(test)  # centroids of trajectories.npy against labels.csv
print(f"largest difference: {err_nm:.1e} nm (below 1e-9 nm: {err_nm < 1e-9})")
assert err_nm < 1e-9

# %% [markdown]
# **3.** How often does the dot leave the image during the scan at D = 1.75 µm²/s, and how
# often does its detection box touch the edge of the image? Use a test set (or make a small
# one with {py:func}`~qdloc.data.dataset.write_dataset`).

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
if make_paper_sets:
    fast = load_dataset(Path(out_dir) / "test_D1.75")
else:  # a small set at D = 1.75
    fast = load_dataset(dd.write_dataset(demo_root / "fast", n_demo, params, seed=seed + 1, D=1.75))
outside, touches = sd.edge_events(fast)
print(sd.describe_edge_events(fast, outside, touches))
assert touches[outside].all()  # a dot that leaves the image always has a box at the edge

# %%
shutil.rmtree(demo_root)
