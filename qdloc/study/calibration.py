"""Chapter 06: calibrating the unknowns against the paper's TrackPy row.

The paper leaves four things open: ``N_qd`` of Eq. 1 (§4.6.3: "adjusted to
imitate the signal-to-noise ratio of the brain images"), where a trajectory
starts (x, y in the frame, z around the focal plane), and TrackPy's settings.
Its Table 1 gives TrackPy's AUC on the three test sets at 70, 140 and 210 nm.
That row is our handle: with TrackPy run on our simulated test sets, we choose
the unknowns so that the row is reproduced within :data:`TOLERANCE` in every
cell.

This module holds the paper's numbers (:data:`PAPER_TRACKPY_ROW`,
:data:`PAPER_FCNN_ROW`), the test sets (:data:`PAPER_TEST_SETS`), the row
itself (:func:`trackpy_row`), sweeps over one unknown at a time
(:func:`sweep`, :func:`sensitivity`), and the Table 1 results file
(:func:`write_table1`, :func:`read_table1`).

A row is a :class:`pandas.DataFrame` with one line per diffusion coefficient
(index ``D_um2_per_s``: 0.75, 1.0, 1.75) and one column per tolerance
(``eps_nm``: 70.0, 140.0, 210.0), holding AUCs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qdloc.eval.metrics import PAPER_EPS_NM, auc_table, precision_recall
from qdloc.io import atomic_write_text
from qdloc.localise.checkpoints import load_model_file
from qdloc.localise.trackpy import TrackpyParams, trackpy_locate
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import Simulation, simulate
from qdloc.study.constants import PAPER_FCNN_ROW, PAPER_TEST_SETS, PAPER_TRACKPY_ROW, TOLERANCE

__all__ = [
    "PAPER_TEST_SETS",
    "PAPER_TRACKPY_ROW",
    "PAPER_FCNN_ROW",
    "TOLERANCE",
    "CALIBRATED_TRACKPY",
    "row_frame",
    "paper_row",
    "simulate_test_set",
    "locate_test_sets",
    "row_from_features",
    "trackpy_row",
    "row_difference",
    "max_abs_difference",
    "sweep",
    "sensitivity",
    "pr_curves",
    "row_to_json",
    "row_from_json",
    "write_table1",
    "read_table1",
    "check_model_params",
    "read_predictions",
    "best_per_frame",
    "localisation_errors_nm",
    "compare_rows",
]





#: TrackPy's settings chosen by the calibration: TrackPy's defaults, a
#: diameter that holds the PSF (σxy = 3 px), and no mass threshold.
CALIBRATED_TRACKPY = TrackpyParams(diameter=7, minmass=0.0)

_SIM_FIELDS = frozenset(f.name for f in fields(SimParams))
_TP_FIELDS = frozenset(f.name for f in fields(TrackpyParams))


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------
def row_frame(row: Mapping[float, Mapping[float, float]]) -> pd.DataFrame:
    """A row ``{D: {eps: auc}}`` as a DataFrame (index D, columns eps, sorted)."""
    df = pd.DataFrame(
        {
            float(e): {float(D): float(v[e]) for D, v in row.items()}
            for e in next(iter(row.values()))
        }
    )
    df = df.sort_index().sort_index(axis=1)
    df.index.name = "D_um2_per_s"
    df.columns.name = "eps_nm"
    return df


def paper_row(method: str = "TrackPy") -> pd.DataFrame:
    """The paper's Table 1 row of ``method`` ("TrackPy" or "FCNN") as a DataFrame."""
    rows = {"TrackPy": PAPER_TRACKPY_ROW, "FCNN": PAPER_FCNN_ROW}
    if method not in rows:
        raise ValueError(f"method={method!r} is not allowed: expected one of {sorted(rows)}")
    return row_frame(rows[method])


