"""Chapter 05: what the training of the compact network wrote, and what it reaches.

The chapter reads a trained model folder (``compact.pt``, ``history.csv``,
``nqd_scan.csv``) and asks four questions, one function each:

- how the training went (:func:`history_summary`, :func:`epochs_to_within`,
  :func:`frcnn_history_summary` for the Keypoint R-CNN's ``history.csv``);
- which symmetries of the scan test-time averaging may use (:func:`view_errors`);
- how the network scores next to the paper's FCNN (:func:`paper_comparison`);
- how far it is from the floor, and what more light would buy (:func:`nqd_scan_summary`).

:func:`training_results` gathers the chapter's numbers for ``05_training.json``;
:func:`model_values`, :func:`view_summary` and :func:`scan_agreement` those its prose quotes.
The ``describe_*`` functions and :func:`floor_report` write the lines the chapter prints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qdloc.data.presets import PAPER_PRESET, PAPER_TEST_NAMES
from qdloc.localise import compact
from qdloc.localise.checkpoints import load_model_file
from qdloc.localise.frcnn import PROFILES as FRCNN_PROFILES
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import simulate

__all__ = [
    "CompactRun",
    "load_compact_run",
    "describe_history",
    "describe_frcnn_history",
    "read_history",
    "history_summary",
    "epochs_to_within",
    "frcnn_history_summary",
    "view_errors",
    "paper_comparison",
    "crlb_mean_distance_nm",
    "nqd_scan_summary",
    "training_results",
    "model_values",
    "view_summary",
    "scan_agreement",
    "describe_model",
    "describe_network",
    "describe_views",
    "describe_comparison",
    "describe_floor",
    "floor_report",
]

_EPS_COLUMNS = {70.0: "auc_70nm", 140.0: "auc_140nm", 210.0: "auc_210nm"}


def _need_columns(df: pd.DataFrame, need: set[str], what: str) -> None:
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"{what} lacks column(s) {sorted(missing)}; it has {list(df.columns)}")


@dataclass(frozen=True)
class CompactRun:
    """A trained compact network's folder, read: model file, network and history."""

    folder: Path
    model_path: Path
    model: dict
    params: SimParams
    config: compact.CompactConfig
    net: compact.CompactNet
    history: pd.DataFrame
    scan: pd.DataFrame | None

    @property
    def meta(self) -> dict:
        """The training's metadata stored in the model file (``best_epoch``, ``machine``, ...)."""
        return self.model["meta"]


def load_compact_run(folder: str | Path) -> CompactRun:
    """Read a compact network's folder: ``compact.pt``, ``history.csv``, ``nqd_scan.csv``.

    Parameters
    ----------
    folder : str or Path
        The folder the training wrote (e.g. ``data/models/compact``).

    Returns
    -------
    CompactRun
        ``scan`` is None when the folder holds no ``nqd_scan.csv``.
    """
    folder = Path(folder)
    if not (folder / "history.csv").is_file():
        raise ValueError(f"folder={str(folder)!r} holds no history.csv: expected a folder "
                         "written by the compact network's training")
    model_path = folder / "compact.pt"
    model = load_model_file(model_path, kind="compact")
    config = compact.CompactConfig.from_dict(model["config"])
    scan_path = folder / "nqd_scan.csv"
    return CompactRun(
        folder=folder, model_path=model_path, model=model,
        params=SimParams.from_dict(model["sim_params"]), config=config,
        net=compact.CompactNet(config, tuple(model["image_shape"])),
        history=pd.read_csv(folder / "history.csv"),
        scan=pd.read_csv(scan_path) if scan_path.exists() else None,
    )


def describe_history(run: CompactRun) -> str:
    """A few lines on the training: epochs, selected epoch, time, machine and command.

    Parameters
    ----------
    run : CompactRun

    Returns
    -------
    str
    """
    hs = history_summary(run.history, run.config.images_per_epoch)
    meta, best = run.meta, int(run.meta["best_epoch"])
    return "\n".join([
        f"epochs: {hs['epochs']} of {run.config.images_per_epoch:,} fresh images "
        f"({hs['images_seen']:,} in all)",
        f"selected epoch: {best} (smallest validation mean error, "
        f"{hs['val_error_nm'][best - 1]:.1f} nm)",
        f"time per epoch: {hs['mean_epoch_s']:.0f} s on average ({hs['min_epoch_s']:.0f} .. "
        f"{hs['max_epoch_s']:.0f} s); total {hs['train_s'] / 60:.1f} min on "
        f"{meta['threads']} threads",
        f"share of the time spent simulating the fresh images: {100 * hs['sim_share']:.0f} %",
        f"machine: {meta['machine']}",
        f"command: {meta['command']}",
    ])


