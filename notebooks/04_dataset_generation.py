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
# `qdloc.data.dataset`; the figures come from `qdloc.plots.dataset`.
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

# %%
import filecmp
import json
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import tifffile
from scipy import stats

from qdloc import BLOCK, SimParams, simulate
from qdloc.data.presets import PAPER_PRESET
from qdloc.data.dataset import DatasetError, concatenate_shards, draw_D, load_dataset, write_dataset, write_paper_sets
from qdloc.io import atomic_write_text
from qdloc.plots.dataset import plot_D_histogram, plot_montage

params = SimParams()
demo_root = Path(tempfile.mkdtemp(prefix="qdloc-ch04-"))  # removed at the end of the chapter
print(
    f"images of {params.height_px} x {params.width_px} px of {params.pixel_size_um} um; "
    f"random blocks of {BLOCK} images"
)

# %% [markdown]
# ## The paper's sets
#
# The paper trains on 29,838 images and tests on three sets of 2,570, 2,410 and 1,870 images,
# one per diffusion coefficient (0.75, 1 and 1.75 µm²/s); the training images have
# "a set of diffusion coefficients between 0.75 and 1.75 µm²/s". It picks the best of 20
# epochs on a validation set whose size it does not give: we use a separate 10 % split
# (2,984 images) with the training distribution. Each set has its own seed, so no image is
# shared between sets.

# %%
for name, s in PAPER_PRESET.items():
    D_text = f"uniform in [{s.D[1]}, {s.D[2]}]" if isinstance(s.D, tuple) else f"{s.D}"
    print(f"{name:11s} {s.n:6d} images  seed {s.seed:2d}  D = {D_text} um^2/s")
print(f"total {sum(s.n for s in PAPER_PRESET.values())} images")

# %% [markdown]
# **One D per image, reproducibly.** In the training and validation sets every image gets
# its own $D$, uniform in $[0.75, 1.75]$ µm²/s. The simulator already guarantees that image
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
# `write_paper_sets` writes the five sets into `out_dir`, one folder each. A set that
# already exists, loads, verifies and was made with the same parameters is kept; one made
# with other parameters (for instance before a change of $N_{qd}$) is replaced. About
# 40,000 images take a few seconds.

# %%
# NBVAL_IGNORE_OUTPUT
t0 = time.perf_counter()
if make_paper_sets:
    paths = write_paper_sets(out_dir, params, skip_existing=True, force=True, progress=False)
    print(f"{len(paths)} sets ready in {out_dir} ({time.perf_counter() - t0:.1f} s)")
demo = write_dataset(
    demo_root / "demo", n_demo, params, seed=seed, D=("uniform", 0.75, 1.75), progress=False
)
print(f"demonstration set of {n_demo} images ready ({time.perf_counter() - t0:.1f} s in all)")

# %%
if make_paper_sets:
    test = load_dataset(Path(out_dir) / "test_D1")
    train = load_dataset(Path(out_dir) / "train")
else:  # a quick run: the demonstration set stands in for both
    test = train = load_dataset(demo)
print(
    f"test set: {test.path.name}, {len(test)} images, seed {test.seed}, "
    f"D in [{test.D.min():.2f}, {test.D.max():.2f}] um^2/s"
)
print(f"training set: {train.path.name}, {len(train)} images, seed {train.seed}")

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
for f in sorted(test.path.iterdir()):
    print(f"{f.name:18s} {f.stat().st_size / 1e6:8.2f} MB")

# %% [markdown]
# **The TIFF in Fiji.** `images.tif` is an uncompressed ImageJ hyperstack with its frames
# along T. Fiji (*File › Open*) shows it as a stack of `n` frames whose scale is already
# set: the pixel size is stored in the resolution tags and the unit in the ImageJ
# description. Any TIFF reader gets the pages:

