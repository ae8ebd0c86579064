"""The ``qdloc`` command line: simulate sets, localise dots in TIFF stacks, score localisations.

::

    qdloc simulate --preset paper --out data/paper          # the paper's five sets
    qdloc simulate --D 1.0 --n 2410 --seed 7 --out DIR       # one set
    qdloc simulate --D-range 0.75 1.75 --n 1000000 --seed 1 --shard 0/4 --out DIR.0
    qdloc concat DIR.0 DIR.1 DIR.2 DIR.3 --out DIR           # join shards
    qdloc localize STACK.tif --method trackpy -o locs.csv    # any single-channel TIFF stack
    qdloc evaluate --pred locs.csv --truth DIR [--json scores.json]

``python -m qdloc`` is the same program. A bad argument or an unreadable
file ends the program with exit status 2 and one line on stderr; nothing is
written then (sets and output files appear only when complete).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qdloc.io import atomic_write_text
from qdloc.localise.registry import METHODS, SHIPPED_MODELS, MethodUnavailable, locator, shipped_model
from qdloc.sim.params import SimParams

__all__ = ["main", "build_parser", "CLIError"]


class CLIError(Exception):
    """A usage problem found after parsing; reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not i/N (0-based shard i of N, e.g. 0/4)"
        ) from None
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"{text!r}: expected i/N with 0 <= i < N (i is 0-based)")
    return i, n


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``qdloc`` (one subparser per command)."""
    p = _Parser(
        prog="qdloc",
        description="Simulated two-photon images of diffusing quantum dots, "
        "and localisers for them.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    s = sub.add_parser(
        "simulate",
        help="simulate a set (or the paper's five sets) to disk",
        description="Simulate images, labels and trajectories and write them as a set "
        "folder (images.tif, labels.csv, trajectories.npy, params.json). Writing is atomic.",
    )
    s.add_argument(
        "--preset",
        choices=["paper"],
        help="the paper's sets (train, val, test_D0.75, test_D1, test_D1.75) as folders of --out",
    )
    s.add_argument(
        "--out", required=True, type=Path, help="the set's folder (with --preset: their parent)"
    )
    s.add_argument("--n", type=int, help="number of images of the set")
    s.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the set: image k depends on (seed, k) (default 0)",
    )
    g = s.add_mutually_exclusive_group()
    g.add_argument(
        "--D",
        type=float,
        metavar="D",
        help="one diffusion coefficient for every image, µm²/s "
        "(default: the parameters' D_um2_per_s)",
    )
    g.add_argument(
        "--D-range",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help="D drawn per image uniformly in [LO, HI] µm²/s",
    )
    s.add_argument(
        "--shard",
        type=_shard,
        metavar="i/N",
        help="write only the i-th (0-based) of N contiguous blocks of images; "
        "join them with 'qdloc concat'",
    )
    s.add_argument(
        "--params",
        type=Path,
        metavar="JSON",
        help="simulator parameters: a SimParams JSON file, or a set's params.json",
    )
    s.add_argument("--n-qd", type=float, help="N_qd of Eq. 1 (photons from the dot in focus)")
    s.add_argument("--n-bkg", type=float, help="N_bkg of Eq. 1 (background photons per pixel)")
    s.add_argument(
        "--set",
        type=_assignment,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other SimParams field, e.g. --set start_z_sd_um=0.5 (repeatable)",
    )
    s.add_argument(
        "--chunk", type=int, default=None, help="images simulated at a time (memory bound)"
    )
    s.add_argument("--force", action="store_true", help="replace an existing set")
    s.add_argument(
        "--skip-existing",
        action="store_true",
        help="with --preset: keep sets that exist, verify and match the request",
    )
    s.add_argument(
        "--frames",
        type=int,
        metavar="T",
        help="write --n movies of T frames each (a movie set: movies/movie_NNNNN.tif time "
        "series, per-frame labels.csv, trajectories.npy) instead of single images",
    )
    s.add_argument("--frame-pause-s", type=float, help="movies: pause between frames, s (default 0)")
    s.add_argument(
        "--pmt-excess-noise",
        type=float,
        metavar="F",
        help="photomultiplier excess noise factor F >= 1 (default 1: pure Poisson counts); "
        "images become float32",
    )
    s.add_argument(
        "--bidirectional", action="store_true", help="scan odd lines right to left (default off)"
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_simulate)

    c = sub.add_parser(
        "concat",
        help="join the shards of a set into one set",
        description="Join the N shards written with 'qdloc simulate --shard i/N' into one set, "
        "byte for byte the set written without --shard.",
    )
    c.add_argument(
        "shards", nargs="+", type=Path, metavar="SHARD_DIR", help="the folders of all N shards"
    )
    c.add_argument("--out", required=True, type=Path, help="folder of the joined set")
    c.add_argument("--force", action="store_true", help="replace an existing set")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_concat)

    loc = sub.add_parser(
        "localize",
        help="localise dots in a TIFF stack, write a CSV",
        description="Localise quantum dots in every frame of a single-channel TIFF stack "
        "(or a set folder's images.tif). The CSV has one row per localisation: frame (page "
        "index from 0), x, y (px, x = column, pixel centres at integers), score, and the "
        "method's own columns.",
    )
    loc.add_argument(
        "stack", type=Path, metavar="STACK", help="TIFF stack (2D or 3D), or a set folder"
    )
    loc.add_argument(
        "--method", choices=sorted(METHODS), default="trackpy", help="localiser (default trackpy)"
    )
    loc.add_argument("-o", "--output", required=True, type=Path, metavar="CSV", help="output CSV")
    loc.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="PATH",
        help="model file for compact/frcnn (default: the shipped weights in data/models/)",
    )
    loc.set_defaults(func=cmd_localize)

    t = sub.add_parser(
        "train",
        help="train a localiser (compact or Keypoint R-CNN)",
        description="Train a localiser with checkpoints every epoch (OUT/last.pt), model "
        "selection on the validation split (OUT/best.pt) and training curves (OUT/history.csv). "
        "--resume continues an interrupted run exactly where it stopped.",
    )
    t.add_argument("--model", required=True, choices=["compact", "frcnn"], help="which localiser")
    t.add_argument("--profile", default="cpu", choices=["cpu", "paper", "test"],
                   help="cpu: reduced, trains on a CPU (default); paper: the paper's setting; "
                   "test: a tiny run for smoke tests (compact only)")
    t.add_argument("--data", type=Path, default=Path("data/paper"),
                   help="folder of the paper's sets (train, val, test_*) (default data/paper)")
    t.add_argument("--out", type=Path, required=True, help="checkpoint and model folder")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    t.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    t.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    t.add_argument("--time-budget-s", type=float, default=None,
                   help="stop (checkpointed, resumable) before an epoch would end past this")
    t.add_argument("--weights", type=Path, default=None,
                   help="frcnn: a local torchvision keypointrcnn_resnet50_fpn COCO checkpoint "
                   "(default: train from scratch; nothing is downloaded)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    from qdloc.study import sweep as _sweep

    sw = sub.add_parser(
        "sweep",
        help="run a chapter over a grid of parameters with papermill (parallel, resumable)",
        description="Run a chapter with papermill at every point of a parameter grid, keep every "
        "executed notebook and gather the results files into one table (see qdloc.study.sweep).",
    )
    _sweep.add_arguments(sw)
    sw.set_defaults(func=_sweep.run_from_args)

    e = sub.add_parser(
        "evaluate",
        help="score localisations against a set's labels",
        description="Area under the precision-recall curve at each tolerance (the paper's "
        "70, 140, 210 nm), with Jaccard, precision, recall, F1 and lateral RMSE, and the mean "
        "F1 over tolerances 0..max (qdloc.eval.metrics). Prediction frames are page indices of the "
        "set's images.tif.",
    )
    e.add_argument(
        "--pred", required=True, type=Path, metavar="CSV", help="localisations: frame, x, y, score"
    )
    e.add_argument("--truth", required=True, type=Path, metavar="DIR", help="the set's folder")
    e.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=None,
        metavar="NM",
        help="tolerances in nm (default 70 140 210)",
    )
    e.add_argument("--json", type=Path, metavar="FILE", help="also write the scores as JSON")
    e.set_defaults(func=cmd_evaluate)

    from qdloc.transport.diffusion import DEFAULT_MIN_LENGTH
    from qdloc.transport.linking import DEFAULT_SEARCH_RANGE_PX

    tr = sub.add_parser(
        "track",
        help="localise the dot in every frame of a movie and link the frames into tracks",
        description="Localise quantum dots in every frame of a single-channel TIFF movie "
        "(qdloc.transport.linking.localise_movie), keep the best-scored localisation(s) per frame, and "
        "link them into tracks with trackpy.link. The CSV has one row per localisation: frame, "
        "x, y (px, x = column, pixel centres at integers), particle, score, and the method's "
        "own columns. Written atomically.",
    )
    tr.add_argument(
        "stack", type=Path, metavar="STACK", help="TIFF movie (T, H, W), or a set folder"
    )
    tr.add_argument(
        "--method", choices=sorted(METHODS), default="trackpy", help="localiser (default trackpy)"
    )
    tr.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="PATH",
        help="model file for compact/frcnn (default: the shipped weights in data/models/)",
    )
    tr.add_argument(
        "--search-range",
        type=float,
        default=DEFAULT_SEARCH_RANGE_PX,
        metavar="PX",
        help="largest frame-to-frame displacement linked, px "
        f"(default {DEFAULT_SEARCH_RANGE_PX:g}: the field's width; a step at D = 3 µm²/s, 27.6 ms frames, 0.07 µm pixels exceeds it "
        "with probability 1e-4)",
    )
    tr.add_argument(
        "--memory", type=int, default=0, metavar="N",
        help="frames a dot may be missed and keep its track (default 0)",
    )
    tr.add_argument(
        "--max-per-frame", type=int, default=1, metavar="N",
        help="localisations kept per frame, best score first (default 1: one dot per movie; "
        "0 keeps all)",
    )
    tr.add_argument(
        "--min-score", type=float, default=None, metavar="S",
        help="drop localisations scored below S (the method's score)",
    )
    tr.add_argument("-o", "--output", required=True, type=Path, metavar="CSV", help="output CSV")
    tr.set_defaults(func=cmd_track)

    _P = SimParams()
    d = sub.add_parser(
        "diffusion",
        help="diffusion coefficient of every track, with its uncertainty",
        description="Estimate D of every track of a track CSV (frame, x, y, particle; x, y in "
        "px), correcting for localisation error and motion blur (qdloc.transport.diffusion): "
        "maximum likelihood (Berglund 2010, default) or an MSD fit with the optimal number of "
        "points (Michalet 2010). One row per track: particle, n_frames, n_used, D_um2_per_s, "
        "D_err_um2_per_s, sigma_nm, method.",
    )
    d.add_argument(
        "tracks", type=Path, metavar="TRACKS", help="track CSV (e.g. from 'qdloc track')"
    )
    d.add_argument(
        "--frame-interval-s",
        type=float,
        default=_P.frame_time_s,
        metavar="S",
        help=f"time between frame starts, s (default {_P.frame_time_s:g}: the default scanner's "
        f"frame period, {_P.height_px}·({_P.width_px}·{_P.dwell_s * 1e6:g} µs + "
        f"{_P.retrace_s * 1e3:g} ms))",
    )
    gb = d.add_mutually_exclusive_group()
    gb.add_argument(
        "--blur",
        type=float,
        default=None,
        metavar="R",
        help="motion-blur coefficient R in [0, 0.25] (0: instantaneous exposure, 1/6: uniform "
        "exposure over the whole frame)",
    )
    gb.add_argument(
        "--scanner",
        action="store_true",
        help="R of the default scanner raster: the position is the mean at the pixel dwell "
        "times of SimParams() (the default; 0.1664 with the default frame interval)",
    )
    d.add_argument(
        "--pixel-size-um",
        type=float,
        default=_P.pixel_size_um,
        metavar="A",
        help=f"pixel size, µm (default {_P.pixel_size_um:g})",
    )
    d.add_argument(
        "--estimator", choices=["mle", "msd"], default="mle", help="estimator (default mle)"
    )
    d.add_argument(
        "--min-length",
        type=int,
        default=DEFAULT_MIN_LENGTH,
        metavar="N",
        help=f"skip tracks with fewer localisations (default {DEFAULT_MIN_LENGTH})",
    )
    d.add_argument("-o", "--output", type=Path, metavar="CSV",
                   help="write the table as CSV (default: print it)")
    d.set_defaults(func=cmd_diffusion)
    return p


# --------------------------------------------------------------------------
# simulate / concat
# --------------------------------------------------------------------------
def _coerce(text: str) -> Any:
    """A --set value: a JSON number (or true/false/null), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # let SimParams' validation name the field and the value