def history_summary(history: pd.DataFrame, images_per_epoch: int) -> dict[str, Any]:
    """Epochs, time and validation error of one training run (its ``history.csv``).

    Parameters
    ----------
    history : pandas.DataFrame
        One row per epoch, with ``epoch_time_s``, ``sim_time_s`` and ``val_mean_error_nm``.
    images_per_epoch : int
        Fresh images drawn per epoch (the model's config).

    Returns
    -------
    dict
        ``epochs``, ``images_seen``, ``train_s`` (sum of the epoch times), ``mean_epoch_s``,
        ``min_epoch_s``, ``max_epoch_s``, ``sim_share`` (fraction of the time spent
        simulating) and ``val_error_nm`` (the validation mean error per epoch, a list).
    """
    _need_columns(history, {"epoch_time_s", "sim_time_s", "val_mean_error_nm"}, "history")
    if len(history) == 0:
        raise ValueError("history has no rows: expected one row per trained epoch")
    epoch_s = history["epoch_time_s"]
    return {
        "epochs": len(history),
        "images_seen": int(images_per_epoch) * len(history),
        "train_s": float(epoch_s.sum()),
        "mean_epoch_s": float(epoch_s.mean()),
        "min_epoch_s": float(epoch_s.min()),
        "max_epoch_s": float(epoch_s.max()),
        "sim_share": float(history["sim_time_s"].sum() / epoch_s.sum()),
        "val_error_nm": history["val_mean_error_nm"].astype(float).tolist(),
    }


def epochs_to_within(history: pd.DataFrame, rel: float = 0.02) -> tuple[float, int, float]:
    """The first epoch whose validation error is within ``rel`` of the final one.

    Parameters
    ----------
    history : pandas.DataFrame
        ``epoch``, ``epoch_time_s`` and ``val_mean_error_nm`` per epoch.
    rel : float
        Relative distance to the last epoch's error (0.02: within 2 %).

    Returns
    -------
    (float, int, float)
        The final validation error (nm), the first epoch within ``rel`` of it, and the
        fraction of all training time spent up to the end of that epoch.
    """
    if not rel >= 0:
        raise ValueError(f"rel={rel!r} is not allowed: expected a number >= 0")
    _need_columns(history, {"epoch", "epoch_time_s", "val_mean_error_nm"}, "history")
    final = float(history["val_mean_error_nm"].iloc[-1])
    first = int(history.loc[history["val_mean_error_nm"] <= (1 + rel) * final, "epoch"].iloc[0])
    frac = float(history.loc[: first - 1, "epoch_time_s"].sum() / history["epoch_time_s"].sum())
    return final, first, frac


def frcnn_history_summary(
    history: pd.DataFrame, auc_column: str = "val_auc_140nm"
) -> dict[str, Any]:
    """Epochs, time per epoch and best epoch of a Keypoint R-CNN run (its ``history.csv``).

    Parameters
    ----------
    history : pandas.DataFrame
        ``epoch``, ``epoch_time_s`` and optionally ``val_time_s`` and ``auc_column``.
    auc_column : str
        The validation AUC column that selects the best epoch; when ``history`` lacks
        it, no epoch is selected.

    Returns
    -------
    dict
        ``epochs``, ``min_per_epoch`` and ``total_min`` (training plus validation time),
        ``selected_epoch`` (int or None).
    """
    _need_columns(history, {"epoch", "epoch_time_s"}, "history")
    t = history["epoch_time_s"] + (history["val_time_s"] if "val_time_s" in history.columns else 0)
    sel = None
    if auc_column in history.columns:
        sel = int(history.loc[history[auc_column].idxmax(), "epoch"])
    return {"epochs": len(history), "min_per_epoch": float(t.mean() / 60),
            "total_min": float(t.sum() / 60), "selected_epoch": sel}


