"""Keypoint R-CNN's training run and its predictions on the paper's test sets (chapters 05-06).

:func:`run_frcnn` (``qdloc train --model frcnn --predict``) trains a model with
:func:`qdloc.localise.frcnn.train_frcnn` and localises the three test sets with its best
checkpoint (:func:`predict_test_sets`), writing ``pred_<set>.csv``, ``auc_table.csv`` and
``results.json`` beside it: what made ``data/models/frcnn_cpu``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from qdloc.data.presets import PAPER_TEST_NAMES
from qdloc.eval.metrics import auc_table
from qdloc.io import atomic_write_text
from qdloc.localise.checkpoints import load_model_file
from qdloc.localise.frcnn import VAL_METRIC, _device, frcnn_locate, load_split, train_frcnn
from qdloc.sim.params import SimParams, check_int
from qdloc.study.constants import PAPER_FCNN_ROW

__all__ = ["TEST_SETS", "run_frcnn", "auc_rows", "predict_test_sets"]


def run_frcnn(out_dir, data_dir=None, profile: str = "cpu", seed: int = 0, resume: bool = False,
              predict: bool = False, threads: int | None = None, progress: bool = True,
              command: str = "", **train_kw) -> dict:
    """Train a Keypoint R-CNN, then (``predict``) localise the test sets; write ``results.json``.

    Parameters
    ----------
    out_dir : path
        Checkpoints, the model file, ``history.csv`` and this run's ``results.json``
        (and, with ``predict``, ``pred_<set>.csv`` and ``auc_table.csv``).
    data_dir : path, optional
        Folder of the paper's sets; None simulates them in memory (the same images).
    profile, seed, resume, progress
        As in :func:`qdloc.localise.frcnn.train_frcnn`.
    predict : bool
        Localise the three test sets with the best checkpoint (:func:`predict_test_sets`).
    threads : int, optional
        ``torch.set_num_threads`` for the run (restored afterwards).
    command : str
        The command line that started the run, recorded in ``results.json``.
    **train_kw
        ``epochs``, ``subset``, ``weights``, ``time_budget_s`` for the trainer.

    Returns
    -------
    dict
        The summary written to ``results.json``.
    """
    if threads is not None:
        check_int("threads", threads, 1)
    old_threads = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        return _run(Path(out_dir), data_dir, profile, seed, resume, predict, progress, command, train_kw)
    finally:
        torch.set_num_threads(old_threads)


def _run(out: Path, data_dir, profile, seed, resume, predict, progress, command, train_kw) -> dict:
    """:func:`run_frcnn` with torch's threads set."""
    t0 = time.perf_counter()
    res = train_frcnn(data_dir, out, profile=profile, seed=seed, resume=resume, progress=progress, **train_kw)
    summary = {
        "command": command,
        "machine": f"{platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "device": _device(None),
        "torch_threads": torch.get_num_threads(),
        "train_wall_s": round(time.perf_counter() - t0, 1),
        "epochs_run": len(res["history"]),
        "stopped": res["stopped"],
        "best_epoch": res["best_epoch"],
        VAL_METRIC: res["best_score"],
        "config": asdict(res["config"]),
    }
    if predict:
        t1 = time.perf_counter()
        summary["test"] = predict_test_sets(res["best"], out, data_dir, progress=progress)
        summary["predict_wall_s"] = round(time.perf_counter() - t1, 1)
        table = auc_rows(summary["test"])
        atomic_write_text(out / "auc_table.csv", table.to_csv(index=False))
        if progress:
            print(table.to_string(index=False))
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def auc_rows(test: dict) -> pd.DataFrame:
    """One row per test set: our AUCs at each tolerance beside the paper's FCNN row.

    Parameters
    ----------
    test : dict
        What :func:`predict_test_sets` returns.

    Returns
    -------
    DataFrame
        ``set, D_um2_per_s, n_images, auc_<eps>nm..., paper_fcnn_<eps>nm...``.
    """
    rows = []
    for name, r in test.items():
        D = float(name.removeprefix("test_D"))
        paper = PAPER_FCNN_ROW.get(D, {})
        rows.append({"set": name, "D_um2_per_s": D, "n_images": r["n_images"],
                     **{f"auc_{int(e)}nm": round(v, 4) for e, v in r["auc"].items()},
                     **{f"paper_fcnn_{int(e)}nm": paper.get(e) for e in r["auc"]}})
    return pd.DataFrame(rows)


TEST_SETS = PAPER_TEST_NAMES


def predict_test_sets(model_path, out_dir, data_dir=None, batch: int = 64, progress: bool = True) -> dict:
    """Localise the paper's three test sets with a model file; write ``pred_<set>.csv`` and ``results`` rows.

    The sets are read from ``data_dir`` or, with None, simulated with the
    model file's own SimParams (so that a model is always tested on images
    made like its training images). Returns ``{set: {"auc": {eps: auc},
    "n_images", "locate_s", "images_per_s", "source"}}``.
    """
    obj = load_model_file(model_path, kind="frcnn")
    params = SimParams.from_dict(obj["sim_params"])
    out_dir = Path(out_dir)
    results = {}
    for name in TEST_SETS:
        split = load_split(name, data_dir, params=params, progress=progress)
        if split.params != params:
            raise ValueError(f"{split.source} was made with other SimParams than the model's training images")
        t0 = time.perf_counter()
        pred = frcnn_locate(split.images, model_path, batch=batch, progress=progress)
        dt = time.perf_counter() - t0
        pred.to_csv(out_dir / f"pred_{name}.csv", index=False, float_format="%.6g")
        results[name] = {"auc": {float(k): float(v) for k, v in auc_table(pred, split.truth_xy).items()},
                         "n_images": int(len(split.images)), "locate_s": round(dt, 2),
                         "images_per_s": round(len(split.images) / dt, 1), "source": split.source}
    return results


