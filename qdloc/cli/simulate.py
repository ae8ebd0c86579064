"""``qdloc simulate`` (a set, or the paper's five sets, to disk) and ``qdloc concat`` (join shards).

::

    qdloc simulate --preset paper --out data/paper          # the paper's five sets
    qdloc simulate --D 1.0 --n 2410 --seed 7 --out DIR       # one set
    qdloc simulate --D-range 0.75 1.75 --n 1000000 --seed 1 --shard 0/4 --out DIR.0
    qdloc concat DIR.0 DIR.1 DIR.2 DIR.3 --out DIR           # join shards
    qdloc simulate --D 1.0 --n 1000000 --seed 1 --scheduler tcp://HOST:8786 --out DIR  # on a cluster
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from qdloc.cli._common import CLIError, Command, add_cluster_arguments, check_workers
from qdloc.cluster import get_client
from qdloc.data.dataset import (
    DEFAULT_CHUNK,
    PAPER_PRESET,
    TASK_IMAGES,
    concatenate_shards,
    task_count,
    write_dataset,
    write_paper_sets,
)
from qdloc.data.movieset import write_movies
from qdloc.sim.params import SimParams

__all__ = ["COMMANDS", "run"]


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


def add_simulate_arguments(s: argparse.ArgumentParser) -> None:
    """The arguments of ``qdloc simulate``."""
    _add_set_arguments(s)
    _add_param_arguments(s)
    s.add_argument(
        "--chunk", type=int, default=None, help="images simulated at a time (memory bound)"
    )
    s.add_argument("--force", action="store_true", help="replace an existing set")
    s.add_argument(
        "--skip-existing",
        action="store_true",
        help="with --preset: keep sets that exist, verify and match the request",
    )
    _add_movie_arguments(s)
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cluster_arguments(s, "shards of --task-size images, each written by one task and joined at the end")
    s.add_argument("--task-size", type=int, default=TASK_IMAGES, metavar="IMAGES",
                   help=f"images per task on a Dask cluster (default {TASK_IMAGES})")


def add_concat_arguments(c: argparse.ArgumentParser) -> None:
    """The arguments of ``qdloc concat``."""
    c.add_argument(
        "shards", nargs="+", type=Path, metavar="SHARD_DIR", help="the folders of all N shards"
    )
    c.add_argument("--out", required=True, type=Path, help="folder of the joined set")
    c.add_argument("--force", action="store_true", help="replace an existing set")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_set_arguments(s: argparse.ArgumentParser) -> None:
    """What is simulated: the preset or the set's size, seed, D and shard."""
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


def _add_param_arguments(s: argparse.ArgumentParser) -> None:
    """The simulator's parameters: a JSON file, then single fields."""
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


def _add_movie_arguments(s: argparse.ArgumentParser) -> None:
    """Movies, and the scanner's options that go with them."""
    s.add_argument(
        "--frames",
        type=int,
        metavar="T",
        help="write --n movies of T frames each (a movie set: movies/movie_NNNNN.tif time "
        "series, per-frame labels.csv, trajectories.npy) instead of single images",
    )
    s.add_argument(
        "--frame-pause-s", type=float, help="movies: pause between frames, s (default 0)"
    )
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