def read_history(folder: str | Path) -> pd.DataFrame | None:
    """A training folder's ``history.csv``, or None when the folder holds none.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    pandas.DataFrame or None
    """
    path = Path(folder) / "history.csv"
    return pd.read_csv(path) if path.is_file() else None


def describe_frcnn_history(history: pd.DataFrame | None) -> str:
    """One line on a Keypoint R-CNN run (cpu profile), or that none was trained (None).

    Parameters
    ----------
    history : pandas.DataFrame or None
        Its ``history.csv``, or None when there is none.

    Returns
    -------
    str
    """
    if history is None:
        return "The Keypoint R-CNN has not been trained here yet (no frcnn_cpu/history.csv)."
    fs = frcnn_history_summary(history)
    return (f"Keypoint R-CNN (cpu profile): {fs['epochs']} epochs so far, "
            f"{fs['min_per_epoch']:.1f} min per epoch ({fs['total_min']:.0f} min in all); "
            f"best validation AUC at 140 nm in epoch {fs['selected_epoch']}")


def view_errors(
    model_path: str | Path,
    params: SimParams,
    D_values: Sequence[float] = (0.0, 0.75, 1.75),
    n: int = 2000,
    seed: int = 20,
) -> tuple[pd.DataFrame, dict[float, float]]:
    """Mean error of the network on each transformed view of fresh images, mapped back.

    For each D, ``n`` images are simulated with ``seed``; each view of
    :data:`qdloc.localise.compact.VIEWS` (identity, mirrors, rotation) is localised
    without test-time averaging and its estimates are mapped back to the original frame.

    Parameters
    ----------
    model_path : str or Path
        A compact model file.
    params : SimParams
        The simulator parameters (the model's own).
    D_values : sequence of float
        Diffusion coefficients, µm²/s.
    n : int
        Images per D.
    seed : int
        Seed of the images (the same at every D).

    Returns
    -------
    (DataFrame, dict)
        The table of mean errors in nm (index ``view``, columns ``"D=0"``, ...), and per D
        the fraction of walks that end outside their start box.
    """
    if n < 1:
        raise ValueError(f"n={n!r} is not allowed: expected at least one image")
    H, W, m = params.height_px, params.width_px, params.start_margin_px
    errors: dict[str, dict[float, float]] = {}
    outside: dict[float, float] = {}
    for D in D_values:
        sim = simulate(n, params, seed=seed, D=D)
        for view, (axes, _, _) in compact.VIEWS.items():
            imgs = np.ascontiguousarray(np.flip(sim.images, axes)) if axes else sim.images
            pred = compact.compact_locate(imgs, model_path, tta=False)
            xy = compact.map_view_xy(view, pred[["x", "y"]].to_numpy(), (H, W))
            err = np.hypot(*(xy - sim.centroids).T).mean() * params.pixel_size_um * 1000
            errors.setdefault(view, {})[D] = float(err)
        end = sim.trajectories[:, -1, :2] / params.pixel_size_um
        out = (end[:, 0] < m) | (end[:, 0] > W - 1 - m) | (end[:, 1] < m) | (end[:, 1] > H - 1 - m)
        outside[D] = float(np.mean(out))
    table = pd.DataFrame(errors).T
    table.index.name = "view"
    table.columns = [f"D={D:g}" for D in table.columns]
    return table, outside


