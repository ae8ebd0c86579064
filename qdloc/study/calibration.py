"""Chapter 06: calibrating the unknowns against the paper's TrackPy row.

The paper leaves four things open: ``N_qd`` of Eq. 1 (§4.6.3: "adjusted to
imitate the signal-to-noise ratio of the brain images"), where a trajectory
starts (x, y in the frame, z around the focal plane), and TrackPy's settings.
Its Table 1 gives TrackPy's AUC on the three test sets at 70, 140 and 210 nm.
That row is our handle: the unknowns are calibrated so that TrackPy, run on
simulated sets, scores the row within :data:`TOLERANCE` in every cell. The fit
uses calibration sets (:data:`CALIBRATION_SETS`) whose seeds are disjoint from
the test sets' (:data:`PAPER_TEST_SETS`), so that Table 1 on the test sets is
an out-of-sample check.

This module holds the paper's numbers (:data:`PAPER_TRACKPY_ROW`,
:data:`PAPER_FCNN_ROW`), the sets, the row itself (:func:`trackpy_row`),
sweeps over one unknown at a time (:func:`sweep`, :func:`sensitivity`), the
held-out fit (:func:`fit_n_qd`, :func:`admissible_values`), and the Table 1
results file (:func:`write_table1`, :func:`read_table1`).

A row is a :class:`pandas.DataFrame` with one line per diffusion coefficient
(index ``D_um2_per_s``: 0.75, 1.0, 1.75) and one column per tolerance
(``eps_nm``: 70.0, 140.0, 210.0), holding AUCs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
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
from qdloc.study.constants import (
    CALIBRATION_SETS,
    PAPER_FCNN_ROW,
    PAPER_TEST_SETS,
    PAPER_TRACKPY_ROW,
    TOLERANCE,
)

__all__ = [
    "PAPER_TEST_SETS",
    "CALIBRATION_SETS",
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
    "NqdFit",
    "fit_n_qd",
    "admissible_values",
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

#: Every set :func:`simulate_test_set` knows: the paper's test sets and the calibration sets.
_ALL_SETS: dict[str, tuple[int, int, float]] = {**PAPER_TEST_SETS, **CALIBRATION_SETS}

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
        A key of :data:`PAPER_TEST_SETS` or of :data:`CALIBRATION_SETS`.
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
    if name not in _ALL_SETS:
        raise ValueError(f"name={name!r} is not allowed: expected one of {list(_ALL_SETS)}")
    size, seed, D = _ALL_SETS[name]
    n = _check_n(n)
    return simulate(size if n is None else min(n, size), params or SimParams(), seed=seed, D=D)


def _sets(sets: Mapping[str, tuple[int, int, float]] | None) -> Mapping[str, tuple[int, int, float]]:
    """``sets`` checked to name known sets (default :data:`PAPER_TEST_SETS`)."""
    sets = PAPER_TEST_SETS if sets is None else sets
    unknown = [k for k in sets if _ALL_SETS.get(k) != tuple(sets[k])]
    if unknown or not sets:
        raise ValueError(f"sets={dict(sets)!r}: expected a non-empty subset of PAPER_TEST_SETS or "
                         f"CALIBRATION_SETS, by name (unknown or altered: {unknown})")
    return sets


def locate_test_sets(
    params: SimParams | None = None,
    trackpy_params: TrackpyParams | None = None,
    n_per_set: int | None = None,
    sets: Mapping[str, tuple[int, int, float]] | None = None,
) -> dict[float, tuple[pd.DataFrame, np.ndarray]]:
    """Simulate the three test sets (or calibration sets) and run TrackPy on each.

    Parameters
    ----------
    params : SimParams, optional
        Simulator parameters (default ``SimParams()``).
    trackpy_params : TrackpyParams, optional
        Locator settings (default :data:`CALIBRATED_TRACKPY`).
    n_per_set : int, optional
        Use the first ``n_per_set`` images of each set (default: all).
    sets : mapping, optional
        ``{name: (size, seed, D)}``: :data:`PAPER_TEST_SETS` (default) or
        :data:`CALIBRATION_SETS`.

    Returns
    -------
    dict
        ``{D: (features, centroids)}``: TrackPy's table
        (:func:`qdloc.localise.trackpy.trackpy_locate`) and the labels, shape (n, 2) px.
    """
    tpp = CALIBRATED_TRACKPY if trackpy_params is None else trackpy_params
    out = {}
    for name, (_, _, D) in _sets(sets).items():
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
    sets: Mapping[str, tuple[int, int, float]] | None = None,
) -> pd.DataFrame:
    """TrackPy's Table 1 row on our test sets (or on the calibration sets).

    Parameters
    ----------
    params : SimParams, optional
        Simulator parameters (default ``SimParams()``: the calibrated ones).
    trackpy_params : TrackpyParams, optional
        Locator settings (default :data:`CALIBRATED_TRACKPY`).
    n_per_set : int, optional
        Use only the first ``n_per_set`` images of each test set (default:
        the full sets).
    sets : mapping, optional
        :data:`PAPER_TEST_SETS` (default) or :data:`CALIBRATION_SETS`.

    Returns
    -------
    pandas.DataFrame
        AUC, index ``D_um2_per_s`` (0.75, 1.0, 1.75), columns ``eps_nm``
        (70.0, 140.0, 210.0).
    """
    return row_from_features(locate_test_sets(params, trackpy_params, _check_n(n_per_set), sets))


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
    sets: Mapping[str, tuple[int, int, float]] | None = None,
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
    sets : mapping, optional
        :data:`PAPER_TEST_SETS` (default) or :data:`CALIBRATION_SETS` (the held-out fit).

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
        cached = locate_test_sets(params, base, n_per_set, sets)
    for v in values:
        if cached is not None:
            tpp.replace(minmass=v)  # validate the value
            feats = {D: (df[df["mass"] > float(v)], c) for D, (df, c) in cached.items()}
            row = row_from_features(feats)
        else:
            p, t = _split_change(name, v, params, tpp)
            row = trackpy_row(p, t, n_per_set, sets)
        for D in row.index:
            for e in row.columns:
                records.append((name, v, float(D), float(e), float(row.loc[D, e])))
    return pd.DataFrame(records, columns=["param", "value", "D_um2_per_s", "eps_nm", "auc"])


def sensitivity(grid: Mapping[str, Sequence[Any]], params: SimParams | None = None,
                trackpy_params: TrackpyParams | None = None, n_per_set: int | None = 500,
                sets: Mapping[str, tuple[int, int, float]] | None = None) -> pd.DataFrame:
    """:func:`sweep` over several unknowns, one at a time, concatenated.

    Parameters
    ----------
    grid : mapping
        ``{name: values}``, as in :func:`sweep`.
    params, trackpy_params, n_per_set, sets
        As in :func:`sweep`: every other unknown stays at these values.

    Returns
    -------
    pandas.DataFrame
        Columns ``param, value, D_um2_per_s, eps_nm, auc``.
    """
    parts = [sweep(k, v, params, trackpy_params, n_per_set, sets) for k, v in grid.items()]
    return pd.concat(parts, ignore_index=True)


def _max_abs_by_value(table: pd.DataFrame, reference: pd.DataFrame) -> pd.Series:
    """``max |auc - reference|`` over the nine cells, per (param, value) of a sweep table."""
    ref = reference.stack().rename("ref").reset_index()
    m = table.merge(ref, on=["D_um2_per_s", "eps_nm"], how="left")
    if m["ref"].isna().any():
        raise ValueError("the sweep table has cells that the reference row lacks: expected D in "
                         f"{list(reference.index)} and eps in {list(reference.columns)}")
    m["absdiff"] = (m["auc"] - m["ref"]).abs()
    return m.groupby(["param", "value"], sort=False)["absdiff"].max()


@dataclass(frozen=True)
class NqdFit:
    """The held-out fit of ``N_qd`` (:func:`fit_n_qd`).

    Attributes
    ----------
    n_qd : float
        The chosen value: the grid value with the smallest largest ``|ours - paper|``.
    max_abs : pandas.Series
        ``max |ours - paper|`` over the nine cells, per grid value (index ``value``).
    table : pandas.DataFrame
        The sweep (:func:`sweep`'s long format) on the calibration sets.
    row : pandas.DataFrame
        TrackPy's row on the calibration sets at the chosen value (the in-sample row).
    within_tolerance : bool
        Whether the chosen value's row is within :data:`TOLERANCE` of the paper in every cell.
    at_grid_edge : bool
        Whether the chosen value is the smallest or largest of the grid (the grid may be too narrow).
    n_per_set : int or None
        Images per calibration set used (None: all).
    features : dict
        ``{N_qd: {D: (TrackPy's features, labels)}}`` at every grid value (for a bootstrap of
        the choice, :func:`qdloc.study.bootstrap.bootstrap_choice`).
    """

    n_qd: float
    max_abs: pd.Series
    table: pd.DataFrame
    row: pd.DataFrame
    within_tolerance: bool
    at_grid_edge: bool
    n_per_set: int | None
    features: dict[float, dict[float, tuple[pd.DataFrame, np.ndarray]]]


def fit_n_qd(
    values: Sequence[float],
    params: SimParams | None = None,
    trackpy_params: TrackpyParams | None = None,
    n_per_set: int | None = None,
    sets: Mapping[str, tuple[int, int, float]] | None = None,
    reference: pd.DataFrame | None = None,
) -> NqdFit:
    """Fit ``N_qd`` on the calibration sets: the grid value closest to the paper's row (minimax).

    The rule: with the other unknowns at ``params`` and ``trackpy_params``, TrackPy's row is
    computed at every value of the grid (the same images for every value) and the value whose
    largest ``|ours - paper|`` over the nine cells is smallest is chosen (the first such value
    on a tie).

    Parameters
    ----------
    values : sequence of float
        The ``N_qd`` grid (at least one value, each > 0).
    params : SimParams, optional
        The other unknowns (default ``SimParams()``).
    trackpy_params : TrackpyParams, optional
        TrackPy's settings (default :data:`CALIBRATED_TRACKPY`).
    n_per_set : int or None, optional
        Images per calibration set (default: all).
    sets : mapping, optional
        The sets to fit on (default :data:`CALIBRATION_SETS`, disjoint from the test sets).
    reference : pandas.DataFrame, optional
        The row to fit (default: the paper's TrackPy row).

    Returns
    -------
    NqdFit
    """
    values = [float(v) for v in values]
    if not values or min(values) <= 0:
        raise ValueError(f"values={values!r} is not allowed: expected at least one N_qd > 0")
    ref = paper_row("TrackPy") if reference is None else reference
    params = params or SimParams()
    sets = CALIBRATION_SETS if sets is None else sets
    feats = {v: locate_test_sets(params.replace(n_qd=v), trackpy_params, _check_n(n_per_set), sets)
             for v in values}
    rows = {v: row_from_features(f) for v, f in feats.items()}
    table = pd.DataFrame([("n_qd", v, float(D), float(e), float(r.loc[D, e]))
                          for v, r in rows.items() for D in r.index for e in r.columns],
                         columns=["param", "value", "D_um2_per_s", "eps_nm", "auc"])
    max_abs = _max_abs_by_value(table, ref).droplevel("param")
    best = float(max_abs.idxmin())
    return NqdFit(n_qd=best, max_abs=max_abs.rename("max_abs_difference"), table=table,
                  row=rows[best], within_tolerance=bool(max_abs[best] <= TOLERANCE),
                  at_grid_edge=best in (min(values), max(values)), n_per_set=_check_n(n_per_set),
                  features=feats)


def admissible_values(sens: pd.DataFrame, reference: pd.DataFrame | None = None,
                      tolerance: float = TOLERANCE) -> dict[str, list[Any]]:
    """The values of each unknown whose row is within ``tolerance`` of the paper in every cell.

    Parameters
    ----------
    sens : pandas.DataFrame
        :func:`sensitivity`'s (or :func:`sweep`'s) long table.
    reference : pandas.DataFrame, optional
        Default: the paper's TrackPy row.
    tolerance : float
        Default :data:`TOLERANCE`.

    Returns
    -------
    dict
        ``{param: [values]}`` in the order of the table (an empty list: no value fits).
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance={tolerance!r} is not allowed: expected a number >= 0")
    ref = paper_row("TrackPy") if reference is None else reference
    worst = _max_abs_by_value(sens, ref)
    out: dict[str, list[Any]] = {}
    for (param, value), w in worst.items():
        out.setdefault(param, [])
        if w <= tolerance:
            out[param].append(value)
    return out


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
    standard_errors: Mapping[str, pd.DataFrame] | None = None,
    extra: Mapping[str, Any] | None = None,
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
        Keep the other methods (and every other key) already in the file
        (default), so that later chapters can add their rows; False starts afresh.
    standard_errors : mapping, optional
        ``{method name: row of standard errors}`` (e.g. from
        :func:`qdloc.study.bootstrap.bootstrap_se_row`), stored under
        ``standard_errors`` next to the other methods' ones.
    extra : mapping, optional
        Other JSON-ready top-level entries (e.g. ``seeds``, ``calibration``,
        ``bootstrap``), each replacing the file's entry of that name.

    Returns
    -------
    Path
        The file written. Its structure is ``{"methods": {name: row JSON},
        "paper": {"TrackPy": row JSON, "FCNN": row JSON}, "metadata": {name:
        ...}, "standard_errors": {name: row JSON}, ...extra}`` with rows as in
        :func:`row_to_json`.
    """
    path = Path(path)
    fixed = ("methods", "metadata", "paper", "standard_errors")
    clash = sorted(set(extra or {}) & set(fixed))
    if clash:
        raise ValueError(f"extra has the key(s) {clash}: expected other keys than {list(fixed)}")
    doc: dict[str, Any] = {"methods": {}, "metadata": {}, "standard_errors": {}}
    if merge and path.exists():
        old = json.loads(path.read_text())
        doc.update({k: v for k, v in old.items() if k not in fixed})
        for k in ("methods", "metadata", "standard_errors"):
            doc[k].update(old.get(k, {}))
    for name, row in methods.items():
        doc["methods"][name] = row_to_json(row)
        if metadata is not None:
            doc["metadata"][name] = dict(metadata)
    for name, row in (standard_errors or {}).items():
        doc["standard_errors"][name] = row_to_json(row)
    doc.update(dict(extra or {}))
    doc["paper"] = {m: row_to_json(paper_row(m)) for m in ("TrackPy", "FCNN")}
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return atomic_write_text(path, text)


def read_table1(path: str | Path) -> dict[str, Any]:
    """Read the Table 1 file: ``{"methods": {name: row}, "paper": {name: row}, "metadata": ...}``.

    Rows (``methods``, ``paper``, ``standard_errors``) come back as DataFrames (see
    :func:`row_from_json`); every other entry as stored.
    """
    doc = json.loads(Path(path).read_text())
    rows = ("methods", "paper", "standard_errors")
    out: dict[str, Any] = {k: v for k, v in doc.items() if k not in rows}
    out.update({k: {m: row_from_json(v) for m, v in doc.get(k, {}).items()} for k in rows})
    out.setdefault("metadata", {})
    return out


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
