"""Chapter 04: the paper's image sets on disk -- images, labels, trajectories, provenance.

The sets (§4.1)
---------------
:data:`PAPER_PRESET` lists them: a training set of 29,838 images with the
diffusion coefficient drawn per image uniformly in [0.75, 1.75] µm²/s (seed 1),
a validation split of 2,984 images (10 %) with the same distribution (seed 2),
and three test sets at fixed D: ``test_D0.75`` (2,570 images, seed 10),
``test_D1`` (2,410, seed 11) and ``test_D1.75`` (1,870, seed 12). Every other
parameter is :class:`~qdloc.sim.params.SimParams`' default *at the time of the
call*; nothing here fixes them.

Per-image D
-----------
A uniform D is reproducible image by image: image ``k`` of a set with seed
``s`` gets ``D_k = low + (high - low)·u_k`` with
``u_k = Generator(PCG64(SeedSequence(s, spawn_key=(0xD15F, b)))).random(BLOCK)[k % BLOCK]``,
``b = k // BLOCK`` (:data:`qdloc.sim.simulate.BLOCK` images per block). The spawn
key differs from the simulator's own ``(b,)``, so D is independent of the
image's start position, steps and noise, and like them depends only on
``(s, k)``: shards and chunks give the same D (see :func:`draw_D`).

On disk
-------
A set is a folder holding four files:

``images.tif``
    The photon counts, ``n`` pages of ``H x W`` uint16, uncompressed, written
    as an ImageJ hyperstack (axes ``TYX``) with the pixel size in the
    resolution tags and ``unit=um`` in the ImageJ description, so that Fiji
    opens it as a stack with a calibrated scale. No date or time is stored,
    so the same set written twice gives the same bytes. Files that would pass
    4 GB (about 3.1 M images of 24 x 25) are written the way ImageJ writes
    them: one IFD and the pixel data contiguous after it.
``labels.csv``
    One row per image, in page order, with the columns of
    :data:`LABEL_COLUMNS`. Positions in pixels use the simulator's
    convention: ``x`` = column, ``y`` = row, pixel centres at integers, so the
    image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``. ``frame`` is the global
    image index ``k`` (the page index of an unsharded set). ``x_px, y_px`` is
    the label of the paper, the centroid (mean) of the trajectory; ``x_nm,
    y_nm`` the same in nm; ``start_*``/``end_*`` the first and last trajectory
    samples (x, y in px, z in µm from the focal plane); ``bbox_*`` a detection
    box for box-based detectors such as Keypoint R-CNN: the bounding box of the
    trajectory's x, y padded on every side by ``2·σxy / a`` px (the PSF's
    reach, :data:`BBOX_PAD_SIGMAS` standard deviations) and clipped to the
    image. A trajectory that leaves the image can give a box that is thin or
    empty after clipping. Boxes are in the same pixel-centre coordinates as
    the positions; add 0.5 for the pixel-edge convention of torchvision.
``trajectories.npy``
    The dot's positions, shape ``(n, H·W, 3)`` float64, (x, y, z) in µm, one
    sample per pixel in scan order.
``params.json``
    Provenance: every SimParams field, the seed, the number of images, the D
    specification, the shard, the qdloc version, and the size and sha256 of
    the three data files. It holds no time stamp or path, so it too is the
    same for the same set.

Writing is atomic (:func:`write_dataset`): the set is built in a hidden
sibling folder ``.NAME.tmp-PID-HOST-XXXX`` and renamed into place when
complete; an interrupted run leaves no set (and its temporary folder is
removed, or, after ``kill -9``, removed by the next run on the same host).
Memory is bounded by the chunk size: pages are streamed into the TIFF and
trajectories into a memory-mapped ``.npy``.

Sharding: ``shard=(i, N)`` writes images ``[i·n // N, (i+1)·n // N)`` of the
set (0-based ``i``), with their global indices, and
:func:`concatenate_shards` joins the ``N`` shards into a set whose four files,
``params.json`` included, are byte for byte those of the unsharded set.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile

from qdloc import __version__
from qdloc.cluster import run_tasks
from qdloc.data.atomic import PARAMS, atomic_dir, check_target
from qdloc.data.presets import PAPER_PRESET, SetSpec
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import BLOCK, simulate

__all__ = [
    "DatasetError",
    "Dataset",
    "SetSpec",
    "PAPER_PRESET",
    "LABEL_COLUMNS",
    "DATA_FILES",
    "BBOX_PAD_SIGMAS",
    "D_STREAM_KEY",
    "draw_D",
    "normalize_D",
    "shard_range",
    "make_labels",
    "write_dataset",
    "TASK_IMAGES",
    "task_count",
    "write_shard_task",
    "concatenate_shards",
    "write_paper_sets",
    "load_dataset",
    "read_stack",
    "sha256_file",
    "pixel_size_nm",
    "bbox_pad_px",
]

FORMAT = "qdloc-dataset"
FORMAT_VERSION = 1

IMAGES = "images.tif"
LABELS = "labels.csv"
TRAJECTORIES = "trajectories.npy"
#: The data files of a set, whose size and sha256 ``params.json`` records.
DATA_FILES: tuple[str, ...] = (IMAGES, LABELS, TRAJECTORIES)

#: Columns of ``labels.csv``, in order.
LABEL_COLUMNS: tuple[str, ...] = (
    "frame",
    "x_px",
    "y_px",
    "x_nm",
    "y_nm",
    "D_um2_per_s",
    "start_x_px",
    "start_y_px",
    "start_z_um",
    "end_x_px",
    "end_y_px",
    "end_z_um",
    "bbox_x0",
    "bbox_y0",
    "bbox_x1",
    "bbox_y1",
)

#: Padding of the detection box around the trajectory, in PSF standard deviations σxy.
BBOX_PAD_SIGMAS = 2.0

#: First entry of the spawn key of the per-image D stream (the simulator uses ``(b,)``).
D_STREAM_KEY = 0xD15F

#: Default images per chunk when writing (peak memory about 200 MB for 24 x 25 images, any n).
DEFAULT_CHUNK = 8 * BLOCK

#: Default images per task when a set is written on a Dask cluster (a few seconds on one core).
TASK_IMAGES = 64 * BLOCK

# Above this estimated size, images.tif is written with one IFD (ImageJ's own > 4 GB layout).
_CLASSIC_TIFF_LIMIT = 2**32 - 2**25


class DatasetError(ValueError):
    """A set on disk is missing, incomplete, inconsistent or corrupt; the message names the file."""


# --------------------------------------------------------------------------
# The paper's sets
# --------------------------------------------------------------------------




# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}={value!r} is not allowed: expected an integer >= {low}")
    return int(value)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        raise ValueError(f"{name}={value!r} is not allowed: expected a finite number >= 0 (µm²/s)")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name}={value!r} is not allowed: expected a finite number >= 0 (µm²/s)")
    return v


def pixel_size_nm(params: SimParams) -> float:
    """The pixel pitch in nm, ``pixel_size_um · 1000`` rounded to 1e-9 nm (0.07 µm gives 70.0)."""
    return round(params.pixel_size_um * 1000.0, 9)


def bbox_pad_px(params: SimParams) -> float:
    """Padding of the detection box around the trajectory, px: ``2·σxy / a`` rounded to 1e-9."""
    return round(BBOX_PAD_SIGMAS * params.sigma_xy_um / params.pixel_size_um, 9)


def normalize_D(D: Any, params: SimParams | None = None) -> dict:
    """The D specification as stored in ``params.json``.

    Parameters
    ----------
    D : None, float, ("uniform", low, high), or dict
        ``None`` means ``params.D_um2_per_s``; a number one D for every image;
        ``("uniform", low, high)`` a D drawn per image (see :func:`draw_D`); a
        dict is a specification as returned here (e.g. read from a set's
        ``params.json``).
    params : SimParams, optional
        Needed only for ``D=None``.

    Returns
    -------
    dict
        ``{"kind": "constant", "value_um2_per_s": v}`` or
        ``{"kind": "uniform", "low_um2_per_s": lo, "high_um2_per_s": hi}``.

    Raises
    ------
    ValueError
        For anything else, naming the value.
    """
    if D is None:
        D = (params or SimParams()).D_um2_per_s
    if isinstance(D, Mapping):
        kind = D.get("kind")
        if kind == "constant" and set(D) == {"kind", "value_um2_per_s"}:
            return normalize_D(D["value_um2_per_s"])
        if kind == "uniform" and set(D) == {"kind", "low_um2_per_s", "high_um2_per_s"}:
            return normalize_D(("uniform", D["low_um2_per_s"], D["high_um2_per_s"]))
        raise ValueError(
            f"D={dict(D)!r} is not allowed: expected {{'kind': 'constant', 'value_um2_per_s': v}} "
            "or {'kind': 'uniform', 'low_um2_per_s': lo, 'high_um2_per_s': hi}"
        )
    if isinstance(D, str) or (isinstance(D, Sequence) and not isinstance(D, int | float)):
        if len(D) != 3 or D[0] != "uniform":
            raise ValueError(
                f"D={D!r} is not allowed: expected a number (µm²/s) or ('uniform', low, high)"
            )
        lo, hi = _finite("D low", D[1]), _finite("D high", D[2])
        if hi < lo:
            raise ValueError(f"D={tuple(D)!r} is not allowed: expected low <= high")
        return {"kind": "uniform", "low_um2_per_s": lo, "high_um2_per_s": hi}
    if isinstance(D, np.ndarray) and D.ndim > 0:
        raise ValueError(
            "D as an array is not allowed for a set on disk: expected a number or "
            "('uniform', low, high), which params.json can record"
        )
    return {"kind": "constant", "value_um2_per_s": _finite("D", D)}


def draw_D(
    D: Any, n: int, seed: int, start: int = 0, params: SimParams | None = None
) -> np.ndarray:
    """Diffusion coefficients of images ``start .. start+n-1`` of a set, µm²/s.

    A constant gives ``n`` copies. ``("uniform", low, high)`` gives
    ``low + (high - low)·u_k`` with ``u_k`` the ``(k % BLOCK)``-th draw of
    ``Generator(PCG64(SeedSequence(seed, spawn_key=(0xD15F, k // BLOCK)))).random(BLOCK)``:
    ``D_k`` depends only on ``(seed, k)``, and the stream is independent of
    the simulator's (whose spawn key is ``(k // BLOCK,)``).

    Parameters
    ----------
    D : see :func:`normalize_D`
    n, seed, start : int
        How many, the set's seed, and the global index of the first image.
    params : SimParams, optional
        Only for ``D=None``.

    Returns
    -------
    ndarray (n,) float64
    """
    spec = normalize_D(D, params)
    n = _check_int("n", n, 0)
    seed = _check_int("seed", seed, 0)
    start = _check_int("start", start, 0)
    if spec["kind"] == "constant":
        return np.full(n, spec["value_um2_per_s"])
    lo, hi = spec["low_um2_per_s"], spec["high_um2_per_s"]
    u = np.empty(n)
    pos, k = 0, start
    while pos < n:
        b, off = divmod(k, BLOCK)
        m = min(BLOCK - off, n - pos)
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(D_STREAM_KEY, b)))
        )
        u[pos : pos + m] = rng.random(BLOCK)[off : off + m]
        pos += m
        k += m
    return lo + (hi - lo) * u


def shard_range(n: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """Global image range of shard ``(i, N)`` of ``n`` images: ``[i·n // N, (i+1)·n // N)``.

    ``shard=None`` is the whole set. ``i`` is 0-based. Raises ``ValueError``
    for a bad shard or an empty one (more shards than images).
    """
    n = _check_int("n", n, 1)
    if shard is None:
        return 0, n
    try:
        i, count = shard
    except (TypeError, ValueError):
        raise ValueError(
            f"shard={shard!r} is not allowed: expected (i, N) with 0 <= i < N"
        ) from None
    count = _check_int("shard count N", count, 1)
    i = _check_int("shard index i", i, 0)
    if i >= count:
        raise ValueError(
            f"shard={shard!r} is not allowed: expected (i, N) with 0 <= i < N (i is 0-based)"
        )
    start, stop = i * n // count, (i + 1) * n // count
    if stop == start:
        raise ValueError(f"shard={shard!r} of n={n} images is empty: expected N <= n")
    return start, stop


def make_labels(
    traj_um: np.ndarray,
    centroids_px: np.ndarray,
    D: np.ndarray,
    frames: np.ndarray,
    params: SimParams,
) -> pd.DataFrame:
    """The rows of ``labels.csv`` for a batch of images (columns: see the module docstring)."""
    a = params.pixel_size_um
    nm = pixel_size_nm(params)
    W, H = params.width_px, params.height_px
    # per axis: a strided 1-D reduction is ~3x faster than reducing the (n, H·W, 2) view
    lo = np.stack([traj_um[..., 0].min(axis=1), traj_um[..., 1].min(axis=1)], axis=1) / a
    hi = np.stack([traj_um[..., 0].max(axis=1), traj_um[..., 1].max(axis=1)], axis=1) / a
    pad = bbox_pad_px(params)
    start, end = traj_um[:, 0], traj_um[:, -1]
    cols = {
        "frame": np.asarray(frames, dtype=np.int64),
        "x_px": centroids_px[:, 0],
        "y_px": centroids_px[:, 1],
        "x_nm": centroids_px[:, 0] * nm,
        "y_nm": centroids_px[:, 1] * nm,
        "D_um2_per_s": np.asarray(D, dtype=np.float64),
        "start_x_px": start[:, 0] / a,
        "start_y_px": start[:, 1] / a,
        "start_z_um": start[:, 2] + 0.0,  # + 0.0 turns -0.0 (a start in focus) into 0.0
        "end_x_px": end[:, 0] / a,
        "end_y_px": end[:, 1] / a,
        "end_z_um": end[:, 2],
        "bbox_x0": np.clip(lo[:, 0] - pad, -0.5, W - 0.5),
        "bbox_y0": np.clip(lo[:, 1] - pad, -0.5, H - 0.5),
        "bbox_x1": np.clip(hi[:, 0] + pad, -0.5, W - 0.5),
        "bbox_y1": np.clip(hi[:, 1] + pad, -0.5, H - 0.5),
    }
    return pd.DataFrame(cols, columns=list(LABEL_COLUMNS))


_END = object()


def _prefetch(it: Iterator) -> Iterator:
    """Iterate ``it`` one item ahead in a worker thread (simulation overlaps writing)."""
    with ThreadPoolExecutor(1, thread_name_prefix="qdloc-prefetch") as ex:
        fut = ex.submit(next, it, _END)
        while True:
            item = fut.result()
            if item is _END:
                return
            fut = ex.submit(next, it, _END)
            yield item


def _labels_text(df: pd.DataFrame) -> str:
    # Floats as Python's shortest round-trip repr: exact, and the same for a row whatever its chunk.
    return df.to_csv(header=False, index=False, lineterminator="\n")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB pieces."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def _version() -> str:
    return __version__


def _meta(
    n_total: int, params: SimParams, seed: int, D_spec: dict, shard, start: int, stop: int
) -> dict:
    """params.json without the ``files`` entry."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "qdloc_version": _version(),
        "n": stop - start,
        "n_total": n_total,
        "frames": [start, stop],
        "shard": None if shard is None else {"index": int(shard[0]), "count": int(shard[1])},
        "seed": seed,
        "D": D_spec,
        "sim_params": params.to_dict(),
        "random_block": BLOCK,
        "image_shape": [params.height_px, params.width_px],
        "labels": {
            "columns": list(LABEL_COLUMNS),
            "coordinates": "px, x = column, y = row, pixel centres at integers",
            "bbox_pad_px": bbox_pad_px(params),
        },
    }


# Keys of params.json that say which images a set holds (and so which bytes).
_SPEC_KEYS = (
    "format",
    "format_version",
    "qdloc_version",
    "n",
    "n_total",
    "frames",
    "shard",
    "seed",
    "D",
    "sim_params",
    "random_block",
    "image_shape",
    "labels",
)


def _progress(total: int, desc: str, progress: bool):
    from tqdm import tqdm

    enabled = bool(progress) and sys.stderr is not None and sys.stderr.isatty()
    return tqdm(
        total=total, desc=desc, unit="img", disable=not enabled, leave=True, dynamic_ncols=True
    )


def image_dtype(params: SimParams) -> np.dtype:
    """Pixel type of a set's images: uint16 photon counts, float32 with a PMT model."""
    return np.dtype("<f4") if params.pmt_excess_noise > 1.0 else np.dtype("<u2")


def _tiff_kwargs(params: SimParams, n: int) -> dict:
    a = params.pixel_size_um
    dtype = image_dtype(params)
    est = n * (params.n_pixels * dtype.itemsize + 200) + 2**16
    return {
        "shape": (n, params.height_px, params.width_px),
        "dtype": dtype,
        "photometric": "minisblack",
        "resolution": (1.0 / a, 1.0 / a),
        "metadata": {"unit": "um", "axes": "TYX"},
        "truncate": est > _CLASSIC_TIFF_LIMIT,
    }


def _write_set(
    out: Path,
    meta: dict,
    params: SimParams,
    chunks: Iterable[tuple[np.ndarray, np.ndarray, str]],
    force: bool,
    progress: bool,
) -> Path:
    """Write a set atomically from chunks ``(images, trajectories, labels CSV rows)``."""
    n = meta["n"]
    with atomic_dir(out, force, FORMAT, "dataset") as tmp:
        # np.save's header (via open_memmap, which also sizes the file), then the data
        # written sequentially: faster than filling the memory map page by page.
        traj_mm = np.lib.format.open_memmap(
            tmp / TRAJECTORIES, mode="w+", dtype=np.dtype("<f8"), shape=(n, params.n_pixels, 3)
        )
        offset = traj_mm.offset
        del traj_mm
        written = 0
        with (
            _progress(n, out.name, progress) as bar,
            open(tmp / TRAJECTORIES, "r+b") as ftraj,
            open(tmp / LABELS, "w", encoding="utf-8", newline="") as fcsv,
            tifffile.TiffWriter(tmp / IMAGES, imagej=True, byteorder="<") as tw,
        ):
            fcsv.write(",".join(LABEL_COLUMNS) + "\n")
            ftraj.seek(offset)

            def pages() -> Iterator[np.ndarray]:
                nonlocal written
                for images, traj, rows in chunks:
                    m = len(images)
                    if written + m > n:
                        raise RuntimeError("more images than announced")  # pragma: no cover
                    ftraj.write(memoryview(np.ascontiguousarray(traj, dtype="<f8")).cast("B"))
                    fcsv.write(rows)
                    written += m  # count before yielding: the writer may not ask past the last page
                    yield from images
                    bar.update(m)

            tw.write(pages(), **_tiff_kwargs(params, n))
        if written != n:  # pragma: no cover - tifffile checks the page count too
            raise RuntimeError(f"wrote {written} images, expected {n}")
        files = {}
        for name in DATA_FILES:
            with open(tmp / name, "rb+") as f:
                os.fsync(f.fileno())
            files[name] = {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
        meta = dict(meta, files=files)
        with open(tmp / PARAMS, "w", encoding="utf-8", newline="") as f:
            f.write(_json_text(meta))
            f.flush()
            os.fsync(f.fileno())
    return out


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def write_dataset(
    out: str | Path,
    n: int,
    params: SimParams | None = None,
    seed: int = 0,
    D: Any = None,
    shard: tuple[int, int] | None = None,
    force: bool = False,
    progress: bool = True,
    chunk: int = DEFAULT_CHUNK,
    threads: int | None = None,
    client: Any = None,
    task_size: int = TASK_IMAGES,
) -> Path:
    """Simulate a set of ``n`` images and write it to the folder ``out``, atomically.

    Parameters
    ----------
    out : path
        The set's folder. It must not exist, or be empty, unless ``force``.
    n : int
        Images in the whole set (``>= 1``).
    params : SimParams, optional
        Simulator parameters (default ``SimParams()``).
    seed : int
        The set's seed: image ``k`` depends only on ``(seed, k)`` and its D.
    D : None, float or ("uniform", low, high)
        Diffusion coefficient, µm²/s: ``params.D_um2_per_s`` when None, one value
        for every image, or drawn per image (:func:`draw_D`).
    shard : (i, N), optional
        Write only the ``i``-th of ``N`` contiguous blocks of images (0-based),
        keeping their global indices (see :func:`shard_range`,
        :func:`concatenate_shards`).
    force : bool
        Replace an existing set at ``out`` (only a folder that is a qdloc set
        or empty is ever replaced).
    progress : bool
        Show a tqdm bar on stderr (only when stderr is a terminal).
    chunk : int
        Images simulated and written at a time; bounds the memory (two
        chunks are in flight: about 200 MB at the default for 24 x 25
        images, whatever ``n``). Multiples of ``BLOCK`` are fastest. The
        files do not depend on it.
    threads : int, optional
        Passed to :func:`qdloc.sim.simulate.simulate`; the files do not depend on it.
    client : distributed.Client, optional
        Run on this Dask cluster (see :mod:`qdloc.cluster`): the set is cut into shards of
        about ``task_size`` images, each a task that writes its shard atomically into a hidden
        sibling ``.NAME.shards`` of ``out`` (a folder the workers must share), and this process
        joins them (:func:`concatenate_shards`): the same bytes as without a client, for any
        number of workers. A task whose worker dies runs again elsewhere; shards written by an
        interrupted run are reused. Not with ``shard``.
    task_size : int
        Images per task with a ``client`` (default :data:`TASK_IMAGES`).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ValueError
        For a bad argument (naming it).
    FileExistsError
        When ``out`` holds something and ``force`` is False, or holds
        something that is not a set.
    """
    out = Path(out)
    params = params or SimParams()
    if not isinstance(params, SimParams):
        raise ValueError(f"params={params!r} is not allowed: expected a SimParams")
    n = _check_int("n", n, 1)
    seed = _check_int("seed", seed, 0)
    chunk = _check_int("chunk", chunk, 1)
    spec = normalize_D(D, params)
    start, stop = shard_range(n, shard)
    check_target(out, force, FORMAT, "dataset")
    if client is not None:
        if shard is not None:
            raise ValueError(f"shard={shard!r} with a client is not allowed: the client shards the "
                             "set itself; expected shard=None")
        task_size = _check_int("task_size", task_size, 1)
        return _write_on_cluster(client, out, n, params, seed, spec, force, progress, chunk, task_size)
    meta = _meta(n, params, seed, spec, shard, start, stop)

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray, str]]:
        k = start
        while k < stop:
            # chunk boundaries at global multiples of chunk, so shards reuse whole blocks
            k1 = min(stop, (k // chunk + 1) * chunk)
            D_k = draw_D(spec, k1 - k, seed, start=k)
            sim = simulate(k1 - k, params, seed=seed, D=D_k, start=k, threads=threads)
            rows = _labels_text(
                make_labels(sim.trajectories, sim.centroids, sim.D, sim.index, params)
            )
            yield sim.images, sim.trajectories, rows
            k = k1

    return _write_set(out, meta, params, _prefetch(chunks()), force, progress)


def task_count(n: int, task_size: int = TASK_IMAGES) -> int:
    """Shards (tasks) of a set of ``n`` images written on a cluster: ``ceil(n / task_size)``."""
    return -(-_check_int("n", n, 1) // _check_int("task_size", task_size, 1))


def write_shard_task(staging: str, n: int, params: dict, seed: int, spec: dict,
                     shard: tuple[int, int], chunk: int) -> str:
    """One task of :func:`write_dataset` on a cluster: shard ``shard`` into ``staging``.

    Parameters
    ----------
    staging : str
        The folder of the shards (shared by the workers and the client).
    n, seed, spec, chunk
        The set's size, seed, D specification (:func:`normalize_D`) and chunk.
    params : dict
        ``SimParams.to_dict()``.
    shard : (i, N)
        The shard to write (:func:`shard_range`).

    Returns
    -------
    str
        The shard's folder. A shard already there that is the requested one (written by an
        earlier attempt whose worker died, or by an interrupted run) is kept, not rewritten.
    """
    sim_params = SimParams.from_dict(params)
    i, count = shard
    target = Path(staging) / f"shard-{i:06d}-of-{count:06d}"
    if target.is_dir():
        expected = _meta(n, sim_params, seed, spec, tuple(shard), *shard_range(n, tuple(shard)))
        with contextlib.suppress(DatasetError):
            if _matches(_read_meta(target), expected) is None:
                return str(target)
    write_dataset(target, n, sim_params, seed=seed, D=spec, shard=tuple(shard), force=True,
                  progress=False, chunk=chunk, threads=1)
    return str(target)


def _write_on_cluster(client: Any, out: Path, n: int, params: SimParams, seed: int, spec: dict,
                      force: bool, progress: bool, chunk: int, task_size: int) -> Path:
    """:func:`write_dataset` as shard tasks on a Dask client, joined here."""
    count = task_count(n, task_size)
    staging = out.parent / f".{out.name}.shards"
    staging.mkdir(parents=True, exist_ok=True)
    args = [(str(staging), n, params.to_dict(), seed, spec, (i, count), chunk) for i in range(count)]
    sizes = [b - a for a, b in (shard_range(n, (i, count)) for i in range(count))]
    dirs = run_tasks(client, write_shard_task, args, desc=out.name, unit="img", progress=progress,
                     weights=sizes)
    concatenate_shards(dirs, out, force=force, progress=False, chunk=chunk)
    shutil.rmtree(staging, ignore_errors=True)
    return out


def _matches(meta: Mapping, expected: Mapping) -> str | None:
    """The first key where a set's params.json differs from ``expected`` (None: the same set)."""
    for key in _SPEC_KEYS:
        got, want = meta.get(key), expected.get(key)
        if key == "sim_params" and isinstance(got, dict) and isinstance(want, dict):
            try:  # a set written before a field was added holds that field's default
                got, want = SimParams.normalize_dict(got), SimParams.normalize_dict(want)
            except (TypeError, ValueError):
                return key
        if got != want:
            return key
    return None


def write_paper_sets(
    out_dir: str | Path,
    params: SimParams | None = None,
    *,
    names: Iterable[str] | None = None,
    force: bool = False,
    skip_existing: bool = False,
    progress: bool = True,
    chunk: int = DEFAULT_CHUNK,
    client: Any = None,
) -> dict[str, Path]:
    """Write the sets of :data:`PAPER_PRESET` into ``out_dir/<name>``.

    Parameters
    ----------
    out_dir : path
        Folder that receives one folder per set.
    params : SimParams, optional
        Simulator parameters (default ``SimParams()`` at the time of the call).
    names : iterable of str, optional
        A subset of the preset's set names (default: all five).
    force : bool
        Replace existing sets.
    skip_existing : bool
        Keep a set that already exists, loads and verifies, and was made with
        the same parameters, seed, size, D and qdloc version. A set that
        exists but differs is replaced when ``force``, else an error.
    progress : bool
        tqdm bars (only on a terminal).
    chunk : int
        As in :func:`write_dataset`.
    client : distributed.Client, optional
        As in :func:`write_dataset`: each set written as shard tasks on this Dask cluster.

    Returns
    -------
    dict
        ``{name: path}`` for every requested set, in the preset's order.
    """
    out_dir = Path(out_dir)
    params = params or SimParams()
    wanted = list(PAPER_PRESET) if names is None else list(names)
    unknown = [w for w in wanted if w not in PAPER_PRESET]
    if unknown:
        raise ValueError(
            f"names={unknown!r} is not allowed: expected names among {list(PAPER_PRESET)}"
        )
    result: dict[str, Path] = {}
    for name in PAPER_PRESET:
        if name not in wanted:
            continue
        s = PAPER_PRESET[name]
        target = out_dir / name
        if skip_existing and target.is_dir() and any(target.iterdir()):
            expected = _meta(s.n, params, s.seed, normalize_D(s.D), None, 0, s.n)
            try:
                meta = load_dataset(target, verify=True, mmap=True).meta
                differs = _matches(meta, expected)
            except DatasetError as exc:
                differs = f"it does not load ({exc})"
            if differs is None:
                result[name] = target
                continue
            if not force:
                raise FileExistsError(
                    f"{target} exists but is not the requested set ({differs} differs); "
                    "use force=True (--force) to replace it"
                )
        write_dataset(target, s.n, params, seed=s.seed, D=s.D, force=force, progress=progress,
                      chunk=chunk, client=client)
        result[name] = target
    return result


def concatenate_shards(
    shards: Iterable[str | Path],
    out: str | Path,
    *,
    force: bool = False,
    progress: bool = True,
    chunk: int = DEFAULT_CHUNK,
) -> Path:
    """Join the ``N`` shards of a set into one set at ``out``.

    The shards may be given in any order; each is loaded and verified first.
    The result is byte for byte the set that :func:`write_dataset` writes
    without ``shard`` -- all four files, ``params.json`` included (it records
    ``shard: null`` and the checksums of the joined files).

    Raises
    ------
    DatasetError
        When a shard does not load, the shards come from different sets
        (parameters, seed, size, D, version), or shards are missing or repeated.
    """
    out = Path(out)
    chunk = _check_int("chunk", chunk, 1)
    sets = [load_dataset(s, verify=True, mmap=True) for s in shards]
    if not sets:
        raise ValueError("shards is empty: expected the folders of all N shards of a set")
    ref = sets[0].meta
    for ds in sets:
        sh = ds.meta["shard"]
        if sh is None:
            raise DatasetError(f"{ds.path / PARAMS}: not a shard (shard is null)")
        for key in (
            "format_version",
            "qdloc_version",
            "n_total",
            "seed",
            "D",
            "sim_params",
            "random_block",
        ):
            if ds.meta.get(key) != ref.get(key):
                raise DatasetError(
                    f"{ds.path / PARAMS}: {key}={ds.meta.get(key)!r} differs from "
                    f"{sets[0].path / PARAMS} ({ref.get(key)!r}): the shards are not of one set"
                )
    count = ref["shard"]["count"] if ref["shard"] else 0
    by_index: dict[int, Dataset] = {}
    for ds in sets:
        i = ds.meta["shard"]["index"]
        if ds.meta["shard"]["count"] != count:
            raise DatasetError(
                f"{ds.path / PARAMS}: shard count {ds.meta['shard']['count']} differs from {count}"
            )
        if i in by_index:
            raise DatasetError(
                f"{ds.path}: shard {i}/{count} is given twice (also {by_index[i].path})"
            )
        by_index[i] = ds
    missing = sorted(set(range(count)) - set(by_index))
    if missing:
        raise DatasetError(
            f"shard(s) {missing} of {count} missing: expected all N shards of the set"
        )
    ordered = [by_index[i] for i in range(count)]
    n = ref["n_total"]
    for i, ds in enumerate(ordered):
        if ds.meta["frames"] != list(shard_range(n, (i, count))):
            raise DatasetError(
                f"{ds.path / PARAMS}: frames {ds.meta['frames']} are not those of shard "
                f"{i}/{count} of {n} images {list(shard_range(n, (i, count)))}"
            )
    params = ordered[0].params
    meta = _meta(n, params, ref["seed"], ref["D"], None, 0, n)
    meta["qdloc_version"] = ref["qdloc_version"]  # the version that made the images

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray, str]]:
        for ds in ordered:
            with open(ds.path / LABELS, encoding="utf-8", newline="") as f:
                f.readline()  # header
                for i in range(0, ds.n, chunk):
                    j = min(ds.n, i + chunk)
                    rows = "".join(itertools.islice(f, j - i))
                    yield np.asarray(ds.images[i:j]), np.asarray(ds.trajectories[i:j]), rows

    return _write_set(out, meta, params, chunks(), force, progress)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Dataset:
    """A set loaded from disk (:func:`load_dataset`).

    Attributes
    ----------
    path : Path
        The set's folder.
    images : ndarray (n, H, W) uint16
        Photon counts, in page order (a read-only memory map when loaded with ``mmap=True``).
    labels : DataFrame
        ``labels.csv``, one row per image in page order.
    trajectories : ndarray (n, H·W, 3) float64
        Dot positions in µm, memory-mapped read-only.
    params : SimParams
        The simulator parameters of the set.
    meta : dict
        All of ``params.json``.
    """

    path: Path
    images: np.ndarray
    labels: pd.DataFrame
    trajectories: np.ndarray
    params: SimParams
    meta: dict

    def __len__(self) -> int:
        return self.n

    @property
    def n(self) -> int:
        """Images in this folder."""
        return int(self.meta["n"])

    @property
    def truth_xy(self) -> np.ndarray:
        """Ground truth for :mod:`qdloc.eval.metrics`: (n, 2) centroids (x, y) in px, in page order."""
        return self.labels[["x_px", "y_px"]].to_numpy(dtype=np.float64)

    @property
    def frames(self) -> np.ndarray:
        """Global image index of each page."""
        return self.labels["frame"].to_numpy(dtype=np.int64)

    @property
    def D(self) -> np.ndarray:
        """Diffusion coefficient of each image, µm²/s."""
        return self.labels["D_um2_per_s"].to_numpy(dtype=np.float64)

    @property
    def seed(self) -> int:
        return int(self.meta["seed"])

    @property
    def shard(self) -> tuple[int, int] | None:
        sh = self.meta["shard"]
        return None if sh is None else (int(sh["index"]), int(sh["count"]))

    @property
    def pixel_size_nm(self) -> float:
        return pixel_size_nm(self.params)


def _read_meta(path: Path) -> dict:
    f = path / PARAMS
    if not path.is_dir():
        raise DatasetError(f"{path}: no such folder; expected a dataset folder holding {PARAMS}")
    if not f.is_file():
        raise DatasetError(f"{f}: missing; {path} is not a complete qdloc dataset")
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{f}: cannot be read as JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DatasetError(f'{f}: not a qdloc dataset description (expected "format": {FORMAT!r})')
    if meta.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"{f}: format_version={meta.get('format_version')!r}; "
            f"this qdloc reads version {FORMAT_VERSION}"
        )
    need = [*_SPEC_KEYS, "files"]
    missing = [k for k in need if k not in meta]
    if missing:
        raise DatasetError(f"{f}: missing key(s) {missing}")
    files = meta["files"]
    if not isinstance(files, dict) or any(
        not isinstance(files.get(name), dict) or {"bytes", "sha256"} - set(files[name])
        for name in DATA_FILES
    ):
        raise DatasetError(f"{f}: 'files' must give bytes and sha256 of each of {list(DATA_FILES)}")
    n, frames = meta["n"], meta["frames"]
    if (
        not isinstance(n, int)
        or n < 1
        or not isinstance(frames, list)
        or len(frames) != 2
        or not all(isinstance(v, int) for v in frames)
        or frames[1] - frames[0] != n
    ):
        raise DatasetError(
            f"{f}: n={n!r} and frames={frames!r} are inconsistent: expected frames = [k0, k0 + n]"
        )
    return meta


def _size_note(file: Path, meta: dict) -> str:
    """``""``, or a note that the file's size differs from what params.json records."""
    try:
        size = file.stat().st_size
    except OSError:
        return ""
    expected = meta["files"][file.name]["bytes"]
    if size < expected:
        return (
            f"; the file is shorter than params.json records ({size} < {expected} bytes): "
            "truncated or rewritten"
        )
    if size != expected:
        return f"; the file is longer than params.json records ({size} > {expected} bytes)"
    return ""


@contextlib.contextmanager
def _quiet_tifffile() -> Iterator[None]:
    """Silence tifffile's log messages about damaged files (we raise one clear error instead)."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _open_images(f: Path, meta: dict, mmap: bool) -> np.ndarray:
    n = meta["n"]
    H, W = meta["sim_params"]["height_px"], meta["sim_params"]["width_px"]
    want = image_dtype(SimParams.from_dict(meta["sim_params"]))
    try:
        with _quiet_tifffile(), tifffile.TiffFile(f) as tif:
            series = tif.series[0]
            shape, dtype = tuple(series.shape), series.dtype
            if len(series.shape) == 2:
                shape = (1, *shape)
            if shape != (n, H, W) or dtype != want:
                have = (
                    f"{shape[0]} image(s) of {shape[1:]} {dtype}"
                    if len(shape) == 3
                    else f"shape {shape}"
                )
                raise DatasetError(
                    f"{f}: holds {have}; params.json says n={n} images of ({H}, {W}) {want.name}"
                    + _size_note(f, meta)
                )
            if not mmap:
                return series.asarray().reshape(n, H, W)
            return tifffile.memmap(f, mode="r").reshape(n, H, W)
    except DatasetError:
        raise
    except Exception as exc:  # tifffile raises many kinds on a damaged file
        raise DatasetError(
            f"{f}: cannot be read as a TIFF stack ({exc})" + _size_note(f, meta)
        ) from None


def _open_trajectories(f: Path, meta: dict) -> np.ndarray:
    n, P = meta["n"], meta["sim_params"]["height_px"] * meta["sim_params"]["width_px"]
    try:
        traj = np.load(f, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise DatasetError(
            f"{f}: cannot be read as a .npy array ({exc})" + _size_note(f, meta)
        ) from None
    if traj.shape != (n, P, 3) or traj.dtype != np.float64:
        raise DatasetError(
            f"{f}: holds shape {traj.shape} {traj.dtype}; params.json says n={n} images, "
            f"shape ({n}, {P}, 3) float64" + _size_note(f, meta)
        )
    return traj


def _read_labels(f: Path, meta: dict) -> pd.DataFrame:
    n = meta["n"]
    try:
        df = pd.read_csv(f)
    except Exception as exc:  # EmptyDataError, ParserError, UnicodeDecodeError, OSError
        raise DatasetError(f"{f}: cannot be read as CSV ({exc})" + _size_note(f, meta)) from None
    missing = [c for c in LABEL_COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{f}: missing column(s) {missing}; expected the columns {list(LABEL_COLUMNS)}"
        )
    if len(df) != n:
        raise DatasetError(
            f"{f}: has {len(df)} rows; params.json says n={n} images" + _size_note(f, meta)
        )
    bad = [
        c for c in LABEL_COLUMNS if not pd.api.types.is_numeric_dtype(df[c]) or df[c].isna().any()
    ]
    if bad:
        raise DatasetError(f"{f}: column(s) {bad} hold empty or non-numeric values")
    k0, k1 = meta["frames"]
    if not np.array_equal(df["frame"].to_numpy(), np.arange(k0, k1)):
        raise DatasetError(
            f"{f}: the frame column is not {k0}, {k0 + 1}, ..., {k1 - 1} (params.json's frames)"
        )
    return df


def load_dataset(path: str | Path, *, verify: bool = True, mmap: bool = False) -> Dataset:
    """Load a set written by :func:`write_dataset`, checking it.

    Parameters
    ----------
    path : path
        The set's folder.
    verify : bool
        Also compare each data file's sha256 with ``params.json`` (reads
        every byte once). The structural checks are always made.
    mmap : bool
        Memory-map the images read-only instead of reading them (the
        trajectories are always memory-mapped).

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        (a ``ValueError``) naming the file and what is wrong: missing, not
        readable, truncated, wrong shape, missing column, a number of images
        that disagrees with ``params.json``, or a checksum mismatch.
    """
    path = Path(path)
    meta = _read_meta(path)
    try:
        params = SimParams.from_dict(meta["sim_params"])
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path / PARAMS}: sim_params are not valid ({exc})") from None
    if meta["image_shape"] != [params.height_px, params.width_px]:
        raise DatasetError(
            f"{path / PARAMS}: image_shape {meta['image_shape']} disagrees with sim_params"
        )
    for name in DATA_FILES:
        if not (path / name).is_file():
            raise DatasetError(f"{path / name}: missing; {path} is not a complete qdloc dataset")
    labels = _read_labels(path / LABELS, meta)
    images = _open_images(path / IMAGES, meta, mmap)
    traj = _open_trajectories(path / TRAJECTORIES, meta)
    for name in DATA_FILES:
        f = path / name
        note = _size_note(f, meta)
        if note:
            raise DatasetError(f"{f}: does not match params.json{note}")
        if verify:
            digest = sha256_file(f)
            if digest != meta["files"][name]["sha256"]:
                raise DatasetError(
                    f"{f}: sha256 {digest[:16]}... differs from params.json's "
                    f"{meta['files'][name]['sha256'][:16]}...: the file was modified or damaged"
                )
    return Dataset(
        path=path, images=images, labels=labels, trajectories=traj, params=params, meta=meta
    )


def _declared_pages(tif: tifffile.TiffFile) -> tuple[int, str] | None:
    """The number of pages the file's own metadata declares, and which metadata says so.

    ImageJ's ``images=`` (one page per image), or the ``shape`` of tifffile's JSON
    description divided by the first page's size; ``None`` when the file declares neither.
    """
    first = tif.pages.first
    meta = tif.imagej_metadata
    if meta and isinstance(meta.get("images"), int) and meta["images"] >= 1:
        return int(meta["images"]), "its ImageJ metadata (images=)"
    if first.shaped_description is not None:
        shape = tifffile.tifffile.shaped_description_metadata(first.shaped_description).get("shape")
        if isinstance(shape, list) and shape and all(isinstance(v, int) for v in shape):
            total, size = math.prod(shape), max(first.size, 1)
            if total % size == 0 and total // size >= 1:
                return total // size, "its tifffile description (shape=)"
    return None


def _walk_pages(tif: tifffile.TiffFile) -> tuple[int, str | None] | None:
    """Follow the chain of image directories (IFDs) to its end, reading only their headers.

    Returns
    -------
    (int, str or None) or None
        The number of complete directories, and what breaks the chain (``None`` when it
        ends properly with a zero pointer); ``None`` for TIFF variants other than classic
        and BigTIFF. tifffile's own walk is not used: on a file cut inside a directory it
        can follow garbage pointers for a very long time.
    """
    fmt = tif.tiff
    if fmt.version not in (42, 43):
        return None
    fh, order = tif.filehandle, "little" if fmt.byteorder == "<" else "big"
    size, ptr, n, seen = fh.size, 4 if fmt.version == 42 else 8, 0, set()
    while True:
        fh.seek(ptr)
        raw = fh.read(fmt.offsetsize)
        if len(raw) < fmt.offsetsize:
            return n, f"the pointer after page {n} lies past the end of the file"
        offset = int.from_bytes(raw, order)
        if offset == 0:
            return n, None
        if offset in seen:
            return n, f"the chain of pages loops back after page {n}"
        if offset >= size:
            return n, f"page {n} (from 0) would start at byte {offset}, past the end of the file"
        seen.add(offset)
        fh.seek(offset)
        raw = fh.read(fmt.tagnosize)
        tags = int.from_bytes(raw, order) if len(raw) == fmt.tagnosize else 0
        ptr = offset + fmt.tagnosize + tags * fmt.tagsize
        if not 0 < tags <= 4096 or ptr + fmt.offsetsize > size:
            return n, f"the directory of page {n} (from 0) is cut or damaged"
        n += 1


def _check_complete(tif: tifffile.TiffFile, path: Path) -> None:
    """Refuse a truncated or damaged TIFF: a broken page chain, missing pages or missing data.

    Raises
    ------
    DatasetError
        Naming the file, how many pages it holds and how many it declares.
    """
    walk, size = _walk_pages(tif), tif.filehandle.size
    if walk is None:  # NDPI and other variants: tifffile's own checks only
        return
    n_pages, broken = walk
    declared = _declared_pages(tif)
    claim = f"; {declared[1]} declares {declared[0]}" if declared else ""
    if broken:
        raise DatasetError(
            f"{path}: truncated or damaged TIFF ({size} bytes): {n_pages} complete page(s)"
            f"{claim}; {broken}"
        )
    first = tif.pages.first
    if declared and n_pages == 1 and declared[0] > 1 and first.is_contiguous:
        # ImageJ's way past 4 GB: one directory, every image's data contiguous after it
        need = first.dataoffsets[0] + declared[0] * first.nbytes
        if need > size:
            raise DatasetError(
                f"{path}: truncated TIFF: holds {(size - first.dataoffsets[0]) // first.nbytes} "
                f"complete image(s){claim} ({size} of {need} bytes)"
            )
        return
    if declared and n_pages < declared[0]:
        raise DatasetError(
            f"{path}: truncated or damaged TIFF: holds {n_pages} page(s){claim}"
        )
    series = tif.series[0] if tif.series else None
    if series is not None and series.dataoffset is not None:  # contiguous: one check, no loop
        end = series.dataoffset + series.nbytes
        if end > size:
            raise DatasetError(
                f"{path}: truncated TIFF: the image data end at byte {end}, past the end of the "
                f"file ({size} bytes){claim}"
            )
        return
    for k, page in enumerate(tif.pages):
        end = max((o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=True)),
                  default=0)
        if end > size:
            raise DatasetError(
                f"{path}: truncated TIFF: the data of page {k} (from 0) of {n_pages} ends at "
                f"byte {end}, past the end of the file ({size} bytes){claim}"
            )


def _check_finite(data: np.ndarray, path: Path) -> None:
    """Refuse a stack with NaN or infinite pixels, naming the first bad frame.

    Any non-finite pixel is refused, not only all-NaN frames: every localiser does
    arithmetic over the whole frame (band-pass, convolution, likelihood), so one NaN
    either spreads to the frame's result or biases it without a trace.
    """
    if data.dtype.kind != "f":
        return
    bad = ~np.isfinite(data)
    per_frame = bad.reshape(len(data), -1).sum(axis=1)
    frames = np.flatnonzero(per_frame)
    if frames.size:
        k = int(frames[0])
        raise DatasetError(
            f"{path}: frame {k} (page index from 0) holds {int(per_frame[k])} non-finite "
            f"pixel value(s) (NaN or inf); {frames.size} of {len(data)} frame(s) do; "
            "expected finite intensities: replace or remove them first"
        )


def read_stack(path: str | Path) -> np.ndarray:
    """Read a single-channel TIFF image or stack as an ``(n, H, W)`` array.

    A 2D image gives ``n = 1``; a 3D stack (time, z or any other frame axis)
    is returned as is; a dataset folder reads its ``images.tif``.

    Parameters
    ----------
    path : path
        A TIFF file, or a set folder (its ``images.tif`` is read).

    Returns
    -------
    numpy.ndarray
        The images, ``(n, H, W)``, in the file's dtype.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    DatasetError
        (a ``ValueError``) when it is not a TIFF, is RGB or has several
        channels or more than three dimensions; when it is truncated or damaged
        (a broken chain of pages, fewer pages than its ImageJ or tifffile
        metadata declares, or image data past the end of the file); or when a
        pixel is NaN or infinite. The message names the file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / IMAGES
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with _quiet_tifffile(), tifffile.TiffFile(path) as tif:
            _check_complete(tif, path)
            if not tif.series:
                raise DatasetError(f"{path}: holds no image (an empty or truncated TIFF)")
            series = tif.series[0]
            axes, shape = series.axes, tuple(series.shape)
            page = tif.pages.first
            if "S" in axes or page.samplesperpixel > 1 or page.photometric in (2, 6):  # RGB, YCbCr
                raise DatasetError(
                    f"{path}: is an RGB / multi-sample image (axes {axes}, shape {shape}); "
                    "expected a single-channel stack: split the channels first (e.g. in Fiji)"
                )
            if "C" in axes and shape[axes.index("C")] > 1:
                raise DatasetError(
                    f"{path}: has {shape[axes.index('C')]} channels (axes {axes}, shape {shape}); "
                    "expected a single-channel stack: save one channel"
                )
            if len(shape) > 3:
                squeezed = tuple(s for s in shape if s > 1)
                if len(squeezed) > 3:
                    raise DatasetError(
                        f"{path}: has {len(shape)} dimensions (axes {axes}, shape {shape}); "
                        "expected a single-channel stack (n, H, W): "
                        "reduce it to one frame axis first"
                    )
            data = series.asarray()
    except DatasetError:
        raise
    except OSError:
        raise
    except Exception as exc:
        raise DatasetError(f"{path}: cannot be read as a TIFF stack ({exc})") from None
    if data.ndim > 3:
        data = data.reshape(-1, *data.shape[-2:])
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.dtype.kind not in "uif":
        raise DatasetError(
            f"{path}: shape {data.shape} {data.dtype}; expected a real-valued (n, H, W) stack"
        )
    _check_finite(data, path)
    return data