def _check_n(n_per_set: int | None) -> int | None:
    if n_per_set is None:
        return None
    if isinstance(n_per_set, bool) or not isinstance(n_per_set, int | np.integer) or n_per_set < 1:
        raise ValueError(
            f"n_per_set={n_per_set!r} is not allowed: expected None (full sets) or an integer >= 1"
        )
    return int(n_per_set)


def simulate_test_set(
    name: str, params: SimParams | None = None, n: int | None = None
) -> Simulation:
    """Simulate one of the paper's test sets in memory.

    Parameters
    ----------
    name : str
        A key of :data:`PAPER_TEST_SETS`.
    params : SimParams, optional
        Simulator parameters (default ``SimParams()``); the set's own ``D``
        replaces ``params.D_um2_per_s``.
    n : int, optional
        Only the first ``n`` images (default: the whole set). Image ``k`` is
        the same whatever ``n`` is.

    Returns
    -------
    Simulation
        With the default parameters, byte-identical to the dataset files of
        chapter 04.
    """
    if name not in PAPER_TEST_SETS:
        raise ValueError(f"name={name!r} is not allowed: expected one of {list(PAPER_TEST_SETS)}")
    size, seed, D = PAPER_TEST_SETS[name]
    n = _check_n(n)
    return simulate(size if n is None else min(n, size), params or SimParams(), seed=seed, D=D)


def locate_test_sets(
    params: SimParams | None = None,
    trackpy_params: TrackpyParams | None = None,
    n_per_set: int | None = None,
) -> dict[float, tuple[pd.DataFrame, np.ndarray]]:
    """Simulate the three test sets and run TrackPy on each.

    Parameters
    ----------
    params : SimParams, optional
        Simulator parameters (default ``SimParams()``).
    trackpy_params : TrackpyParams, optional
        Locator settings (default :data:`CALIBRATED_TRACKPY`).
    n_per_set : int, optional
        Use the first ``n_per_set`` images of each set (default: all).

    Returns
    -------
    dict
        ``{D: (features, centroids)}``: TrackPy's table
        (:func:`qdloc.localise.trackpy.trackpy_locate`) and the labels, shape (n, 2) px.
    """
    tpp = CALIBRATED_TRACKPY if trackpy_params is None else trackpy_params
    out = {}
    for name, (_, _, D) in PAPER_TEST_SETS.items():
        sim = simulate_test_set(name, params, n_per_set)
        out[float(D)] = (trackpy_locate(sim.images, tpp), sim.centroids)
    return out


def row_from_features(
    features: Mapping[float, tuple[pd.DataFrame, np.ndarray]],
    eps_nm: Iterable[float] = PAPER_EPS_NM,
    pixel_size_nm: float = 70.0,
) -> pd.DataFrame:
    """AUC row from :func:`locate_test_sets`' output (index D, columns eps)."""
    eps = tuple(float(e) for e in eps_nm)
    row = {
        D: auc_table(df[["frame", "x", "y", "score"]], c, eps, pixel_size_nm)
        for D, (df, c) in features.items()
    }
    return row_frame(row)


def trackpy_row(
    params: SimParams | None = None,
    trackpy_params: TrackpyParams | None = None,
    n_per_set: int | None = None,
) -> pd.DataFrame:
    """TrackPy's Table 1 row on our test sets.

    Parameters
    ----------
    params : SimParams, optional
        Simulator parameters (default ``SimParams()``: the calibrated ones).
    trackpy_params : TrackpyParams, optional
        Locator settings (default :data:`CALIBRATED_TRACKPY`).
    n_per_set : int, optional
        Use only the first ``n_per_set`` images of each test set (default:
        the full sets of :data:`PAPER_TEST_SETS`).

    Returns
    -------
    pandas.DataFrame
        AUC, index ``D_um2_per_s`` (0.75, 1.0, 1.75), columns ``eps_nm``
        (70.0, 140.0, 210.0).
    """
    return row_from_features(locate_test_sets(params, trackpy_params, _check_n(n_per_set)))