# %%
with tifffile.TiffFile(test.path / "images.tif") as tif:
    ij = tif.imagej_metadata
    num, den = tif.pages.first.tags["XResolution"].value
    print(
        f"ImageJ stack: {ij['images']} images, axes {tif.series[0].axes}, "
        f"shape {tif.series[0].shape}, {tif.series[0].dtype}"
    )
    print(f"pixel size: {den / num:.4f} {ij['unit']} (Fiji: Image > Properties)")

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
#   trajectory padded by $2\sigma_{xy}/a$ (= 6 px) on every side, the reach of the PSF, clipped
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
meta = test.meta
print("keys:", ", ".join(sorted(meta)))
print("D:", meta["D"], " seed:", meta["seed"], " n:", meta["n"], " shard:", meta["shard"])
print(
    "sim_params:",
    {k: meta["sim_params"][k] for k in ("height_px", "width_px", "pixel_size_um", "n_bkg")},
)

# %%
# NBVAL_IGNORE_OUTPUT
for name, f in meta["files"].items():
    print(f"{name:18s} sha256 {f['sha256'][:16]}...")

# %% [markdown]
# ## Looking at the data
#
# Test images at D = 1 µm²/s with their labels: the centroid of the trajectory (red cross),
# the trajectory (yellow) and the detection box (dashed cyan). The brightest pixels are
# where the beam met the dot; the label is where the dot was *on average*, which motion blur
# can put away from them.

# %%
# NBVAL_IGNORE_OUTPUT
fig = plot_montage(test, indices=range(12), ncols=6)
fig.suptitle(f"{test.path.name}: images 0-11", fontsize=9)
plt.show()

# %% [markdown]
# The training set's diffusion coefficients fill $[0.75, 1.75]$ µm²/s evenly:

# %%
# NBVAL_IGNORE_OUTPUT
ax = plot_D_histogram(train.D, 0.75, 1.75)
ax.set_title(f"{train.path.name}: D per image")
plt.show()

# %%
ks = stats.kstest(train.D, stats.uniform(loc=0.75, scale=1.0).cdf)
print(
    f"{len(train)} images: D min {train.D.min():.4f}, max {train.D.max():.4f}, "
    f"mean {train.D.mean():.4f} (uniform: 1.25), "
    f"sd {train.D.std():.4f} (uniform: {1 / 12**0.5:.4f})"
)
print(f"Kolmogorov-Smirnov against uniform [0.75, 1.75]: p = {ks.pvalue:.3f}")

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
    write_dataset(demo, 10, params, seed=seed, progress=False)
except FileExistsError as exc:
    print("refused:", str(exc).replace(str(demo_root), "..."))
print("files in the demonstration folder:", sorted(p.name for p in demo_root.iterdir()))

# %% [markdown]
# When something is wrong with a set on disk, `load_dataset` says which file and what:

