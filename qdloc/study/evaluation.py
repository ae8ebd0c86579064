"""Chapters 05 and 06: the learned localisers on the paper's test sets.

:func:`evaluate_compact` scores a compact model on the three test sets,
:func:`scan_n_qd` retrains it at several dot brightnesses
(Keypoint R-CNN's runs: :mod:`qdloc.study.frcnn_run`.)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from qdloc.data.dataset import load_dataset
from qdloc.eval.bounds import crlb_still_dot_nm
from qdloc.eval.metrics import auc_table
from qdloc.io import atomic_write_text
from qdloc.localise.checkpoints import load_model_file
from qdloc.localise.compact import DEFAULT_MODEL_PATH, KIND, compact_locate, train_compact
from qdloc.sim.params import SimParams
from qdloc.study.calibration import simulate_test_set
from qdloc.study.constants import PAPER_TEST_SETS

__all__ = ["paper_test_set", "evaluate_compact", "scan_n_qd"]


def paper_test_set(
    name: str, params: SimParams, data_dir=None, n: int | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """``(images, truth_xy, source)`` of one of the paper's test sets (``"test_D0.75"``, ...).

    Read from ``data_dir/name`` when it exists and was simulated with ``params``;
    otherwise simulated in memory (:func:`qdloc.study.calibration.simulate_test_set`, the same arrays).
    """
    if name not in PAPER_TEST_SETS:
        raise ValueError(f"name={name!r} is not allowed: expected one of {list(PAPER_TEST_SETS)}")
    if data_dir is not None and (Path(data_dir) / name / "params.json").exists():
        ds = load_dataset(Path(data_dir) / name, verify=False)
        if ds.params == params.replace(D_um2_per_s=ds.params.D_um2_per_s):
            k = len(ds.images) if n is None else min(n, len(ds.images))
            return np.asarray(ds.images[:k]), ds.truth_xy[:k], str(Path(data_dir) / name)
    sim = simulate_test_set(name, params, n)
    return sim.images, sim.centroids, "simulated in memory"


def evaluate_compact(model_path=DEFAULT_MODEL_PATH, data_dir=None, tta=True, n_per_set: int | None = None,
                     batch: int = 128) -> pd.DataFrame:
    """AUC at 70/140/210 nm and errors of a compact model on the paper's three test sets.

    The test sets are simulated with the model's own simulator parameters (its
    file records them), read from ``data_dir`` when they are there and match.

    Returns
    -------
    DataFrame
        One row per test set: ``set``, ``D``, ``n``, ``auc_70nm``, ``auc_140nm``,
        ``auc_210nm``, ``mean_error_nm``, ``median_error_nm``, ``rmse_nm``, ``source``.
    """
    obj = load_model_file(model_path, kind=KIND)
    params = SimParams.from_dict(obj["sim_params"])
    px = params.pixel_size_um * 1000.0
    rows = []
    for name, (_, _, D) in PAPER_TEST_SETS.items():
        images, truth, source = paper_test_set(name, params, data_dir, n_per_set)
        pred = compact_locate(images, model_path, tta=tta, batch=batch)
        auc = auc_table(pred, truth, pixel_size_nm=px)
        d = np.hypot(pred["x"].to_numpy() - truth[:, 0], pred["y"].to_numpy() - truth[:, 1]) * px
        rows.append({"set": name, "D": D, "n": len(images), "auc_70nm": auc[70.0], "auc_140nm": auc[140.0],
                     "auc_210nm": auc[210.0], "mean_error_nm": float(d.mean()),
                     "median_error_nm": float(np.median(d)), "rmse_nm": float(np.sqrt(np.mean(d**2))),
                     "source": source})
    return pd.DataFrame(rows)


def scan_n_qd(n_qd_values, out_csv, seed: int = 0, progress: bool = True, **train_kw) -> pd.DataFrame:
    """Train the same network at several dot brightnesses and score each on the test sets.

    For each ``N_qd`` the network is trained from scratch with
    :func:`train_compact` (``data_dir=None``: validation in memory) on
    ``SimParams().replace(n_qd=N_qd)``, evaluated with :func:`evaluate_compact`,
    and compared with the still-dot bound :func:`crlb_still_dot_nm`. Rows are
    appended to ``out_csv`` as each ``N_qd`` finishes, and values already in it
    are skipped, so an interrupted scan continues where it stopped.

    Parameters
    ----------
    n_qd_values : iterable of float
    out_csv : path
    seed : int
    progress : bool
    **train_kw
        Passed to :func:`train_compact` (e.g. ``epochs=6``).

    Returns
    -------
    DataFrame
        ``n_qd``, ``D``, the columns of :func:`evaluate_compact`, ``crlb_nm``
        (root mean square over x and y of the per-axis bound), ``signal_photons``, ``train_s``.
    """
    out_csv = Path(out_csv)
    done = pd.read_csv(out_csv) if out_csv.exists() else pd.DataFrame()
    base = SimParams()
    for v in n_qd_values:
        v = float(v)
        if len(done) and np.isclose(done["n_qd"], v).any():
            continue
        params = base.replace(n_qd=v)
        with tempfile.TemporaryDirectory() as tmp:
            r = train_compact(None, tmp, seed=seed, progress=progress, params=params, **train_kw)
            ev = evaluate_compact(Path(tmp) / "compact.pt")
        crlb = crlb_still_dot_nm(params)
        ev.insert(0, "n_qd", v)
        ev["crlb_nm"] = crlb["sigma_nm"]
        ev["signal_photons"] = crlb["signal_photons"]
        ev["train_s"] = float(r.meta.get("train_s", r.wall_s))
        ev["epochs"] = int(len(r.history))
        done = pd.concat([done, ev.drop(columns=["source"])], ignore_index=True)
        atomic_write_text(out_csv, done.sort_values(["n_qd", "D"]).to_csv(index=False, float_format="%.6g"))
        if progress:
            print(f"N_qd = {v:g}: AUC {ev[['auc_70nm', 'auc_140nm', 'auc_210nm']].round(3).values.tolist()}",
                  file=sys.stderr, flush=True)
    return done.sort_values(["n_qd", "D"]).reset_index(drop=True)