def paper_comparison(
    evaluation: pd.DataFrame, paper: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, float]]]:
    """The network's AUCs next to a paper row, and the cells where it falls short.

    Parameters
    ----------
    evaluation : pandas.DataFrame
        :func:`qdloc.study.evaluation.evaluate_compact`'s table (``D``, ``auc_70nm``, ...).
    paper : pandas.DataFrame
        A row (index D, columns eps in nm), e.g. ``paper_row("FCNN")``.

    Returns
    -------
    (DataFrame, DataFrame, list of dict)
        ``ours`` (index D, columns 70.0, 140.0, 210.0); the side-by-side table
        (``compact``, ``paper FCNN``, ``difference``, rounded to 3 decimals); and the cells
        below the paper, ``{"D", "eps_nm", "by"}`` with ``by`` > 0 the shortfall.
    """
    _need_columns(evaluation, {"D", *_EPS_COLUMNS.values()}, "evaluation")
    ours = evaluation.set_index("D")[list(_EPS_COLUMNS.values())]
    ours.columns = list(_EPS_COLUMNS)
    table = pd.concat({"compact": ours, "paper FCNN": paper, "difference": ours - paper}, axis=1)
    table = table.round(3)
    table.index.name = "D (µm²/s)"
    short = [{"D": D, "eps_nm": e, "by": -float(ours.loc[D, e] - paper.loc[D, e])}
             for D in paper.index for e in paper.columns if ours.loc[D, e] < paper.loc[D, e]]
    return ours, table, short


def crlb_mean_distance_nm(sigma_nm: float) -> float:
    """Mean distance of a 2-D isotropic Gaussian error of per-axis ``sigma_nm``: σ·√(π/2)."""
    if not sigma_nm >= 0:
        raise ValueError(f"sigma_nm={sigma_nm!r} is not allowed: expected a number >= 0")
    return sigma_nm * math.sqrt(math.pi / 2)


def nqd_scan_summary(
    scan: pd.DataFrame, paper: pd.DataFrame, calibrated_n_qd: float = 7.5
) -> dict[str, Any]:
    """What the scan over the dot's brightness says (``nqd_scan.csv``).

    Parameters
    ----------
    scan : pandas.DataFrame
        One row per (``n_qd``, ``D``) with ``auc_70nm`` .. ``auc_210nm``,
        ``mean_error_nm`` and ``crlb_nm``.
    paper : pandas.DataFrame
        The row to beat (index D, columns eps in nm).
    calibrated_n_qd : float
        The calibrated N_qd (the model's), the unit of ``first_ratio``.

    Returns
    -------
    dict
        ``beats``: the N_qd values at which every cell is at or above ``paper``;
        ``first``: the smallest of them (None if none) and ``first_ratio``, it over
        ``calibrated_n_qd`` (NaN if none); ``lo``, ``hi``: the scan's range;
        ``crlb_fall`` and ``error_fall``: how many times the still-dot bound and the
        network's mean error (over the D) fall from ``lo`` to ``hi``; ``monotone``: whether every
        AUC cell (each D and tolerance) rises with each step of N_qd.
    """
    if not calibrated_n_qd > 0:
        raise ValueError(f"calibrated_n_qd={calibrated_n_qd!r} is not allowed: expected > 0")
    _need_columns(scan, {"n_qd", "D", "mean_error_nm", "crlb_nm", *_EPS_COLUMNS.values()}, "scan")
    beats = []
    for n_qd, g in scan.groupby("n_qd"):
        g = g.set_index("D")
        ok = all(g.loc[D, f"auc_{int(e)}nm"] >= paper.loc[D, e]
                 for D in paper.index for e in paper.columns)
        if ok:
            beats.append(float(n_qd))
    lo, hi = float(scan["n_qd"].min()), float(scan["n_qd"].max())
    c = scan.groupby("n_qd")["crlb_nm"].first()
    e = scan.groupby("n_qd")["mean_error_nm"].mean()
    first = min(beats, default=None)
    ratio = math.nan if first is None else first / calibrated_n_qd
    steps = scan.sort_values("n_qd").groupby("D")[list(_EPS_COLUMNS.values())].diff()
    return {"beats": beats, "first": first, "first_ratio": ratio, "lo": lo, "hi": hi,
            "crlb_fall": float(c[lo] / c[hi]), "error_fall": float(e[lo] / e[hi]),
            "monotone": bool((steps.dropna() > 0).all().all())}


def _round_nested(d: Mapping, digits: int) -> dict:
    return {k: _round_nested(v, digits) if isinstance(v, Mapping) else round(v, digits)
            for k, v in d.items()}


