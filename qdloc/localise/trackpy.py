"""Chapter 06: the intensity-based baseline, TrackPy's Crocker-Grier locator.

The paper (§2, Table 1) compares its network with TrackPy [17] but does not
give TrackPy's settings. :class:`TrackpyParams` holds them in one validated,
frozen object, and :func:`trackpy_locate` runs :func:`trackpy.locate` on every
frame of a stack and returns one table of features in this project's
prediction format: ``frame, x, y, score`` (``x`` = column, ``y`` = row, pixel
centres at integers, the convention of :mod:`qdloc.sim.simulate` and of TrackPy)
plus TrackPy's own columns. The score is TrackPy's ``mass``, the integrated
brightness of the band-passed feature: the natural confidence of an
intensity-based detector, and what ranks the features along the
precision-recall curve of :mod:`qdloc.eval.metrics`.

TrackPy's defaults are kept except where the calibration (chapter 06,
:mod:`qdloc.study.calibration`) says otherwise: ``diameter`` is matched to the PSF
and ``minmass`` is chosen there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import trackpy

__all__ = [
    "TrackpyParams",
    "TRACKPY_COLUMNS",
    "TRACKPY_EXPECTED_WARNINGS",
    "QuietTrackpy",
    "trackpy_locate",
    "brightest_per_frame",
]

#: Columns of :func:`trackpy_locate`'s table, in order.
TRACKPY_COLUMNS: tuple[str, ...] = (
    "frame",
    "x",
    "y",
    "mass",
    "size",
    "ecc",
    "signal",
    "raw_mass",
    "ep",
    "score",
)

_ENGINES = ("python", "numba", "auto")


def _fail(name: str, value: Any, allowed: str) -> None:
    raise ValueError(f"TrackpyParams.{name}={value!r} is not allowed: expected {allowed}")


def _is_number(value: Any) -> bool:
    return (
        not isinstance(value, bool | np.bool_)
        and isinstance(value, int | float | np.integer | np.floating)
        and math.isfinite(float(value))
    )


def _is_int(value: Any) -> bool:
    return _is_number(value) and float(value) == int(value)


@dataclass(frozen=True)
class TrackpyParams:
    """Settings of :func:`trackpy.locate`, validated.

    The defaults are TrackPy's own except ``diameter`` (7 px: the PSF has
    σxy = 0.21 µm = 3 px, and TrackPy asks for an odd diameter that holds the
    spot) and ``minmass`` (chosen by the calibration of chapter 06).

    Parameters
    ----------
    diameter : int
        Odd feature diameter in px, ``>= 3``.
    minmass : float
        Smallest integrated brightness (of the band-passed image) a feature
        may have, ``>= 0``.
    separation : float, optional
        Smallest distance between two features in px, ``> 0``
        (TrackPy's default ``diameter + 1`` when None).
    noise_size : float
        Width in px of the Gaussian blur of the band pass, ``> 0`` (TrackPy: 1).
    smoothing_size : float, optional
        Side in px of the boxcar background of the band pass, ``> 0``
        (TrackPy's default ``diameter`` when None).
    threshold : float, optional
        Clip the band-passed image below this value, ``>= 0`` (TrackPy's
        default, 1 for integer images, when None).
    percentile : float
        A feature's peak must be brighter than this percentile of the
        band-passed pixels, in ``[0, 100]`` (TrackPy: 64).
    topn : int, optional
        Keep only the ``topn`` brightest features of each frame, ``>= 1``
        (all when None).
    preprocess : bool
        Band-pass the image before finding maxima (TrackPy: True).
    max_iterations : int
        Iterations of the centre-of-mass refinement, ``>= 0`` (TrackPy: 10).
    maxsize : float, optional
        Largest radius of gyration in px, ``> 0`` (no limit when None).
    engine : {"python", "numba", "auto"}
        TrackPy's engine. "python" by default so that results do not depend on
        whether numba happens to be installed.

    Raises
    ------
    ValueError
        Naming the field, its value and what is allowed.
    """

    diameter: int = 7
    minmass: float = 0.0
    separation: float | None = None
    noise_size: float = 1.0
    smoothing_size: float | None = None
    threshold: float | None = None
    percentile: float = 64.0
    topn: int | None = None
    preprocess: bool = True
    max_iterations: int = 10
    maxsize: float | None = None
    engine: str = "python"

    def __post_init__(self) -> None:
        d = self.diameter
        if not _is_int(d) or int(d) < 3 or int(d) % 2 == 0:
            _fail("diameter", d, "an odd integer >= 3 (px)")
        object.__setattr__(self, "diameter", int(d))
        if not _is_number(self.minmass) or self.minmass < 0:
            _fail("minmass", self.minmass, "a finite number >= 0")
        object.__setattr__(self, "minmass", float(self.minmass))
        for name, low_ok in (
            ("separation", False),
            ("smoothing_size", False),
            ("threshold", True),
            ("maxsize", False),
        ):
            v = getattr(self, name)
            if v is None:
                continue
            if not _is_number(v) or (v < 0 if low_ok else v <= 0):
                _fail(name, v, "None or a finite number " + (">= 0" if low_ok else "> 0"))
            object.__setattr__(self, name, float(v))
        if not _is_number(self.noise_size) or self.noise_size <= 0:
            _fail("noise_size", self.noise_size, "a finite number > 0 (px)")
        object.__setattr__(self, "noise_size", float(self.noise_size))
        if not _is_number(self.percentile) or not 0 <= self.percentile <= 100:
            _fail("percentile", self.percentile, "a number in [0, 100]")
        object.__setattr__(self, "percentile", float(self.percentile))
        if self.topn is not None:
            if not _is_int(self.topn) or int(self.topn) < 1:
                _fail("topn", self.topn, "None or an integer >= 1")
            object.__setattr__(self, "topn", int(self.topn))
        if not isinstance(self.preprocess, bool | np.bool_):
            _fail("preprocess", self.preprocess, "True or False")
        object.__setattr__(self, "preprocess", bool(self.preprocess))
        if not _is_int(self.max_iterations) or int(self.max_iterations) < 0:
            _fail("max_iterations", self.max_iterations, "an integer >= 0")
        object.__setattr__(self, "max_iterations", int(self.max_iterations))
        if self.engine not in _ENGINES:
            _fail("engine", self.engine, f"one of {list(_ENGINES)}")

    def replace(self, **changes: Any) -> TrackpyParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)

    def locate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`trackpy.locate`."""
        d = self.to_dict()
        for key in ("separation", "smoothing_size", "threshold"):
            if d[key] is None:
                del d[key]  # TrackPy derives these from diameter / the dtype
        return d


def _as_stack(images: Any) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(
            f"images has shape {arr.shape}: expected one image (H, W) or a stack (n, H, W)"
        )
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"images has dtype {arr.dtype}: expected integer or float pixels")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError("images holds NaN or inf: expected finite pixel values")
    if np.issubdtype(arr.dtype, np.signedinteger) and arr.size and arr.min() < 0:
        raise ValueError("images holds negative counts: expected counts >= 0")
    return arr


#: TrackPy's warnings that are expected on faint frames and one-dot movies, not errors: the
#: messages that :class:`QuietTrackpy` silences (regular expressions, matched at the start).
TRACKPY_EXPECTED_WARNINGS: tuple[str, ...] = (
    "All local maxima were in the margins",
    "Image is completely black",
    "Image contains no local maxima",
    "No maxima survived mass- and size-based filtering",
    "No maxima found in any frame",
)


class QuietTrackpy:
    """Silence TrackPy's logger and its expected warnings in a ``with`` block, then restore them.

    TrackPy logs every frame of :func:`trackpy.link`. The warnings silenced are
    :data:`TRACKPY_EXPECTED_WARNINGS`, NumPy's ``RuntimeWarning`` raised inside TrackPy
    (the divide-by-zero of its static error ``ep`` for a feature with zero mass), and the
    deprecation warnings that pandas and NumPy raise about TrackPy's own calls (TrackPy 0.7
    still uses ``inplace=``, for example); any other warning passes through.
    """

    def __enter__(self) -> QuietTrackpy:
        self._logger = logging.getLogger("trackpy")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR + 1)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        for message in TRACKPY_EXPECTED_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        for category in (RuntimeWarning, DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"trackpy(\.|$)")
        return self

    def __exit__(self, *exc: object) -> None:
        self._warnings.__exit__(*exc)
        self._logger.setLevel(self._level)