def _sim_params(args: argparse.Namespace) -> SimParams:
    base = SimParams()
    if args.params is not None:
        try:
            d = json.loads(args.params.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{args.params}: not valid JSON ({exc})") from None
        if isinstance(d, dict) and d.get("format") == "qdloc-dataset":
            d = d.get("sim_params")
        if not isinstance(d, dict):
            raise ValueError(f"{args.params}: expected a JSON object of SimParams fields")
        try:
            base = SimParams.from_dict(d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{args.params}: {exc}") from None
    changes: dict[str, Any] = {}
    for name, value in args.set:
        changes[name] = _coerce(value)
    if args.n_qd is not None:
        changes["n_qd"] = args.n_qd
    if args.n_bkg is not None:
        changes["n_bkg"] = args.n_bkg
    for flag in ("frame_pause_s", "pmt_excess_noise"):
        if getattr(args, flag, None) is not None:
            changes[flag] = getattr(args, flag)
    if getattr(args, "bidirectional", False):
        changes["bidirectional"] = True
    fields = set(base.to_dict())
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise CLIError(
            f"--set {unknown[0]}: not a SimParams field; expected one of {sorted(fields)}"
        )
    return base.replace(**changes) if changes else base


def cmd_simulate(args: argparse.Namespace) -> int:
    from qdloc.data.dataset import DEFAULT_CHUNK, write_dataset, write_paper_sets

    params = _sim_params(args)
    progress = not args.no_progress
    chunk = DEFAULT_CHUNK if args.chunk is None else args.chunk
    t0 = time.perf_counter()
    if args.preset == "paper":
        given = [f for f in ("n", "D", "D_range", "shard") if getattr(args, f) is not None]
        if given or args.seed != 0:
            flag = "--" + (given[0].replace("_", "-") if given else "seed")
            raise CLIError(
                f"{flag} cannot be combined with --preset paper "
                "(the preset fixes sizes, seeds and D)"
            )
        paths = write_paper_sets(
            args.out,
            params,
            force=args.force,
            skip_existing=args.skip_existing,
            progress=progress,
            chunk=chunk,
        )
        dt = time.perf_counter() - t0
        print(f"wrote the paper's sets in {args.out} ({dt:.1f} s): {', '.join(paths)}")
        return 0
    if args.skip_existing:
        raise CLIError("--skip-existing applies to --preset paper only")
    if args.n is None:
        raise CLIError("--n is required (or use --preset paper)")
    D = ("uniform", *args.D_range) if args.D_range is not None else args.D
    if args.frames is not None:
        from qdloc.data.movieset import write_movies

        if args.frames < 1:
            raise CLIError(f"--frames {args.frames}: expected an integer >= 1")
        if args.shard is not None:
            raise CLIError("--shard cannot be combined with --frames (movie sets are not sharded)")
        out = write_movies(args.out, args.n, args.frames, params, seed=args.seed, D=D, force=args.force)
        print(f"wrote {args.n} movies of {args.frames} frames to {out} in {time.perf_counter() - t0:.1f} s")
        return 0
    if args.frame_pause_s is not None:
        raise CLIError("--frame-pause-s applies to movies only (add --frames T)")
    out = write_dataset(
        args.out,
        args.n,
        params,
        seed=args.seed,
        D=D,
        shard=args.shard,
        force=args.force,
        progress=progress,
        chunk=chunk,
    )
    what = "" if args.shard is None else f" (shard {args.shard[0]}/{args.shard[1]})"
    print(f"wrote {out}{what} in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_concat(args: argparse.Namespace) -> int:
    from qdloc.data.dataset import concatenate_shards

    out = concatenate_shards(args.shards, args.out, force=args.force, progress=not args.no_progress)
    print(f"wrote {out} from {len(args.shards)} shards")
    return 0


# --------------------------------------------------------------------------
# localize
# --------------------------------------------------------------------------
def _locator(method: str) -> Callable[[np.ndarray], pd.DataFrame]:
    try:
        return locator(method)
    except MethodUnavailable as exc:
        raise CLIError(str(exc)) from None


def cmd_localize(args: argparse.Namespace) -> int:
    from qdloc.data.dataset import read_stack

    images = read_stack(args.stack)
    locate = _locator(args.method)
    if args.method in SHIPPED_MODELS:
        model = args.model if args.model is not None else shipped_model(args.method)
        df = locate(images, model_path=model)
    else:
        if args.model is not None:
            raise CLIError(f"--model {args.model} is not used by --method {args.method}")
        df = locate(images)
    missing = [c for c in ("frame", "x", "y", "score") if c not in df.columns]
    if missing:  # pragma: no cover - a method's bug, not the user's
        raise CLIError(f"method {args.method!r} returned no column(s) {missing}")
    first = ["frame", "x", "y", "score"]
    df = df[first + [c for c in df.columns if c not in first]]
    atomic_write_text(args.output, df.to_csv(index=False, lineterminator="\n"))
    print(f"{len(df)} localisations in {len(images)} frames -> {args.output}")
    return 0


# --------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from qdloc.localise.train import train

    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs {args.epochs}: expected an integer >= 1")
    if args.profile == "test" and args.model != "compact":
        raise CLIError("--profile test is for --model compact")
    if args.weights is not None:
        if args.model != "frcnn":
            raise CLIError("--weights is for --model frcnn (the compact model trains from scratch)")
        if not args.weights.is_file():
            raise CLIError(f"--weights {args.weights}: no such file")
    kw: dict[str, Any] = {}
    if args.epochs is not None:
        kw["epochs"] = args.epochs
    if args.time_budget_s is not None:
        kw["time_budget_s"] = args.time_budget_s
    if args.weights is not None:
        kw["weights"] = str(args.weights)
    data = args.data if args.data.exists() else None
    result = train(args.model, args.profile, data, args.out, resume=args.resume, seed=args.seed,
                   progress=not args.no_progress, **kw)
    best = getattr(result, "model_path", None) or (result.get("best") if isinstance(result, dict) else None)
    print(f"trained {args.model} ({args.profile}); model file: {best or args.out}")
    return 0


# --------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------
def _read_predictions(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read as CSV ({exc})") from None
    missing = [c for c in ("frame", "x", "y", "score") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected frame, x, y, score")
    return df


def _clean(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def evaluate(pred: pd.DataFrame, truth_dir: Path, eps_nm: Sequence[float] | None = None) -> dict:
    """Scores of predictions against a set: ``auc``, ``metrics`` (keyed by eps), ``f1_integral``."""
    from qdloc.data.dataset import load_dataset
    from qdloc.eval.metrics import PAPER_EPS_NM, auc_table, detection_metrics, f1_integral

    ds = load_dataset(truth_dir, mmap=True)
    eps = [float(e) for e in (PAPER_EPS_NM if eps_nm is None else eps_nm)]
    if not eps or any(not math.isfinite(e) or e <= 0 for e in eps):
        raise ValueError(f"--eps {eps}: expected tolerances > 0 nm")
    px = ds.pixel_size_nm
    truth = ds.truth_xy
    try:
        auc = auc_table(pred, truth, eps, pixel_size_nm=px)
        metrics = {e: detection_metrics(pred, truth, e, pixel_size_nm=px) for e in eps}
        f1i = f1_integral(pred, truth, eps_max_nm=max(eps), pixel_size_nm=px)
    except ValueError as exc:
        raise ValueError(f"predictions against {truth_dir}: {exc}") from None
    return {
        "truth": str(truth_dir),
        "n_images": len(ds),
        "n_predictions": len(pred),
        "pixel_size_nm": px,
        "eps_nm": eps,
        "auc": {f"{e:g}": _clean(v) for e, v in auc.items()},
        "metrics": {f"{e:g}": {k: _clean(v) for k, v in m.items()} for e, m in metrics.items()},
        "f1_integral": _clean(f1i),
        "f1_integral_eps_max_nm": max(eps),
    }


def _format_scores(res: dict) -> str:
    def f(v: Any, nd: int = 3) -> str:
        return "nan" if v is None else f"{v:.{nd}f}"

    lines = [
        f"truth: {res['truth']} ({res['n_images']} images), {res['n_predictions']} predictions, "
        f"pixel {res['pixel_size_nm']:g} nm",
        f"{'eps_nm':>7} {'AUC':>6} {'jaccard':>8} {'precision':>9} {'recall':>7} {'f1':>6} "
        f"{'rmse_nm':>8}",
    ]
    for e in res["eps_nm"]:
        key = f"{e:g}"
        m = res["metrics"][key]
        lines.append(
            f"{e:7g} {f(res['auc'][key]):>6} {f(m['jaccard']):>8} {f(m['precision']):>9} "
            f"{f(m['recall']):>7} {f(m['f1']):>6} {f(m['rmse_lat_nm'], 1):>8}"
        )
    lines.append(f"F1 integral, 0-{res['f1_integral_eps_max_nm']:g} nm: {f(res['f1_integral'])}")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    pred = _read_predictions(args.pred)
    res = evaluate(pred, args.truth, args.eps)
    res["pred"] = str(args.pred)
    if args.json is not None:
        atomic_write_text(
            args.json, json.dumps(res, indent=2, sort_keys=True, allow_nan=False) + "\n"
        )
    print(_format_scores(res))
    return 0


# --------------------------------------------------------------------------
# track / diffusion
# --------------------------------------------------------------------------
def _finite_positive(flag: str, value: float, unit: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise CLIError(f"{flag} {value:g}: expected a number > 0 {unit}".rstrip())
    return value


def cmd_track(args: argparse.Namespace) -> int:
    from qdloc.data.dataset import read_stack
    from qdloc.transport.linking import link_tracks, localise_movie

    _finite_positive("--search-range", args.search_range, "px")
    if args.memory < 0:
        raise CLIError(f"--memory {args.memory}: expected an integer >= 0")
    if args.max_per_frame < 0:
        raise CLIError(f"--max-per-frame {args.max_per_frame}: expected an integer >= 0 (0: all)")
    if args.min_score is not None and math.isnan(args.min_score):
        raise CLIError("--min-score nan: expected a number")
    if args.method not in SHIPPED_MODELS and args.model is not None:
        raise CLIError(f"--model {args.model} is not used by --method {args.method}")
    images = read_stack(args.stack)
    _locator(args.method)  # a clear error when the method's module cannot be imported
    locs = localise_movie(
        images,
        args.method,
        model_path=args.model,
        max_per_frame=args.max_per_frame or None,
        min_score=args.min_score,
    )
    tracks = link_tracks(locs, search_range_px=args.search_range, memory=args.memory)
    atomic_write_text(args.output, tracks.to_csv(index=False, lineterminator="\n"))
    n = tracks["particle"].nunique()
    print(
        f"{len(tracks)} localisations in {len(images)} frames linked into {n} track(s) "
        f"-> {args.output}"
    )
    return 0


def _read_tracks(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read as CSV ({exc})") from None
    missing = [c for c in ("frame", "x", "y", "particle") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected frame, x, y, particle")
    for c in ("frame", "x", "y"):
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise ValueError(f"{path}: column {c!r} holds non-numbers; expected numbers")
    return df


def cmd_diffusion(args: argparse.Namespace) -> int:
    from qdloc.transport.diffusion import estimate_D, scanner_blur_coefficient

    dt = _finite_positive("--frame-interval-s", args.frame_interval_s, "s")
    a = _finite_positive("--pixel-size-um", args.pixel_size_um, "µm")
    if args.min_length < 3:
        raise CLIError(f"--min-length {args.min_length}: expected an integer >= 3")
    if args.blur is not None:
        if not math.isfinite(args.blur) or not 0 <= args.blur <= 0.25:
            raise CLIError(f"--blur {args.blur:g}: expected a number in [0, 0.25]")
        R, what = args.blur, "--blur"
    else:
        p = SimParams()
        if dt < p.frame_time_s * (1 - 1e-9):
            raise CLIError(
                f"--frame-interval-s {dt:g}: shorter than the scanner's frame "
                f"({p.frame_time_s:g} s); expected >= the frame time, or give --blur R"
            )
        R, what = scanner_blur_coefficient(p, dt), "scanner"
    tracks = _read_tracks(args.tracks)
    table = estimate_D(tracks, dt, R, pixel_size_um=a, method=args.estimator,
                       min_length=args.min_length)
    head = (
        f"{len(table)} track(s) of {tracks['particle'].nunique()} with >= {args.min_length} "
        f"localisations; estimator {args.estimator}, frame interval {dt:g} s, blur R = {R:.4f} "
        f"({what}), pixel {a:g} µm"
    )
    if args.output is not None:
        atomic_write_text(args.output, table.to_csv(index=False, lineterminator="\n"))
        print(f"{head} -> {args.output}")
        return 0
    print(head)
    if len(table):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


# --------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qdloc`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (CLIError, ValueError, OSError) as exc:  # DatasetError is a ValueError
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"qdloc {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"qdloc {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