def row_difference(ours: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """``ours - reference`` cell by cell (default reference: the paper's TrackPy row)."""
    ref = paper_row("TrackPy") if reference is None else reference
    if not (ours.index.equals(ref.index) and ours.columns.equals(ref.columns)):
        raise ValueError(
            f"rows do not align: index {list(ours.index)} vs {list(ref.index)}, "
            f"columns {list(ours.columns)} vs {list(ref.columns)}"
        )
    return ours - ref


def max_abs_difference(ours: pd.DataFrame, reference: pd.DataFrame | None = None) -> float:
    """Largest ``|ours - reference|`` over the cells."""
    return float(np.abs(row_difference(ours, reference).to_numpy()).max())


# --------------------------------------------------------------------------
# Sweeps
# --------------------------------------------------------------------------
def _split_change(
    name: str, value: Any, params: SimParams, tpp: TrackpyParams
) -> tuple[SimParams, TrackpyParams]:
    if name in _SIM_FIELDS:
        return params.replace(**{name: value}), tpp
    if name in _TP_FIELDS:
        return params, tpp.replace(**{name: value})
    raise ValueError(
        f"name={name!r} is not allowed: expected a SimParams field {sorted(_SIM_FIELDS)} "
        f"or a TrackpyParams field {sorted(_TP_FIELDS)}"
    )


def sweep(
    name: str,
    values: Sequence[Any],
    params: SimParams | None = None,
    trackpy_params: TrackpyParams | None = None,
    n_per_set: int | None = 500,
) -> pd.DataFrame:
    """TrackPy's row as one unknown varies, the others held.

    Parameters
    ----------
    name : str
        A field of :class:`~qdloc.sim.params.SimParams` (e.g. ``"n_qd"``,
        ``"start_z_sd_um"``, ``"start_margin_px"``) or of
        :class:`~qdloc.localise.trackpy.TrackpyParams` (e.g. ``"diameter"``,
        ``"minmass"``).
    values : sequence
        Values to try.
    params : SimParams, optional
        The values held fixed (default ``SimParams()``).
    trackpy_params : TrackpyParams, optional
        Likewise for TrackPy (default :data:`CALIBRATED_TRACKPY`).
    n_per_set : int or None, optional
        Images per test set (default 500, the first 500 of each; None: all).
        The same images for every value (common random numbers), so the
        differences between values are not blurred by resampling.

    Returns
    -------
    pandas.DataFrame
        Long format, columns ``param, value, D_um2_per_s, eps_nm, auc``, in
        the order of ``values``, then D, then eps.

    Notes
    -----
    A ``minmass`` sweep runs TrackPy once (with the lowest value) and filters
    by ``mass > minmass`` as TrackPy does, which gives identical features;
    other sweeps run TrackPy once per value.
    """
    params = params or SimParams()
    tpp = CALIBRATED_TRACKPY if trackpy_params is None else trackpy_params
    n_per_set = _check_n(n_per_set)
    values = list(values)
    if not values:
        raise ValueError("values is empty: expected at least one value to try")
    records = []
    cached = None
    if name == "minmass" and tpp.topn is None:
        base = tpp.replace(minmass=min(float(v) for v in values))
        cached = locate_test_sets(params, base, n_per_set)
    for v in values:
        if cached is not None:
            tpp.replace(minmass=v)  # validate the value
            feats = {D: (df[df["mass"] > float(v)], c) for D, (df, c) in cached.items()}
            row = row_from_features(feats)
        else:
            p, t = _split_change(name, v, params, tpp)
            row = trackpy_row(p, t, n_per_set)
        for D in row.index:
            for e in row.columns:
                records.append((name, v, float(D), float(e), float(row.loc[D, e])))
    return pd.DataFrame(records, columns=["param", "value", "D_um2_per_s", "eps_nm", "auc"])


def sensitivity(grid: Mapping[str, Sequence[Any]], params: SimParams | None = None,
                trackpy_params: TrackpyParams | None = None, n_per_set: int | None = 500) -> pd.DataFrame:
    """:func:`sweep` over several unknowns, one at a time, concatenated.

    Parameters
    ----------
    grid : mapping
        ``{name: values}``, as in :func:`sweep`.
    params, trackpy_params, n_per_set
        As in :func:`sweep`: every other unknown stays at these values.

    Returns
    -------
    pandas.DataFrame
        Columns ``param, value, D_um2_per_s, eps_nm, auc``.
    """
    parts = [sweep(k, v, params, trackpy_params, n_per_set) for k, v in grid.items()]
    return pd.concat(parts, ignore_index=True)


def pr_curves(
    features: Mapping[float, tuple[pd.DataFrame, np.ndarray]],
    eps_nm: Iterable[float] = PAPER_EPS_NM,
    pixel_size_nm: float = 70.0,
) -> dict[float, dict[float, Any]]:
    """Precision-recall curves ``{D: {eps: PRCurve}}`` from :func:`locate_test_sets`' output."""
    out: dict[float, dict[float, Any]] = {}
    for D, (df, c) in features.items():
        out[D] = {
            float(e): precision_recall(
                df["frame"], df["x"], df["y"], df["score"], c, float(e), pixel_size_nm
            )
            for e in eps_nm
        }
    return out


# --------------------------------------------------------------------------
# The Table 1 results file
# --------------------------------------------------------------------------
def _key(v: float) -> str:
    """0.75 -> "0.75", 1.0 -> "1", 70.0 -> "70": the JSON keys of a row."""
    return f"{float(v):g}"


def row_to_json(row: pd.DataFrame) -> dict[str, dict[str, float]]:
    """A row as ``{"0.75": {"70": auc, ...}, "1": ..., "1.75": ...}``."""
    return {
        _key(D): {_key(e): float(row.loc[D, e]) for e in row.columns} for D in row.index
    }


def row_from_json(d: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Inverse of :func:`row_to_json`."""
    return row_frame({float(D): {float(e): v for e, v in r.items()} for D, r in d.items()})


def write_table1(
    path: str | Path,
    methods: Mapping[str, pd.DataFrame],
    metadata: Mapping[str, Any] | None = None,
    merge: bool = True,
) -> Path:
    """Write (or update) the Table 1 results file, atomically.

    Parameters
    ----------
    path : str or Path
        The JSON file, e.g. ``data/results/table1.json``.
    methods : mapping
        ``{method name: row}``: rows as returned by :func:`trackpy_row`.
    metadata : mapping, optional
        JSON-ready provenance per method, stored as ``metadata[method]``
        (parameters, images per set, ...).
    merge : bool
        Keep the other methods already in the file (default), so that later
        chapters can add their rows; False starts afresh.

    Returns
    -------
    Path
        The file written. Its structure is ``{"methods": {name: row JSON},
        "paper": {"TrackPy": row JSON, "FCNN": row JSON}, "metadata": {name:
        ...}}`` with rows as in :func:`row_to_json`.
    """
    path = Path(path)
    doc: dict[str, Any] = {"methods": {}, "metadata": {}}
    if merge and path.exists():
        old = json.loads(path.read_text())
        doc["methods"].update(old.get("methods", {}))
        doc["metadata"].update(old.get("metadata", {}))
    for name, row in methods.items():
        doc["methods"][name] = row_to_json(row)
        if metadata is not None:
            doc["metadata"][name] = dict(metadata)
    doc["paper"] = {m: row_to_json(paper_row(m)) for m in ("TrackPy", "FCNN")}
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return atomic_write_text(path, text)


def read_table1(path: str | Path) -> dict[str, Any]:
    """Read the Table 1 file: ``{"methods": {name: row}, "paper": {name: row}, "metadata": ...}``.

    Rows come back as DataFrames (see :func:`row_from_json`).
    """
    doc = json.loads(Path(path).read_text())
    return {
        "methods": {k: row_from_json(v) for k, v in doc.get("methods", {}).items()},
        "paper": {k: row_from_json(v) for k, v in doc.get("paper", {}).items()},
        "metadata": doc.get("metadata", {}),
    }


# --------------------------------------------------------------------------
# Learned localisers: model files, prediction files, errors, comparisons
# --------------------------------------------------------------------------
def check_model_params(model_path: str | Path, params: SimParams, kind: str | None = None) -> dict:
    """Check that a model file was trained at ``params``; return the file's dict.

    Raises
    ------
    ValueError
        When the model file's stored ``sim_params`` differ from ``params``:
        its numbers would belong to other images. The message names the
        differing fields; retrain as the model's README says.
    """
    obj = load_model_file(model_path, kind=kind)
    stored = dict(obj.get("sim_params", {}))
    try:  # a model saved before a field was added was trained at that field's default
        stored = SimParams.normalize_dict(stored)
    except (TypeError, ValueError):
        pass  # reported field by field below
    want = params.to_dict()
    diff = sorted(k for k in set(stored) | set(want) if stored.get(k) != want.get(k))
    if diff:
        detail = ", ".join(f"{k}: model {stored.get(k)!r} vs chapter {want.get(k)!r}" for k in diff)
        raise ValueError(
            f"model file {str(model_path)!r} was trained with other simulator parameters ({detail}); "
            "retrain it at these parameters as its README describes before using its numbers"
        )
    return obj


def read_predictions(path: str | Path, n_images: int) -> pd.DataFrame:
    """Read a prediction CSV (``frame, x, y, score``) and check it covers a test set.

    Raises
    ------
    ValueError
        Unless there is exactly one row per image, frames ``0 .. n_images-1``.
    """
    df = pd.read_csv(path)
    missing = {"frame", "x", "y", "score"} - set(df.columns)
    if missing:
        raise ValueError(f"{str(path)!r} lacks column(s) {sorted(missing)}")
    frames = np.sort(df["frame"].to_numpy())
    if len(df) != n_images or not np.array_equal(frames, np.arange(n_images)):
        raise ValueError(
            f"{str(path)!r} has {len(df)} rows with frames {frames[:3].tolist()}..; expected one row "
            f"per image, frames 0..{n_images - 1}: recompute it from the model for this test set"
        )
    return df.sort_values("frame", kind="stable").reset_index(drop=True)


def best_per_frame(pred: pd.DataFrame, n_images: int) -> pd.DataFrame:
    """The highest-scoring prediction of each image, reindexed to ``0 .. n_images-1``.

    Images without a prediction get NaN in ``x``, ``y`` and ``score``.
    """
    top = pred.sort_values("score", ascending=False, kind="stable").drop_duplicates("frame")
    out = top.set_index("frame")[["x", "y", "score"]].reindex(np.arange(n_images))
    out.index.name = "frame"
    return out.reset_index()


def localisation_errors_nm(pred: pd.DataFrame, truth_xy: np.ndarray, pixel_size_nm: float = 70.0) -> np.ndarray:
    """Distance (nm) from each image's top-scoring prediction to its label; NaN: no prediction."""
    truth = np.asarray(truth_xy, dtype=float)
    top = best_per_frame(pred, len(truth))
    return np.hypot(top["x"].to_numpy() - truth[:, 0], top["y"].to_numpy() - truth[:, 1]) * pixel_size_nm


def compare_rows(ours: pd.DataFrame, reference: pd.DataFrame, name: str, ref_name: str) -> pd.DataFrame:
    """Cell by cell: is ``ours`` >= ``reference``, and by how much it falls short.

    Both rows are rounded to 3 decimals first (the precision they are shown at;
    the paper's own values have 2). Returns one line per (D, eps) with
    ``name``, ``ref_name``, ``at_least`` (bool) and ``shortfall`` (>= 0).
    """
    a = ours.round(3)
    b = reference.reindex(index=a.index, columns=a.columns).round(3)
    s = pd.DataFrame({name: a.stack(), ref_name: b.stack()})
    s["at_least"] = s[name] >= s[ref_name]
    s["shortfall"] = (s[ref_name] - s[name]).clip(lower=0.0).round(3) + 0.0
    return s
