"""Chapter 04's report on the sets on disk: what the paper's sets are, what a set holds, its
provenance and checksums, sharding, and the results file of the chapter.

The sets themselves are written and read by :mod:`qdloc.data.dataset`; this module only looks
at them: tables for the chapter to show, checks for its exercises, and the summary it writes;
the ``describe_*`` functions write their numbers as the lines the chapter prints.
"""

from __future__ import annotations

import filecmp
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile
from scipy import stats

from qdloc.data.dataset import IMAGES, PARAMS, Dataset, bbox_pad_px, load_dataset, write_dataset
from qdloc.data.presets import SetSpec
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import simulate

__all__ = [
    "preset_table",
    "preset_values",
    "files_table",
    "tiff_summary",
    "provenance",
    "checksum_table",
    "uniform_check",
    "truncated_copy",
    "write_shards",
    "shard_table",
    "same_bytes",
    "load_sets",
    "set_summary",
    "dataset_results",
    "results_table",
    "resimulate_image",
    "label_error_nm",
    "edge_events",
    "describe_preset",
    "describe_loaded",
    "describe_tiff",
    "describe_uniform",
    "describe_edge_events",
]


def _D_text(D: Any) -> str:
    return f"uniform in [{D[1]}, {D[2]}]" if isinstance(D, tuple) else f"{D}"


def preset_table(preset: Mapping[str, SetSpec]) -> pd.DataFrame:
    """The sets of a preset: name, images, seed and D (µm²/s) of each.

    Parameters
    ----------
    preset : mapping
        ``{name: SetSpec}``, e.g. :data:`qdloc.data.presets.PAPER_PRESET`.

    Returns
    -------
    DataFrame
        Columns ``set``, ``images``, ``seed``, ``D_um2_per_s`` (a text: a value or a range).
    """
    if not preset:
        raise ValueError("preset is empty: expected at least one set")
    return pd.DataFrame([{"set": name, "images": s.n, "seed": s.seed, "D_um2_per_s": _D_text(s.D)}
                         for name, s in preset.items()])


def preset_values(preset: Mapping[str, SetSpec], params: SimParams) -> dict[str, int | float]:
    """The numbers chapter 04's prose quotes about a preset's sets, by name.

    Parameters
    ----------
    preset : mapping
        ``{name: SetSpec}``, e.g. :data:`qdloc.data.presets.PAPER_PRESET`.
    params : SimParams
        The simulator's parameters (for the detection box's padding).

    Returns
    -------
    dict
        ``n_total``; ``n_NAME`` for every set whose name is an identifier (``n_train``,
        ``n_val``); ``n_test{i}`` and ``D_test{i}`` for the *i*-th set with one D (from 1, in
        order); ``D_lo``, ``D_hi``: the range of the first set with a uniform D (if any);
        ``bbox_pad_px``: the detection box's padding.
    """
    if not preset:
        raise ValueError("preset is empty: expected at least one set")
    out: dict[str, int | float] = {"n_total": sum(s.n for s in preset.values()),
                                   "bbox_pad_px": bbox_pad_px(params)}
    out |= {f"n_{name}": s.n for name, s in preset.items() if name.isidentifier()}
    fixed = [s for s in preset.values() if not isinstance(s.D, tuple)]
    for i, s in enumerate(fixed, 1):
        out |= {f"n_test{i}": s.n, f"D_test{i}": float(s.D)}
    ranged = [s.D for s in preset.values() if isinstance(s.D, tuple)]
    if ranged:
        out |= {"D_lo": float(ranged[0][1]), "D_hi": float(ranged[0][2])}
    return out