# %%
broken = demo_root / "broken"
shutil.copytree(demo, broken)
data = (broken / "images.tif").read_bytes()
(broken / "images.tif").write_bytes(data[: len(data) // 2])
try:
    load_dataset(broken)
except DatasetError as exc:
    print(str(exc).replace(str(demo_root), "..."))
shutil.rmtree(broken)

# %% [markdown]
# ## Sharding
#
# A million images take a few minutes on one machine; several machines can share the work.
# `shard=(i, N)` (command line: `--shard i/N`) writes the $i$-th of $N$ contiguous blocks of
# the set, keeping the global image indices in the `frame` column. Since image $k$ depends only
# on the seed and $k$, `concatenate_shards` (`qdloc concat`) joins the shards into exactly the
# set written in one go: the same bytes in all four files, `params.json` included.

# %%
shards = [
    write_dataset(
        demo_root / f"shard{i}",
        n_demo,
        params,
        seed=seed,
        D=("uniform", 0.75, 1.75),
        shard=(i, 3),
        progress=False,
    )
    for i in range(3)
]
for s in shards:
    ds = load_dataset(s)
    print(f"{s.name}: images {ds.frames[0]}..{ds.frames[-1]}")
joined = concatenate_shards(shards, demo_root / "joined", progress=False)
same = {f.name: filecmp.cmp(f, joined / f.name, shallow=False) for f in sorted(demo.iterdir())}
print("joined shards == set written in one go:", same)

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
sets = (
    {name: load_dataset(Path(out_dir) / name, verify=False) for name in PAPER_PRESET}
    if make_paper_sets
    else {"demo": load_dataset(demo, verify=False)}
)
results = {
    "sim_params": params.to_dict(),
    "sets": {
        name: {
            "n": len(ds),
            "seed": ds.seed,
            "D": ds.meta["D"],
            "D_min": float(ds.D.min()),
            "D_max": float(ds.D.max()),
            "D_mean": float(ds.D.mean()),
            "D_sd": float(ds.D.std()),
            "sha256": {f: v["sha256"] for f, v in ds.meta["files"].items()},
            "bytes": {f: v["bytes"] for f, v in ds.meta["files"].items()},
        }
        for name, ds in sets.items()
    },
}
path = Path(results_dir) / "04_dataset_generation.json"
path.parent.mkdir(parents=True, exist_ok=True)
atomic_write_text(path, json.dumps(results, indent=2) + "\n")
for name, r in results["sets"].items():
    print(
        f"{name:11s} n={r['n']:6d} seed={r['seed']:2d} "
        f"D: min {r['D_min']:.3f} max {r['D_max']:.3f} "
        f"mean {r['D_mean']:.3f} sd {r['D_sd']:.3f}"
    )

# %%
# NBVAL_IGNORE_OUTPUT
for name, r in results["sets"].items():
    print(f"{name:11s}", "  ".join(f"{f} {h[:12]}" for f, h in r["sha256"].items()))

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
one = simulate(1, test.params, seed=test.seed, D=test.D[k], start=int(test.frames[k]))
same_image = bool(np.array_equal(one.images[0], test.images[k]))
same_label = bool(np.array_equal(one.centroids[0], test.truth_xy[k]))
print(f"image {k}: same pixels {same_image}, same label {same_label}")
assert same_image
assert same_label

# %% [markdown]
# **2.** The label is the centroid of the trajectory. Recompute the labels of the whole test
# set from `trajectories.npy` and find the largest difference from `labels.csv`, in nm.

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
centroids_px = np.asarray(test.trajectories)[..., :2].mean(axis=1) / test.params.pixel_size_um
err_nm = np.abs(centroids_px - test.truth_xy).max() * test.pixel_size_nm
print(f"largest difference: {err_nm:.1e} nm (below 1e-9 nm: {err_nm < 1e-9})")
assert err_nm < 1e-9

# %% [markdown]
# **3.** How often does the dot leave the image during the scan at D = 1.75 µm²/s, and how
# often does its detection box touch the edge of the image? Use a test set (or make a small
# one with `write_dataset`).

# %% [markdown]
# Solution:

# %% tags=["hide-input"]
fast = (
    load_dataset(Path(out_dir) / "test_D1.75")
    if make_paper_sets
    else load_dataset(
        write_dataset(demo_root / "fast", n_demo, params, seed=seed + 1, D=1.75, progress=False)
    )
)
p = fast.params
xy_px = np.asarray(fast.trajectories)[..., :2] / p.pixel_size_um
outside = (
    (xy_px < -0.5) | (xy_px[..., :1] > p.width_px - 0.5) | (xy_px[..., 1:] > p.height_px - 0.5)
).any(axis=(1, 2))
lab = fast.labels
touches = (
    (lab.bbox_x0 <= -0.5)
    | (lab.bbox_y0 <= -0.5)
    | (lab.bbox_x1 >= p.width_px - 0.5)
    | (lab.bbox_y1 >= p.height_px - 0.5)
).to_numpy()
print(
    f"{fast.path.name}: the dot leaves the image in {outside.mean():.1%} of {len(fast)} images; "
    f"the box touches the edge in {touches.mean():.1%}"
)
assert touches[outside].all()  # a dot that leaves the image always has a box at the edge

# %%
shutil.rmtree(demo_root)