def _coerce(text: str) -> Any:
    """A --set value: a JSON number (or true/false/null), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # let SimParams' validation name the field and the value


def _base_params(path: Path | None) -> SimParams:
    """The parameters of ``--params`` (a SimParams JSON file or a set's params.json)."""
    if path is None:
        return SimParams()
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(d, dict) and d.get("format") == "qdloc-dataset":
        d = d.get("sim_params")
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a JSON object of SimParams fields")
    try:
        return SimParams.from_dict(d)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def _sim_params(args: argparse.Namespace) -> SimParams:
    base = _base_params(args.params)
    changes: dict[str, Any] = {name: _coerce(value) for name, value in args.set}
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


def _n_tasks(args: argparse.Namespace) -> int:
    """Tasks of a set on a cluster; 0 (in this process) for a shard or a movie set."""
    if args.task_size < 1:
        raise CLIError(f"--task-size {args.task_size}: expected an integer >= 1")
    check_workers(args)
    local = args.shard is not None or args.frames is not None
    if local and (args.scheduler or args.workers):
        raise CLIError("--scheduler and --workers cannot be combined with --shard or --frames "
                       "(the cluster shards the set itself; movie sets are written in one process)")
    return 0 if local else task_count(args.n, args.task_size)


def run(args: argparse.Namespace) -> int:
    """Run ``qdloc simulate`` or ``qdloc concat``; return the exit status."""
    if args.command == "concat":
        return _concat(args)
    params = _sim_params(args)
    if args.preset == "paper":
        return _paper_sets(args, params)
    if args.skip_existing:
        raise CLIError("--skip-existing applies to --preset paper only")
    if args.n is None:
        raise CLIError("--n is required (or use --preset paper)")
    D = ("uniform", *args.D_range) if args.D_range is not None else args.D
    if args.frames is not None:
        return _movies(args, params, D)
    if args.frame_pause_s is not None:
        raise CLIError("--frame-pause-s applies to movies only (add --frames T)")
    t0 = time.perf_counter()
    with get_client(args.scheduler, args.workers, _n_tasks(args)) as client:
        out = write_dataset(
            args.out,
            args.n,
            params,
            seed=args.seed,
            D=D,
            shard=args.shard,
            force=args.force,
            progress=not args.no_progress,
            chunk=DEFAULT_CHUNK if args.chunk is None else args.chunk,
            client=client,
            task_size=args.task_size,
        )
    what = "" if args.shard is None else f" (shard {args.shard[0]}/{args.shard[1]})"
    print(f"wrote {out}{what} in {time.perf_counter() - t0:.1f} s")
    return 0


def _paper_sets(args: argparse.Namespace, params: SimParams) -> int:
    given = [f for f in ("n", "D", "D_range", "shard") if getattr(args, f) is not None]
    if given or args.seed != 0:
        flag = "--" + (given[0].replace("_", "-") if given else "seed")
        raise CLIError(
            f"{flag} cannot be combined with --preset paper (the preset fixes sizes, seeds and D)"
        )
    t0 = time.perf_counter()
    check_workers(args)
    n_tasks = sum(task_count(s.n, args.task_size) for s in PAPER_PRESET.values())
    with get_client(args.scheduler, args.workers, n_tasks) as client:
        paths = write_paper_sets(
            args.out,
            params,
            force=args.force,
            skip_existing=args.skip_existing,
            progress=not args.no_progress,
            chunk=DEFAULT_CHUNK if args.chunk is None else args.chunk,
            client=client,
        )
    dt = time.perf_counter() - t0
    print(f"wrote the paper's sets in {args.out} ({dt:.1f} s): {', '.join(paths)}")
    return 0


def _movies(args: argparse.Namespace, params: SimParams, D: Any) -> int:
    if args.frames < 1:
        raise CLIError(f"--frames {args.frames}: expected an integer >= 1")
    if args.shard is not None:
        raise CLIError("--shard cannot be combined with --frames (movie sets are not sharded)")
    t0 = time.perf_counter()
    out = write_movies(
        args.out, args.n, args.frames, params, seed=args.seed, D=D, force=args.force
    )
    dt = time.perf_counter() - t0
    print(f"wrote {args.n} movies of {args.frames} frames to {out} in {dt:.1f} s")
    return 0


def _concat(args: argparse.Namespace) -> int:
    out = concatenate_shards(args.shards, args.out, force=args.force, progress=not args.no_progress)
    print(f"wrote {out} from {len(args.shards)} shards")
    return 0


#: The subcommands this module adds to ``qdloc``.
COMMANDS = (
    Command(
        "simulate",
        help="simulate a set (or the paper's five sets) to disk",
        description="Simulate images, labels and trajectories and write them as a set "
        "folder (images.tif, labels.csv, trajectories.npy, params.json). Writing is atomic.",
        add_arguments=add_simulate_arguments,
        run=run,
    ),
    Command(
        "concat",
        help="join the shards of a set into one set",
        description="Join the N shards written with 'qdloc simulate --shard i/N' into one set, "
        "byte for byte the set written without --shard.",
        add_arguments=add_concat_arguments,
        run=run,
    ),
)