def files_table(path: str | Path) -> pd.DataFrame:
    """The files of a set's folder and their sizes.

    Returns
    -------
    DataFrame
        Columns ``file`` and ``MB`` (10^6 bytes), sorted by name.
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder: expected a set's folder")
    files = sorted(f for f in path.iterdir() if f.is_file())
    return pd.DataFrame({"file": [f.name for f in files],
                         "MB": [f.stat().st_size / 1e6 for f in files]})


def tiff_summary(path: str | Path) -> dict[str, Any]:
    """What Fiji sees in a set's ``images.tif``: its ImageJ stack and its calibrated pixel size.

    Parameters
    ----------
    path : path
        The TIFF file, or the set's folder.

    Returns
    -------
    dict
        ``images``, ``axes``, ``shape``, ``dtype`` of the stack, ``pixel_size`` (from the
        resolution tags) and ``unit`` (from the ImageJ description).
    """
    path = Path(path)
    path = path / IMAGES if path.is_dir() else path
    with tifffile.TiffFile(path) as tif:
        ij = tif.imagej_metadata
        if ij is None:
            raise ValueError(f"{path} is not an ImageJ TIFF: expected a set's {IMAGES}")
        num, den = tif.pages.first.tags["XResolution"].value
        series = tif.series[0]
        return {"images": ij["images"], "axes": series.axes, "shape": tuple(series.shape),
                "dtype": str(series.dtype), "pixel_size": den / num, "unit": ij["unit"]}


def provenance(meta: Mapping[str, Any],
               sim_keys: Sequence[str] = ("height_px", "width_px", "pixel_size_um", "n_bkg"),
               ) -> dict[str, Any]:
    """The provenance of a set (its ``params.json``) in brief: how it was drawn, a few parameters.

    Returns
    -------
    dict
        ``D``, ``seed``, ``n``, ``shard`` and ``sim_params`` (the ``sim_keys`` only).
    """
    missing = [k for k in ("D", "seed", "n", "shard", "sim_params") if k not in meta]
    if missing:
        raise ValueError(f"meta lacks {missing}: expected a set's {PARAMS}")
    return {"D": meta["D"], "seed": meta["seed"], "n": meta["n"], "shard": meta["shard"],
            "sim_params": {k: meta["sim_params"][k] for k in sim_keys}}


def checksum_table(sets: Mapping[str, Dataset], chars: int = 12) -> pd.DataFrame:
    """The first ``chars`` hex digits of the SHA-256 of each set's data files.

    Returns
    -------
    DataFrame
        One row per set, one column per data file.
    """
    if chars < 1:
        raise ValueError(f"chars={chars!r}: expected at least 1")
    return pd.DataFrame({name: {f: v["sha256"][:chars] for f, v in ds.meta["files"].items()}
                         for name, ds in sets.items()}).T


def uniform_check(D: Any, low: float, high: float) -> dict[str, float]:
    """Are per-image diffusion coefficients uniform on ``[low, high]``?

    Returns
    -------
    dict
        ``n``, ``min``, ``max``, ``mean``, ``sd`` of ``D``, the uniform's ``mean_expected`` and
        ``sd_expected``, and the p-value ``ks_p`` of the Kolmogorov-Smirnov test against it.
    """
    D = np.asarray(D, dtype=float)
    if D.ndim != 1 or D.size == 0:
        raise ValueError(f"D has shape {D.shape}: expected a non-empty 1-D array")
    if not high > low:
        raise ValueError(f"low={low!r}, high={high!r}: expected low < high")
    ks = stats.kstest(D, stats.uniform(loc=low, scale=high - low).cdf)
    return {"n": int(D.size), "min": float(D.min()), "max": float(D.max()),
            "mean": float(D.mean()), "sd": float(D.std()), "mean_expected": (low + high) / 2,
            "sd_expected": (high - low) / 12**0.5, "ks_p": float(ks.pvalue)}


def truncated_copy(src: str | Path, dst: str | Path, file: str = IMAGES,
                   fraction: float = 0.5) -> Path:
    """Copy a set's folder to ``dst`` and cut one of its files to ``fraction`` of its bytes.

    A damaged copy to show what :func:`qdloc.data.dataset.load_dataset` says about it.

    Returns
    -------
    Path
        ``dst``.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction={fraction!r}: expected a number in [0, 1)")
    dst = Path(dst)
    shutil.copytree(src, dst)
    data = (dst / file).read_bytes()
    (dst / file).write_bytes(data[: int(len(data) * fraction)])
    return dst


