"""Movie sets on disk: TIFF time series with per-frame labels and the whole trajectories.

A movie set is a folder::

    movies/movie_00000.tif   one ImageJ TIFF time series per movie (axes TYX,
                             pixel size and frame interval in the metadata)
    labels.csv               one row per movie and frame (see MOVIE_LABEL_COLUMNS)
    trajectories.npy         (n, T, H·W, 3) float64 µm, every sample of every frame
    params.json              format, seed, D, SimParams, frame interval, sha256 of every file

It is written like the single-frame sets of :mod:`qdloc.data.dataset`: into a
hidden temporary folder that is renamed into place when complete, so an
interrupted write leaves no set; a rerun with the same arguments gives the
same bytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile

from qdloc.data.atomic import atomic_dir
from qdloc.data.dataset import (
    PARAMS,
    DatasetError,
    _json_text,
    _version,
    draw_D,
    image_dtype,
    normalize_D,
    sha256_file,
)
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import Movie, simulate_movie

__all__ = [
    "MOVIE_FORMAT",
    "MOVIE_LABEL_COLUMNS",
    "MovieSet",
    "movie_labels",
    "write_movies",
    "load_movies",
]

MOVIE_FORMAT = "qdloc-movies"
MOVIE_FORMAT_VERSION = 1
MOVIES = "movies"
LABELS = "labels.csv"
TRAJECTORIES = "trajectories.npy"

#: Columns of a movie set's ``labels.csv``: the label of each frame is the
#: centroid of the dot's positions while that frame was scanned.
MOVIE_LABEL_COLUMNS: tuple[str, ...] = (
    "movie", "frame", "t_s", "x_px", "y_px", "x_nm", "y_nm", "in_view", "D_um2_per_s",
)

#: Movies simulated and written at a time (memory: about 15 kB per frame).
_CHUNK = 64


def movie_file(m: int) -> str:
    """File name of movie ``m`` inside ``movies/``."""
    return f"{MOVIES}/movie_{m:05d}.tif"


def movie_labels(mv: Movie) -> pd.DataFrame:
    """Per-frame labels of a batch of movies (columns :data:`MOVIE_LABEL_COLUMNS`)."""
    n, T = mv.in_view.shape
    nm = mv.params.pixel_size_um * 1000.0
    return pd.DataFrame(
        {
            "movie": np.repeat(mv.index, T),
            "frame": np.tile(np.arange(T), n),
            "t_s": np.tile(mv.frame_times_s, n),
            "x_px": mv.centroids[..., 0].reshape(-1),
            "y_px": mv.centroids[..., 1].reshape(-1),
            "x_nm": mv.centroids[..., 0].reshape(-1) * nm,
            "y_nm": mv.centroids[..., 1].reshape(-1) * nm,
            "in_view": mv.in_view.reshape(-1),
            "D_um2_per_s": np.repeat(mv.D, T),
        }
    )


def write_movies(
    out: str | Path,
    n: int,
    n_frames: int,
    params: SimParams | None = None,
    seed: int = 0,
    D: Any = None,
    force: bool = False,
    threads: int | None = None,
) -> Path:
    """Simulate ``n`` movies of ``n_frames`` frames and write them to the folder ``out``, atomically.

    Parameters
    ----------
    out : path
        The set's folder; it must not exist or be empty unless ``force``.
    n, n_frames : int
        Movies, and frames per movie (both >= 1).
    params : SimParams, optional
        Simulator parameters (``frame_pause_s`` sets the pause between frames).
    seed : int
        Movie ``m`` depends only on ``(seed, m)`` and its D.
    D : None, float or ("uniform", low, high)
        As for :func:`qdloc.data.dataset.write_dataset`, one value per movie.
    force : bool
        Replace an existing movie set at ``out``.

    Returns
    -------
    Path
    """
    out = Path(out)
    params = params or SimParams()
    for name, v in (("n", n), ("n_frames", n_frames), ("seed", seed)):
        low = 0 if name == "seed" else 1
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
            raise ValueError(f"{name}={v!r} is not allowed: expected an integer >= {low}")
    spec = normalize_D(D, params)
    with atomic_dir(out, force, MOVIE_FORMAT, "movie set") as tmp:
        (tmp / MOVIES).mkdir()
        n_px = params.n_pixels
        traj_mm = np.lib.format.open_memmap(
            tmp / TRAJECTORIES, mode="w+", dtype=np.dtype("<f8"), shape=(n, n_frames, n_px, 3)
        )
        labels = []
        a = params.pixel_size_um
        for k0 in range(0, n, _CHUNK):
            k1 = min(n, k0 + _CHUNK)
            D_k = draw_D(spec, k1 - k0, seed, start=k0)
            mv = simulate_movie(k1 - k0, n_frames, params, seed=seed, D=D_k, start=k0, threads=threads)
            traj_mm[k0:k1] = mv.trajectories
            labels.append(movie_labels(mv))
            for i, m in enumerate(mv.index):
                tifffile.imwrite(
                    tmp / movie_file(int(m)),
                    mv.images[i].astype(image_dtype(params)),
                    imagej=True,
                    byteorder="<",
                    resolution=(1.0 / a, 1.0 / a),
                    metadata={"unit": "um", "axes": "TYX", "finterval": params.frame_period_s},
                )
        traj_mm.flush()
        del traj_mm
        df = pd.concat(labels, ignore_index=True)
        (tmp / LABELS).write_text(df.to_csv(index=False, lineterminator="\n", float_format="%.10g"))
        names = [LABELS, TRAJECTORIES] + [movie_file(m) for m in range(n)]
        files = {}
        for name in names:
            with open(tmp / name, "rb+") as f:
                os.fsync(f.fileno())
            files[name] = {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
        meta = {
            "format": MOVIE_FORMAT,
            "format_version": MOVIE_FORMAT_VERSION,
            "qdloc_version": _version(),
            "n": int(n),
            "n_frames": int(n_frames),
            "frame_interval_s": params.frame_period_s,
            "seed": int(seed),
            "D": spec,
            "sim_params": params.to_dict(),
            "image_shape": [params.height_px, params.width_px],
            "labels": {"columns": list(MOVIE_LABEL_COLUMNS),
                       "coordinates": "px, x = column, y = row, pixel centres at integers"},
            "files": files,
        }
        (tmp / PARAMS).write_text(_json_text(meta))
    return out


@dataclass(frozen=True)
class MovieSet:
    """A movie set read back by :func:`load_movies`."""

    path: Path
    images: np.ndarray  # (n, T, H, W)
    labels: pd.DataFrame
    trajectories: np.ndarray  # (n, T, H·W, 3), memory-mapped
    params: SimParams
    meta: dict

    def __len__(self) -> int:
        return int(self.meta["n"])

    @property
    def frame_interval_s(self) -> float:
        return float(self.meta["frame_interval_s"])

    @property
    def D(self) -> np.ndarray:
        """Diffusion coefficient of each movie, µm²/s."""
        return self.labels.groupby("movie")["D_um2_per_s"].first().to_numpy()

    def truth(self, m: int) -> pd.DataFrame:
        """The labels of movie ``m`` (frame, x_px, y_px, in_view, ...)."""
        return self.labels[self.labels["movie"] == m].reset_index(drop=True)


def load_movies(path: str | Path, *, verify: bool = True) -> MovieSet:
    """Load a movie set written by :func:`write_movies`, checking every file.

    Raises
    ------
    DatasetError
        (a ``ValueError``) naming the file: missing, not a movie set, wrong
        shape, missing label column, or (``verify``) a checksum mismatch.
    """
    path = Path(path)
    f = path / PARAMS
    if not f.is_file():
        raise DatasetError(f"{f}: missing; {path} is not a qdloc movie set")
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{f}: cannot be read as JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != MOVIE_FORMAT:
        raise DatasetError(f'{f}: not a qdloc movie set (expected "format": {MOVIE_FORMAT!r})')
    try:
        params = SimParams.from_dict(meta["sim_params"])
        n, T = int(meta["n"]), int(meta["n_frames"])
        files = meta["files"]
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{f}: incomplete or invalid ({exc})") from None
    for name, info in files.items():
        g = path / name
        if not g.is_file():
            raise DatasetError(f"{g}: missing; {path} is not a complete movie set")
        if g.stat().st_size != info["bytes"]:
            raise DatasetError(f"{g}: {g.stat().st_size} bytes, params.json records {info['bytes']}")
        if verify and sha256_file(g) != info["sha256"]:
            raise DatasetError(f"{g}: sha256 differs from params.json: the file was modified or damaged")
    H, W = params.height_px, params.width_px
    images = np.empty((n, T, H, W), dtype=image_dtype(params))
    for m in range(n):
        g = path / movie_file(m)
        arr = tifffile.imread(g)
        if arr.shape != (T, H, W) and not (T == 1 and arr.shape == (H, W)):
            raise DatasetError(f"{g}: holds shape {arr.shape}; params.json says ({T}, {H}, {W})")
        images[m] = arr.reshape(T, H, W)
    labels = pd.read_csv(path / LABELS)
    missing = [c for c in MOVIE_LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise DatasetError(f"{path / LABELS}: missing column(s) {missing}")
    if len(labels) != n * T:
        raise DatasetError(f"{path / LABELS}: {len(labels)} rows; expected n·n_frames = {n * T}")
    traj = np.load(path / TRAJECTORIES, mmap_mode="r")
    if traj.shape != (n, T, params.n_pixels, 3):
        raise DatasetError(f"{path / TRAJECTORIES}: shape {traj.shape}; expected ({n}, {T}, {params.n_pixels}, 3)")
    return MovieSet(path=path, images=images, labels=labels, trajectories=traj, params=params, meta=meta)
