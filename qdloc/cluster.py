"""Where the work of a long run goes: this process, a LocalCluster, or a Dask cluster.

``qdloc simulate``, ``qdloc localize`` and ``qdloc sweep`` cut their work into independent
tasks (shards of a set, chunks of a stack, points of a grid) and hand them to
:func:`get_client`, which decides where they run:

* ``scheduler="tcp://HOST:PORT"``: on that Dask cluster (``dask scheduler`` and ``dask worker``
  on any machines that see the output folder, or a ``dask_jobqueue`` cluster);
* ``workers=N``: on a :class:`distributed.LocalCluster` of ``N`` worker processes, one thread each;
* neither: small jobs (fewer than :data:`MIN_TASKS_FOR_CLUSTER` tasks, or a one-core machine)
  run in this process, larger ones on a LocalCluster with one worker per core.

**Why the threshold is 8 tasks.** The callers size a task at a few seconds of work in one
process (16,384 images to simulate or localise: 2-5 s on one core). Starting a LocalCluster
costs about 1-3 s (worker processes spawned, numpy, tifffile and torch imported in each), and
joining the shards of a set re-reads and re-writes it once (about a tenth of the time it took
to simulate). Below 8 tasks (about 20 s of work) the cluster cannot win back much more than
it costs on a small machine, so the run stays in one process, with no start-up and no join.

dask and distributed are imported only inside the functions (``import qdloc`` does not load them).
The results never depend on where the tasks ran: each task's output depends only on its own
inputs (image ``k`` of a set only on ``(seed, k)``), and the caller joins them in task order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm import tqdm

__all__ = ["MIN_TASKS_FOR_CLUSTER", "where", "get_client", "run_tasks", "progress_enabled"]

#: Fewer tasks than this run in this process (no ``scheduler``, no ``workers``): see the module docstring.
MIN_TASKS_FOR_CLUSTER = 8


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _check_workers(workers: Any) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} is not allowed: expected an integer >= 1")
    return int(workers)


def where(scheduler: str | None, workers: int | None, n_tasks: int) -> str:
    """Where :func:`get_client` runs ``n_tasks`` tasks.

    Parameters
    ----------
    scheduler : str or None
        Address of a Dask scheduler (``tcp://HOST:PORT``).
    workers : int or None
        Worker processes of a LocalCluster.
    n_tasks : int
        Tasks the job is cut into.

    Returns
    -------
    str
        ``"scheduler"``, ``"local-cluster"`` or ``"in-process"``.
    """
    workers = _check_workers(workers)
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or n_tasks < 0:
        raise ValueError(f"n_tasks={n_tasks!r} is not allowed: expected an integer >= 0")
    if scheduler:
        if workers is not None:
            raise ValueError(f"workers={workers} and scheduler={scheduler!r} given together: the "
                             "scheduler's cluster has its own workers; expected one of them")
        return "scheduler"
    if workers is not None:
        return "local-cluster"
    if n_tasks < MIN_TASKS_FOR_CLUSTER or _cores() < 2:
        return "in-process"
    return "local-cluster"


@contextlib.contextmanager
def get_client(scheduler: str | None = None, workers: int | None = None, n_tasks: int = 1, *,
               processes: bool = True) -> Iterator[Any]:
    """A Dask client for ``n_tasks`` tasks, or None to run them in this process.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running Dask scheduler: the tasks run on its workers.
    workers : int, optional
        Start a LocalCluster of this many workers (one thread each), whatever ``n_tasks``.
    n_tasks : int
        Tasks the job is cut into; with neither ``scheduler`` nor ``workers``, fewer than
        :data:`MIN_TASKS_FOR_CLUSTER` run in this process (None is yielded), more on a
        LocalCluster with one worker per core.
    processes : bool
        LocalCluster workers as processes (default), or as threads of this process (for tasks
        that only wait on subprocesses, such as the sweep's papermill runs).

    Yields
    ------
    distributed.Client or None
        Closed (and its LocalCluster stopped) on exit.
    """
    kind = where(scheduler, workers, n_tasks)
    if kind == "in-process":
        yield None
        return
    import distributed  # heavy optional dependency: only when a cluster is used

    if kind == "scheduler":
        with distributed.Client(scheduler, timeout="20s") as client:
            yield client
        return
    n = workers if workers is not None else _cores()
    with (
        distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                                 dashboard_address=None, silence_logs=logging.ERROR) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def progress_enabled(progress: bool = True) -> bool:
    """Whether to draw a progress bar: asked for, and stderr is a terminal."""
    return bool(progress) and sys.stderr is not None and sys.stderr.isatty()


def run_tasks(client: Any, fn: Callable[..., Any], args: Sequence[tuple], *, desc: str = "tasks",
              progress: bool = True, unit: str = "task", weights: Sequence[int] | None = None,
              on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Run ``fn(*a)`` for every ``a`` of ``args``; return the results in the order of ``args``.

    Parameters
    ----------
    client : distributed.Client or None
        Where to run (None: one after the other in this process).
    fn : callable
        The task; with a client it must be importable on the workers (a module-level function).
    args : sequence of tuple
        The arguments of each task.
    desc, unit : str
        Label and unit of the progress bar.
    progress : bool
        One tqdm bar on stderr, drawn only when stderr is a terminal.
    weights : sequence of int, optional
        What each task adds to the bar (e.g. its images); default 1 each.
    on_result : callable, optional
        Called in this process as ``on_result(i, result)`` when task ``i`` finishes (in the
        order they finish).

    Returns
    -------
    list
        ``fn(*args[i])`` for each ``i``.

    Raises
    ------
    Exception
        The first task's exception; the other tasks are cancelled. A worker that dies is not an
        error: the scheduler runs its tasks again on another worker.
    """
    weights = [1] * len(args) if weights is None else list(weights)
    results: list[Any] = [None] * len(args)
    with tqdm(total=sum(weights), desc=desc, unit=unit, disable=not progress_enabled(progress),
              dynamic_ncols=True) as bar:
        if client is None:
            for i, a in enumerate(args):
                results[i] = fn(*a)
                if on_result is not None:
                    on_result(i, results[i])
                bar.update(weights[i])
            return results
        import distributed  # heavy optional dependency: only when a cluster is used

        futures = [client.submit(fn, *a, pure=False) for a in args]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in distributed.as_completed(futures):
                i = index[fut.key]
                results[i] = fut.result()
                if on_result is not None:
                    on_result(i, results[i])
                bar.update(weights[i])
        except BaseException:
            client.cancel(futures)
            raise
    return results