def write_shards(root: str | Path, n: int, params: SimParams, seed: int, D: Any,
                 n_shards: int) -> list[Path]:
    """Write a set as ``n_shards`` shards, ``root/shard0``, ``root/shard1``, ...

    Each is :func:`qdloc.data.dataset.write_dataset` with ``shard=(i, n_shards)``: the
    i-th contiguous block of the ``n`` images, with their global indices.

    Returns
    -------
    list of Path
        The shards' folders, in order.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards={n_shards!r}: expected at least 1")
    return [write_dataset(Path(root) / f"shard{i}", n, params, seed=seed, D=D,
                          shard=(i, n_shards), progress=False) for i in range(n_shards)]


def shard_table(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The first and last global image index of each shard.

    Returns
    -------
    DataFrame
        Columns ``shard`` (folder name), ``first``, ``last``, ``images``.
    """
    rows = []
    for p in paths:
        ds = load_dataset(p)
        rows.append({"shard": Path(p).name, "first": int(ds.frames[0]),
                     "last": int(ds.frames[-1]), "images": len(ds)})
    return pd.DataFrame(rows)


def same_bytes(a: str | Path, b: str | Path) -> dict[str, bool]:
    """File by file: are the files of folder ``a`` byte for byte those of the same name in ``b``?

    Returns
    -------
    dict
        ``{file name: bool}`` for every file of ``a`` (False when ``b`` lacks it).
    """
    a, b = Path(a), Path(b)
    return {f.name: (b / f.name).is_file() and filecmp.cmp(f, b / f.name, shallow=False)
            for f in sorted(a.iterdir()) if f.is_file()}


def load_sets(root: str | Path, names: Iterable[str], verify: bool = False) -> dict[str, Dataset]:
    """Load the sets ``root/name`` for each name (checksums checked only when ``verify``)."""
    return {name: load_dataset(Path(root) / name, verify=verify) for name in names}


def set_summary(ds: Dataset) -> dict[str, Any]:
    """One set in the chapter's results file: size, seed, D and its statistics, checksums.

    Returns
    -------
    dict
        ``n``, ``seed``, ``D`` (the specification), ``D_min``, ``D_max``, ``D_mean``, ``D_sd``,
        ``sha256`` and ``bytes`` of each data file.
    """
    files = ds.meta["files"]
    return {"n": len(ds), "seed": ds.seed, "D": ds.meta["D"], "D_min": float(ds.D.min()),
            "D_max": float(ds.D.max()), "D_mean": float(ds.D.mean()), "D_sd": float(ds.D.std()),
            "sha256": {f: v["sha256"] for f, v in files.items()},
            "bytes": {f: v["bytes"] for f, v in files.items()}}


def dataset_results(params: SimParams, sets: Mapping[str, Dataset]) -> dict[str, Any]:
    """Chapter 04's results: the simulator's parameters and :func:`set_summary` of each set."""
    return {"sim_params": params.to_dict(),
            "sets": {name: set_summary(ds) for name, ds in sets.items()}}


def results_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """The sets of :func:`dataset_results` as a table: ``n``, ``seed`` and the D statistics."""
    cols = ["n", "seed", "D_min", "D_max", "D_mean", "D_sd"]
    return pd.DataFrame(results["sets"]).T[cols].astype({"n": int, "seed": int} | {
        c: float for c in cols[2:]})


def resimulate_image(ds: Dataset, k: int) -> tuple[bool, bool]:
    """Simulate page ``k`` of a set on its own; is it the set's image, with the set's label?

    Uses :func:`qdloc.sim.simulate` with ``start`` = the image's global index, the set's seed
    and the image's D.

    Returns
    -------
    (bool, bool)
        Same pixels, same label.
    """
    if not 0 <= k < len(ds):
        raise ValueError(f"k={k!r} is not a page of the set: expected 0 <= k < {len(ds)}")
    one = simulate(1, ds.params, seed=ds.seed, D=ds.D[k], start=int(ds.frames[k]))
    return (bool(np.array_equal(one.images[0], ds.images[k])),
            bool(np.array_equal(one.centroids[0], ds.truth_xy[k])))