def training_results(
    model_file: str,
    run: CompactRun,
    views: pd.DataFrame,
    ours: pd.DataFrame,
    paper: pd.DataFrame,
    short: Sequence[Mapping[str, float]],
    evaluation: pd.DataFrame,
    crlb: Mapping[str, float],
    frcnn_epochs: int | None,
) -> dict[str, Any]:
    """The numbers of chapter 05, ready for ``05_training.json``.

    Parameters
    ----------
    model_file : str
        The model file, relative to the models folder (``"compact/compact.pt"``).
    run : CompactRun
        The trained network's folder (:func:`load_compact_run`).
    views : pandas.DataFrame
        :func:`view_errors`' table.
    ours, paper : pandas.DataFrame
        The network's and the paper's rows (:func:`paper_comparison`).
    short : sequence of mapping
        The short cells (:func:`paper_comparison`).
    evaluation : pandas.DataFrame
        :func:`qdloc.study.evaluation.evaluate_compact`'s table.
    crlb : mapping
        :func:`qdloc.eval.bounds.crlb_still_dot_nm`'s output.
    frcnn_epochs : int or None
        Epochs of the Keypoint R-CNN's history, if it was trained here.

    Returns
    -------
    dict
    """
    meta, net = run.meta, run.net
    summary = history_summary(run.history, run.config.images_per_epoch)
    view_err = {v: {c.removeprefix("D="): float(views.loc[v, c]) for c in views.columns}
                for v in views.index}
    return {
        "model_file": model_file,
        "sim_params": run.params.to_dict(),
        "config": run.config.to_dict(),
        "parameters": compact.count_parameters(net),
        "macs_per_view": compact.macs_per_image(net),
        "epochs": summary["epochs"],
        "selected_epoch": int(meta["best_epoch"]),
        "selected_by": compact.SELECT_BY,
        "train_time_s": round(summary["train_s"], 1),
        "mean_epoch_time_s": round(summary["mean_epoch_s"], 1),
        "machine": meta["machine"],
        "command": meta["command"],
        "view_mean_error_nm": _round_nested(view_err, 2),
        "auc": _round_nested(_row_json(ours), 4),
        "paper_fcnn_auc": _row_json(paper),
        "cells_short": [{**c, "by": round(c["by"], 4)} for c in short],
        "mean_error_nm": {f"{D:g}": round(float(v), 2)
                          for D, v in evaluation.set_index("D")["mean_error_nm"].items()},
        "crlb_still_dot_nm": _round_nested(dict(crlb), 3),
        "frcnn_epochs": frcnn_epochs,
    }


