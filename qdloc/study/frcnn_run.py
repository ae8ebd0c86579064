"""Keypoint R-CNN's training run and its predictions on the paper's test sets (chapters 05-06).

``python -m qdloc.study.frcnn_run --out DIR --predict`` trains a model with
:func:`qdloc.localise.frcnn.train_frcnn` and localises the three test sets with its best
checkpoint (:func:`predict_test_sets`), writing ``pred_<set>.csv``, ``auc_table.csv`` and
``results.json`` beside it: the command that made ``data/models/frcnn_cpu``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from qdloc.data.presets import PAPER_TEST_NAMES
from qdloc.eval.metrics import auc_table
from qdloc.localise.checkpoints import load_model_file
from qdloc.localise.frcnn import PROFILES, VAL_METRIC, _device, frcnn_locate, load_split, train_frcnn
from qdloc.sim.params import SimParams
from qdloc.study.constants import PAPER_FCNN_ROW

__all__ = ["TEST_SETS", "predict_test_sets", "main"]


def main(argv=None) -> int:
    """``python -m qdloc.study.frcnn_run --out DIR [--profile cpu] ...``: train, then (``--predict``) test."""
    import argparse
    import json
    import os
    import platform
    import shlex
    import sys

    import torch

    ap = argparse.ArgumentParser(prog="python -m qdloc.study.frcnn_run", description=main.__doc__)
    ap.add_argument("--out", required=True, help="checkpoint and results folder")
    ap.add_argument("--data-dir", default=None, help="folder of the paper's sets (default: simulate in memory)")
    ap.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--subset", type=int, default=None)
    ap.add_argument("--weights", default=None, help="torchvision's keypointrcnn_resnet50_fpn COCO checkpoint")
    ap.add_argument("--time-budget-s", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--predict", action="store_true", help="localise the three test sets with best.pt")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    out = Path(a.out)
    t0 = time.perf_counter()
    res = train_frcnn(a.data_dir, out, profile=a.profile, seed=a.seed, resume=a.resume, progress=not a.no_progress,
                      epochs=a.epochs, weights=a.weights, subset=a.subset, time_budget_s=a.time_budget_s)
    train_s = time.perf_counter() - t0
    summary = {
        "command": "python -m qdloc.study.frcnn_run " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "device": _device(None),
        "torch_threads": torch.get_num_threads(),
        "train_wall_s": round(train_s, 1),
        "epochs_run": len(res["history"]),
        "stopped": res["stopped"],
        "best_epoch": res["best_epoch"],
        VAL_METRIC: res["best_score"],
        "config": asdict(res["config"]),
    }
    if a.predict:
        t1 = time.perf_counter()
        summary["test"] = predict_test_sets(res["best"], out, a.data_dir, progress=not a.no_progress)
        summary["predict_wall_s"] = round(time.perf_counter() - t1, 1)
        rows = []
        for name, r in summary["test"].items():
            D = float(name.removeprefix("test_D"))
            paper = PAPER_FCNN_ROW.get(D, {})
            rows.append({"set": name, "D_um2_per_s": D, "n_images": r["n_images"],
                         **{f"auc_{int(e)}nm": round(v, 4) for e, v in r["auc"].items()},
                         **{f"paper_fcnn_{int(e)}nm": paper.get(e) for e in r["auc"]}})
        pd.DataFrame(rows).to_csv(out / "auc_table.csv", index=False)
        print(pd.DataFrame(rows).to_string(index=False))
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 0


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


if __name__ == "__main__":
    raise SystemExit(main())