def label_error_nm(ds: Dataset) -> float:
    """Largest difference (nm) between the labels and the centroids of the stored trajectories."""
    centroids_px = np.asarray(ds.trajectories)[..., :2].mean(axis=1) / ds.params.pixel_size_um
    return float(np.abs(centroids_px - ds.truth_xy).max() * ds.pixel_size_nm)


def edge_events(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per image: does the dot leave the image during the scan, does its box touch the edge?

    The image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` px.

    Returns
    -------
    (ndarray of bool, ndarray of bool)
        ``outside`` and ``touches``, one value per image.
    """
    p = ds.params
    W, H = p.width_px - 0.5, p.height_px - 0.5
    xy = np.asarray(ds.trajectories)[..., :2] / p.pixel_size_um
    outside = ((xy < -0.5) | (xy[..., :1] > W) | (xy[..., 1:] > H)).any(axis=(1, 2))
    lab = ds.labels
    touches = ((lab.bbox_x0 <= -0.5) | (lab.bbox_y0 <= -0.5) | (lab.bbox_x1 >= W)
               | (lab.bbox_y1 >= H)).to_numpy()
    return outside, touches


def describe_preset(preset: Mapping[str, SetSpec]) -> str:
    """:func:`preset_table` as text, and the total number of images.

    Parameters
    ----------
    preset : mapping
        ``{name: SetSpec}``, e.g. :data:`qdloc.data.presets.PAPER_PRESET`.

    Returns
    -------
    str
    """
    table = preset_table(preset)
    return f"{table.to_string(index=False)}\ntotal {table['images'].sum()} images"


def describe_loaded(test: Dataset, train: Dataset) -> str:
    """One line on a test set (name, size, seed, D range) and one on a training set.

    Parameters
    ----------
    test, train : Dataset
        Loaded sets (:func:`qdloc.data.dataset.load_dataset`).

    Returns
    -------
    str
    """
    return (f"test set: {test.path.name}, {len(test)} images, seed {test.seed}, "
            f"D in [{test.D.min():.2f}, {test.D.max():.2f}] um^2/s\n"
            f"training set: {train.path.name}, {len(train)} images, seed {train.seed}")


def describe_tiff(tif: Mapping[str, Any]) -> str:
    """:func:`tiff_summary` as two lines: the ImageJ stack, and its pixel size as Fiji reads it.

    Parameters
    ----------
    tif : mapping
        :func:`tiff_summary`'s result.

    Returns
    -------
    str
    """
    return (f"ImageJ stack: {tif['images']} images, axes {tif['axes']}, shape {tif['shape']}, {tif['dtype']}\n"
            f"pixel size: {tif['pixel_size']:.4f} {tif['unit']} (Fiji: Image > Properties)")


def describe_uniform(u: Mapping[str, float], low: float, high: float) -> str:
    """:func:`uniform_check` as two lines: the statistics of D next to the uniform's, and the KS p-value.

    Parameters
    ----------
    u : mapping
        :func:`uniform_check`'s result for ``[low, high]``.
    low, high : float
        The uniform's bounds, µm²/s (printed only).

    Returns
    -------
    str
    """
    return (f"{u['n']} images: D min {u['min']:.4f}, max {u['max']:.4f}, mean {u['mean']:.4f} "
            f"(uniform: {u['mean_expected']:g}), sd {u['sd']:.4f} (uniform: {u['sd_expected']:.4f})\n"
            f"Kolmogorov-Smirnov against uniform [{low:g}, {high:g}]: p = {u['ks_p']:.3f}")


def describe_edge_events(ds: Dataset, outside: np.ndarray, touches: np.ndarray) -> str:
    """How often the dot leaves the image and its box touches the edge (:func:`edge_events`).

    Parameters
    ----------
    ds : Dataset
        The set.
    outside, touches : ndarray of bool
        :func:`edge_events`' result for ``ds``.

    Returns
    -------
    str
        Both as percentages with one decimal.
    """
    return (f"{ds.path.name}: the dot leaves the image in {np.mean(outside):.1%} of {len(ds)} "
            f"images; the box touches the edge in {np.mean(touches):.1%}")