def trackpy_locate(images: Any, params: TrackpyParams | None = None) -> pd.DataFrame:
    """Run :func:`trackpy.locate` on every frame; return one feature table.

    Parameters
    ----------
    images : array_like, shape (n, H, W) or (H, W)
        Photon counts (integer or float). A single image is frame 0.
    params : TrackpyParams, optional
        Locator settings (default ``TrackpyParams()``).

    Returns
    -------
    pandas.DataFrame
        One row per feature with the columns of :data:`TRACKPY_COLUMNS`:
        ``frame`` (int64, index in the stack), ``x`` (column) and ``y`` (row)
        in px with pixel centres at integers, TrackPy's ``mass``, ``size``,
        ``ecc``, ``signal``, ``raw_mass``, ``ep``, and ``score`` = ``mass``.
        Rows are in frame order, and within a frame in TrackPy's order. No
        rows (but the same columns) when nothing is found.

    Raises
    ------
    ValueError
        When ``images`` is not one image or a stack of numeric images, or
        ``params`` is not a :class:`TrackpyParams`.

    Notes
    -----
    TrackPy's logging and warnings are silenced for the duration of the call
    and restored afterwards; no global random state is touched (TrackPy's
    locator is deterministic).
    """
    if params is None:
        params = TrackpyParams()
    if not isinstance(params, TrackpyParams):
        raise ValueError(f"params={params!r}: expected a TrackpyParams or None")
    stack = _as_stack(images)
    kwargs = params.locate_kwargs()
    value_cols = [c for c in TRACKPY_COLUMNS if c not in ("frame", "score")]
    frames: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    with QuietTrackpy():
        for i, img in enumerate(stack):
            f = trackpy.locate(img, **kwargs)
            if len(f) == 0:
                continue
            if "ep" not in f.columns:
                f["ep"] = np.nan
            blocks.append(f[value_cols].to_numpy(dtype=np.float64))
            frames.append(np.full(len(f), i, dtype=np.int64))
    if blocks:
        values = np.concatenate(blocks)
        frame = np.concatenate(frames)
    else:
        values = np.empty((0, len(value_cols)))
        frame = np.empty(0, dtype=np.int64)
    out = pd.DataFrame(values, columns=value_cols)
    out.insert(0, "frame", frame)
    out["score"] = out["mass"].to_numpy(copy=True)
    return out


def brightest_per_frame(features: pd.DataFrame, column: str = "score") -> pd.DataFrame:
    """The feature with the largest ``column`` in each frame, in frame order.

    Parameters
    ----------
    features : pandas.DataFrame
        A feature table with a ``frame`` column, e.g. from :func:`trackpy_locate`.
    column : str
        What "brightest" means (default ``"score"``, TrackPy's mass).

    Returns
    -------
    pandas.DataFrame
        At most one row per frame (frames without features have none); ties
        keep the first row. The same as TrackPy's ``topn=1``.
    """
    for c in ("frame", column):
        if c not in features.columns:
            raise ValueError(f"features has no column {c!r}: expected 'frame' and {column!r}")
    ranked = features.sort_values(column, ascending=False, kind="stable")
    return ranked.groupby("frame", sort=False).head(1).sort_values("frame", kind="stable")