def _row_json(row: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {f"{D:g}": {f"{e:g}": float(row.loc[D, e]) for e in row.columns} for D in row.index}


def model_values(run: CompactRun, D_line: float = 1.0) -> dict[str, Any]:
    """The numbers chapter 05's prose quotes about the images, the network and its training.

    Parameters
    ----------
    run : CompactRun
        :func:`load_compact_run`'s.
    D_line : float
        Diffusion coefficient (µm²/s) of ``line_move_nm``.

    Returns
    -------
    dict
        The image (``height_px``, ``width_px``, ``psf_px`` = σ_xy in pixels, ``psf_nm``,
        ``n_bkg``); the network's grid (``padded_height_px``, ``padded_width_px``, ``grid_h``,
        ``grid_w``, ``n_cells``: the image padded to even sides in 2 x 2 cells), ``dilations``
        (text) and ``receptive_px`` (stem and dilated 3 x 3 convolutions, in pixels); one line
        (``line_us``, its ``line_dwells`` steps and ``line_move_nm``, the rms displacement per
        axis at ``D_line``); the training (``train_D_lo``, ``train_D_hi``, ``beta``, ``epochs``,
        ``best_epoch``, ``train_min`` (the sum of the recorded epoch times), ``threads``,
        ``val_images``) and the paper's (``paper_epochs``, and per test set *i* = 1, 2, 3
        ``Di`` and ``test_ni``).
    """
    p, c = run.params, run.config
    ph, pw = p.height_px + p.height_px % 2, p.width_px + p.width_px % 2
    line_s = p.width_px * p.dwell_s
    hs = history_summary(run.history, c.images_per_epoch)
    out = {"height_px": p.height_px, "width_px": p.width_px, "psf_px": p.sigma_xy_um / p.pixel_size_um,
           "psf_nm": 1000 * p.sigma_xy_um, "n_bkg": p.n_bkg, "padded_height_px": ph,
           "padded_width_px": pw, "grid_h": ph // 2, "grid_w": pw // 2, "n_cells": ph * pw // 4,
           "dilations": ", ".join(str(d) for d in c.dilations),
           "receptive_px": 2 * (3 + 2 * sum(c.dilations)), "line_us": 1e6 * line_s,
           "line_dwells": p.width_px - 1, "line_move_nm": 1000 * math.sqrt(2 * D_line * line_s),
           "train_D_lo": c.D_range_um2_per_s[0], "train_D_hi": c.D_range_um2_per_s[1],
           "beta": c.beta, "epochs": hs["epochs"], "best_epoch": int(run.meta["best_epoch"]),
           "train_min": hs["train_s"] / 60, "threads": int(run.meta["threads"]),
           "val_images": PAPER_PRESET["val"].n, "paper_epochs": FRCNN_PROFILES["paper"].epochs}
    for i, name in enumerate(PAPER_TEST_NAMES, 1):
        out |= {f"D{i}": float(PAPER_PRESET[name].D), f"test_n{i}": PAPER_PRESET[name].n}
    return out


def view_summary(views_table: pd.DataFrame, still: str = "D=0") -> dict[str, float]:
    """How much each view of :func:`view_errors` costs, relative to the plain images, in per cent.

    Parameters
    ----------
    views_table : pandas.DataFrame
        :func:`view_errors`'s table: rows ``identity``, ``flip_x``, ``flip_y``, ``rot180``;
        columns ``D=...`` in increasing D, ``still`` among them.
    still : str
        The column of the dot that does not move.

    Returns
    -------
    dict
        ``still_max_pct``: the largest change of any view for the still dot (absolute);
        ``mirror_max_pct``: of the mirror in x at any D (absolute); ``reverse_min_pct``,
        ``reverse_max_pct``: the smallest and largest cost of the views that reverse the order
        of the lines (``flip_y``, ``rot180``) for a moving dot; ``reverse_slow_max_pct`` and
        ``reverse_fast_min_pct``: their largest at the slowest moving D, smallest at the fastest.
    """
    need = {"identity", "flip_x", "flip_y", "rot180"}
    if not need <= set(views_table.index) or still not in views_table.columns:
        raise ValueError(f"views_table has rows {list(views_table.index)} and columns "
                         f"{list(views_table.columns)}: expected rows {sorted(need)} and a column {still!r}")
    rel = 100 * (views_table / views_table.loc["identity"] - 1)
    reverse = rel.loc[["flip_y", "rot180"]].drop(columns=still)
    if reverse.empty:
        raise ValueError(f"views_table has no moving dot: expected a column other than {still!r}")
    return {"still_max_pct": float(rel[still].abs().max()),
            "mirror_max_pct": float(rel.loc["flip_x"].abs().max()),
            "reverse_min_pct": float(reverse.min().min()), "reverse_max_pct": float(reverse.max().max()),
            "reverse_slow_max_pct": float(reverse.iloc[:, 0].max()),
            "reverse_fast_min_pct": float(reverse.iloc[:, -1].min())}


def scan_agreement(scan: pd.DataFrame, ours: pd.DataFrame, n_qd: float) -> float:
    """Largest AUC difference between the N_qd scan's row ``n_qd`` and the shipped model's cells.

    Parameters
    ----------
    scan : pandas.DataFrame
        ``nqd_scan.csv`` (``n_qd``, ``D``, ``auc_70nm`` .. ``auc_210nm``).
    ours : pandas.DataFrame
        :func:`paper_comparison`'s ``ours`` (index D, columns 70.0, 140.0, 210.0).
    n_qd : float
        The scan's row to compare (the model's N_qd).

    Returns
    -------
    float
        ``max |scan - ours|`` over the cells of ``ours``.
    """
    _need_columns(scan, {"n_qd", "D", *_EPS_COLUMNS.values()}, "scan")
    row = scan[np.isclose(scan["n_qd"], n_qd)].set_index("D")
    if row.empty or not set(ours.index) <= set(row.index):
        raise ValueError(f"n_qd={n_qd!r}: expected a scan row for every D of {list(ours.index)}")
    return float(max(abs(row.loc[D, _EPS_COLUMNS[e]] - ours.loc[D, e]) for D in ours.index for e in ours.columns))


# --------------------------------------------------------------------------
# The lines chapter 05 prints
# --------------------------------------------------------------------------
def describe_model(run: CompactRun) -> str:
    """The model file, the simulator parameters it was trained for, and whether ``SimParams()`` differs.

    Parameters
    ----------
    run : CompactRun
        :func:`load_compact_run`'s.

    Returns
    -------
    str
    """
    p = run.params
    text = (f"model file: {run.model_path.name} in {run.folder.name}/\ntrained for N_qd = "
            f"{p.n_qd:g}, N_bkg = {p.n_bkg:g}, start margin {p.start_margin_px:g} px")
    if p != SimParams():
        text += "\nnote: SimParams() has changed since this model was trained; it keeps its own"
    return text


def describe_network(run: CompactRun) -> str:
    """The network's layers, its parameters, multiply-accumulates per view and weights file size.

    Parameters
    ----------
    run : CompactRun
        :func:`load_compact_run`'s.

    Returns
    -------
    str
    """
    return "\n".join([
        str(run.net),
        f"parameters: {compact.count_parameters(run.net):,}",
        f"multiply-accumulates per image and view: {compact.macs_per_image(run.net) / 1e6:.2f} M",
        f"weights file: {run.model_path.stat().st_size / 1e3:.0f} kB",
    ])


def describe_views(views_table: pd.DataFrame, outside: Mapping[float, float]) -> str:
    """:func:`view_errors`' result as text: mean errors (nm), their change in per cent, walks outside.

    Parameters
    ----------
    views_table : pandas.DataFrame
        :func:`view_errors`' table (a row ``identity``).
    outside : mapping
        Its fraction of walks that end outside their start box, per D.

    Returns
    -------
    str
        The table and its change relative to ``identity`` with one decimal, and the fractions in
        whole per cent.
    """
    if "identity" not in views_table.index:
        raise ValueError(f"views_table has rows {list(views_table.index)}: expected a row 'identity'")
    rel = 100 * (views_table / views_table.loc["identity"] - 1)
    pct = {f"D={D:g}": round(100 * v) for D, v in outside.items()}
    return "\n".join([
        "mean error (nm) of the network on each view, mapped back:",
        views_table.round(1).to_string(),
        "relative to the plain images (%):",
        rel.round(1).to_string(),
        f"walks that end outside their start box (%): {pct} (start outside it: 0 %)",
    ])


def describe_comparison(table: pd.DataFrame, short: Sequence[Mapping[str, float]],
                        evaluation: pd.DataFrame) -> str:
    """:func:`paper_comparison`'s table, the cells at or above the paper's, those short, mean errors.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`paper_comparison`'s side-by-side table (a ``compact`` block).
    short : sequence of mapping
        Its cells below the paper.
    evaluation : pandas.DataFrame
        :func:`qdloc.study.evaluation.evaluate_compact`'s table (``D``, ``mean_error_nm``).

    Returns
    -------
    str
    """
    _need_columns(evaluation, {"D", "mean_error_nm"}, "evaluation")
    n_cells = table["compact"].size
    return "\n".join([
        table.to_string(),
        f"cells at or above the paper's: {n_cells - len(short)} of {n_cells}",
        pd.DataFrame(short).round(3).to_string(index=False),
        f"mean error (nm): {evaluation.set_index('D')['mean_error_nm'].round(1).to_dict()}",
    ])


_SCAN_COLUMNS = ["n_qd", "D", "auc_70nm", "auc_140nm", "auc_210nm", "mean_error_nm", "crlb_nm"]


def describe_floor(crlb: Mapping[str, float], evaluation: pd.DataFrame, scan: pd.DataFrame | None,
                   n_bkg: float) -> str:
    """The still-dot bound, the network's mean error over it per D, and the N_qd scan (if any).

    Parameters
    ----------
    crlb : mapping
        :func:`qdloc.eval.bounds.crlb_still_dot_nm`'s result (``signal_photons``, ``sigma_nm``,
        ``sigma_x_nm``, ``sigma_y_nm``).
    evaluation : pandas.DataFrame
        :func:`qdloc.study.evaluation.evaluate_compact`'s table (``D``, ``mean_error_nm``).
    scan : pandas.DataFrame or None
        ``nqd_scan.csv``; None when the model folder has none.
    n_bkg : float
        Background photons per pixel (printed only).

    Returns
    -------
    str
        The bound with one decimal (per axis, and as a mean distance,
        :func:`crlb_mean_distance_nm`), the ratios with one, the scan's table with three.
    """
    _need_columns(evaluation, {"D", "mean_error_nm"}, "evaluation")
    crlb_mean = crlb_mean_distance_nm(crlb["sigma_nm"])
    lines = [
        f"signal photons of a still dot in focus: {crlb['signal_photons']:.0f}; background "
        f"{n_bkg:g} per pixel\nCRLB of a still dot: {crlb['sigma_x_nm']:.1f} nm (x), "
        f"{crlb['sigma_y_nm']:.1f} nm (y); as a mean distance {crlb_mean:.1f} nm",
        (evaluation.set_index("D")["mean_error_nm"] / crlb_mean).round(1)
        .rename("network mean error / still-dot floor").to_string(),
    ]
    if scan is not None:
        _need_columns(scan, set(_SCAN_COLUMNS), "scan")
        lines.append(scan[_SCAN_COLUMNS].round(3).to_string(index=False))
    return "\n".join(lines)


def floor_report(scan: pd.DataFrame | None, paper: pd.DataFrame, ours: pd.DataFrame,
                 crlb: Mapping[str, float], n_qd: float, still_nm: float) -> dict[str, Any]:
    """What the N_qd scan and a still dot say about the floor: text, glued values and checks.

    Parameters
    ----------
    scan : pandas.DataFrame or None
        ``nqd_scan.csv`` (:func:`nqd_scan_summary`); None when the model folder has none.
    paper : pandas.DataFrame
        The row to beat (index D, columns eps in nm).
    ours : pandas.DataFrame
        :func:`paper_comparison`'s ``ours``, the shipped model's cells.
    crlb : mapping
        :func:`qdloc.eval.bounds.crlb_still_dot_nm`'s result (``sigma_nm``).
    n_qd : float
        The model's (calibrated) N_qd.
    still_nm : float
        The network's mean error on a dot that does not move (:func:`view_errors`, identity, D = 0).

    Returns
    -------
    dict
        ``text`` (the lines to print), ``still_ratio`` (``still_nm`` over the bound as a mean
        distance) and ``glue`` (the numbers the prose quotes); with a scan also
        :func:`nqd_scan_summary`'s keys and ``scan_agree`` (:func:`scan_agreement` at ``n_qd``).
    """
    crlb_mean = crlb_mean_distance_nm(crlb["sigma_nm"])
    still_ratio = still_nm / crlb_mean
    out: dict[str, Any] = {"still_ratio": still_ratio, "glue": {"still_ratio": still_ratio}}
    lines = []
    if scan is not None:
        ss = nqd_scan_summary(scan, paper, calibrated_n_qd=n_qd)
        agree = scan_agreement(scan, ours, n_qd)  # the scan's schedule against the shipped model
        out |= ss | {"scan_agree": agree}
        out["glue"] = {"first_ratio": ss["first_ratio"], "crlb_fall": ss["crlb_fall"],
                       "error_fall": ss["error_fall"], "scan_lo": ss["lo"], "scan_hi": ss["hi"],
                       "still_ratio": still_ratio, "scan_agree": agree}
        lines += [f"every cell at or above the paper's row at N_qd = {ss['beats']} "
                  f"(the smallest: {ss['first_ratio']:.2f} x the calibrated value)",
                  f"from N_qd = {ss['lo']:g} to {ss['hi']:g}: the still-dot bound falls "
                  f"{ss['crlb_fall']:.1f} x, the network's mean error (over the three D) "
                  f"{ss['error_fall']:.1f} x"]
    lines.append(f"a dot that does not move (D = 0, outside the training range): network mean error "
                 f"{still_nm:.1f} nm = {still_ratio:.1f} x the floor")
    return out | {"text": "\n".join(lines)}
